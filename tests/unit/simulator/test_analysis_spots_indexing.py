"""Spot finding recovers the predicted strong reflections; indexing from truth reproduces
positions; misses keep the sentinels (hdf5-format.md §4.1, §4.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from jfjoch_hil.simulator.analysis import AnalysisSettings, analyse_image, plan_for
from jfjoch_hil.simulator.scenes import pixel_mask, render, rotation_scene, stills_scene

# The analysis uses scipy.ndimage / scipy.spatial (a declared dependency of the project).
pytest.importorskip("scipy")


def _nearest_distance(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distance from each query to its nearest point (brute force, written for the test)."""
    if len(points) == 0:
        return np.full(len(queries), np.inf)
    diff = queries[:, None, :] - points[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1)).min(axis=1)


STRONG_PHOTONS = 60.0


@pytest.fixture(scope="module")
def rotation():
    scene = rotation_scene(40, seed=5)
    settings = AnalysisSettings(max_spot_count=1000)
    results = {}
    for index in (0, 17, 39):
        truth = scene.truth(index)
        results[index] = (
            truth,
            analyse_image(render(scene, index), scene.geometry, settings, truth),
        )
    return scene, settings, results


def _strong_predictions(scene, truth):
    """Predicted reflections bright enough to be seen, well inside the sensor and away from the
    beam stop and from masked pixels (a spot finder cannot see those)."""
    table = truth.reflections
    geometry = scene.geometry
    mask = pixel_mask(scene) > 0
    x, y = table.x_px, table.y_px
    ok = (table.photons >= STRONG_PHOTONS) & geometry.on_sensor(x, y, margin_px=4)
    dx, dy = x - geometry.beam_center_x_px, y - geometry.beam_center_y_px
    ok &= np.hypot(dx, dy) > scene.defects.beam_stop_radius_px + 5
    ok &= ~((dx < 0) & (np.abs(dy) < scene.defects.beam_stop_arm_width_px / 2 + 5))
    rows, cols = np.rint(y).astype(int), np.rint(x).astype(int)
    for off_y in range(-2, 3):
        for off_x in range(-2, 3):
            r = np.clip(rows + off_y, 0, geometry.height_px - 1)
            c = np.clip(cols + off_x, 0, geometry.width_px - 1)
            ok &= ~mask[r, c]
    return np.column_stack([x[ok], y[ok]])


def _recovery(result, strong_xy):
    found = np.array([[s["x"], s["y"]] for s in result["spots"]])
    distance = _nearest_distance(found, strong_xy)
    return float(np.mean(distance <= 1.5))


def test_analysis_spot_finding_recovers_90_percent_of_strong_rotation_reflections(rotation):
    scene, _, results = rotation
    for truth, result in results.values():
        strong = _strong_predictions(scene, truth)
        assert len(strong) >= 30
        assert _recovery(result, strong) >= 0.9


def test_analysis_spot_finding_recovers_stills_reflections():
    scene = stills_scene(6, seed=9, hit_rate=1.0, max_crystals_per_hit=1)
    settings = AnalysisSettings(max_spot_count=3000)
    checked = 0
    for index in range(3):
        truth = scene.truth(index)
        result = analyse_image(render(scene, index), scene.geometry, settings, truth)
        strong = _strong_predictions(scene, truth)
        if len(strong) >= 10:
            assert _recovery(result, strong) >= 0.9
            checked += 1
    assert checked >= 1


def test_analysis_indexed_spots_miller_indices_reproduce_positions(rotation):
    scene, _, results = rotation
    geometry = scene.geometry
    wavelength = 12.398419843320026 / geometry.energy_kev
    s0 = np.array([0.0, 0.0, 1.0 / wavelength])
    for _truth, result in results.values():
        assert result["indexing_result"] is True
        lattice = np.array(result["indexing_lattice"]).reshape(3, 3)
        spots = [s for s in result["spots"] if s["indexed"]]
        assert len(spots) >= 0.8 * len(result["spots"])
        xy = np.array([[s["x"], s["y"]] for s in spots])
        hkl = np.array([[s["h"], s["k"], s["l"]] for s in spots])
        lab = geometry.pixel_to_lab_mm(xy[:, 0], xy[:, 1])
        s1 = lab / np.linalg.norm(lab, axis=1, keepdims=True) / wavelength
        # h = a . r with a, b, c the rows of the real-space lattice of the frame centre.
        observed_hkl = (s1 - s0) @ lattice.T
        assert np.all(np.abs(observed_hkl - hkl) < 0.35)
        assert all(s["lattice"] == 0 for s in spots)
        assert all(abs(s["dist_ewald"]) < 0.01 for s in spots)


def test_analysis_unit_cell_and_bravais_from_truth(rotation):
    scene, _, results = rotation
    cell = scene.crystal.cell
    for _, result in results.values():
        reported = result["indexing_unit_cell"]
        for key in ("a", "b", "c", "alpha", "beta", "gamma"):
            assert math.isclose(reported[key], getattr(cell, key), rel_tol=1e-6)
        assert result["bravais_lattice"] == "tP"
        assert result["niggli_class"] == 11
        assert result["indexing_lattice_count"] == 1
        assert result["spot_count_indexed"] == sum(s["indexed"] for s in result["spots"])


