"""Assembled frames handed from a receiving process to a processing process through shared
memory (detectors.md §4.1 output): the receiver assembles straight into slots of a shared pool
and sends only the slot number and the per-module header fields; the processing side returns the
slot when it is done. No frame's pixels go through a pipe, so the process that drains the
sockets spends no time copying frames out.
"""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np
from jfjoch_hil.simulator.detector import Detector
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame

__all__ = ["SharedFrames"]


class SharedFrames:
    """A pool of ``slots`` frame buffers (payload bytes and received-packet flags of every port)
    in shared memory; made by one process (``create``), attached by name in the other."""

    def __init__(self, detector: Detector, slots: int, names: tuple[str, str] | None = None):
        model = detector.model
        self.detector = detector
        self.slots = slots
        shapes = (
            (slots, detector.n_ports, model.packets_per_port * model.payload_bytes),
            (slots, detector.n_ports, model.packets_per_port),
        )
        sizes = [int(np.prod(shape)) for shape in shapes]
        if names is None:
            self._shms = [shared_memory.SharedMemory(create=True, size=size) for size in sizes]
            self._owner = True
        else:
            self._shms = [shared_memory.SharedMemory(name=name) for name in names]
            self._owner = False
        self.port_bytes = np.ndarray(shapes[0], np.uint8, buffer=self._shms[0].buf)
        self.received = np.ndarray(shapes[1], bool, buffer=self._shms[1].buf)
        self._frames: list[AssembledFrame | None] = [None] * slots

    @property
    def names(self) -> tuple[str, str]:
        """Shared-memory names to attach with in the other process."""
        return (self._shms[0].name, self._shms[1].name)

    def frame(self, slot: int) -> AssembledFrame:
        """The (reused) frame object whose buffers are slot ``slot``; ``frame.slot`` is set."""
        frame = self._frames[slot]
        if frame is None:
            m = self.detector.n_modules
            frame = AssembledFrame(
                frame_number=0,
                port_bytes=self.port_bytes[slot],
                received=self.received[slot],
                exp_length=np.zeros(m, np.uint32),
                det_spec1=np.zeros(m, np.uint64),
                timestamp=np.zeros(m, np.uint64),
                det_spec3=np.zeros(m, np.uint32),
                module_seen=np.zeros(m, bool),
            )
            frame.slot = slot  # type: ignore[attr-defined]
            self._frames[slot] = frame
        return frame

    @staticmethod
    def describe(frame: AssembledFrame) -> tuple:
        """What goes through the pipe for a frame in a slot: slot and header fields."""
        return (
            "slot",
            frame.slot,  # type: ignore[attr-defined]
            frame.frame_number,
            frame.exp_length.copy(),
            frame.det_spec1.copy(),
            frame.timestamp.copy(),
            frame.det_spec3.copy(),
            frame.module_seen.copy(),
        )

    def rebuild(self, message: tuple) -> AssembledFrame:
        """The frame a :meth:`describe` message stands for (its buffers in the slot)."""
        _, slot, number, exp_length, det_spec1, timestamp, det_spec3, module_seen = message
        frame = self.frame(slot)
        frame.frame_number = number
        frame.exp_length[:] = exp_length
        frame.det_spec1[:] = det_spec1
        frame.timestamp[:] = timestamp
        frame.det_spec3[:] = det_spec3
        frame.module_seen[:] = module_seen
        return frame

    def close(self) -> None:
        """Detach (and free, in the process that made the pool)."""
        self.port_bytes = self.received = None  # type: ignore[assignment]
        self._frames = []
        for shm in self._shms:
            shm.close()
            if self._owner:
                shm.unlink()
        self._shms = []
