"""The frame emitter over loopback: a short run from a pool smaller than the run, every datagram
caught and its 48-byte header parsed (detectors.md §1, §2.4, §2.5, §2.7, §2.8). Frame numbers,
timestamps, pulse ids and storage cells must keep advancing while the pool cycles, and every
datagram must equal the one the packetiser builds for that frame with the whole run's headers.
"""

from __future__ import annotations

import select
import socket
import threading

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    HEADER_DTYPE,
    HEADER_SIZE,
    Detector,
    FrameEmitter,
    Packetiser,
    StorageCells,
    XfelTiming,
    jungfrau_module,
    natural_order,
    run_headers,
)

N_FRAMES = 23
POOL = 4  # a multiple of the two storage cells; 23 frames cycle it almost six times
RATE_HZ = 50.0  # slow enough for a Python reader on a busy machine


class _Catcher(threading.Thread):
    """Reads every datagram of the sockets while the emitter sends (the socket buffers alone
    would not hold a run); stops after ``idle_s`` without one once ``expected`` came or later."""

    def __init__(self, socks, expected: int, idle_s: float = 2.0):
        super().__init__(daemon=True)
        self.socks, self.expected, self.idle_s = socks, expected, idle_s
        self.got = [[] for _ in socks]

    def run(self) -> None:
        total = 0
        while total < self.expected:
            ready, _, _ = select.select(self.socks, [], [], self.idle_s)
            if not ready:
                return
            for sock in ready:
                self.got[self.socks.index(sock)].append(sock.recv(16384))
                total += 1

    def result(self) -> list[list[bytes]]:
        self.join(timeout=60)
        return self.got


@pytest.fixture
def sinks():
    socks = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    yield socks
    for sock in socks:
        sock.close()


