"""Assembler edge cases: rejects, late packets inside one batch, duplicates, lost frames
(detectors.md §4.1, §4.2)."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    Detector,
    FrameHeaders,
    Packetiser,
    eiger_module,
    headers_view,
)
from jfjoch_hil.simulator.errors import PacketLayoutError
from jfjoch_hil.simulator.receiver import Assembler


@pytest.fixture
def small():
    model = eiger_module(4, ten_giga=True)  # 16 packets per port, 4 ports
    detector = Detector("t", model, 1)
    frames = np.random.default_rng(3).integers(0, 15, (1, 1, 512, 1024), dtype=np.uint8)
    packetiser = Packetiser(detector, model.encode(frames).reshape(1, 4, -1))
    return detector, packetiser


def _batch(packetiser, entries):
    """entries: (frame_number, port, packet) in arrival order."""
    numbers = np.array([e[0] for e in entries], np.uint64)
    ports = np.array([e[1] for e in entries])
    packets = np.array([e[2] for e in entries])
    base = FrameHeaders.simple(len(entries))
    headers = FrameHeaders(numbers, base.exp_length, base.det_spec1, base.timestamp, base.det_spec3)
    rows = packetiser.gather(np.arange(len(entries)), ports, packets, headers)
    return rows, ports


def test_hw_late_packet_in_same_batch_is_not_placed(small):
    detector, packetiser = small
    rows, ports = _batch(packetiser, [(1, 0, 0), (5, 0, 0), (1, 0, 1)])
    assembler = Assembler(detector, window_frames=2)
    assembler.push(rows, ports)
    assembler.flush()
    frames = {f.frame_number: f for f in assembler.pop_frames()}
    assert frames[1].received[0, :2].tolist() == [True, False]
    stats = assembler.statistics()
    assert stats.packets_late == 1 and stats.packets_accepted == 2
    assert stats.lost_frame_ranges == ((2, 4),) and stats.frames_lost == 3


def test_hw_rejects_are_counted(small):
    detector, packetiser = small
    rows, ports = _batch(packetiser, [(1, 0, 0), (1, 1, 0), (1, 2, 0), (1, 0, 0)])
    headers_view(rows)["frame_number"][1] = 0
    headers_view(rows)["packet_number"][2] = 16
    assembler = Assembler(detector)
    assembler.push(rows, np.array([0, 1, 2, 9]), sizes=np.array([4144, 4144, 4144, 4144]))
    assembler.push(rows[:1], np.array([0]), sizes=np.array([4000]))
    assembler.push(rows[:1], np.array([0]))  # duplicate
    stats = assembler.statistics()
    assert (
        stats.packets_rejected_frame_zero,
        stats.packets_rejected_packet_number,
        stats.packets_rejected_port,
        stats.packets_rejected_size,
    ) == (1, 1, 1, 1)
    assert stats.packets_accepted == 1 and stats.packets_duplicate == 1


def test_hw_headers_per_module_from_first_packet(small):
    detector, packetiser = small
    rows, ports = _batch(packetiser, [(3, 2, 5), (3, 0, 1)])
    headers_view(rows)["det_spec3"] = [0x111, 0x222]
    assembler = Assembler(detector, first_frame_number=3)
    assembler.push(rows, ports)
    assembler.flush(last_frame_number=4)
    (frame,) = assembler.pop_frames()
    assert frame.det_spec3.tolist() == [0x111]
    assert frame.packets_received == 2 and frame.packets_expected == 64
    assert assembler.statistics().lost_frame_ranges == ((4, 4),)


def test_hw_assembler_settings_validated(small):
    detector, _ = small
    with pytest.raises(PacketLayoutError, match="window_frames"):
        Assembler(detector, window_frames=-1)
    with pytest.raises(ValueError, match="first_frame_number.*>= 1"):
        Assembler(detector, first_frame_number=0)


def test_hw_stamp_in_place_equals_gather(small):
    detector, packetiser = small
    base = FrameHeaders.simple(3)
    headers = FrameHeaders(
        base.frame_number + np.uint64(7),
        base.exp_length,
        base.det_spec1 + np.uint64(5),
        base.timestamp,
        np.array([1, 2, 3], np.uint32),
    )
    frame = np.array([0, 1, 2, 2])
    port = np.array([0, 3, 1, 2])
    packet = np.array([5, 0, 15, 15])
    copied = packetiser.gather(frame, port, packet, headers).copy()
    rows = packetiser.stamp(frame, port, packet, headers)
    np.testing.assert_array_equal(packetiser.rendered.reshape(-1, 4144)[rows], copied)
    # One rendered frame: run frames 0 and 1 of the same port and packet share a row.
    assert packetiser.stamp(np.array([0, 1]), port[[0, 0]], packet[[0, 0]], headers) is None
    assert (
        packetiser.stamp(frame[[0, 0]], port[[0, 0]], packet[[0, 0]], headers) is None
    )  # duplicate
