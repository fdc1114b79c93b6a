"""The two-process receiver (reader process + shared-memory ring) delivers exactly what the
single-process one does."""

from __future__ import annotations

import threading

import numpy as np
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    UdpSender,
    det_info_get,
    jungfrau_module,
    natural_order,
    run_headers,
)
from jfjoch_hil.simulator.errors import TransportError
from jfjoch_hil.simulator.receiver import Assembler, RingUdpReceiver


def test_hw_ring_receiver_two_modules_exact():
    detector = Detector("JF1M-test", jungfrau_module(2), 2)
    frames = np.random.default_rng(9).integers(0, 0xFFFE, size=(3, 2, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(3, 4, -1))
    n_frames = 9
    headers = run_headers(n_frames, 20e-3, 19.98e-3, StorageCells(n_cells=3, start_cell=2, step=1))
    order = natural_order(n_frames, 4, 64)
    assembler = Assembler(detector, window_frames=2)
    with RingUdpReceiver(
        assembler, ring_slots=512, rcvbuf_request_bytes=64 << 20, rcvbuf_force=True
    ) as receiver:
        with UdpSender(packetiser, receiver.addresses, frame_time_s=20e-3) as sender:
            thread = threading.Thread(target=sender.send, args=(*order, headers))
            thread.start()
            got = receiver.run(until_packets=len(order[0]), timeout_s=30.0, idle_timeout_s=5.0)
            thread.join(timeout=30.0)
        stats = receiver.statistics()
    assembler.flush(n_frames)
    got += assembler.pop_frames()
    assert stats.datagrams_per_port == (n_frames * 64,) * 4
    assert [f.frame_number for f in got] == list(range(1, n_frames + 1))
    for index, frame in enumerate(got):
        decoded = detector.model.decode(frame.port_bytes.reshape(2, 2, -1))
        np.testing.assert_array_equal(decoded, frames[index % 3])
        assert det_info_get(frame.det_spec3, "storage_cell").tolist() == [(2 + index % 3) % 16] * 2


def test_hw_ring_receiver_port_count_checked():
    detector = Detector("JF-test", jungfrau_module(2), 1)
    try:
        RingUdpReceiver(Assembler(detector), ports=[0])
    except TransportError as exc:
        assert "need one per detector port (2)" in str(exc)
    else:
        raise AssertionError("a wrong port count must be refused")


def test_hw_ring_receiver_one_reader_process_per_module_group():
    # Two reader processes (modules 0 and 1), one assembler: every frame whole and exact, each
    # port read by the process of its module.
    detector = Detector("JF1M-test", jungfrau_module(2), 2)
    frames = np.random.default_rng(4).integers(0, 0xFFFE, size=(2, 2, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(2, 4, -1))
    n_frames = 8
    headers = run_headers(n_frames, 20e-3, 19.98e-3, StorageCells(n_cells=2, start_cell=0, step=1))
    order = natural_order(n_frames, 4, 64)
    assembler = Assembler(detector, window_frames=2)
    with RingUdpReceiver(
        assembler, ring_slots=512, rcvbuf_request_bytes=64 << 20, rcvbuf_force=True, readers=2
    ) as receiver:
        pids = receiver.reader_pids
        with UdpSender(packetiser, receiver.addresses, frame_time_s=20e-3) as sender:
            thread = threading.Thread(target=sender.send, args=(*order, headers))
            thread.start()
            got = receiver.run(until_packets=len(order[0]), timeout_s=30.0, idle_timeout_s=5.0)
            thread.join(timeout=30.0)
        stats = receiver.statistics()
        ports = [port for _, port in receiver.addresses]
    assembler.flush(n_frames)
    got += assembler.pop_frames()
    assert len(set(pids)) == 2
    assert len(set(ports)) == 4
    assert stats.datagrams_per_port == (n_frames * 64,) * 4
    assert [f.frame_number for f in got] == list(range(1, n_frames + 1))
    for index, frame in enumerate(got):
        decoded = detector.model.decode(frame.port_bytes.reshape(2, 2, -1))
        np.testing.assert_array_equal(decoded, frames[index % 2])
