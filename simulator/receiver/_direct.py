"""The "direct" transport: packets from the packetiser straight into the assembler, no sockets
(same packetiser and assembler code as the UDP path, at memory speed)."""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.detector._packetiser import FrameHeaders, Packetiser
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame, Assembler

__all__ = ["DirectTransport"]


class DirectTransport:
    """Delivers a send schedule to an :class:`Assembler` in chunks of ``chunk_packets``.

    The chunk buffer plays the role of the receiver's slot buffer, so the assembler sees the
    same ``(n, packet_bytes)`` rows it gets from the UDP receiver.
    """

    def __init__(
        self, packetiser: Packetiser, assembler: Assembler, chunk_packets: int = 512
    ) -> None:
        self.packetiser = packetiser
        self.assembler = assembler
        self.chunk_packets = chunk_packets
        self._buffer = np.empty((chunk_packets, packetiser.packet_bytes), dtype=np.uint8)
        self.packets_delivered = 0

    def deliver(
        self, frame: np.ndarray, port: np.ndarray, packet: np.ndarray, headers: FrameHeaders
    ) -> list[AssembledFrame]:
        """Send the schedule (arrays in send order) and return the frames closed meanwhile."""
        out: list[AssembledFrame] = []
        for start in range(0, len(frame), self.chunk_packets):
            stop = min(start + self.chunk_packets, len(frame))
            rows = self.packetiser.gather(
                frame[start:stop], port[start:stop], packet[start:stop], headers, out=self._buffer
            )
            self.assembler.push(rows, port[start:stop])
            self.packets_delivered += stop - start
            out.extend(self.assembler.pop_frames())
        return out
