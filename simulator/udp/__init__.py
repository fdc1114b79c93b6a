"""Packetiser, assembler, direct transport, UDP sender and receiver (detectors.md §1-§4)."""

from ._assembler import AssembledFrame, Assembler, AssemblerStatistics
from ._direct import DirectTransport
from ._packetiser import FrameHeaders, PacketBatch, Packetiser, natural_order
from ._pump import pump
from ._ring import RingUdpReceiver
from ._sockets import (
    BUFFER_REQUEST_BYTES,
    ReceiverStatistics,
    SenderStatistics,
    UdpReceiver,
    UdpSender,
    kernel_drops,
)

__all__ = [
    "BUFFER_REQUEST_BYTES",
    "ReceiverStatistics",
    "RingUdpReceiver",
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
    "kernel_drops",
    "natural_order",
    "pump",
]
