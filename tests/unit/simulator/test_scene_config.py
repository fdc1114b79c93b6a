"""Scenes from a scenario (the one scene schema: the scenario's sections, docs/physics.md)."""

from __future__ import annotations

import pytest
from jfjoch_hil.simulator.scenes import (
    RotationScan,
)


def _scenario(
    kind="rotation", images=4, lattices=1, grid=(), hit_rate=1.0, modules=2, space_group=96, rois=()
):
    from types import SimpleNamespace as NS

    from jfjoch_hil.simulator.analysis import settings_from_mapping

    # Duck-typed like jfjoch_hil.harness.scenario.Scenario (only the fields the scene reads).
    return NS(
        detector=NS(type="jungfrau", modules=modules),
        run=NS(kind=kind, images=images, frame_rate_hz=100.0, seed=3),
        beam=NS(energy_kev=12.4, flux_hz=1e12, transmission=1.0),
        geometry=NS(distance_mm=100.0, beam_center_px=()),
        crystal=NS(
            cell=(79.1, 79.1, 38.0, 90.0, 90.0, 90.0),
            space_group=space_group,
            oscillation_deg=0.2,
            start_angle_deg=10.0,
            mosaicity_deg=0.1,
            resolution_limit_a=2.5,
            b_factor_a2=20.0,
            hit_rate=hit_rate,
            lattices=lattices,
            grid=grid,
        ),
        analysis=settings_from_mapping(
            {
                "spot_finding": True,
                "indexing": True,
                "integration": False,
                "azint": False,
                "az_int_phi_bins": 2,
                "max_spot_count": 77,
                "rois": list(rois),
            }
        ),
    )


def test_scene_from_scenario_kinds_layouts_and_lattices():
    from jfjoch_hil.simulator.scenes import scene_from_scenario

    rotation = scene_from_scenario(_scenario(lattices=2))
    assert isinstance(rotation.scan, RotationScan) and rotation.scan.start_deg == 10.0
    assert rotation.geometry.shape == (1064, 1030) and len(rotation.extra_crystals) == 1
    assert rotation.crystal.bravais == "tP"  # P4(3)2(1)2
    assert rotation.geometry.beam_center_y_px == pytest.approx(531.5)
    four_m = scene_from_scenario(_scenario(modules=8))
    assert four_m.geometry.shape == (2164, 2068)  # detectors.md §6.2 JUNGFRAU 4M
    stills = scene_from_scenario(_scenario("stills", lattices=3, hit_rate=0.5))
    assert stills.scan.max_crystals_per_hit == 3 and stills.scan.hit_rate == 0.5
    grid = scene_from_scenario(_scenario("grid", images=80, grid=(10, 8), hit_rate=0.25))
    hits = sum(grid.scan.crystal_at(i) for i in range(80))
    assert 10 <= hits <= 30  # about a quarter of the grid


@pytest.mark.parametrize(
    ("number", "bravais"),
    [
        (1, "aP"),
        (4, "mP"),
        (5, "mC"),
        (19, "oP"),
        (20, "oC"),
        (22, "oF"),
        (23, "oI"),
        (38, "oC"),
        (75, "tP"),
        (79, "tI"),
        (96, "tP"),
        (146, "hR"),
        (152, "hP"),
        (178, "hP"),
        (195, "cP"),
        (196, "cF"),
        (197, "cI"),
        (229, "cI"),
    ],
)
def test_scene_bravais_of_space_group(number, bravais):
    from jfjoch_hil.simulator.scenes import bravais_of_space_group

    assert bravais_of_space_group(number) == bravais


def test_analysis_settings_from_scenario_switch_stages():
    pytest.importorskip("scipy")
    from jfjoch_hil.simulator.analysis import analyse_scene_image, settings_from_scenario
    from jfjoch_hil.simulator.scenes import scene_from_scenario

    scenario = _scenario(
        rois=(
            {
                "name": "b",
                "type": "box",
                "min_x_pxl": 0,
                "max_x_pxl": 9,
                "min_y_pxl": 0,
                "max_y_pxl": 9,
            },
        )
    )
    settings = settings_from_scenario(scenario)
    assert settings.max_spot_count == 77 and settings.az_int_phi_bins == 2
    assert settings.rois[0].name == "b"
    result = analyse_scene_image(scene_from_scenario(scenario), 1, settings)
    assert "az_int_profile" not in result  # azint switched off
    assert result["integrated_reflection_count"] == 0  # integration switched off
    assert result["indexing_result"] is True and len(result["spots"]) <= 77
