"""Per-frame header content of a run: storage-cell bursts and XFEL pulse ids / event codes
(detectors.md §2.4, §2.5, §2.7, §2.8)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._header import det_info_set
from jfjoch_hil.simulator.errors import DetectorModelError

__all__ = [
    "CHIP_V1_0",
    "CHIP_V1_1",
    "EIGER_DET_SPEC3",
    "EIGER_SUBFRAME_S",
    "StorageCells",
    "XfelTiming",
    "eiger_run_headers",
    "run_headers",
]

#: ``detSpec3`` bits 7-5 chip version codes, detectors.md §2.5 (``000`` = v1.0, ``001`` = v1.1).
CHIP_V1_0 = 0
CHIP_V1_1 = 1
#: Default ``storagecell_start`` per chip version, detectors.md §2.7
#: (``DEFAULT_STRG_CLL_STRT 0xf``, ``DEFAULT_STRG_CLL_STRT_CHIP11 0x3``).
_DEFAULT_START_CELL = {CHIP_V1_0: 15, CHIP_V1_1: 3}
#: Highest ``storagecell_start`` per chip version (§2.7: v1.1 range 0-3).
_MAX_START_CELL = {CHIP_V1_0: 15, CHIP_V1_1: 3}
#: EIGER ``detSpec3`` as documented by the detector group (detectors.md §1, §3.4: ``e14a``).
EIGER_DET_SPEC3 = 0xE14A
#: EIGER default ``subexptime`` (detectors.md §3.2: 2.62144 ms), the 32-bit mode sub-frame length.
EIGER_SUBFRAME_S = 2.62144e-3


@dataclass(frozen=True)
class StorageCells:
    """Burst mode (§2.7): ``n_cells`` (1..16) frames per trigger, the first in ``start_cell``.

    ``chip_version`` (``detSpec3`` bits 7-5 code) defaults to v1.0 when more than one cell is used
    (only chip v1.0 has additional storage cells: the server refuses them on v1.1) and to v1.1
    otherwise; ``start_cell`` defaults to that chip's ``storagecell_start`` default (v1.0: 15,
    v1.1: 3). The order of later cells is unconfirmed (§7 item 1); ``step`` -1 (default) counts
    down modulo 16 from the start cell, +1 counts up. Calibration index = position in the burst.
    """

    n_cells: int = 1
    start_cell: int | None = None
    step: int = -1
    chip_version: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.n_cells <= 16:
            raise DetectorModelError(f"storage_cells.n_cells: {self.n_cells}; allowed 1..16")
        chip = self.chip_version
        if chip is None:
            chip = CHIP_V1_0 if self.n_cells > 1 else CHIP_V1_1
            object.__setattr__(self, "chip_version", chip)
        if chip not in _DEFAULT_START_CELL:
            raise DetectorModelError(
                f"storage_cells.chip_version: {chip}; allowed {CHIP_V1_0} (v1.0) or "
                f"{CHIP_V1_1} (v1.1)"
            )
        if chip == CHIP_V1_1 and self.n_cells > 1:
            raise DetectorModelError(
                f"storage_cells.n_cells: {self.n_cells} on chip v1.1; allowed 1 (additional "
                "storage cells need chip v1.0, detectors.md 2.7)"
            )
        if self.start_cell is None:
            object.__setattr__(self, "start_cell", _DEFAULT_START_CELL[chip])
        if not 0 <= self.start_cell <= _MAX_START_CELL[chip]:
            raise DetectorModelError(
                f"storage_cells.start_cell: {self.start_cell}; allowed "
                f"0..{_MAX_START_CELL[chip]} on chip v1.{chip}"
            )
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

    def pulse_ids(self, n_frames: int, first_index: int = 0) -> np.ndarray:
        """Monotonically increasing pulse ids of ``n_frames`` frames from run frame
        ``first_index``."""
        index = np.arange(first_index, first_index + n_frames, dtype=np.uint64)
        ids = np.uint64(self.first_pulse_id) + index * np.uint64(self.pulse_step)
        if self.gap_every_frames > 0:
            ids += (index // np.uint64(self.gap_every_frames)) * np.uint64(self.gap_pulses)
        return ids

    def codes(self, n_frames: int, first_index: int = 0) -> np.ndarray:
        """Event code of each frame (from run frame ``first_index``)."""
        codes = np.asarray(self.event_codes, dtype=np.uint32)
        return codes[np.arange(first_index, first_index + n_frames) % len(codes)]


def run_headers(
    n_frames: int,
    frame_time_s: float,
    count_time_s: float,
    cells: StorageCells = StorageCells(),
    xfel: XfelTiming | None = None,
    first_frame_number: int = 1,
    chip_version: int | None = None,
    forced_gain: int | None = None,
    first_index: int = 0,
):
    """FrameHeaders of a JUNGFRAU run (§2.4-§2.8): frame numbers +1 per storage-cell frame,
    timestamp at 10 MHz per frame, ``exp_length`` = count time in 100 ns, cell in bits 11-8,
    chip version in bits 7-5 (default: the one of ``cells``).
    ``forced_gain`` 1 or 2 marks a ``forceswitchg1/g2`` dark run (bits 12/13, §2.5, §4.3).
    ``first_index`` > 0 gives the headers of run frames ``first_index`` onwards: a run's headers
    can be made block by block, each block equal to that slice of the whole run's."""
    from jfjoch_hil.simulator.detector._packetiser import FrameHeaders

    if n_frames < 1:
        raise DetectorModelError(f"n_frames: {n_frames}; allowed >= 1")
    if first_frame_number < 1:
        raise DetectorModelError(f"first_frame_number: {first_frame_number}; allowed >= 1")
    if chip_version is None:
        chip_version = cells.chip_version
    index = np.arange(first_index, first_index + n_frames, dtype=np.uint64)
    cell = cells.hardware_cells()[np.arange(first_index, first_index + n_frames) % cells.n_cells]
    fields = {"storage_cell": cell, "chip_version": chip_version}
    if forced_gain not in (None, 1, 2):
        raise DetectorModelError(f"forced_gain: {forced_gain}; allowed None, 1, 2")
    if forced_gain is not None:
        fields[f"force_switch_g{forced_gain}"] = 1
    pulse = np.zeros(n_frames, dtype=np.uint64)
    if xfel is not None:
        fields["event_code"] = xfel.codes(n_frames, first_index)
        pulse = xfel.pulse_ids(n_frames, first_index)
    return FrameHeaders(
        frame_number=index + np.uint64(first_frame_number),
        exp_length=np.full(n_frames, round(count_time_s * 1e7), dtype=np.uint32),
        det_spec1=pulse,
        timestamp=index * np.uint64(round(frame_time_s * 1e7)),
        det_spec3=det_info_set(np.zeros(n_frames, dtype=np.uint32), **fields),
    )


