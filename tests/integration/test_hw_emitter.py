"""The frame emitter over loopback: a short run from a pool smaller than the run, every datagram
caught and its 48-byte header parsed (detectors.md §1, §2.4, §2.5, §2.7, §2.8). Frame numbers,
timestamps, pulse ids and storage cells must keep advancing while the pool cycles, and every
datagram must equal the one the packetiser builds for that frame with the whole run's headers,
whether each message is one datagram or several split by the kernel (UDP_SEGMENT, §2.9).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib
import select
import socket
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator._udp import _IOVEC, _MMSGHDR, _sendmmsg, _udp_segment
from jfjoch_hil.simulator.detector import (
    HEADER_DTYPE,
    HEADER_SIZE,
    Detector,
    FrameEmitter,
    Packetiser,
    StorageCells,
    XfelTiming,
    eiger_module,
    jungfrau_module,
    natural_order,
    run_headers,
)
from jfjoch_hil.simulator.errors import TransportError

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


# UDP generic segmentation offload (UDP_SEGMENT, udp(7)): several packets of a port per sendmmsg
# message, split by the kernel. Received with plain recv (no UDP_GRO), the datagrams must be those
# of one packet per message, byte for byte and in order per port.

_SENDER = importlib.import_module("jfjoch_hil.simulator.detector._sender")


def _kernel_segments_udp() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return _udp_segment(sock, 1024) is None


#: Marks a test that needs UDP_SEGMENT (Linux 4.18+); the other tests fake a kernel without it.
needs_gso = pytest.mark.skipif(not _kernel_segments_udp(), reason="kernel without UDP_SEGMENT")


class _RecordingSendmmsg:
    """The C library's sendmmsg, recording the bytes of every message it sent; with
    ``fail_first`` the first call sends nothing and fails with that errno instead."""

    def __init__(self, fail_first: int | None = None) -> None:
        self.call = _sendmmsg()
        self.fail_first = fail_first
        self.message_bytes: list[int] = []

    def __call__(self, fd: int, address: int, count: int, flags: int) -> int:
        if self.fail_first is not None:
            ctypes.set_errno(self.fail_first)
            self.fail_first = None
            return -1
        sent = self.call(fd, address, count, flags)
        if sent > 0:
            heads = (ctypes.c_char * (sent * _MMSGHDR.itemsize)).from_address(address)
            for iov_address in np.frombuffer(heads, _MMSGHDR)["iov"].tolist():
                iov = (ctypes.c_char * _IOVEC.itemsize).from_address(iov_address)
                self.message_bytes.append(int(np.frombuffer(iov, _IOVEC)["len"][0]))
        return sent


def _random_pool(detector: Detector, n_pool: int, seed: int) -> Packetiser:
    rng = np.random.default_rng(seed)
    port_bytes = rng.integers(0, 256, (n_pool, detector.n_ports, detector.model.port_bytes))
    return Packetiser(detector, port_bytes.astype(np.uint8))


def _emit(packetiser: Packetiser, n_frames: int, monkeypatch, **options):
    """``n_frames`` at one frame per fake second into fresh bound sockets: (statistics, datagrams
    per port, message bytes recorded)."""
    detector = packetiser.detector
    ports = options.get("ports") or range(detector.n_ports)
    recorder = _RecordingSendmmsg(options.pop("fail_first", None))
    monkeypatch.setattr(_SENDER, "_sendmmsg", lambda: recorder)
    clock = _FakeClock()
    with contextlib.ExitStack() as stack:
        socks = []
        for _ in range(detector.n_ports):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        emitter = stack.enter_context(
            FrameEmitter(
                packetiser,
                [s.getsockname() for s in socks],
                1.0,
                clock=clock,
                sleep=clock.sleep,
                **options,
            )
        )
        catcher = _Catcher(socks, n_frames * len(ports) * detector.model.packets_per_port, 1.0)
        catcher.start()
        try:
            stats = emitter.run(
                n_frames, lambda first, count: run_headers(count, 1.0, 0.5, first_index=first)
            )
        finally:
            got = catcher.result()
    return stats, got, recorder.message_bytes


def _reference(packetiser: Packetiser, n_frames: int) -> list[list[bytes]]:
    """The datagrams of every port in send order, built by the packetiser's own path."""
    detector = packetiser.detector
    frame, port, packet = natural_order(n_frames, detector.n_ports, detector.model.packets_per_port)
    rows = packetiser.gather(frame, port, packet, run_headers(n_frames, 1.0, 0.5))
    return [[row.tobytes() for row in rows[port == p]] for p in range(detector.n_ports)]


_MODELS = {
    "eiger-16bit-10gbe": lambda: eiger_module(16),
    "eiger-4bit-1gbe": lambda: eiger_module(4, ten_giga=False),
    "eiger-32bit-10gbe": lambda: eiger_module(32),
    "jungfrau-2if": lambda: jungfrau_module(2),
    "jungfrau-1if": lambda: jungfrau_module(1),
}


