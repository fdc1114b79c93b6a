"""Sender pacing with an injected clock: absolute deadlines per frame and per packet chunk
(STYLE.md "Runs are data": the clock is passed in; detectors.md §2.10)."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    Detector,
    FrameHeaders,
    Packetiser,
    UdpSender,
    jungfrau_module,
    natural_order,
)
from jfjoch_hil.simulator.errors import TransportError


class FakeClock:
    """Time advances only when the sender sleeps, plus a fixed cost per clock reading."""

    def __init__(self, cost_s: float = 0.0) -> None:
        self.now = 100.0
        self.cost_s = cost_s
        self.sleeps: list[tuple[float, float]] = []

    def clock(self) -> float:
        self.now += self.cost_s
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append((self.now, seconds))
        self.now += seconds


@pytest.fixture
def sink():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _sender(sink, clock, **kwargs):
    detector = Detector("t", jungfrau_module(1), 1)
    frames = np.zeros((1, 1, 512, 1024), np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(1, 1, -1))
    return UdpSender(
        packetiser, [sink.getsockname()], clock=clock.clock, sleep=clock.sleep, **kwargs
    )


def test_hw_frame_deadlines_are_absolute(sink):
    clock = FakeClock()
    with _sender(sink, clock, frame_time_s=0.5) as sender:
        sender.send(*natural_order(3, 1, 128), FrameHeaders.simple(3))
        stats = sender.statistics()
    # Wake-ups land exactly on t0 + i * period, whatever time was spent in between.
    wake_ups = [t + s for t, s in clock.sleeps]
    t0 = wake_ups[0] - 0.5
    assert wake_ups == pytest.approx([t0 + 0.5, t0 + 1.0])
    assert stats.packets_sent == 384 and stats.frames_started == 3 and stats.deadlines_missed == 0


def test_hw_packet_delay_spreads_chunks(sink):
    clock = FakeClock()
    with _sender(sink, clock, frame_time_s=1.0, packet_delay_s=0.001, chunk_packets=32) as sender:
        sender.send(*natural_order(2, 1, 128), FrameHeaders.simple(2))
    wake_ups = [t + s for t, s in clock.sleeps]
    t0 = wake_ups[0] - 0.032
    expected = (
        [t0 + j * 0.001 for j in (32, 64, 96)]
        + [t0 + 1.0]
        + [t0 + 1.0 + j * 0.001 for j in (32, 64, 96)]
    )
    assert wake_ups == pytest.approx(expected)


def test_hw_missed_deadlines_counted_and_settings_checked(sink):
    clock = FakeClock(cost_s=0.01)  # every clock reading costs 10 ms: a 1 ms period cannot hold
    with _sender(sink, clock, frame_time_s=0.001) as sender:
        sender.send(*natural_order(4, 1, 128), FrameHeaders.simple(4))
        # The reading after t0 is already 10 ms late, more than one 1 ms period: all 4 frames.
        assert sender.statistics().deadlines_missed == 4
    with pytest.raises(TransportError, match="allowed >= 0"):
        _sender(sink, clock, frame_time_s=-1.0)
    with pytest.raises(TransportError, match="loopback"):
        detector = Detector("t", jungfrau_module(1), 1)
        packetiser = Packetiser(detector, np.zeros((1, 1, 1048576), np.uint8))
        UdpSender(packetiser, [("10.0.0.1", 9)])
