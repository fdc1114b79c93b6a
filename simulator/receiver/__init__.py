"""The receiver side of the device model: UDP sockets, frame assembly, pedestal/gain conversion,
the hand-off to per-image analysis and the publisher of the Stream V2 run (detectors.md §2.9-§4;
stream.md)."""

from jfjoch_hil.simulator._udp import BUFFER_REQUEST_BYTES
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame, Assembler, AssemblerStatistics
from jfjoch_hil.simulator.receiver._direct import DirectTransport
from jfjoch_hil.simulator.receiver._handoff import SharedFrames
from jfjoch_hil.simulator.receiver._publish import (
    FrameProcessor,
    ImageResult,
    ReceiverSettings,
    RunPublisher,
    RunSummary,
    receive_udp,
    run_direct,
)
from jfjoch_hil.simulator.receiver._pump import pump
from jfjoch_hil.simulator.receiver._ring import RingUdpReceiver
from jfjoch_hil.simulator.receiver._sockets import (
    ReceiverStatistics,
    UdpReceiver,
    kernel_drops,
    receive_until,
)
from jfjoch_hil.simulator.receiver.conversion import (
    Converter,
    PedestalTracker,
    pedestal_from_dark_frames,
)

__all__ = [
    "BUFFER_REQUEST_BYTES",
    "AssembledFrame",
    "Assembler",
    "AssemblerStatistics",
    "Converter",
    "DirectTransport",
    "FrameProcessor",
    "ImageResult",
    "PedestalTracker",
    "ReceiverSettings",
    "ReceiverStatistics",
    "RingUdpReceiver",
    "RunPublisher",
    "RunSummary",
    "SharedFrames",
    "UdpReceiver",
    "kernel_drops",
    "pedestal_from_dark_frames",
    "pump",
    "receive_udp",
    "receive_until",
    "run_direct",
]
