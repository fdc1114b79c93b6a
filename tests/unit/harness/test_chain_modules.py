"""An experiment built for some modules (an MPI rank's) holds exactly those modules' frames and
calibration of the whole detector's experiment, made without the others."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.harness.chain import build_experiment
from jfjoch_hil.harness.scenario import load_scenario
from jfjoch_hil.simulator.detector._calibration import Calibration, RawGenerator
from jfjoch_hil.simulator.errors import CalibrationError

SCENARIOS = {
    # three modules on two rows: the last row is incomplete (detectors.md §5.2)
    "jungfrau": ("quickstart", ["detector.modules=3", "detector.storage_cells=2"]),
    "eiger": ("eiger-serial-grid", ["detector.modules=3"]),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def whole(request):
    name, overrides = SCENARIOS[request.param]
    scenario = load_scenario(name, [*overrides, "run.images=2", "run.pedestal_frames=0"])
    return scenario, build_experiment(scenario, per_run_arrays=False)


@pytest.mark.parametrize("modules", [[0], [1], [2], [0, 2], [1, 2]])
def test_some_modules_equal_the_whole_detectors_and_the_rest_is_zero(whole, modules):
    scenario, full = whole
    part = build_experiment(scenario, per_run_arrays=False, modules=modules)
    assert part.rendered_modules == modules
    assert full.rendered_modules == [0, 1, 2]
    others = [m for m in range(3) if m not in modules]
    np.testing.assert_array_equal(part.raw[:, modules], full.raw[:, modules])
    assert not part.raw[:, others].any()
    assert full.raw[:, others].any(), "the whole detector's other modules are not empty"
    if full.calibration is not None:
        np.testing.assert_array_equal(
            part.calibration.pedestal_adu[:, modules], full.calibration.pedestal_adu[:, modules]
        )
        np.testing.assert_array_equal(
            part.calibration.gain_adu_per_kev[modules], full.calibration.gain_adu_per_kev[modules]
        )
        assert not part.calibration.pedestal_adu[:, others].any()
    # the packets of those modules' ports are the whole detector's, byte for byte
    per = full.detector.model.ports_per_module
    ports = [m * per + p for m in modules for p in range(per)]
    np.testing.assert_array_equal(
        part.packetiser.rendered[:, ports], full.packetiser.rendered[:, ports]
    )


def test_modules_outside_the_detector_are_refused(whole):
    scenario, _ = whole
    with pytest.raises(ValueError, match="modules"):
        build_experiment(scenario, per_run_arrays=False, modules=[3])


def test_per_module_generators_must_be_one_per_module():
    rngs = [np.random.default_rng(1)]
    with pytest.raises(CalibrationError, match="one per module"):
        Calibration.synthetic(2, 1, rngs)
    calibration = Calibration.synthetic(2, 1, np.random.default_rng(2))
    with pytest.raises(CalibrationError, match="one per module"):
        RawGenerator(calibration, 12.4, rngs)
