"""Packetise then assemble is pixel-exact; fault accounting equals the ground-truth log exactly
(detectors.md §4.1, §4.2, §6.1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.detector import (
    Detector,
    FrameHeaders,
    Packetiser,
    eiger_module,
    jungfrau_module,
)
from jfjoch_hil.simulator.detector.packet_faults import (
    FATE_DELIVERED,
    FaultPlan,
    FrameJump,
    LossRange,
)
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport

_MODELS = {
    "jf1": jungfrau_module(1),
    "jf2": jungfrau_module(2),
    "e4": eiger_module(4, ten_giga=True),
    "e12": eiger_module(12, ten_giga=False),
    "e32": eiger_module(32, ten_giga=True),
}


def _frames(model, n, seed):
    rng = np.random.default_rng(seed)
    top = min(model.error_value, 0xFFFF_FFFE) if model.bits_per_pixel < 32 else 0xFFFF_FFFE
    # Frames avoid the error value so a missing pixel is unambiguous.
    return rng.integers(0, top, size=(n, 512, 1024), dtype=np.uint64).astype(model.pixel_dtype)


@settings(max_examples=25)
@given(
    model_name=st.sampled_from(sorted(_MODELS)),
    n_modules=st.integers(1, 2),
    n_frames=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.integers(1, 700),
)
def test_hw_packetise_assemble_pixel_exact(model_name, n_modules, n_frames, seed, chunk):
    model = _MODELS[model_name]
    detector = Detector("t", model, n_modules)
    frames = _frames(model, n_frames * n_modules, seed).reshape(n_frames, n_modules, 512, 1024)
    port_bytes = model.encode(frames).reshape(n_frames, detector.n_ports, -1)
    packetiser = Packetiser(detector, port_bytes)
    headers = FrameHeaders.simple(n_frames)
    batch = packetiser.packetise(headers)
    # Shuffle within each frame: order inside a frame must not matter.
    rng = np.random.default_rng(seed)
    per_frame = detector.packets_per_frame
    order = np.concatenate([f * per_frame + rng.permutation(per_frame) for f in range(n_frames)])
    assembler = Assembler(detector, window_frames=1)
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        assembler.push(batch.data[rows], batch.port_index[rows])
    assembler.flush()
    out = assembler.pop_frames()
    assert [f.frame_number for f in out] == list(range(1, n_frames + 1))
    for index, frame in enumerate(out):
        assert frame.packets_received == frame.packets_expected == per_frame
        decoded = model.decode(frame.port_bytes.reshape(n_modules, model.ports_per_module, -1))
        np.testing.assert_array_equal(decoded, frames[index])
    stats = assembler.statistics()
    assert stats.packets_accepted == len(order) and stats.frames_complete == n_frames


_PORTS = 4  # 2 modules x 2 interfaces of a small EIGER-free JUNGFRAU-like test detector


@st.composite
def _plans(draw, n_frames, with_jumps):
    ranges = tuple(
        LossRange(
            module=draw(st.integers(0, 1)),
            first_frame=a,
            last_frame=a + draw(st.integers(0, 2)),
            port_in_module=draw(st.none() | st.integers(0, 1)),
        )
        for a in draw(st.lists(st.integers(0, n_frames - 1), max_size=2))
    )
    stopped = draw(st.lists(st.tuples(st.integers(0, 1), st.integers(0, n_frames)), max_size=1))
    jumps = ()
    if with_jumps:
        jumps = tuple(
            FrameJump(at, draw(st.integers(1, 5)))
            for at in draw(st.lists(st.integers(1, n_frames - 1), max_size=2, unique=True))
        )
    return FaultPlan(
        seed=draw(st.integers(0, 2**32 - 1)),
        loss_rate=draw(st.sampled_from([0.0, 0.01, 0.2])),
        burst_rate=draw(st.sampled_from([0.0, 0.01])),
        burst_length_packets=draw(st.integers(1, 40)),
        loss_ranges=ranges,
        stopped_modules=tuple(stopped),
        reorder_window_packets=0 if with_jumps else draw(st.integers(0, 64)),
        duplicate_rate=draw(st.sampled_from([0.0, 0.05])),
        late_rate=0.0 if with_jumps else draw(st.sampled_from([0.0, 0.02])),
        late_by_frames=draw(st.integers(1, 4)),
        frame_jumps=jumps,
    )


def _run(plan, n_frames, window, chunk):
    model = eiger_module(8, ten_giga=True)  # 32 packets per port: small and fast
    detector = Detector("t", model, 2)
    rng = np.random.default_rng(plan.seed)
    frames = rng.integers(0, 255, size=(3, 2, 512, 1024), dtype=np.uint8)  # 255 is the error value
    port_bytes = model.encode(frames).reshape(3, detector.n_ports, -1)
    packetiser = Packetiser(detector, port_bytes)
    schedule = plan.schedule(
        n_frames, detector.n_ports, model.packets_per_port, model.ports_per_module
    )
    headers = FrameHeaders.simple(n_frames)
    headers = FrameHeaders(
        schedule.frame_numbers,
        headers.exp_length,
        headers.det_spec1,
        headers.timestamp,
        headers.det_spec3,
    )
    assembler = Assembler(detector, window_frames=window)
    transport = DirectTransport(packetiser, assembler, chunk_packets=chunk)
    out = transport.deliver(schedule.frame, schedule.port, schedule.packet, headers)
    assembler.flush(last_frame_number=int(schedule.frame_numbers[-1]))
    out += assembler.pop_frames()
    return detector, port_bytes, schedule, assembler, out


def _check(plan, n_frames, window, chunk):
    detector, port_bytes, schedule, assembler, out = _run(plan, n_frames, window, chunk)
    truth = schedule.truth
    expected = truth.expected_received(window)  # (F, P, K)
    by_number = {f.frame_number: f for f in out}
    numbers = truth.frame_numbers.astype(int)
    payload = detector.model.payload_bytes
    for index, number in enumerate(numbers):
        if not expected[index].any():
            assert number not in by_number  # a frame with no packet is reported lost, not shifted
            continue
        frame = by_number.pop(number)
        np.testing.assert_array_equal(frame.received, expected[index])
        sent = port_bytes[index % 3].reshape(detector.n_ports, -1, payload)
        got = frame.port_bytes.reshape(detector.n_ports, -1, payload)
        np.testing.assert_array_equal(got[expected[index]], sent[expected[index]])
        assert (got[~expected[index]] == 0xFF).all()
    assert not by_number  # no frame the detector never sent
    stats = assembler.statistics()
    placed, late_count, duplicate_count = truth.expected_counts(window)
    np.testing.assert_array_equal(placed, expected)
    assert stats.packets_accepted == int(expected.sum())
    assert stats.packets_duplicate == duplicate_count
    assert stats.packets_late == late_count
    # per port: the sends the send order makes late on that port (the plan's own record)
    late_sends = truth.late_sends(window)
    by_port = np.bincount(truth.send_port[late_sends], minlength=detector.n_ports)
    assert stats.packets_late_per_port == tuple(int(n) for n in by_port)
    # Nothing the plan dropped is ever placed; every delivered, non-late packet is.
    assert not (expected & (truth.fate != FATE_DELIVERED)).any()
    if not truth.late.any():
        # Reordering moves a packet by less than one frame: harmless with window >= 1.
        assert stats.packets_late == 0
        np.testing.assert_array_equal(expected, truth.fate == FATE_DELIVERED)
    empty = [int(n) for i, n in enumerate(numbers) if not expected[i].any()]
    skipped = sum(b - a + 1 for a, b in truth.skipped_frame_numbers)
    assert stats.frames_lost == len(empty) + skipped
    lost_numbers = {n for a, b in stats.lost_frame_ranges for n in range(a, b + 1)}
    assert set(empty) <= lost_numbers
    for a, b in truth.skipped_frame_numbers:
        assert set(range(a, b + 1)) <= lost_numbers


@settings(max_examples=40)
@given(
    data=st.data(), n_frames=st.integers(2, 8), window=st.integers(1, 3), chunk=st.integers(1, 300)
)
def test_hw_fault_accounting_equals_ground_truth(data, n_frames, window, chunk):
    plan = data.draw(_plans(n_frames, with_jumps=False))
    _check(plan, n_frames, window, chunk)


@settings(max_examples=25)
@given(
    data=st.data(), n_frames=st.integers(2, 8), window=st.integers(0, 3), chunk=st.integers(1, 300)
)
def test_hw_frame_jumps_reported_lost_not_shifted(data, n_frames, window, chunk):
    _check(data.draw(_plans(n_frames, with_jumps=True)), n_frames, window, chunk)


def test_hw_same_seed_same_schedule():
    plan = FaultPlan(
        seed=7, loss_rate=0.1, reorder_window_packets=10, duplicate_rate=0.1, late_rate=0.1
    )
    a = plan.schedule(6, 4, 32, 2)
    b = plan.schedule(6, 4, 32, 2)
    for name in ("frame", "port", "packet"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = FaultPlan(seed=8, loss_rate=0.1).schedule(6, 4, 32, 2)
    assert not np.array_equal(a.truth.fate, c.truth.fate)
