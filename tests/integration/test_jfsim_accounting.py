"""Loss kept apart by cause, and the truth comparison's two verdicts (docs/reliability.md
"Accounting").

The whole chain runs for real (writer process, HDF5 files read back with h5py); the causes are
checked against the fault plan's own ground truth, never against the report's arithmetic.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.harness.chain import build_experiment
from jfjoch_hil.harness.run import WINDOW_FRAMES, _accounting, run_scenario
from jfjoch_hil.harness.scenario import load_scenario
from jfjoch_hil.harness.stress import format_table, stress
from jfjoch_hil.harness.truth import compare_with_truth


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("accounting")
    scenario = load_scenario(
        "packet-loss-burst",
        ["run.images=6", "run.transport='direct'", "faults.burst_rate=0.02"],
    )
    return scenario, out, run_scenario(scenario, out)


def test_report_keeps_causes_apart(direct_run):
    scenario, _, report = direct_run
    experiment = build_experiment(scenario)
    placed = experiment.schedule.truth.expected_received(WINDOW_FRAMES)
    n_ports = experiment.detector.n_ports
    assert report["ok"] and report["truth_ok"] and report["truth_sent_ok"]
    # nothing dropped by a kernel on the direct transport: every placed packet accepted
    assert report["packets_kernel_drops_per_port"] == [0] * n_ports
    assert report["packets_missing_per_port"] == [0] * n_ports
    assert report["packets_unexplained_loss"] == 0
    # the fault plan's injected loss is reported as such, not as unexplained loss
    fates = experiment.schedule.truth.fate
    assert report["packets_injected_lost"] == int((fates != 0).sum()) > 0
    assert report["packets_received"] == int(placed.sum())


def test_truth_judges_the_accepted_packets_and_the_sent_ones_apart(direct_run):
    """An image checked against a packet the receiver did not place fails the ``accepted``
    verdict only: the written pixels hold data where that mask says the error value."""
    scenario, out, report = direct_run
    experiment = build_experiment(scenario)
    placed = experiment.schedule.truth.expected_received(WINDOW_FRAMES)
    sent_frames = np.arange(scenario.run.images)
    assert compare_with_truth(experiment, out, placed, sent_frames, accepted=placed)["accepted"][
        "ok"
    ]
    accepted = placed.copy()
    frame, port, packet = np.argwhere(placed)[len(np.argwhere(placed)) // 2]
    accepted[frame, port, packet] = False
    verdicts = compare_with_truth(experiment, out, placed, sent_frames, accepted=accepted)
    assert verdicts["sent"]["ok"]
    assert not verdicts["accepted"]["ok"]
    number = int(experiment.schedule.frame_numbers[frame]) - 1
    assert verdicts["accepted"]["images_mismatched"] == [number]


@settings(max_examples=60)
@given(data=st.data())
def test_kernel_drops_explain_missing_packets_port_by_port(data):
    frames, ports, packets = 3, data.draw(st.integers(1, 4)), 8
    placed = np.array(
        data.draw(
            st.lists(
                st.booleans(), min_size=frames * ports * packets, max_size=frames * ports * packets
            )
        )
    ).reshape(frames, ports, packets)
    dropped = placed & np.array(
        data.draw(st.lists(st.booleans(), min_size=placed.size, max_size=placed.size))
    ).reshape(placed.shape)
    accepted = placed & ~dropped
    lost_per_port = dropped.sum(axis=(0, 2))
    # the kernel reports some of the drops on each port (fewer when it missed some)
    reported = [data.draw(st.integers(0, int(n))) for n in lost_per_port]
    moved = {"receiver": {"kernel_drops_per_port": reported}}
    sent = np.arange(frames)
    result = _accounting(None, placed, accepted, sent, moved)
    assert result["packets_missing_per_port"] == [int(n) for n in lost_per_port]
    assert result["packets_kernel_drops"] == sum(reported)
    # unexplained: exactly the drops the kernel did not report, port by port
    assert result["packets_unexplained_per_port"] == [
        int(n) - r for n, r in zip(lost_per_port, reported, strict=True)
    ]
    assert result["packets_placed_unexpected"] == 0


@settings(max_examples=60)
@given(data=st.data())
def test_packets_read_late_explain_missing_packets_port_by_port(data):
    """The receiver fell behind: some packets it read came after their frame had closed (counted
    late per port, never placed); those, the kernel's drops and nothing else explain what is
    missing, port by port."""
    frames, ports, packets = 3, data.draw(st.integers(1, 4)), 8
    size = frames * ports * packets
    placed = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    placed = placed.reshape(frames, ports, packets)
    cause = np.array(data.draw(st.lists(st.integers(0, 3), min_size=size, max_size=size)))
    cause = cause.reshape(placed.shape)  # 0 accepted, 1 kernel drop, 2 read late, 3 vanished
    accepted = placed & (cause == 0)
    dropped = (placed & (cause == 1)).sum(axis=(0, 2))
    late = (placed & (cause == 2)).sum(axis=(0, 2))
    vanished = (placed & (cause == 3)).sum(axis=(0, 2))
    moved = {
        "receiver": {"kernel_drops_per_port": [int(n) for n in dropped]},
        "assembler": {"packets_late_per_port": [int(n) for n in late]},
    }
    result = _accounting(None, placed, accepted, np.arange(frames), moved)
    assert result["packets_late_behind_per_port"] == [int(n) for n in late]
    assert result["packets_late_behind"] == int(late.sum())
    assert result["packets_unexplained_per_port"] == [int(n) for n in vanished]
    assert result["packets_missing_per_port"] == [
        int(a + b + c) for a, b, c in zip(dropped, late, vanished, strict=True)
    ]


def test_stress_table_counts_each_loss_once(tmp_path):
    scenario = load_scenario("quickstart", ["run.images=6"])
    table = stress(scenario, [100.0], tmp_path)
    (row,) = table["rows"]
    on_disk = json.loads((tmp_path / "quickstart_stress.json").read_text())["rows"][0]
    text = format_table(table).splitlines()
    header, line = text[0].split(), text[1].split()
    columns = dict(zip(header[2:], line[1:], strict=False))  # "asked Hz" is two words
    assert int(columns["drops"]) == on_disk["packets_kernel_drops"] == row["packets_kernel_drops"]
    assert int(columns["unexpl"]) == on_disk["packets_unexplained_loss"]
    assert int(columns["late"]) == on_disk["packets_late_behind"] == row["packets_late_behind"]
    assert re.search(r"highest rate without loss", text[-1])
