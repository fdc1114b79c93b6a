"""Pedestal runs: the detector emits forced-gain dark frames per storage cell, the receiver
measures pedestals from what it assembles and converts with them (detectors.md §2.5, §4.3)."""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    det_info_get,
    jungfrau_module,
    run_headers,
)
from jfjoch_hil.simulator.detector._calibration import Calibration, RawGenerator
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport
from jfjoch_hil.simulator.receiver.conversion import Converter, PedestalTracker


def test_hw_pedestal_run_through_packets():
    rng = np.random.default_rng(8)
    detector = Detector("JF-test", jungfrau_module(2), 1)
    n_cells, frames_per_cell = 2, 4
    truth = Calibration.synthetic(1, n_cells, rng)
    generator = RawGenerator(truth, 12.4, rng)
    dark = np.zeros((1, 512, 1024), np.float32)
    tracker = PedestalTracker(n_cells, 1)
    cells = StorageCells(n_cells=n_cells, start_cell=15)
    n_frames = n_cells * frames_per_cell
    for gain in (0, 1, 2):
        forced = None if gain == 0 else gain
        raw = np.stack(
            [
                generator.raw(dark, storage_cell=i % n_cells, forced_gain=forced)
                for i in range(n_frames)
            ]
        )
        packetiser = Packetiser(detector, detector.model.encode(raw).reshape(n_frames, 2, -1))
        headers = run_headers(n_frames, 10e-3, 9.98e-3, cells, forced_gain=forced)
        # One packet lost in the G0 run: its pixels get one frame fewer, nothing else changes.
        schedule = FaultPlan(seed=gain, loss_rate=0.002 if gain == 0 else 0.0).schedule(
            n_frames, 2, 64, 2
        )
        assembler = Assembler(detector)
        frames = DirectTransport(packetiser, assembler).deliver(
            schedule.frame, schedule.port, schedule.packet, headers
        )
        assembler.flush(n_frames)
        for frame in frames + assembler.pop_frames():
            word = frame.det_spec3[0]
            seen_gain = (
                1
                if det_info_get(word, "force_switch_g1")
                else 2
                if det_info_get(word, "force_switch_g2")
                else 0
            )
            assert seen_gain == gain
            cell = cells.burst_position(det_info_get(word, "storage_cell"))
            tracker.add(detector.model.decode(frame.port_bytes.reshape(1, 2, -1)), seen_gain, cell)
    measured = tracker.pedestal_adu()
    # 3-4 frames per cell with <= 3 ADU Gaussian noise: sigma of the mean <= 1.8 ADU, so over
    # 3 million pixels nothing is off by 8 sigma, and the typical error is about 1 ADU.
    error = np.abs(measured - truth.pedestal_adu)
    assert error.max() < 14 and error.mean() < 1.5
    # Converting a dark G0 frame with measured pedestals gives 0 photons almost everywhere.
    converter = Converter(tracker.calibration(truth.gain_adu_per_kev), 12.4)
    photons = converter.convert(generator.raw(dark, storage_cell=1), 1)
    assert (photons == 0).mean() > 0.999


def test_hw_pedestal_tracker_marks_wrong_gain_pixels():
    tracker = PedestalTracker(1, 1)
    raw = np.full((1, 512, 1024), 0x4000 | 14000, np.uint16)
    raw[0, 0, 0] = 2000  # a G0 word in a G1 dark run: wrong gain, allowance 0 for G1
    tracker.add(raw, 1)
    pedestal = tracker.pedestal_adu()
    assert pedestal[0, 0, 1, 0, 0] == 16383.5 and pedestal[0, 0, 1, 0, 1] == 14000
    assert (pedestal[0, 0, 0] == 16383.5).all()  # no G0 frames at all
