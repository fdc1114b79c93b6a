"""Scenario files: every shipped file loads, errors name the key and what is allowed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.harness.errors import ScenarioError
from jfjoch_hil.harness.scenario import (
    SCENARIO_DIR,
    Scenario,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
)
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan

REQUIRED = {
    "quickstart",
    "jf4m-rotation",
    "jf-xfel-storage-cells",
    "eiger-serial-grid",
    "packet-loss-burst",
}


def test_the_required_scenarios_are_shipped():
    names = set(list_scenarios())
    assert REQUIRED <= names
    assert len([n for n in names if n.startswith("field-")]) >= 6


@pytest.mark.parametrize("name", list_scenarios())
def test_every_shipped_scenario_loads_and_says_what_it_reproduces(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    text = (SCENARIO_DIR / f"{name}.toml").read_text(encoding="utf-8")
    assert text.startswith("#"), "each file opens with a comment saying what it reproduces"
    if name.startswith("field-"):
        assert "A correct pipeline shows" in text


def test_default_scenario_is_the_shipped_quickstart_file():
    assert load_scenario(None) == load_scenario(SCENARIO_DIR / "quickstart.toml")


def test_a_folder_without_the_scenario_names_what_it_has(tmp_path):
    (tmp_path / "other.toml").write_text((SCENARIO_DIR / "quickstart.toml").read_text())
    with pytest.raises(ScenarioError, match=r"'quickstart' not found; shipped: other"):
        load_scenario("quickstart", directory=tmp_path)


def test_overrides_use_dotted_paths_and_toml_values():
    scenario = load_scenario(
        None, ["crystal.cell=[60,70,80,90,90,90]", "writer.format=legacy", "run.images=3"]
    )
    assert scenario.crystal.cell == (60.0, 70.0, 80.0, 90.0, 90.0, 90.0)
    assert scenario.writer.format == "legacy"
    assert scenario.run.images == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "writer.format=hdf4",
            r"writer\.format: 'hdf4' is not allowed; allowed: legacy, vds, integrated, onlydata",
        ),
        ("detector.modulez=2", r"detector\.modulez: unknown key; allowed: type, modules"),
        ("run.images=0", r"run\.images: 0 is out of range; allowed: 1\.\.10000000"),
        ("run.images=ten", r"run\.images: expected int, got 'ten'"),
        ("crystal.cell=[1,2,3]", r"crystal\.cell: expected 6 values, got 3"),
        (
            "detector.bit_depth=32",
            r"detector\.bit_depth: 32 is not allowed for jungfrau; allowed: 16",
        ),
        (
            "faults.stopped_modules=[{module=5, at_frame=1}]",
            r"module 5 of entry 0 does not exist; allowed: 0\.\.0",
        ),
        ("faults.frame_jumps=[{at_frame=1}]", r"faults\.frame_jumps\[0\]: missing key 'skip'"),
        (
            "analysis.rois=[{name='a', type='star'}]",
            r"analysis\.rois\[0\]\.type: 'star', allowed \['azim', 'box', 'circle'\]",
        ),
        ("run.prefix='../x'", r"run\.prefix: '\.\./x' is not a plain file name"),
        ("colour=3", r"unknown key 'colour'"),
        ("novalue", r"expected key=value"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_what_is_allowed(override, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(None, [override])


def test_unknown_scenario_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="not found; shipped: .*quickstart"):
        load_scenario("no-such-scenario")


def test_invalid_toml_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nimages = 3")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_rates_outside_zero_to_one_are_always_refused(loss, duplicate):
    data = {"faults": {"loss_rate": loss, "duplicate_rate": duplicate}}
    if 0.0 <= loss <= 1.0 and 0.0 <= duplicate <= 1.0:
        assert scenario_from_dict(data).faults == FaultPlan(
            loss_rate=loss, duplicate_rate=duplicate
        )
    else:
        with pytest.raises(ScenarioError, match=r"faults\.(loss|duplicate)_rate: .* out of range"):
            scenario_from_dict(data)


def test_defaults_are_a_valid_scenario():
    assert scenario_from_dict({}) == Scenario(name="quickstart", description="")


def test_analysis_section_is_the_simulators_settings_type_and_round_trips():
    """[analysis] is declared once: the scenario holds the simulator's AnalysisSettings."""
    from jfjoch_hil.harness.scenario import scenario_to_dict
    from jfjoch_hil.simulator.analysis import AnalysisSettings, RoiAzim, RoiBox

    scenario = load_scenario(None)
    assert type(scenario.analysis) is AnalysisSettings
    assert [type(r) for r in scenario.analysis.rois] == [RoiBox, RoiAzim]  # quickstart's ROIs
    span = scenario.analysis.az_int_q_max_recip_a - scenario.analysis.az_int_q_min_recip_a
    assert round(span / scenario.analysis.az_int_q_spacing_recip_a) == 100  # 100 q bins
    again = scenario_from_dict(scenario_to_dict(scenario), name=scenario.name)
    assert again == scenario
    changed = load_scenario(None, ["analysis.az_int_phi_bins=4", "analysis.azint=false"])
    assert changed.analysis.az_int_phi_bins == 4 and changed.analysis.azint is False
    with pytest.raises(ScenarioError, match=r"analysis\.azint: expected bool, got 'no'"):
        load_scenario(None, ["analysis.azint='no'"])


def test_faults_section_is_the_simulators_fault_plan_and_round_trips():
    """[faults] is declared once: the scenario holds the simulator's FaultPlan (seeded later from
    run.seed); the TOML tables become LossRange / FrameJump rows."""
    from jfjoch_hil.harness.scenario import scenario_to_dict
    from jfjoch_hil.simulator.detector.packet_faults import FrameJump, LossRange

    scenario = load_scenario(
        "field-module-dropout",
        [
            "faults.frame_jumps=[{at_frame=2, skip=3}]",
            "faults.loss_rate=0.5",
            "faults.module_loss=[{module=0, first_frame=1, last_frame=2, port=1}]",
        ],
    )
    assert type(scenario.faults) is FaultPlan and scenario.faults.loss_rate == 0.5
    assert scenario.faults.frame_jumps == (FrameJump(2, 3),)
    assert scenario.faults.loss_ranges == (LossRange(0, 1, 2, 1),)
    assert scenario.faults.stopped_modules == ((1, 12),)  # from the scenario file
    assert scenario_from_dict(scenario_to_dict(scenario), name=scenario.name) == scenario
    with pytest.raises(
        ScenarioError, match=r"faults\.module_loss\[0\]\.module: expected an integer"
    ):
        load_scenario(None, ["faults.module_loss=[{module='a', first_frame=1, last_frame=2}]"])
    with pytest.raises(ScenarioError, match=r"faults\.loss_rat: unknown key"):
        load_scenario(None, ["faults.loss_rat=0.1"])
