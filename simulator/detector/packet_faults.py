"""Seeded fault plans and their ground-truth log (detectors.md §6.1 "Timing and loss", §4.1, §4.2).

A :class:`FaultPlan` turns the natural send order of a run into a faulty one: packets dropped
(random, bursts, a module or port for a frame range, a module that stops), reordered within a
window, duplicated, delayed past later frames, and frame numbers that jump. Every decision is
drawn from one seeded generator and recorded per packet in a :class:`GroundTruth`, so a test
can compare the receiver's accounting with what was really done. The same seed gives the same
schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jfjoch_hil.simulator.errors import FaultPlanError

__all__ = [
    "FATE_DELIVERED",
    "FATE_RANDOM_LOSS",
    "FATE_BURST_LOSS",
    "FATE_RANGE_LOSS",
    "FATE_MODULE_STOPPED",
    "LossRange",
    "FrameJump",
    "FaultPlan",
    "GroundTruth",
    "Schedule",
]

#: Per-packet fate codes of the ground-truth log.
FATE_DELIVERED = 0
FATE_RANDOM_LOSS = 1
FATE_BURST_LOSS = 2
FATE_RANGE_LOSS = 3
FATE_MODULE_STOPPED = 4


@dataclass(frozen=True)
class LossRange:
    """All packets of ``module`` (one port of it if ``port_in_module`` is set) lost for run frame
    indices ``first_frame..last_frame`` inclusive."""

    module: int
    first_frame: int
    last_frame: int
    port_in_module: int | None = None


@dataclass(frozen=True)
class FrameJump:
    """From run frame index ``at_frame`` on, frame numbers are ``skip`` higher (§2.4)."""

    at_frame: int
    skip: int


@dataclass(frozen=True)
class GroundTruth:
    """What the plan did, per packet identity ``(frame index, port, packet)`` (shape F, P, K).

    ``fate`` holds the FATE_* codes; ``late`` marks packets sent after all packets of frame
    ``index + late_by_frames``; ``copies`` counts extra duplicate sends of a packet. The
    ``send_*`` arrays are the schedule itself, in send order.
    """

    frame_numbers: np.ndarray
    fate: np.ndarray
    late: np.ndarray
    copies: np.ndarray
    late_by_frames: int
    reorder_window_packets: int
    skipped_frame_numbers: tuple[tuple[int, int], ...]
    send_frame: np.ndarray
    send_port: np.ndarray
    send_packet: np.ndarray

    def expected_received(self, window_frames: int) -> np.ndarray:
        """Packets a receiver with this frame window must place (F, P, K) bool.

        See :meth:`expected_counts`.
        """
        return self.expected_counts(window_frames)[0]

    def late_sends(self, window_frames: int) -> np.ndarray:
        """(sends,) bool: the sends a receiver with this frame window counts late because of the
        send order alone (an earlier send on the same port carried a frame number more than the
        window ahead; detectors.md §4.1, §4.2)."""
        numbers = self.frame_numbers.astype(np.int64)[self.send_frame]
        late = np.zeros(numbers.size, dtype=bool)
        for port in np.unique(self.send_port).tolist():
            mine = np.flatnonzero(self.send_port == port)
            prior = np.maximum.accumulate(np.concatenate(([-(1 << 62)], numbers[mine])))[:-1]
            late[mine] = numbers[mine] < prior - window_frames
        return late

    def expected_counts(self, window_frames: int) -> tuple[np.ndarray, int, int]:
        """(placed mask (F, P, K), late deliveries, duplicate deliveries) for a receiver that
        closes a frame on a port once that port sent a frame more than ``window_frames`` newer
        (detectors.md §4.1 per-port listeners, §4.2 open-frame window).

        Derived from the send order recorded here, packet by packet: a copy is late when an
        earlier send on its port carried a frame number more than the window ahead.
        """
        late = self.late_sends(window_frames)
        placed_copies = np.zeros(self.fate.shape, dtype=np.int64)
        np.add.at(
            placed_copies,
            (self.send_frame[~late], self.send_port[~late], self.send_packet[~late]),
            1,
        )
        placed = placed_copies > 0
        return placed, int(late.sum()), int((placed_copies - placed).sum())

    def events(self) -> np.ndarray:
        """The log as rows (frame_number, port, packet, fate, late, copies) for every packet
        touched by a fault."""
        touched = (self.fate != FATE_DELIVERED) | self.late | (self.copies > 0)
        f, p, k = np.nonzero(touched)
        out = np.zeros(
            len(f),
            dtype=[
                ("frame_number", "<u8"),
                ("port", "<i4"),
                ("packet", "<i4"),
                ("fate", "i1"),
                ("late", "?"),
                ("copies", "<i4"),
            ],
        )
        out["frame_number"] = self.frame_numbers[f]
        out["port"], out["packet"] = p, k
        out["fate"], out["late"], out["copies"] = (
            self.fate[f, p, k],
            self.late[f, p, k],
            self.copies[f, p, k],
        )
        return out


@dataclass(frozen=True)
class Schedule:
    """Send order of a run: arrays ``frame`` (run index), ``port``, ``packet``; plus the frame
    numbers to put in the headers and the ground truth."""

    frame: np.ndarray
    port: np.ndarray
    packet: np.ndarray
    frame_numbers: np.ndarray
    truth: GroundTruth


#: Scalar settings of a ``[faults]`` table and their types (FaultPlan fields of the same name).
_SCALARS: dict[str, type] = {
    "loss_rate": float,
    "burst_rate": float,
    "burst_length_packets": int,
    "reorder_window_packets": int,
    "duplicate_rate": float,
    "late_rate": float,
    "late_by_frames": int,
}
#: Table settings: key -> (required members, optional members), all integers.
_TABLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "module_loss": (frozenset({"module", "first_frame", "last_frame"}), frozenset({"port"})),
    "stopped_modules": (frozenset({"module", "at_frame"}), frozenset()),
    "frame_jumps": (frozenset({"at_frame", "skip"}), frozenset()),
}


def _entries(path: str, value: object, key: str) -> list[dict[str, int]]:
    """The entries of one table setting, checked: a list of tables of integers."""
    if not isinstance(value, (list, tuple)):
        raise FaultPlanError(f"{path}: expected an array of tables, got {value!r}")
    required, optional = _TABLES[key]
    out = []
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(entry, dict):
            raise FaultPlanError(f"{where}: expected a table, got {entry!r}")
        unknown = sorted(set(entry) - required - optional)
        if unknown:
            allowed = ", ".join(sorted(required | optional))
            raise FaultPlanError(f"{where}: unknown key {unknown[0]!r}; allowed: {allowed}")
        missing = sorted(required - set(entry))
        if missing:
            raise FaultPlanError(f"{where}: missing key {missing[0]!r}")
        for member, number in entry.items():
            if isinstance(number, bool) or not isinstance(number, int):
                raise FaultPlanError(f"{where}.{member}: expected an integer, got {number!r}")
        out.append(dict(entry))
    return out


@dataclass(frozen=True)
class FaultPlan:
    """Settings of all faults; the default plan changes nothing (detectors.md §6.1).

    Rates are per packet. ``burst_rate`` starts a burst of ``burst_length_packets`` consecutive
    packets in send order. ``stopped_modules`` maps module -> first run frame it no longer sends.
    """

    seed: int = 0
    loss_rate: float = 0.0
    burst_rate: float = 0.0
    burst_length_packets: int = 8
    loss_ranges: tuple[LossRange, ...] = ()
    stopped_modules: tuple[tuple[int, int], ...] = ()
    reorder_window_packets: int = 0
    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    late_by_frames: int = 3
    frame_jumps: tuple[FrameJump, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("loss_rate", "burst_rate", "duplicate_rate", "late_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"faults.{name}: {value} is out of range; allowed 0..1")
        if self.burst_length_packets < 1:
            raise FaultPlanError(
                f"faults.burst_length_packets: {self.burst_length_packets} is out of range; "
                "allowed >= 1"
            )
        if self.late_by_frames < 1:
            raise FaultPlanError(f"faults.late_by_frames: {self.late_by_frames}; allowed >= 1")
        if self.reorder_window_packets < 0:
            raise FaultPlanError(
                f"faults.reorder_window_packets: {self.reorder_window_packets}; allowed >= 0"
            )
        for jump in self.frame_jumps:
            if jump.skip < 1 or jump.at_frame < 1:
                raise FaultPlanError(
                    f"faults.frame_jumps: {jump}; allowed at_frame >= 1, skip >= 1"
                )

    @classmethod
    def from_mapping(cls, table: object, seed: int = 0, path: str = "faults") -> FaultPlan:
        """The plan of a scenario's ``[faults]`` table: the scalar settings by their names,
        ``module_loss`` entries ``{module, first_frame, last_frame, port?}``, ``stopped_modules``
        ``{module, at_frame}``, ``frame_jumps`` ``{at_frame, skip}``.  Unknown keys, values of
        the wrong type and values out of range are refused with their path (FaultPlanError)."""
        if not isinstance(table, dict):
            raise FaultPlanError(f"{path}: expected a table, got {table!r}")
        unknown = sorted(set(table) - set(_SCALARS) - set(_TABLES))
        if unknown:
            allowed = ", ".join([*_SCALARS, *_TABLES])
            raise FaultPlanError(f"{path}.{unknown[0]}: unknown key; allowed: {allowed}")
        values: dict[str, object] = {}
        for key, kind in _SCALARS.items():
            if key not in table:
                continue
            value = table[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise FaultPlanError(f"{path}.{key}: expected {kind.__name__}, got {value!r}")
            values[key] = value
        entries = {key: _entries(f"{path}.{key}", table.get(key, ()), key) for key in _TABLES}
        return cls(
            seed=seed,
            loss_ranges=tuple(
                LossRange(e["module"], e["first_frame"], e["last_frame"], e.get("port"))
                for e in entries["module_loss"]
            ),
            stopped_modules=tuple((e["module"], e["at_frame"]) for e in entries["stopped_modules"]),
            frame_jumps=tuple(FrameJump(e["at_frame"], e["skip"]) for e in entries["frame_jumps"]),
            **values,  # type: ignore[arg-type]
        )

    def to_mapping(self) -> dict:
        """The ``[faults]`` table of this plan (inverse of :meth:`from_mapping`; no seed)."""
        out: dict[str, object] = {key: getattr(self, key) for key in _SCALARS}
        out["module_loss"] = [
            {
                "module": r.module,
                "first_frame": r.first_frame,
                "last_frame": r.last_frame,
                **({} if r.port_in_module is None else {"port": r.port_in_module}),
            }
            for r in self.loss_ranges
        ]
        out["stopped_modules"] = [{"module": m, "at_frame": f} for m, f in self.stopped_modules]
        out["frame_jumps"] = [{"at_frame": j.at_frame, "skip": j.skip} for j in self.frame_jumps]
        return out

    def schedule(
        self,
        n_frames: int,
        n_ports: int,
        packets_per_port: int,
        ports_per_module: int,
        first_frame_number: int = 1,
    ) -> Schedule:
        """Apply the plan to ``n_frames`` frames sent in natural order (frame, packet, port)."""
        per_frame = n_ports * packets_per_port
        if self.reorder_window_packets > per_frame:
            raise FaultPlanError(
                f"faults.reorder_window_packets: {self.reorder_window_packets}; allowed <= {per_frame} "
                "(one frame of packets)"
            )
        rng = np.random.default_rng(self.seed)
        shape = (n_frames, n_ports, packets_per_port)
        frame, packet, port = (
            a.reshape(-1)
            for a in np.meshgrid(
                np.arange(n_frames), np.arange(packets_per_port), np.arange(n_ports), indexing="ij"
            )
        )
        total = frame.size
        fate_sent = np.zeros(total, dtype=np.int8)  # in send order

        module = port // ports_per_module
        for mod, first in self.stopped_modules:
            fate_sent[(module == mod) & (frame >= first)] = FATE_MODULE_STOPPED
        for loss in self.loss_ranges:
            hit = (module == loss.module) & (frame >= loss.first_frame) & (frame <= loss.last_frame)
            if loss.port_in_module is not None:
                hit &= port % ports_per_module == loss.port_in_module
            fate_sent[hit & (fate_sent == 0)] = FATE_RANGE_LOSS
        if self.burst_rate > 0:
            starts = np.flatnonzero(rng.random(total) < self.burst_rate)
            covered = np.zeros(total + 1, dtype=np.int64)
            np.add.at(covered, starts, 1)
            np.add.at(covered, np.minimum(starts + self.burst_length_packets, total), -1)
            in_burst = np.cumsum(covered[:total]) > 0
            fate_sent[in_burst & (fate_sent == 0)] = FATE_BURST_LOSS
        if self.loss_rate > 0:
            fate_sent[(rng.random(total) < self.loss_rate) & (fate_sent == 0)] = FATE_RANDOM_LOSS

        kept = np.flatnonzero(fate_sent == 0)
        # Reorder: a random key within [position, position + window) moves each packet by less
        # than the window, never further.
        key = kept.astype(np.float64)
        if self.reorder_window_packets > 1:
            key += rng.uniform(0, self.reorder_window_packets, size=kept.size)
        order = kept[np.argsort(key, kind="stable")]
        position = np.arange(order.size, dtype=np.float64)

        late_sent = np.zeros(total, dtype=bool)
        if self.late_rate > 0 and order.size:
            last_position = np.full(n_frames, -1.0)
            np.maximum.at(last_position, frame[order], position)
            eligible = frame[order] + self.late_by_frames < n_frames
            chosen = eligible & (rng.random(order.size) < self.late_rate)
            target = frame[order][chosen] + self.late_by_frames
            position[chosen] = last_position[target] + 0.5 + position[chosen] / (4.0 * total)
            late_sent[order[chosen]] = True

        copies_sent = np.zeros(total, dtype=np.int32)
        if self.duplicate_rate > 0 and order.size:
            dup = rng.random(order.size) < self.duplicate_rate
            copies_sent[order[dup]] = 1
            order = np.concatenate((order, order[dup]))
            position = np.concatenate((position, position[dup] + 1e-9))
        order = order[np.argsort(position, kind="stable")]

        frame_numbers = np.arange(n_frames, dtype=np.int64) + first_frame_number
        skipped = []
        for jump in sorted(self.frame_jumps, key=lambda j: j.at_frame):
            if jump.at_frame < n_frames:
                before = int(frame_numbers[jump.at_frame - 1])
                frame_numbers[jump.at_frame :] += jump.skip
                skipped.append((before + 1, before + jump.skip))

        def _by_identity(values: np.ndarray) -> np.ndarray:
            out = np.empty(shape, dtype=values.dtype)
            out[frame, port, packet] = values
            return out

        truth = GroundTruth(
            frame_numbers=frame_numbers.astype(np.uint64),
            fate=_by_identity(fate_sent),
            late=_by_identity(late_sent),
            copies=_by_identity(copies_sent),
            late_by_frames=self.late_by_frames,
            reorder_window_packets=self.reorder_window_packets,
            skipped_frame_numbers=tuple(skipped),
            send_frame=frame[order],
            send_port=port[order],
            send_packet=packet[order],
        )
        return Schedule(
            truth.send_frame, truth.send_port, truth.send_packet, truth.frame_numbers, truth
        )