def test_analysis_integration_matches_truth(rotation):
    scene, _, results = rotation
    for truth, result in results.values():
        refl = result["reflections"]
        assert result["integrated_reflection_count"] == len(refl["h"]) > 50
        strong = (refl["partiality"] > 0.5) & (refl["int_sum"] > 10 * refl["int_err"])
        assert strong.sum() >= 10
        shift = np.hypot(
            refl["observed_x"] - refl["predicted_x"], refl["observed_y"] - refl["predicted_y"]
        )
        assert np.median(shift[strong]) < 0.3
        # The fitted scale g of observed to expected photons is one (same photons rendered).
        assert 0.9 < result["image_scale_factor"] < 1.1
        assert result["image_scale_cc"] > 0.95
        key = {
            tuple(h): p
            for h, p in zip(truth.reflections.hkl.tolist(), truth.reflections.photons, strict=True)
        }
        rows = zip(refl["h"], refl["k"], refl["l"], strict=True)
        expected = np.array([key[(h, k, ell)] for h, k, ell in rows])
        ratio = refl["int_sum"][strong] / expected[strong]
        assert 0.85 < np.median(ratio) < 1.1  # the 3-pixel disc holds ~99 % of a 0.9-px spot
        assert refl["h"].dtype == np.int32 and refl["d"].dtype == np.float32
        assert np.all(refl["observed_frame"] == truth.image_index)


def test_analysis_misses_keep_sentinels():
    scene = stills_scene(3, seed=2, hit_rate=0.0)
    settings = AnalysisSettings()
    truth = scene.truth(0)
    result = analyse_image(render(scene, 0), scene.geometry, settings, truth)
    assert result["indexing_result"] is False
    assert all(math.isnan(v) for v in result["indexing_lattice"])
    assert result["indexing_lattice_count"] == 0 and result["spot_count_indexed"] == 0
    assert all(s["lattice"] == -1 and not s["indexed"] for s in result["spots"])
    assert math.isnan(result["profile_radius"]) and math.isnan(result["image_scale_factor"])
    assert result["integrated_reflection_count"] == 0
    # Background only: a few noise clusters at most (about a million pixels of Poisson noise).
    assert len(result["spots"]) <= 20


def test_analysis_multi_lattice_stills():
    scene = stills_scene(8, seed=4, hit_rate=1.0, max_crystals_per_hit=2)
    settings = AnalysisSettings(max_spot_count=1000)
    plan = plan_for(scene.geometry, settings)
    seen_two = False
    for index in range(8):
        truth = scene.truth(index)
        if len(truth.lattices_a) != 2:
            continue
        result = analyse_image(render(scene, index), scene.geometry, settings, truth, plan)
        if result["indexing_lattice_count"] == 2:
            seen_two = True
            assert len(result["indexing_lattice_extra"]) == 1
            assert {s["lattice"] for s in result["spots"] if s["indexed"]} == {0, 1}
    assert seen_two


def test_analysis_two_crystal_rotation_reports_both_lattices():
    from jfjoch_hil.simulator.scenes import Scene, lysozyme_crystal

    base = rotation_scene(5, seed=12)
    second = lysozyme_crystal(99)
    scene = Scene(base.geometry, base.crystal, base.scan, seed=12, extra_crystals=(second,))
    truth = scene.truth(2)
    assert len(truth.lattices_a) == 2 and set(np.unique(truth.reflections.lattice)) == {0, 1}
    result = analyse_image(
        render(scene, 2), scene.geometry, AnalysisSettings(max_spot_count=2000), truth
    )
    assert result["indexing_lattice_count"] == 2
    lattices = [
        np.array(result["indexing_lattice"]).reshape(3, 3),
        np.array(result["indexing_lattice_extra"][0]).reshape(3, 3),
    ]
    geometry = scene.geometry
    wavelength = 12.398419843320026 / geometry.energy_kev
    s0 = np.array([0.0, 0.0, 1.0 / wavelength])
    for spot in (s for s in result["spots"] if s["indexed"]):
        lab = geometry.pixel_to_lab_mm(np.array([spot["x"]]), np.array([spot["y"]]))[0]
        r = lab / np.linalg.norm(lab) / wavelength - s0
        observed = lattices[spot["lattice"]] @ r
        assert np.all(np.abs(observed - [spot["h"], spot["k"], spot["l"]]) < 0.35)


def test_analysis_ice_ring_spots_flagged_and_counted():
    from jfjoch_hil.simulator.scenes import ICE_RING_D_A

    scene = rotation_scene(2, seed=14, ice_ring_photons=4.0)
    settings = AnalysisSettings(max_spot_count=5000)
    result = analyse_image(render(scene, 0), scene.geometry, settings, scene.truth(0))
    geometry = scene.geometry
    wavelength = 12.398419843320026 / geometry.energy_kev
    q_ice = 2 * np.pi / np.array(ICE_RING_D_A)
    flagged = 0
    for spot in result["spots"]:
        lab = geometry.pixel_to_lab_mm(np.array([round(spot["x"])]), np.array([round(spot["y"])]))[
            0
        ]
        two_theta = np.arccos(lab[2] / np.linalg.norm(lab))
        q = 4 * np.pi * np.sin(two_theta / 2) / wavelength
        on_ring = bool(np.min(np.abs(q - q_ice)) <= settings.ice_ring_width_recip_a)
        assert spot["ice_ring"] == on_ring
        flagged += on_ring
    assert flagged > 0
    assert result["spot_count_ice_ring"] == flagged


def test_analysis_integration_error_is_finite_where_the_background_converted_below_zero(rotation):
    """Pedestal-subtracted pixels scatter around zero: a background ring whose mean is negative
    has no Poisson variance to add, and the error of the sum stays a finite number."""
    scene, settings, results = rotation
    truth, _ = results[17]
    image = render(scene, 17)
    lowered = (image.astype(np.int32) - 3).astype(image.dtype)  # every background mean below 0
    with np.errstate(invalid="raise"):
        result = analyse_image(lowered, scene.geometry, settings, truth)
    err = result["reflections"]["int_err"]
    assert err.size > 0 and np.all(np.isfinite(err)) and np.all(err >= 0)