def test_emitter_cycles_its_pool_while_headers_advance(sinks):
    detector = Detector("JF", jungfrau_module(2), 1)
    rng = np.random.default_rng(11)
    raw = rng.integers(0, 0x3FFF, size=(POOL, 1, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(raw).reshape(POOL, 2, -1))
    pool_payloads = packetiser.rendered[..., HEADER_SIZE:].copy()
    cells = StorageCells(n_cells=2, start_cell=15, step=-1)
    xfel = XfelTiming(first_pulse_id=5000, pulse_step=2, gap_every_frames=7, gap_pulses=100)
    blocks = []

    def headers(first, count):
        blocks.append((first, count))
        return run_headers(count, 1 / RATE_HZ, 0.9 / RATE_HZ, cells, xfel, first_index=first)

    catcher = _Catcher(sinks, N_FRAMES * detector.packets_per_frame)
    catcher.start()
    with FrameEmitter(packetiser, [s.getsockname() for s in sinks], 1 / RATE_HZ) as emitter:
        stats = emitter.run(N_FRAMES, headers, block_frames=3)
    got = catcher.result()

    per_port = detector.model.packets_per_port
    assert stats.frames_sent == N_FRAMES and stats.send_errors == 0
    assert stats.packets_sent == N_FRAMES * 2 * per_port
    assert [len(port) for port in got] == [N_FRAMES * per_port] * 2
    # Headers were made block by block, never for the whole run at once.
    assert max(count for _, count in blocks) <= 3 and sum(c for _, c in blocks) == N_FRAMES

    for port, datagrams in enumerate(got):
        data = np.frombuffer(b"".join(datagrams), np.uint8).reshape(len(datagrams), -1)
        head = data[:, :HEADER_SIZE].copy().view(HEADER_DTYPE)[:, 0]
        frame_index = np.repeat(np.arange(N_FRAMES), per_port)
        # detectors.md §2.4: frame numbers count from 1; packets 0..k-1 in each frame.
        np.testing.assert_array_equal(head["frame_number"], frame_index + 1)
        np.testing.assert_array_equal(head["packet_number"], np.tile(np.arange(per_port), N_FRAMES))
        # Timestamp at 10 MHz: frame i at i * period.
        np.testing.assert_array_equal(head["timestamp"], frame_index * round(1e7 / RATE_HZ))
        # Pulse ids (§2.8): +2 per frame, +100 more after every 7 frames, written out here.
        pulses = 5000 + 2 * frame_index + 100 * (frame_index // 7)
        np.testing.assert_array_equal(head["det_spec1"], pulses)
        # Storage cell (§2.5 bits 11-8; §2.7 burst counting down from 15): 15, 14, 15, 14, ...
        np.testing.assert_array_equal((head["det_spec3"] >> 8) & 0xF, 15 - frame_index % 2)
        # Payload: pool frame i mod 4, whatever the run frame.
        expected = pool_payloads[frame_index % POOL, port, np.tile(np.arange(per_port), N_FRAMES)]
        np.testing.assert_array_equal(data[:, HEADER_SIZE:], expected)

    # The same datagrams as the packetiser's own path with the whole run's headers at once.
    whole = run_headers(N_FRAMES, 1 / RATE_HZ, 0.9 / RATE_HZ, cells, xfel)
    frame, port, packet = natural_order(N_FRAMES, 2, per_port)
    reference = packetiser.gather(frame, port, packet, whole)
    for p in range(2):
        np.testing.assert_array_equal(
            np.frombuffer(b"".join(got[p]), np.uint8).reshape(-1, reference.shape[1]),
            reference[port == p],
        )


def test_emitter_sends_only_the_ports_it_is_given(sinks):
    detector = Detector("JF", jungfrau_module(2), 1)
    raw = np.zeros((2, 1, 512, 1024), np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(raw).reshape(2, 2, -1))
    catcher = _Catcher(sinks, 5 * 64, idle_s=1.0)
    catcher.start()
    with FrameEmitter(
        packetiser, [s.getsockname() for s in sinks], 1 / RATE_HZ, ports=[1]
    ) as emitter:
        stats = emitter.run(
            5, lambda first, count: run_headers(count, 1e-3, 1e-3, first_index=first)
        )
    got = catcher.result()
    assert [len(port) for port in got] == [0, 5 * 64]
    assert stats.packets_sent == 5 * 64


class _FakeClock:
    """A clock that moves only when slept on: deadlines are decided without real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _emit_with_fake_clock(sinks, images: int, expected_frames: int, **run_options):
    """Two zero frames cycled ``images`` times at 1 frame per fake second; (statistics, the
    datagrams caught per port)."""
    detector = Detector("JF", jungfrau_module(2), 1)
    raw = np.zeros((2, 1, 512, 1024), np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(raw).reshape(2, 2, -1))
    clock = _FakeClock()
    catcher = _Catcher(sinks, expected_frames * 128, idle_s=1.0)
    catcher.start()
    with FrameEmitter(
        packetiser, [s.getsockname() for s in sinks], 1.0, clock=clock, sleep=clock.sleep
    ) as emitter:
        stats = emitter.run(
            images,
            lambda first, count: run_headers(count, 1.0, 0.5, first_index=first),
            **run_options,
        )
    return stats, catcher.result()


def test_emitter_stops_at_its_deadline(sinks):
    # Frames are due at 0, 1, 2, ... (fake seconds); the deadline 3.5 lets frames 0-3 leave.
    stats, got = _emit_with_fake_clock(sinks, 10, 4, stop_at=3.5, block_frames=3)
    assert stats.stopped_at_deadline and stats.frames_sent == 4
    assert stats.packets_sent == 4 * 128 and [len(port) for port in got] == [4 * 64] * 2


def test_emitter_without_a_deadline_reached_reports_no_stop(sinks):
    stats, _ = _emit_with_fake_clock(sinks, 3, 3, stop_at=3.5)
    assert not stats.stopped_at_deadline and stats.frames_sent == 3


def test_schedule_sender_stops_at_its_deadline(sinks):
    # The per-packet path: frames due at 0, 1, 2, ... (fake seconds); deadline 3.5.
    from jfjoch_hil.simulator.detector import UdpSender

    detector = Detector("JF", jungfrau_module(2), 1)
    raw = np.zeros((2, 1, 512, 1024), np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(raw).reshape(2, 2, -1))
    clock = _FakeClock()
    catcher = _Catcher(sinks, 4 * 128, idle_s=1.0)
    catcher.start()
    with UdpSender(
        packetiser,
        [s.getsockname() for s in sinks],
        frame_time_s=1.0,
        clock=clock,
        sleep=clock.sleep,
    ) as sender:
        sender.send(*natural_order(10, 2, 64), run_headers(10, 1.0, 0.5), stop_at=3.5)
    got = catcher.result()
    stats = sender.statistics()
    assert stats.stopped_at_deadline and stats.frames_started == 4
    assert stats.packets_sent == 4 * 128 and [len(port) for port in got] == [4 * 64] * 2
