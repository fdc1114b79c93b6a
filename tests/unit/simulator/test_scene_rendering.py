"""Rendering: seeded, cached per distinct image, gaps/defects/beam stop/ice rings."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes import (
    ICE_RING_D_A,
    Background,
    Crystal,
    DetectorGeometry,
    RotationScan,
    Scene,
    UnitCell,
    clear_render_cache,
    jungfrau_geometry,
    pixel_mask,
    render,
    render_expected,
    rotation_scene,
)


@pytest.fixture(scope="module")
def small_scene() -> Scene:
    geometry = jungfrau_geometry(1, 1, distance_mm=100.0)
    crystal = Crystal(UnitCell(60.0, 70.0, 80.0), "oP", np.eye(3), d_min_a=2.5, mean_photons=800)
    return Scene(geometry, crystal, RotationScan(5, 10.0, 0.5), seed=11)


def test_scene_same_seed_same_photons_bit_for_bit(small_scene):
    first = render(small_scene, 2).copy()
    clear_render_cache(small_scene)
    # A scene built anew from the same settings and seed renders the same image.
    twin = Scene(small_scene.geometry, small_scene.crystal, small_scene.scan, seed=11)
    render(twin, 3)  # order of requests must not matter
    np.testing.assert_array_equal(render(twin, 2), first)
    other = Scene(small_scene.geometry, small_scene.crystal, small_scene.scan, seed=12)
    assert not np.array_equal(render(other, 2), first)


def test_scene_render_is_cached_per_distinct_image(small_scene):
    first = render(small_scene, 1)
    assert render(small_scene, 1) is first
    assert render(small_scene, 0) is not first
    with pytest.raises(ValueError):
        first[0, 0] = 1  # cached images are read-only


def test_scene_gaps_and_dead_pixels_are_error_hot_pixels_saturated(small_scene):
    image = render(small_scene, 0)
    mask = pixel_mask(small_scene)
    defects = small_scene.defects
    gap = (mask & 1).astype(bool)
    dead = (mask & 2).astype(bool)
    hot = (mask & 8).astype(bool)
    assert not gap.any()  # a single module has no gap
    assert np.all(image[dead] == defects.error_value)
    assert np.all(image[hot] == defects.saturation_value)
    assert np.all(image[~(dead | gap | hot)] >= 0)
    two = jungfrau_geometry(2, 1)
    assert two.shape == (1064, 1030)
    scene2 = rotation_scene(2, seed=3, geometry=two)
    image2 = render(scene2, 0)
    assert np.all(image2[514:550, :] == scene2.defects.error_value)
    assert np.all(image2[:514, :][~(pixel_mask(scene2)[:514] > 0)] >= 0)


def test_scene_beam_stop_shadows_the_direct_beam(small_scene):
    expected = render_expected(small_scene, 0)
    g = small_scene.geometry
    cx, cy = int(round(g.beam_center_x_px)), int(round(g.beam_center_y_px))
    inside = expected[cy - 3 : cy + 4, cx - 3 : cx + 4]
    ring = expected[cy - 40 : cy + 41, cx + 30 : cx + 40]
    assert inside.mean() < 0.05 * ring.mean()


def test_scene_noise_is_poisson_around_expected(small_scene):
    expected = render_expected(small_scene, 4)
    image = render(small_scene, 4).astype(float)
    mask = pixel_mask(small_scene) == 0
    residual = (image - expected)[mask & (expected > 0.3) & (expected < 100)]
    variance = expected[mask & (expected > 0.3) & (expected < 100)]
    # Poisson: mean residual zero, variance equal to the mean (about 400k pixels).
    assert abs(residual.mean()) < 0.01
    assert 0.97 < residual.var() / variance.mean() < 1.03


def test_scene_ice_rings_appear_at_their_d_spacing():
    geometry = DetectorGeometry(600, 600, 0.075, 80.0, 300.0, 300.0, 12.4)
    crystal = Crystal(UnitCell(50.0, 50.0, 50.0), "cP", np.eye(3), d_min_a=4.0, mean_photons=0.0)
    scene = Scene(geometry, crystal, RotationScan(1), Background(ice_ring_photons=5.0), seed=1)
    expected = render_expected(scene, 0)
    d = geometry.pixel_maps["d_a"]
    checked = 0
    for d_ice in ICE_RING_D_A[:3]:
        on_ring = np.abs(d - d_ice) < 0.005
        off_ring = (np.abs(d - d_ice) > 0.08) & (np.abs(d - d_ice) < 0.12)
        if on_ring.sum() > 20 and off_ring.sum() > 20:
            assert expected[on_ring].mean() > 2.0 * expected[off_ring].mean()
            checked += 1
    assert checked >= 2


def test_scene_errors_name_the_field():
    with pytest.raises(SceneError, match="unit_cell.a"):
        UnitCell(-1.0, 2.0, 3.0)
    with pytest.raises(SceneError, match="rotation.increment_deg"):
        RotationScan(3, 0.0, 0.0)
    with pytest.raises(SceneError, match="geometry.gap_mask"):
        DetectorGeometry(10, 10, gap_mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="crystal.bravais"):
        Crystal(UnitCell(1, 2, 3), "xX")
