"""Hypothesis properties of Bragg prediction (Bragg
condition for the image's angle range; every Miller index reproduces its spot position)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.scenes import (
    Crystal,
    DetectorGeometry,
    RotationScan,
    Scene,
    StillsScan,
    UnitCell,
    predict_image,
    random_rotation,
)


def _axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    # Written differently from the library on purpose: from the unit quaternion of the rotation.
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    w = np.cos(angle_rad / 2)
    x, y, z = np.sin(angle_rad / 2) * axis
    return np.array(
        [
            [w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z],
        ]
    )


@st.composite
def scenes(draw, kind: str = "rotation"):
    a = draw(st.floats(25, 110))
    b = draw(st.floats(25, 110))
    c = draw(st.floats(25, 110))
    alpha = draw(st.floats(75, 105))
    beta = draw(st.floats(75, 105))
    gamma = draw(st.floats(75, 120))
    cell = UnitCell(a, b, c, alpha, beta, gamma)
    seed = draw(st.integers(0, 2**31))
    orientation = random_rotation(np.random.default_rng(seed))
    crystal = Crystal(
        cell,
        "aP",
        orientation,
        mosaicity_deg=draw(st.floats(0.02, 0.5)),
        profile_radius_recip_a=draw(st.floats(0.0005, 0.004)),
        d_min_a=draw(st.floats(2.8, 5.0)),
    )
    geometry = DetectorGeometry(
        width_px=1030,
        height_px=514,
        pixel_size_mm=0.075,
        distance_mm=draw(st.floats(60, 250)),
        beam_center_x_px=draw(st.floats(100, 900)),
        beam_center_y_px=draw(st.floats(50, 450)),
        energy_kev=draw(st.floats(6, 20)),
        rot1_rad=draw(st.floats(-0.2, 0.2)),
        rot2_rad=draw(st.floats(-0.2, 0.2)),
        rot3_rad=draw(st.floats(-3, 3)),
    )
    if kind == "rotation":
        axis = draw(st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.3, 0.1)]))
        scan = RotationScan(
            n_images=4,
            start_deg=draw(st.floats(-180, 180)),
            increment_deg=draw(st.floats(0.05, 2.0)),
            axis=axis,
        )
    else:
        scan = StillsScan(n_images=3, hit_rate=1.0, max_crystals_per_hit=2)
    return Scene(geometry, crystal, scan, seed=seed)


def _s1_from_position(geometry: DetectorGeometry, x_px, y_px, length):
    lab = geometry.pixel_to_lab_mm(x_px, y_px)
    return lab / np.linalg.norm(lab, axis=1, keepdims=True) * np.asarray(length)[:, None]


@settings(max_examples=30, deadline=None)
@given(scenes("rotation"), st.integers(0, 3))
def test_scene_rotation_satisfies_bragg_within_image_range(scene, image_index):
    truth = predict_image(scene, image_index)
    table = truth.reflections
    scan, geometry, crystal = scene.scan, scene.geometry, scene.crystal
    wavelength = 12.398419843320026 / geometry.energy_kev
    s0 = np.array([0.0, 0.0, 1.0 / wavelength])
    start = scan.start_deg + image_index * scan.increment_deg
    end = start + scan.increment_deg
    # Rocking-curve width of each reflection: the crossing lies in the frame up to a few widths.
    width = np.maximum(crystal.mosaicity_deg, 0.01) / np.abs(table.zeta)
    assert np.all(table.phi_deg >= start - 4.5 * width)
    assert np.all(table.phi_deg <= end + 4.5 * width)
    assert np.all((table.partiality > 0) & (table.partiality <= 1.0 + 1e-9))
    axis = np.asarray(scan.axis) / np.linalg.norm(scan.axis)
    for row in range(min(len(table), 60)):
        rotation = _axis_angle_matrix(axis, np.radians(table.phi_deg[row]))
        r = rotation @ crystal.orientation @ crystal.cell.b_matrix() @ table.hkl[row]
        assert abs(np.linalg.norm(s0 + r) - 1.0 / wavelength) < 1e-9 / wavelength
        # Bragg's law: sin(theta) = lambda / (2 d)
        assert abs(np.linalg.norm(r) * wavelength / 2 - wavelength / (2 * table.d_a[row])) < 1e-9


@settings(max_examples=30, deadline=None)
@given(scenes("rotation"), st.integers(0, 3))
def test_scene_rotation_miller_index_reproduces_position(scene, image_index):
    table = predict_image(scene, image_index).reflections
    geometry, crystal, scan = scene.geometry, scene.crystal, scene.scan
    if len(table) == 0:
        return
    wavelength = 12.398419843320026 / geometry.energy_kev
    s0 = np.array([0.0, 0.0, 1.0 / wavelength])
    s1 = _s1_from_position(geometry, table.x_px, table.y_px, np.full(len(table), 1 / wavelength))
    axis = np.asarray(scan.axis) / np.linalg.norm(scan.axis)
    inverse_ub = np.linalg.inv(crystal.orientation @ crystal.cell.b_matrix())
    for row in range(len(table)):
        back = _axis_angle_matrix(axis, -np.radians(table.phi_deg[row]))
        hkl = inverse_ub @ back @ (s1[row] - s0)
        np.testing.assert_allclose(hkl, table.hkl[row], atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(scenes("stills"), st.integers(0, 2))
def test_scene_stills_index_and_ewald_distance(scene, image_index):
    truth = predict_image(scene, image_index)
    table = truth.reflections
    geometry = scene.geometry
    wavelength = 12.398419843320026 / geometry.energy_kev
    s0 = np.array([0.0, 0.0, 1.0 / wavelength])
    assert len(truth.lattices_a) >= 1
    assert np.all(np.abs(table.dist_ewald_recip_a) < 3 * scene.crystal.profile_radius_recip_a)
    s1 = _s1_from_position(
        geometry, table.x_px, table.y_px, 1 / wavelength + table.dist_ewald_recip_a
    )
    for lattice_id, lattice in enumerate(truth.lattices_a):
        rows = table.lattice == lattice_id
        # Real-space rows a, b, c: h = a . r (the lattice's own definition of Miller indices).
        hkl = (s1[rows] - s0) @ np.asarray(lattice).T
        np.testing.assert_allclose(hkl, table.hkl[rows], atol=1e-4)
        cell = scene.crystal.cell
        lengths = np.linalg.norm(lattice, axis=1)
        np.testing.assert_allclose(lengths, [cell.a, cell.b, cell.c], rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(scenes("stills"), st.floats(0, 1029), st.floats(0, 513))
def test_scene_geometry_projection_round_trip(scene, x_px, y_px):
    geometry = scene.geometry
    lab = geometry.pixel_to_lab_mm(np.array([x_px]), np.array([y_px]))
    x_back, y_back, hits = geometry.project(lab * 3.7)
    assert hits[0]
    assert abs(x_back[0] - x_px) < 1e-6 and abs(y_back[0] - y_px) < 1e-6


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.permutations(range(4)))
def test_scene_render_depends_only_on_seed_and_image(seed, order):
    from jfjoch_hil.simulator.scenes import clear_render_cache, render

    geometry = DetectorGeometry(64, 48, 0.075, 40.0, 30.0, 20.0, 12.4)
    crystal = Crystal(
        UnitCell(30.0, 35.0, 40.0),
        "oP",
        random_rotation(np.random.default_rng(seed)),
        d_min_a=3.0,
        mean_photons=200.0,
    )
    scene_a = Scene(geometry, crystal, RotationScan(4, 0.0, 1.0), seed=seed)
    scene_b = Scene(geometry, crystal, RotationScan(4, 0.0, 1.0), seed=seed)
    in_order = [render(scene_a, i).copy() for i in range(4)]
    shuffled = {i: render(scene_b, i).copy() for i in order}
    for i in range(4):
        np.testing.assert_array_equal(in_order[i], shuffled[i])
    clear_render_cache(scene_a)
    clear_render_cache(scene_b)