@needs_gso
@pytest.mark.parametrize("model", sorted(_MODELS))
def test_segmented_sends_put_the_same_datagrams_on_the_wire(model, monkeypatch):
    detector = Detector(model, _MODELS[model](), 1)
    packetiser = _random_pool(detector, 2, seed=len(model))
    n_frames = 3  # the pool of two cycles
    plain, plain_got, plain_messages = _emit(packetiser, n_frames, monkeypatch, gso="off")
    gso, gso_got, gso_messages = _emit(packetiser, n_frames, monkeypatch, gso="on")

    size = detector.model.packet_bytes
    total = n_frames * detector.packets_per_frame
    assert plain.gso_segments == 0 and plain_messages == [size] * total
    # Several packets per message, never more than one IPv4 UDP payload.
    assert gso.gso_segments > 1 and max(gso_messages) == gso.gso_segments * size <= 65507
    assert all(length % size == 0 for length in gso_messages)
    assert sum(gso_messages) == total * size and len(gso_messages) < total
    # Counted in datagrams, as the plain path counts them.
    for stats in (plain, gso):
        assert (stats.packets_sent, stats.bytes_sent, stats.send_errors) == (total, total * size, 0)
    assert gso_got == plain_got == _reference(packetiser, n_frames)


@needs_gso
@settings(max_examples=12)
@given(
    model=st.sampled_from(sorted(_MODELS)),
    chunk_packets=st.integers(1, 70),
    n_frames=st.integers(1, 3),
    port_mask=st.integers(1, 15),
)
def test_segmented_sends_equal_plain_for_any_chunking_and_ports(
    model, chunk_packets, n_frames, port_mask
):
    detector = Detector(model, _MODELS[model](), 1)
    ports = [p for p in range(detector.n_ports) if port_mask >> p & 1] or [0]
    packetiser = _random_pool(detector, 2, seed=chunk_packets)
    got = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for mode in ("off", "auto"):
            stats, got[mode], messages = _emit(
                packetiser,
                n_frames,
                monkeypatch,
                gso=mode,
                chunk_packets=chunk_packets,
                ports=ports,
            )
            total = n_frames * len(ports) * detector.model.packets_per_port
            assert stats.packets_sent == total and sum(messages) == stats.bytes_sent
            # A message never holds more packets than a chunk.
            assert max(messages) <= chunk_packets * detector.model.packet_bytes
    assert got["auto"] == got["off"]
    reference = _reference(packetiser, n_frames)
    assert got["auto"] == [reference[p] if p in ports else [] for p in range(detector.n_ports)]


@needs_gso
@pytest.mark.parametrize("error", [errno.EIO, errno.EINVAL])
def test_auto_goes_back_to_one_datagram_per_message_when_the_first_segmented_send_fails(
    error, monkeypatch
):
    detector = Detector("EIGER", eiger_module(16), 1)
    packetiser = _random_pool(detector, 2, seed=error)
    stats, got, messages = _emit(packetiser, 3, monkeypatch, gso="auto", fail_first=error)
    total = 3 * detector.packets_per_frame
    # Nothing lost nor sent twice: the failed message's packets went out one by one.
    assert (stats.gso_segments, stats.packets_sent, stats.send_errors) == (0, total, 0)
    assert messages == [detector.model.packet_bytes] * total
    assert got == _reference(packetiser, 3)


@needs_gso
def test_gso_on_raises_when_the_first_segmented_send_fails(monkeypatch):
    detector = Detector("JF", jungfrau_module(2), 1)
    with pytest.raises(TransportError, match="EIO"):
        _emit(_random_pool(detector, 2, seed=1), 2, monkeypatch, gso="on", fail_first=errno.EIO)


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_a_kernel_refusing_udp_segment(mode, monkeypatch):
    monkeypatch.setattr(_SENDER, "_udp_segment", lambda sock, size: "Protocol not available")
    detector = Detector("JF", jungfrau_module(2), 1)
    packetiser = _random_pool(detector, 2, seed=2)
    if mode == "on":
        with pytest.raises(TransportError, match="refused"):
            _emit(packetiser, 2, monkeypatch, gso=mode)
        return
    stats, got, messages = _emit(packetiser, 2, monkeypatch, gso=mode)
    assert stats.gso_segments == 0 and messages == [detector.model.packet_bytes] * 256
    assert got == _reference(packetiser, 2)


@pytest.mark.parametrize("mode", ["off", pytest.param("on", marks=needs_gso)])
def test_refused_datagrams_are_counted_one_by_one(mode, monkeypatch):
    # Nobody listens: each refusal (ECONNREFUSED) fails one message, and sendmmsg returns early.
    detector = Detector("EIGER", eiger_module(16), 1)
    packetiser = _random_pool(detector, 2, seed=3)
    recorder = _RecordingSendmmsg()
    monkeypatch.setattr(_SENDER, "_sendmmsg", lambda: recorder)
    closed = []
    for _ in range(detector.n_ports):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            closed.append(sock.getsockname())
    clock = _FakeClock()
    with FrameEmitter(packetiser, closed, 1.0, clock=clock, sleep=clock.sleep, gso=mode) as e:
        stats = e.run(3, lambda first, count: run_headers(count, 1.0, 0.5, first_index=first))
    total = 3 * detector.packets_per_frame
    assert stats.send_errors > 0
    assert stats.packets_sent + stats.send_errors == total
    assert sum(recorder.message_bytes) == stats.packets_sent * detector.model.packet_bytes
