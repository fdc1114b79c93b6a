"""Scenes from a scenario's [scene] table (STYLE.md "Runs are data": unknown keys refused)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes import (
    GridScan,
    RotationScan,
    StillsScan,
    lysozyme_crystal,
    render,
    rotation_scene,
    scene_from_mapping,
)

ROTATION_TOML = """
[scene]
seed = 4
[scene.geometry]
detector = "jungfrau"
n_modules = 2
distance_mm = 120.0
energy_kev = 12.4
[scene.crystal]
cell = [79.1, 79.1, 38.0, 90.0, 90.0, 90.0]
bravais = "tP"
mosaicity_deg = 0.08
profile_radius_recip_a = 0.0015
d_min_a = 2.0
b_factor_a2 = 18.0
mean_photons = 600.0
[scene.scan]
kind = "rotation"
n_images = 3
increment_deg = 0.2
"""


def test_scene_from_toml_equals_the_same_scene_built_in_code():
    scene = scene_from_mapping(tomllib.loads(ROTATION_TOML)["scene"])
    reference = rotation_scene(3, seed=4, crystal=lysozyme_crystal(4))
    np.testing.assert_array_equal(scene.crystal.orientation, reference.crystal.orientation)
    np.testing.assert_array_equal(render(scene, 1), render(reference, 1))


def test_scene_from_mapping_other_kinds_and_extra_crystals():
    table = tomllib.loads(ROTATION_TOML)["scene"]
    table["scan"] = {"kind": "stills", "n_images": 4, "hit_rate": 1.0}
    assert isinstance(scene_from_mapping(table).scan, StillsScan)
    table["scan"] = {"kind": "grid", "n_fast": 3, "n_slow": 2, "crystal_center_steps": [1, 1]}
    table["extra_crystals"] = [{"cell": [50, 60, 70, 90, 90, 90], "bravais": "oP"}]
    table["geometry"] = {
        "detector": "plain",
        "width_px": 100,
        "height_px": 80,
        "beam_center_x_px": 50.0,
        "beam_center_y_px": 40.0,
    }
    scene = scene_from_mapping(table)
    assert isinstance(scene.scan, GridScan) and scene.scan.crystal_center_steps == (1, 1)
    assert len(scene.extra_crystals) == 1 and scene.geometry.shape == (80, 100)


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ("crystal", "mosaicity", "scene.crystal.mosaicity: unknown key"),
        ("scan", "n_imgs", "scene.scan.n_imgs: unknown key"),
        ("geometry", "pixel_size_um", "scene.geometry.pixel_size_um: unknown key"),
        ("background", "ice", "scene.background.ice: unknown key"),
    ],
)
def test_scene_from_mapping_refuses_unknown_keys_with_their_path(section, key, message):
    table = tomllib.loads(ROTATION_TOML)["scene"]
    table.setdefault(section, {})[key] = 1
    with pytest.raises(SceneError, match=message):
        scene_from_mapping(table)
    with pytest.raises(ValueError, match="scene.scan.kind"):
        scene_from_mapping({**tomllib.loads(ROTATION_TOML)["scene"], "scan": {"kind": "spiral"}})


def _scenario(
    kind="rotation", images=4, lattices=1, grid=(), hit_rate=1.0, modules=2, space_group=96, rois=()
):
    from types import SimpleNamespace as NS

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
        analysis=NS(
            spot_finding=True,
            indexing=True,
            integration=False,
            azint=False,
            q_bins=50,
            phi_bins=2,
            max_spot_count=77,
            rois=rois,
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
