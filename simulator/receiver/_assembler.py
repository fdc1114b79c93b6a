"""Packets -> frames by frame number, with exact per-port packet accounting (detectors.md §4.1,
§4.2).

Batches of packets are decoded with one structured-dtype view; every decision (reject, late,
duplicate, accept) is a vectorised mask. Frames stay open while the highest frame number seen
on the same port is at most ``window_frames`` ahead (Jungfraujoch keeps two open frames per
module, §4.2; slsReceiver assembles each port independently, §4.1): ports drained at different
moments may lag each other without harm. A frame closes once every port has moved more than
``window_frames`` past it, or once any port is ``max_open_frames`` past it (bounds memory when a
module stops). A packet of a closed frame is *late* and counted, never written anywhere. Missing packets leave
0xFF bytes (§4.1 padding: JUNGFRAU 0xFFFF) in exactly their pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._catalogue import Detector
from jfjoch_hil.simulator.detector._header import HEADER_SIZE, headers_view
from jfjoch_hil.simulator.errors import PacketLayoutError

__all__ = ["AssembledFrame", "Assembler", "AssemblerStatistics"]


@dataclass
class AssembledFrame:
    """One detector frame after assembly (detectors.md §4.1 output header, §4.2 completion).

    ``port_bytes`` ``(n_ports, port_bytes)``; ``received`` ``(n_ports, packets_per_port)``.
    Header fields per module come from the first packet received for that module (§4.1 step 4),
    zero for a module with no packet.
    """

    frame_number: int
    port_bytes: np.ndarray
    received: np.ndarray
    exp_length: np.ndarray
    det_spec1: np.ndarray
    timestamp: np.ndarray
    det_spec3: np.ndarray
    module_seen: np.ndarray

    @property
    def packets_received_per_port(self) -> np.ndarray:
        """Packets received per port (§4.1 "packets caught")."""
        return self.received.sum(axis=1)

    @property
    def packets_received(self) -> int:
        """Packets received for this frame, all ports."""
        return int(self.received.sum())

    @property
    def packets_expected(self) -> int:
        """Packets a complete frame has (§4.2 ``packets_expected_per_module`` x modules)."""
        return int(self.received.size)

    @property
    def data_collection_efficiency(self) -> float:
        """received / expected (§4.2)."""
        return self.packets_received / self.packets_expected


@dataclass(frozen=True)
class AssemblerStatistics:
    """Packet and frame accounting of an :class:`Assembler` (STYLE.md: nothing dropped silently)."""

    packets_accepted: int
    packets_duplicate: int
    packets_late: int
    packets_rejected_frame_zero: int
    packets_rejected_packet_number: int
    packets_rejected_port: int
    packets_rejected_size: int
    frames_emitted: int
    frames_complete: int
    frames_lost: int
    lost_frame_ranges: tuple[tuple[int, int], ...]
    #: The run's first frame number: the one given, or the first seen (None: nothing came yet).
    first_frame_number: int | None = None
    #: Lowest and highest frame number with an accepted packet, and how many distinct frame
    #: numbers had one (None / 0 before any packet).
    frame_number_first_seen: int | None = None
    frame_number_last_seen: int | None = None
    frame_numbers_seen: int = 0
    #: ``packets_late`` by detector port (UDP port index).
    packets_late_per_port: tuple[int, ...] = ()


class Assembler:
    """Assembles one detector's frames from packets of all its ports (§4.1, §4.2).

    ``first_frame_number`` is the frame number of the run's first frame (image id 0): real and
    virtual detectors keep counting across acquisitions unless the control software resets the
    counter (§2.4), so a run may start anywhere. ``None`` takes the lowest frame number of the
    first batch of valid packets, as slsReceiver's ``firstIndex`` (§4.1 step 2); packets of
    lower frames arriving later are counted late. Frames before the first are never lost.
    """

    def __init__(
        self,
        detector: Detector,
        window_frames: int = 2,
        first_frame_number: int | None = 1,
        max_open_frames: int = 16,
    ) -> None:
        if window_frames < 0:
            raise PacketLayoutError(f"window_frames: {window_frames}; allowed >= 0")
        if max_open_frames <= window_frames:
            raise PacketLayoutError(
                f"max_open_frames: {max_open_frames}; allowed > window_frames ({window_frames})"
            )
        if first_frame_number is not None and first_frame_number < 1:
            raise PacketLayoutError(
                f"first_frame_number: {first_frame_number}; allowed >= 1 or None (first seen) "
                "(§2.4)"
            )
        model = detector.model
        self.detector = detector
        self.window_frames = window_frames
        self.max_open_frames = max_open_frames
        self._first: int | None = None
        self._seen_low: int | None = None
        self._seen_high: int | None = None
        self._port_max = np.zeros(detector.n_ports, dtype=np.int64)
        self._late_per_port = np.zeros(detector.n_ports, dtype=np.int64)
        self._k = model.packets_per_port
        self._payload = model.payload_bytes
        self._packet_bytes = model.packet_bytes
        self._n_ports = detector.n_ports
        self._ports_per_module = model.ports_per_module
        self._open: dict[int, AssembledFrame] = {}
        self._ready: list[AssembledFrame] = []
        self._free: list[AssembledFrame] = []
        self._max_seen = 0
        self._last_closed = 0
        if first_frame_number is not None:
            self._begin(first_frame_number)
        self._counts = dict.fromkeys(
            (
                "accepted",
                "duplicate",
                "late",
                "zero",
                "packet_number",
                "port",
                "size",
                "emitted",
                "complete",
                "lost",
            ),
            0,
        )
        self._lost: list[tuple[int, int]] = []

    def _begin(self, first_frame_number: int) -> None:
        self._first = first_frame_number
        self._port_max[:] = first_frame_number - 1
        self._max_seen = first_frame_number - 1
        self._last_closed = first_frame_number - 1

    @property
    def first_frame_number(self) -> int | None:
        """Frame number of the run's first frame (image id 0); None until one is seen."""
        return self._first

    # -- input -------------------------------------------------------------------------------
    def push(
        self, packets: np.ndarray, port_index: np.ndarray, sizes: np.ndarray | None = None
    ) -> None:
        """Account and place a batch of packets, in arrival order.

        ``packets`` ``(n, >= packet_bytes)`` uint8 (row = one datagram slot), ``port_index`` the
        detector port each arrived on, ``sizes`` the datagram lengths (all exact if omitted).
        """
        n = len(port_index)
        if n == 0:
            return
        port_index = np.asarray(port_index, dtype=np.int64)
        valid = (port_index >= 0) & (port_index < self._n_ports)
        self._counts["port"] += int(n - valid.sum())
        if sizes is not None:
            ok = np.asarray(sizes) == self._packet_bytes
            self._counts["size"] += int((valid & ~ok).sum())
            valid &= ok
        view = headers_view(packets[:n])
        frame = view["frame_number"].astype(np.int64)
        packet = view["packet_number"].astype(np.int64)
        zero = valid & (frame == 0)
        self._counts["zero"] += int(zero.sum())
        valid &= ~zero
        bad_packet = valid & (packet >= self._k)
        self._counts["packet_number"] += int(bad_packet.sum())
        valid &= ~bad_packet
        rows = np.flatnonzero(valid)
        if rows.size == 0:
            return
        frames = frame[rows]
        if self._first is None:
            self._begin(int(frames.min()))
        ports = port_index[rows]
        # Sequential semantics, vectorised per port: a packet is late if, when it arrived, its
        # port had already sent a frame more than window_frames newer (as a per-port listener
        # would have closed it), or if its frame was already emitted.
        late = frames <= self._last_closed
        for port in np.unique(ports).tolist():
            mine = np.flatnonzero(ports == port)
            seen = np.concatenate(([self._port_max[port]], frames[mine]))
            prior = np.maximum.accumulate(seen)
            late[mine] |= frames[mine] < prior[:-1] - self.window_frames
            self._port_max[port] = prior[-1]
        self._counts["late"] += int(late.sum())
        if late.any():
            self._late_per_port += np.bincount(ports[late], minlength=self._n_ports)[
                : self._n_ports
            ]
        rows, frames = rows[~late], frames[~late]
        self._max_seen = max(self._max_seen, int(frame[valid].max()))
        keys = port_index[rows] * self._k + packet[rows]
        unique_frames, inverse = np.unique(frames, return_inverse=True)
        for position, number in enumerate(unique_frames.tolist()):
            mine = np.flatnonzero(inverse == position)
            self._place(int(number), rows[mine], keys[mine], packets, port_index, view)
        self._close_below(
            max(
                int(self._port_max.min()) - self.window_frames,
                self._max_seen - self.max_open_frames,
            )
        )

    def _place(
        self,
        number: int,
        rows: np.ndarray,
        keys: np.ndarray,
        packets: np.ndarray,
        port_index: np.ndarray,
        view: np.ndarray,
    ) -> None:
        target = self._open.get(number)
        if target is None:
            target = self._new_frame(number)
            self._open[number] = target
        first_keys, first = np.unique(keys, return_index=True)
        fresh = ~target.received.reshape(-1)[first_keys]
        self._counts["duplicate"] += int(len(keys) - fresh.sum())
        first_keys, first = first_keys[fresh], first[fresh]
        src = rows[first]
        target.port_bytes.reshape(-1, self._payload)[first_keys] = packets[
            src, HEADER_SIZE : self._packet_bytes
        ]
        target.received.reshape(-1)[first_keys] = True
        self._counts["accepted"] += len(first_keys)
        if len(first_keys):
            if self._seen_low is None or number < self._seen_low:
                self._seen_low = number
            if self._seen_high is None or number > self._seen_high:
                self._seen_high = number
        # Per-module header fields from the first packet of that module in arrival order.
        modules = port_index[src] // self._ports_per_module
        order = np.argsort(src, kind="stable")
        mods_sorted = modules[order]
        new_mods, where = np.unique(mods_sorted, return_index=True)
        unseen = ~target.module_seen[new_mods]
        new_mods, pick = new_mods[unseen], src[order][where][unseen]
        if new_mods.size:
            target.module_seen[new_mods] = True
            target.exp_length[new_mods] = view["exp_length"][pick]
            target.det_spec1[new_mods] = view["det_spec1"][pick]
            target.timestamp[new_mods] = view["timestamp"][pick]
            target.det_spec3[new_mods] = view["det_spec3"][pick]

    def _new_frame(self, number: int) -> AssembledFrame:
        m = self.detector.n_modules
        if self._free:
            frame = self._free.pop()
            frame.frame_number = number
            frame.received[:] = False
            frame.module_seen[:] = False
            for array in (frame.exp_length, frame.det_spec1, frame.timestamp, frame.det_spec3):
                array[:] = 0
            return frame
        return AssembledFrame(
            frame_number=number,
            port_bytes=np.empty((self._n_ports, self._k * self._payload), dtype=np.uint8),
            received=np.zeros((self._n_ports, self._k), dtype=bool),
            exp_length=np.zeros(m, dtype=np.uint32),
            det_spec1=np.zeros(m, dtype=np.uint64),
            timestamp=np.zeros(m, dtype=np.uint64),
            det_spec3=np.zeros(m, dtype=np.uint32),
            module_seen=np.zeros(m, dtype=bool),
        )

    # -- output ------------------------------------------------------------------------------
    def _close_below(self, limit: int) -> None:
        """Emit, in frame-number order, every open frame numbered below ``limit``."""
        for number in sorted(n for n in self._open if n < limit):
            self._emit(self._open.pop(number))
        if limit - 1 > self._last_closed:
            self._mark_lost(self._last_closed + 1, limit - 1)
            self._last_closed = limit - 1

    def _emit(self, frame: AssembledFrame) -> None:
        self._mark_lost(self._last_closed + 1, frame.frame_number - 1)
        self._last_closed = frame.frame_number
        missing = ~frame.received.reshape(-1)
        if missing.any():
            frame.port_bytes.reshape(-1, self._payload)[missing] = 0xFF
        else:
            self._counts["complete"] += 1
        self._counts["emitted"] += 1
        self._ready.append(frame)

    def _mark_lost(self, first: int, last: int) -> None:
        if last >= first:
            self._counts["lost"] += last - first + 1
            if self._lost and self._lost[-1][1] == first - 1:
                self._lost[-1] = (self._lost[-1][0], last)
            else:
                self._lost.append((first, last))

    def flush(self, last_frame_number: int | None = None) -> None:
        """End of acquisition: emit all open frames; frames up to ``last_frame_number`` never
        seen are reported lost (§4.1 step 7)."""
        for number in sorted(self._open):
            self._emit(self._open.pop(number))
        if self._first is None:
            return  # nothing ever came: no run to account for
        if last_frame_number is not None and last_frame_number > self._last_closed:
            self._mark_lost(self._last_closed + 1, last_frame_number)
            self._last_closed = last_frame_number
        # Whatever arrives after the flush belongs to a closed frame: counted late.
        self._max_seen = max(self._max_seen, self._last_closed)

    def pop_frames(self) -> list[AssembledFrame]:
        """Frames closed since the last call, in frame-number order."""
        ready, self._ready = self._ready, []
        return ready

    def release(self, frame: AssembledFrame) -> None:
        """Give a consumed frame's buffers back for reuse (optional; saves allocations)."""
        self._free.append(frame)

    def statistics(self) -> AssemblerStatistics:
        """Counters so far (STYLE.md "Errors": every rejected packet is counted)."""
        c = self._counts
        return AssemblerStatistics(
            packets_accepted=c["accepted"],
            packets_duplicate=c["duplicate"],
            packets_late=c["late"],
            packets_late_per_port=tuple(int(n) for n in self._late_per_port),
            packets_rejected_frame_zero=c["zero"],
            packets_rejected_packet_number=c["packet_number"],
            packets_rejected_port=c["port"],
            packets_rejected_size=c["size"],
            frames_emitted=c["emitted"],
            frames_complete=c["complete"],
            frames_lost=c["lost"],
            lost_frame_ranges=tuple(self._lost),
            first_frame_number=self._first,
            frame_number_first_seen=self._seen_low,
            frame_number_last_seen=self._seen_high,
            frame_numbers_seen=c["emitted"] + len(self._open),  # each holds >= 1 packet
        )