def eiger_run_headers(
    n_frames: int,
    frame_time_s: float,
    count_time_s: float,
    dynamic_range: int = 16,
    first_frame_number: int = 1,
    first_index: int = 0,
):
    """FrameHeaders of an EIGER run as EIGER firmware fills them (detectors.md §1, §3.4).

    ``expLength`` is the sub-frame number, not an exposure: in 32-bit mode the number of 12-bit
    sub-frames of :data:`EIGER_SUBFRAME_S` summed into the frame (§3.2), else 0. ``detSpec1`` = 0
    (no bunch id), ``detSpec3`` = :data:`EIGER_DET_SPEC3`; ``detSpec2``/``detSpec4`` come from the
    packetiser (0, round-robin entry 0). The timestamp is the 10 MHz start-of-exposure time (§1).
    ``first_index`` > 0 gives the headers of run frames ``first_index`` onwards (as
    :func:`run_headers`).
    """
    from jfjoch_hil.simulator.detector._packetiser import FrameHeaders

    if n_frames < 1:
        raise DetectorModelError(f"n_frames: {n_frames}; allowed >= 1")
    if first_frame_number < 1 or first_frame_number > 0xFFFFFFFFFFFF:
        raise DetectorModelError(
            f"first_frame_number: {first_frame_number}; allowed 1..2**48-1 (EIGER, §3.4)"
        )
    subframes = max(1, math.ceil(count_time_s / EIGER_SUBFRAME_S - 1e-9))
    index = np.arange(first_index, first_index + n_frames, dtype=np.uint64)
    return FrameHeaders(
        frame_number=index + np.uint64(first_frame_number),
        exp_length=np.full(n_frames, subframes if dynamic_range == 32 else 0, dtype=np.uint32),
        det_spec1=np.zeros(n_frames, dtype=np.uint64),
        timestamp=index * np.uint64(round(frame_time_s * 1e7)),
        det_spec3=np.full(n_frames, EIGER_DET_SPEC3, dtype=np.uint32),
    )
