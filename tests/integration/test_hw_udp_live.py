"""Live UDP on 127.0.0.1: 2 JUNGFRAU modules x 2 interfaces with storage cells.

Sender and receiver share one process here (a thread each), so the frame time is a relaxed
20 ms: the GIL, not the socket, would otherwise decide which datagrams survive. Rate tests with
separate processes live in benchmarks/bench_udp.py.
"""

from __future__ import annotations

import socket
import sys
import threading

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    UdpSender,
    XfelTiming,
    det_info_get,
    jungfrau_module,
    natural_order,
    run_headers,
)
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan
from jfjoch_hil.simulator.receiver import Assembler, UdpReceiver

# Room for a whole run in the kernel buffer when the process may exceed rmem_max (root); else
# the capped 8 MiB (about 500 datagrams per port) still covers the 20 ms frame pacing.
_BIG_BUFFER = {"rcvbuf_request_bytes": 64 << 20, "rcvbuf_force": True}


# "batched": one sendmmsg / recvmmsg per chunk (Linux); "per-packet": the portable path, one call each
SYSCALLS = pytest.mark.parametrize("batched", [True, False], ids=["batched", "per-packet"])


@SYSCALLS
def test_hw_udp_two_modules_two_interfaces_storage_cells(batched):
    detector = Detector("JF1M-test", jungfrau_module(2), 2)
    cells = StorageCells(n_cells=4, start_cell=15)
    n_frames = 12
    rng = np.random.default_rng(42)
    frames = rng.integers(0, 0xFFFE, size=(4, 2, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(
        detector, detector.model.encode(frames).reshape(4, detector.n_ports, -1)
    )
    headers = run_headers(
        n_frames,
        20e-3,
        19.98e-3,
        cells,
        XfelTiming(first_pulse_id=500, gap_every_frames=4, gap_pulses=10, event_codes=(3, 7)),
    )
    order = natural_order(n_frames, detector.n_ports, detector.model.packets_per_port)
    assembler = Assembler(detector, window_frames=2)
    with (
        UdpReceiver(assembler, **_BIG_BUFFER, batch_syscalls=batched) as receiver,
        UdpSender(
            packetiser, receiver.addresses, frame_time_s=20e-3, batch_syscalls=batched
        ) as sender,
    ):
        assert receiver.batched == sender.batched == (batched and sys.platform.startswith("linux"))
        assert len({port for _, port in receiver.addresses}) == 4
        thread = threading.Thread(target=sender.send, args=(*order, headers))
        thread.start()
        got = receiver.run(until_packets=len(order[0]), timeout_s=20.0, idle_timeout_s=5.0)
        thread.join(timeout=20.0)
        assert not thread.is_alive()
        assembler.flush(last_frame_number=n_frames)
        got += assembler.pop_frames()
        stats = receiver.statistics()
        sent = sender.statistics()
    assert sent.packets_sent == len(order[0]) and sent.send_errors == 0
    assert stats.datagrams_per_port == (n_frames * 64,) * 4
    assert stats.rcvbuf_granted_bytes > 0
    assert [f.frame_number for f in got] == list(range(1, n_frames + 1))
    for index, frame in enumerate(got):
        assert frame.packets_received == frame.packets_expected == 256
        decoded = detector.model.decode(frame.port_bytes.reshape(2, 2, -1))
        np.testing.assert_array_equal(decoded, frames[index % 4])
        header_cells = det_info_get(frame.det_spec3, "storage_cell")
        assert header_cells.tolist() == [15 - index % 4] * 2
        assert cells.burst_position(header_cells).tolist() == [index % 4] * 2
        assert frame.det_spec1.tolist() == [500 + index + 10 * (index // 4)] * 2
        assert det_info_get(frame.det_spec3, "event_code").tolist() == [(3, 7)[index % 2]] * 2
    assert assembler.statistics().packets_late == 0


@SYSCALLS
def test_hw_udp_with_faults_matches_ground_truth(batched):
    detector = Detector("JF0.5M-test", jungfrau_module(2), 1)
    frames = np.random.default_rng(1).integers(0, 0xFFFE, size=(2, 1, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(2, 2, -1))
    n_frames = 8
    plan = FaultPlan(seed=3, loss_rate=0.05, duplicate_rate=0.05, reorder_window_packets=16)
    schedule = plan.schedule(n_frames, 2, 64, 2)
    headers = run_headers(n_frames, 20e-3, 19.98e-3)
    assembler = Assembler(detector, window_frames=2)
    with (
        UdpReceiver(assembler, **_BIG_BUFFER, batch_syscalls=batched) as receiver,
        UdpSender(
            packetiser, receiver.addresses, frame_time_s=20e-3, batch_syscalls=batched
        ) as sender,
    ):
        thread = threading.Thread(
            target=sender.send, args=(schedule.frame, schedule.port, schedule.packet, headers)
        )
        thread.start()
        got = receiver.run(until_packets=len(schedule.frame), timeout_s=20.0, idle_timeout_s=5.0)
        thread.join(timeout=20.0)
        assembler.flush(last_frame_number=n_frames)
        got += assembler.pop_frames()
    expected = schedule.truth.expected_received(2)
    assert [f.frame_number for f in got] == list(range(1, n_frames + 1))
    for index, frame in enumerate(got):
        np.testing.assert_array_equal(frame.received, expected[index])
    stats = assembler.statistics()
    assert stats.packets_duplicate == int(schedule.truth.copies[expected].sum())


def test_hw_loss_is_explained_by_kernel_drops():
    """Overflow a deliberately small receive buffer: every datagram is either read or counted
    as dropped by the kernel (loss must be explained, not silent)."""
    detector = Detector("JF-1if", jungfrau_module(1), 1)
    packetiser = Packetiser(detector, np.zeros((1, 1, 1 << 20), np.uint8))
    n_frames = 3
    order = natural_order(n_frames, 1, 128)
    assembler = Assembler(detector)
    with UdpReceiver(assembler, rcvbuf_request_bytes=64 << 10) as receiver:
        with UdpSender(packetiser, receiver.addresses) as sender:
            sender.send(*order, run_headers(n_frames, 1e-3, 0.98e-3))  # nobody reads meanwhile
        while receiver.poll(0.2):
            pass
        stats = receiver.statistics()
    if stats.kernel_drops_per_port is None:
        pytest.skip("/proc/net/udp not available: kernel drops cannot be read")
    assert stats.datagrams_per_port[0] < 3 * 128  # the small buffer did overflow
    assert stats.datagrams_per_port[0] + stats.kernel_drops_per_port[0] == 3 * 128
    assert assembler.statistics().packets_accepted == stats.datagrams_per_port[0]


@SYSCALLS
def test_hw_udp_datagrams_of_the_wrong_size_are_counted_not_placed(batched):
    """A datagram longer or shorter than a packet is rejected by size over real sockets too (the
    receive slot has one spare byte, so a truncated long datagram still shows as too long)."""
    detector = Detector("JF0.5M-test", jungfrau_module(1), 1)
    frames = np.zeros((1, 1, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(1, 1, -1))
    good = packetiser.packetise(run_headers(1, 1e-3, 0.9e-3)).data
    assembler = Assembler(detector, window_frames=2)
    sent = good[:6]  # 2 bad + 4 good: ~50 kB, within even a default-sized receive buffer
    with (
        UdpReceiver(assembler, **_BIG_BUFFER, batch_syscalls=batched) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw,
    ):
        target = receiver.addresses[0]
        raw.sendto(bytes(sent[0]) + b"\0" * 100, target)  # too long
        raw.sendto(bytes(sent[1])[:-8], target)  # too short
        for row in sent[2:]:
            raw.sendto(bytes(row), target)
        got = receiver.run(until_packets=len(sent), timeout_s=10.0, idle_timeout_s=1.0)
        assert receiver.statistics().datagrams_per_port == (len(sent),)
    assembler.flush(last_frame_number=1)
    got += assembler.pop_frames()
    stats = assembler.statistics()
    assert stats.packets_rejected_size == 2
    assert stats.packets_accepted == len(sent) - 2
    assert [f.packets_received for f in got] == [len(sent) - 2]
