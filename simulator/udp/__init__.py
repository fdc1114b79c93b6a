"""Packetiser, assembler, direct transport, UDP sender and receiver (detectors.md §1-§4)."""

from ._assembler import AssembledFrame, Assembler, AssemblerStatistics
from ._direct import DirectTransport
from ._packetiser import FrameHeaders, PacketBatch, Packetiser, natural_order
from ._sockets import (
    BUFFER_REQUEST_BYTES,
    ReceiverStatistics,
    SenderStatistics,
    UdpReceiver,
    UdpSender,
)

__all__ = [
    "BUFFER_REQUEST_BYTES",
    "ReceiverStatistics",
    "SenderStatistics",
    "UdpReceiver",
    "UdpSender",
    "AssembledFrame",
    "Assembler",
    "AssemblerStatistics",
    "DirectTransport",
    "FrameHeaders",
    "PacketBatch",
    "Packetiser",
    "natural_order",
]
