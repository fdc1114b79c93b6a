"""Longer fault-accounting runs: more examples, a full JUNGFRAU 4M over the direct transport
(run with ``pytest -m slow``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.detector import (
    CATALOGUE,
    Detector,
    FrameHeaders,
    Packetiser,
    jungfrau_module,
)
from jfjoch_hil.simulator.detector.packet_faults import FATE_DELIVERED, FaultPlan, LossRange
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport

pytestmark = pytest.mark.slow


@settings(max_examples=300)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_frames=st.integers(2, 12),
    window=st.integers(1, 4),
    chunk=st.integers(1, 2000),
    loss=st.sampled_from([0.0, 0.001, 0.05, 0.5]),
    reorder=st.integers(0, 256),
    late=st.sampled_from([0.0, 0.01, 0.1]),
    late_by=st.integers(1, 6),
    duplicate=st.sampled_from([0.0, 0.01, 0.2]),
)
def test_hw_jungfrau_two_modules_fault_accounting(
    seed, n_frames, window, chunk, loss, reorder, late, late_by, duplicate
):
    detector = Detector("JF1M-test", jungfrau_module(2), 2)
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 0xFFFE, size=(2, 2, 512, 1024), dtype=np.uint16)
    port_bytes = detector.model.encode(frames).reshape(2, 4, -1)
    plan = FaultPlan(
        seed=seed,
        loss_rate=loss,
        burst_rate=loss / 10,
        reorder_window_packets=reorder,
        late_rate=late,
        late_by_frames=late_by,
        duplicate_rate=duplicate,
        loss_ranges=(LossRange(module=1, first_frame=1, last_frame=1, port_in_module=0),),
    )
    schedule = plan.schedule(n_frames, 4, 64, 2)
    base = FrameHeaders.simple(n_frames)
    headers = FrameHeaders(
        schedule.frame_numbers, base.exp_length, base.det_spec1, base.timestamp, base.det_spec3
    )
    assembler = Assembler(detector, window_frames=window)
    out = DirectTransport(Packetiser(detector, port_bytes), assembler, chunk).deliver(
        schedule.frame, schedule.port, schedule.packet, headers
    )
    assembler.flush(n_frames)
    out += assembler.pop_frames()
    placed, late_count, duplicates = schedule.truth.expected_counts(window)
    assert not (placed & (schedule.truth.fate != FATE_DELIVERED)).any()
    by_number = {f.frame_number: f for f in out}
    for index in range(n_frames):
        if not placed[index].any():
            assert index + 1 not in by_number
            continue
        frame = by_number[index + 1]
        np.testing.assert_array_equal(frame.received, placed[index])
        got = frame.port_bytes.reshape(4, 64, -1)
        sent = port_bytes[index % 2].reshape(4, 64, -1)
        np.testing.assert_array_equal(got[placed[index]], sent[placed[index]])
        assert (got[~placed[index]] == 0xFF).all()
    stats = assembler.statistics()
    assert (stats.packets_accepted, stats.packets_late, stats.packets_duplicate) == (
        int(placed.sum()),
        late_count,
        duplicates,
    )


def test_hw_jungfrau_4m_direct_run_with_module_stop():
    detector = CATALOGUE["JF4M"]
    frames = np.random.default_rng(0).integers(0, 0xFFFE, size=(1, 8, 512, 1024), dtype=np.uint16)
    packetiser = Packetiser(detector, detector.model.encode(frames).reshape(1, 16, -1))
    n_frames = 40
    plan = FaultPlan(seed=1, loss_rate=0.001, stopped_modules=((5, 10),))
    schedule = plan.schedule(n_frames, 16, 64, 2)
    assembler = Assembler(detector)
    transport = DirectTransport(packetiser, assembler, chunk_packets=2048)
    out = []
    for frame in transport.deliver(
        schedule.frame, schedule.port, schedule.packet, FrameHeaders.simple(n_frames)
    ):
        out.append((frame.frame_number, frame.received.copy()))
        assembler.release(frame)
    assembler.flush(n_frames)
    out += [(f.frame_number, f.received.copy()) for f in assembler.pop_frames()]
    expected = schedule.truth.expected_received(2)
    assert [n for n, _ in out] == list(range(1, n_frames + 1))
    for number, received in out:
        np.testing.assert_array_equal(received, expected[number - 1])
        if number > 10:
            assert not received[10:12].any()  # module 5's two ports
