"""Storage-cell bursts, XFEL pulse ids and fault-plan settings (detectors.md §2.7, §2.8, §6.1)."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import StorageCells, XfelTiming, det_info_get, run_headers
from jfjoch_hil.simulator.detector.packet_faults import (
    FATE_MODULE_STOPPED,
    FATE_RANGE_LOSS,
    FaultPlan,
    FrameJump,
    LossRange,
)
from jfjoch_hil.simulator.errors import DetectorModelError, FaultPlanError


def test_hw_storage_cells_burst_order():
    cells = StorageCells(n_cells=4, start_cell=1)
    assert cells.hardware_cells().tolist() == [1, 0, 15, 14]  # counts down modulo 16
    assert cells.burst_position(np.array([1, 0, 15, 14])).tolist() == [0, 1, 2, 3]
    up = StorageCells(n_cells=3, start_cell=15, step=1)
    assert up.hardware_cells().tolist() == [15, 0, 1]
    with pytest.raises(DetectorModelError, match="n_cells.*1..16"):
        StorageCells(n_cells=17)


def test_hw_run_headers_fields():
    headers = run_headers(
        6,
        1e-3,
        0.98e-3,
        StorageCells(2, 15),
        XfelTiming(
            first_pulse_id=10,
            pulse_step=2,
            gap_every_frames=3,
            gap_pulses=100,
            event_codes=(1, 2, 3),
        ),
    )
    assert headers.frame_number.tolist() == [1, 2, 3, 4, 5, 6]
    assert headers.exp_length.tolist() == [9800] * 6  # 0.98 ms in 100 ns units
    assert headers.timestamp.tolist() == [0, 10000, 20000, 30000, 40000, 50000]
    assert headers.det_spec1.tolist() == [10, 12, 14, 116, 118, 120]
    assert det_info_get(headers.det_spec3, "storage_cell").tolist() == [15, 14] * 3
    assert det_info_get(headers.det_spec3, "event_code").tolist() == [1, 2, 3] * 2
    # two storage cells exist on chip v1.0 only (detectors.md 2.7): bits 7-5 = 000
    assert det_info_get(headers.det_spec3, "chip_version").tolist() == [0] * 6


def test_hw_fault_plan_validation_and_fates():
    with pytest.raises(FaultPlanError, match="loss_rate.*0..1"):
        FaultPlan(loss_rate=1.5)
    with pytest.raises(FaultPlanError, match="reorder_window_packets.*<= 128"):
        FaultPlan(reorder_window_packets=500).schedule(2, 2, 64, 2)
    with pytest.raises(FaultPlanError, match="frame_jumps"):
        FaultPlan(frame_jumps=(FrameJump(0, 1),))
    plan = FaultPlan(
        loss_ranges=(LossRange(module=0, first_frame=1, last_frame=1, port_in_module=1),),
        stopped_modules=((1, 2),),
        frame_jumps=(FrameJump(2, 5),),
    )
    schedule = plan.schedule(4, 4, 8, 2)
    fate = schedule.truth.fate
    assert (fate[1, 1] == FATE_RANGE_LOSS).all() and (fate[1, 0] == 0).all()
    assert (fate[2:, 2:] == FATE_MODULE_STOPPED).all() and (fate[:2, 2:] == 0).all()
    assert schedule.frame_numbers.tolist() == [1, 2, 8, 9]
    assert schedule.truth.skipped_frame_numbers == ((3, 7),)
    assert len(schedule.frame) == int((fate == 0).sum())
    events = schedule.truth.events()
    assert len(events) == int((fate != 0).sum())


def test_hw_fault_plan_from_scenario_mapping():
    plan = FaultPlan.from_mapping(
        {
            "loss_rate": 0.01,
            "module_loss": [{"module": 1, "first_frame": 2, "last_frame": 4, "port": 0}],
            "stopped_modules": [{"module": 0, "at_frame": 7}],
            "frame_jumps": [{"at_frame": 3, "skip": 2}],
            "late_by_frames": 5,
        },
        seed=9,
    )
    assert plan.seed == 9 and plan.loss_rate == 0.01 and plan.late_by_frames == 5
    assert plan.loss_ranges == (LossRange(1, 2, 4, 0),)
    assert plan.stopped_modules == ((0, 7),) and plan.frame_jumps == (FrameJump(3, 2),)
    with pytest.raises(FaultPlanError, match="duplicate_rate"):
        FaultPlan.from_mapping({"duplicate_rate": 2.0}, seed=0)
