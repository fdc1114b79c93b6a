"""A module at 500 Hz over loopback from a separate sender process, with conversion: whatever the
machine's load, every packet is either placed or counted by the kernel as a receive-buffer drop."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    UdpSender,
    jungfrau_module,
    natural_order,
    run_headers,
)
from jfjoch_hil.simulator.detector._calibration import Calibration
from jfjoch_hil.simulator.receiver import Assembler, RingUdpReceiver, UdpReceiver, pump
from jfjoch_hil.simulator.receiver._publish import FrameProcessor, ReceiverSettings

pytestmark = pytest.mark.slow

N_FRAMES = 1000


def _send(addresses, queue) -> None:
    detector = Detector("JF", jungfrau_module(2), 1)
    frames = np.random.default_rng(0).integers(0, 0x3FFF, size=(4, 1, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(4, 2, -1))
    headers = run_headers(N_FRAMES, 2e-3, 1.98e-3, StorageCells(1, 0))
    with UdpSender(packetiser, addresses, frame_time_s=2e-3) as sender:
        sender.send(*natural_order(N_FRAMES, 2, 64), headers)
        queue.put(sender.statistics())


@pytest.mark.parametrize("ring", [False, True])
def test_hw_500hz_loss_fully_explained(ring):
    detector = Detector("JF", jungfrau_module(2), 1)
    calibration = Calibration.synthetic(1, 1, np.random.default_rng(1))
    processor = FrameProcessor(
        detector, ReceiverSettings(n_frames=N_FRAMES, geometry=False, compression=None), calibration
    )
    assembler = Assembler(detector)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    make = RingUdpReceiver if ring else UdpReceiver
    with make(assembler) as receiver:
        process = ctx.Process(target=_send, args=(receiver.addresses, queue))
        process.start()
        try:

            def on_frame(frame) -> None:
                processor.process(frame)
                assembler.release(frame)

            pump(receiver, on_frame, N_FRAMES * 128, timeout_s=60.0, idle_timeout_s=3.0)
            sent = queue.get(timeout=60)
        finally:
            process.join(timeout=60)
        stats = receiver.statistics()
    if stats.kernel_drops_per_port is None:
        pytest.skip("/proc/net/udp not available: kernel drops cannot be read")
    assert sent.packets_sent == N_FRAMES * 128 and sent.send_errors == 0
    assert stats.datagrams + sum(stats.kernel_drops_per_port) == sent.packets_sent
    accounting = assembler.statistics()
    assert accounting.packets_accepted == stats.datagrams
    assert accounting.packets_late == accounting.packets_duplicate == 0
