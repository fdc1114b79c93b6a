"""Per-frame header content of a run: storage-cell bursts and XFEL pulse ids / event codes
(detectors.md §2.4, §2.5, §2.7, §2.8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._header import det_info_set
from jfjoch_hil.simulator.errors import DetectorModelError

__all__ = ["StorageCells", "XfelTiming", "run_headers"]


@dataclass(frozen=True)
class StorageCells:
    """Burst mode (§2.7): ``n_cells`` (1..16) frames per trigger, the first in ``start_cell``.

    The order of later cells is unconfirmed (§7 item 1); ``step`` -1 (default) counts down
    modulo 16 from the start cell, +1 counts up. Calibration index = position in the burst.
    """

    n_cells: int = 1
    start_cell: int = 15
    step: int = -1

    def __post_init__(self) -> None:
        if not 1 <= self.n_cells <= 16:
            raise DetectorModelError(f"storage_cells.n_cells: {self.n_cells}; allowed 1..16")
        if not 0 <= self.start_cell <= 15:
            raise DetectorModelError(f"storage_cells.start_cell: {self.start_cell}; allowed 0..15")
        if self.step not in (-1, 1):
            raise DetectorModelError(f"storage_cells.step: {self.step}; allowed -1 or 1")

    def hardware_cells(self) -> np.ndarray:
        """Header cell number (bits 11-8) of each burst position."""
        return (self.start_cell + self.step * np.arange(self.n_cells)) % 16

    def burst_position(self, header_cell: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`hardware_cells`: burst position (calibration index) of a header cell."""
        return ((np.asarray(header_cell, dtype=np.int64) - self.start_cell) * self.step) % 16


@dataclass(frozen=True)
class XfelTiming:
    """Pulse ids in ``det_spec1`` and event codes in ``det_spec3`` bits 23-16 (§2.8, unconfirmed
    relation): pulse ids rise by ``pulse_step`` per frame plus ``gap_pulses`` every
    ``gap_every_frames`` frames; event code cycles through ``event_codes``."""

    first_pulse_id: int = 1_000_000
    pulse_step: int = 1
    gap_every_frames: int = 0
    gap_pulses: int = 0
    event_codes: tuple[int, ...] = (0,)

    def pulse_ids(self, n_frames: int) -> np.ndarray:
        """Monotonically increasing pulse ids of ``n_frames`` frames."""
        index = np.arange(n_frames, dtype=np.uint64)
        ids = np.uint64(self.first_pulse_id) + index * np.uint64(self.pulse_step)
        if self.gap_every_frames > 0:
            ids += (index // np.uint64(self.gap_every_frames)) * np.uint64(self.gap_pulses)
        return ids

    def codes(self, n_frames: int) -> np.ndarray:
        """Event code of each frame."""
        return np.resize(np.asarray(self.event_codes, dtype=np.uint32), n_frames)


def run_headers(
    n_frames: int,
    frame_time_s: float,
    count_time_s: float,
    cells: StorageCells = StorageCells(),
    xfel: XfelTiming | None = None,
    first_frame_number: int = 1,
    chip_version: int = 1,
    forced_gain: int | None = None,
):
    """FrameHeaders of a JUNGFRAU run (§2.4-§2.8): frame numbers +1 per storage-cell frame,
    timestamp at 10 MHz per frame, ``exp_length`` = count time in 100 ns, cell in bits 11-8.
    ``forced_gain`` 1 or 2 marks a ``forceswitchg1/g2`` dark run (bits 12/13, §2.5, §4.3)."""
    from jfjoch_hil.simulator.detector._packetiser import FrameHeaders

    if n_frames < 1:
        raise DetectorModelError(f"n_frames: {n_frames}; allowed >= 1")
    index = np.arange(n_frames, dtype=np.uint64)
    cell = cells.hardware_cells()[np.arange(n_frames) % cells.n_cells]
    fields = {"storage_cell": cell, "chip_version": chip_version}
    if forced_gain not in (None, 1, 2):
        raise DetectorModelError(f"forced_gain: {forced_gain}; allowed None, 1, 2")
    if forced_gain is not None:
        fields[f"force_switch_g{forced_gain}"] = 1
    pulse = np.zeros(n_frames, dtype=np.uint64)
    if xfel is not None:
        fields["event_code"] = xfel.codes(n_frames)
        pulse = xfel.pulse_ids(n_frames)
    return FrameHeaders(
        frame_number=index + np.uint64(first_frame_number),
        exp_length=np.full(n_frames, round(count_time_s * 1e7), dtype=np.uint32),
        det_spec1=pulse,
        timestamp=index * np.uint64(round(frame_time_s * 1e7)),
        det_spec3=det_info_set(np.zeros(n_frames, dtype=np.uint32), **fields),
    )
