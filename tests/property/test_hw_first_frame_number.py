"""Runs that do not start at frame 1 (detectors.md §2.4: detectors keep counting across
acquisitions unless reset; §4.1 step 2: slsReceiver takes the first frame number it sees).

Real packets (packetiser output, header bytes as the detector sends them) go through the
assembler in send order; whole frames are dropped where the test says. The expected frame
numbers, losses and counts are written from the drop list, not from the assembler.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.detector import Detector, Packetiser, eiger_module, run_headers
from jfjoch_hil.simulator.receiver import Assembler

#: A small EIGER (4-bit, 10 GbE: 16 packets per port) keeps each example fast; the assembler is
#: generic over the module model.
DETECTOR = Detector("EIGER-4bit", eiger_module(4), 1)
N_FRAMES = 6


def _packets(first_frame_number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frames = np.zeros((1, 1, 512, 1024), np.uint8)
    packetiser = Packetiser(DETECTOR, DETECTOR.model.encode(frames).reshape(1, 4, -1))
    headers = run_headers(N_FRAMES, 1e-3, 0.98e-3, first_frame_number=first_frame_number)
    batch = packetiser.packetise(headers)
    frame_of_row = batch.data[:, :8].copy().view("<u8")[:, 0].astype(np.int64)
    return batch.data, batch.port_index, frame_of_row


@settings(max_examples=30, deadline=None)
@given(
    start=st.integers(1, 2**40),
    dropped=st.sets(st.integers(1, N_FRAMES - 2), max_size=2),
    batches=st.integers(1, 4),
)
def test_hw_first_seen_counts_from_the_first_frame_number(start, dropped, batches):
    data, port, frame_numbers = _packets(start)
    keep = ~np.isin(frame_numbers - start, sorted(dropped))
    data, port = data[keep], port[keep]
    assembler = Assembler(DETECTOR, window_frames=1, first_frame_number=None)
    for rows in np.array_split(np.arange(len(port)), batches):
        assembler.push(data[rows], port[rows])
    assembler.flush(start + N_FRAMES - 1)
    emitted = [f.frame_number for f in assembler.pop_frames()]
    kept_index = [i for i in range(N_FRAMES) if i not in dropped]
    assert emitted == [start + i for i in kept_index]
    stats = assembler.statistics()
    assert assembler.first_frame_number == stats.first_frame_number == start
    assert stats.frames_lost == len(dropped)
    assert _merged(stats.lost_frame_ranges) == sorted(start + i for i in dropped)
    assert stats.frame_number_first_seen == start
    assert stats.frame_number_last_seen == start + N_FRAMES - 1
    assert stats.frame_numbers_seen == N_FRAMES - len(dropped)
    assert stats.packets_accepted == len(port) and stats.packets_late == 0
    assert stats.frames_complete == N_FRAMES - len(dropped)


def _merged(ranges):
    return [n for low, high in ranges for n in range(low, high + 1)]


@settings(max_examples=30, deadline=None)
@given(start=st.integers(2, 2**40), given_start=st.integers(1, 2**40))
def test_hw_given_start_accounts_frames_before_the_first_as_lost(start, given_start):
    # A receiver told the run starts at ``given_start`` while the detector starts at ``start``:
    # frames between the two are lost (detector later) or late (detector earlier), never shifted.
    data, port, _ = _packets(start)
    assembler = Assembler(DETECTOR, window_frames=1, first_frame_number=given_start)
    assembler.push(data, port)
    assembler.flush(given_start + N_FRAMES - 1)
    stats = assembler.statistics()
    emitted = [f.frame_number for f in assembler.pop_frames()]
    on_time = [n for n in range(start, start + N_FRAMES) if n >= given_start]
    assert emitted == on_time
    assert stats.first_frame_number == given_start
    per_frame = DETECTOR.packets_per_frame
    assert stats.packets_late == (N_FRAMES - len(on_time)) * per_frame
    # Every frame number from given_start to the last one flushed or seen that had no packet.
    last = max(given_start + N_FRAMES - 1, start + N_FRAMES - 1)
    assert stats.frames_lost == (last - given_start + 1) - len(on_time)


def test_hw_first_seen_with_nothing_received_reports_nothing():
    assembler = Assembler(DETECTOR, first_frame_number=None)
    assembler.flush(10)
    stats = assembler.statistics()
    assert stats.first_frame_number is None and stats.frames_lost == 0
    assert stats.frame_numbers_seen == 0 and stats.frame_number_first_seen is None
