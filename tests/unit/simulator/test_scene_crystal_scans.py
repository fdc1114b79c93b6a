"""Unit cells, Miller sets, scans (rotation, stills, grid) and start-message fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.scenes import (
    BRAVAIS_NIGGLI_CLASS,
    Crystal,
    GridScan,
    RotationScan,
    Scene,
    StillsScan,
    UnitCell,
    grid_scene,
    jungfrau_geometry,
    miller_set,
    predict_image,
    rotation_scene,
    stills_scene,
)

cells = st.builds(
    UnitCell,
    st.floats(5, 60),
    st.floats(5, 60),
    st.floats(5, 60),
    st.floats(70, 110),
    st.floats(70, 110),
    st.floats(70, 110),
)


def _metric_d(cell: UnitCell, hkl: np.ndarray) -> np.ndarray:
    # 1/d^2 = h G^-1 h with G the real-space metric tensor: independent of the B matrix.
    ca, cb, cg = (math.cos(math.radians(x)) for x in (cell.alpha, cell.beta, cell.gamma))
    g = np.array(
        [
            [cell.a**2, cell.a * cell.b * cg, cell.a * cell.c * cb],
            [cell.a * cell.b * cg, cell.b**2, cell.b * cell.c * ca],
            [cell.a * cell.c * cb, cell.b * cell.c * ca, cell.c**2],
        ]
    )
    inverse = np.linalg.inv(g)
    return 1.0 / np.sqrt(np.einsum("ij,jk,ik->i", hkl, inverse, hkl))


@settings(max_examples=40, deadline=None)
@given(cells)
def test_scene_b_matrix_d_spacing_matches_metric_tensor(cell):
    if not math.isfinite(cell.volume_a3):
        return
    hkl = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 2, -3], [-2, 1, 1]], float)
    np.testing.assert_allclose(cell.d_spacing(hkl), _metric_d(cell, hkl), rtol=1e-9)
    real = cell.real_matrix()
    np.testing.assert_allclose(np.linalg.norm(real, axis=1), [cell.a, cell.b, cell.c], rtol=1e-9)


@pytest.mark.parametrize("centring", ["P", "I", "F", "C", "R"])
def test_scene_miller_set_complete_with_centring_absences(centring):
    cell = UnitCell(20.0, 23.0, 27.0, 90.0, 95.0, 90.0)
    d_min = 4.0
    got = {tuple(h) for h in miller_set(cell, d_min, centring).tolist()}
    rule = {
        "P": lambda h, k, l: True,  # noqa: E741
        "I": lambda h, k, l: (h + k + l) % 2 == 0,  # noqa: E741
        "F": lambda h, k, l: h % 2 == k % 2 == l % 2,  # noqa: E741
        "C": lambda h, k, l: (h + k) % 2 == 0,  # noqa: E741
        "R": lambda h, k, l: (-h + k + l) % 3 == 0,  # noqa: E741
    }[centring]
    expected = set()
    for h in range(-8, 9):
        for k in range(-8, 9):
            for ell in range(-8, 9):
                if (h, k, ell) == (0, 0, 0) or not rule(h, k, ell):
                    continue
                if _metric_d(cell, np.array([[h, k, ell]], float))[0] >= d_min:
                    expected.add((h, k, ell))
    assert got == expected


def test_scene_rotation_partials_spread_and_sum_to_one():
    scene = rotation_scene(30, seed=3, increment_deg=0.05)
    recorded: dict[tuple, float] = {}
    for index in range(30):
        table = predict_image(scene, index).reflections
        for hkl, phi, part in zip(table.hkl.tolist(), table.phi_deg, table.partiality, strict=True):
            key = (*hkl, round(float(phi), 6))
            recorded[key] = recorded.get(key, 0.0) + float(part)
    # Reflections crossing in the middle of the scan are recorded in full over several images.
    middle = [v for (h, k, ell, phi), v in recorded.items() if 0.5 < phi < 1.0]
    assert len(middle) > 20
    assert np.median(middle) == pytest.approx(1.0, abs=0.01)
    assert max(middle) <= 1.0 + 1e-6


def test_scene_stills_hit_rate_and_lattice_count():
    scene = stills_scene(60, seed=8, hit_rate=0.5, max_crystals_per_hit=3)
    truths = [predict_image(scene, i) for i in range(60)]
    hits = [t for t in truths if t.lattices_a]
    assert 15 <= len(hits) <= 45
    assert {len(t.lattices_a) for t in hits} <= {1, 2, 3}
    assert all(len(t.reflections) == 0 for t in truths if not t.lattices_a)
    # Same seed, same orientations.
    again = predict_image(stills_scene(60, seed=8, hit_rate=0.5, max_crystals_per_hit=3), 7)
    assert len(again.lattices_a) == len(truths[7].lattices_a)
    for a, b in zip(again.lattices_a, truths[7].lattices_a, strict=True):
        np.testing.assert_array_equal(a, b)


def test_scene_grid_crystal_only_where_the_grid_meets_it():
    scene = grid_scene(5, 4, seed=2)
    scan = scene.scan
    assert isinstance(scan, GridScan) and scene.n_images == 20
    for index in range(20):
        truth = predict_image(scene, index)
        assert bool(truth.lattices_a) == scan.crystal_at(index)
        if truth.lattices_a:
            assert len(truth.reflections) > 50
    assert 0 < sum(scan.crystal_at(i) for i in range(20)) < 20


def test_scene_start_fields_units_and_goniometer():
    scene = Scene(
        jungfrau_geometry(2, 1, distance_mm=150.0, energy_kev=12.4),
        Crystal(UnitCell(79.1, 79.1, 38.0), "tP"),
        RotationScan(10, 5.0, 0.1, axis=(2.0, 0.0, 0.0), helical_step_um=(0.0, 1.0, 0.0)),
    )
    fields = scene.start_fields()
    assert fields["detector_distance"] == pytest.approx(0.150)
    assert fields["incident_energy"] == pytest.approx(12400.0)
    assert fields["incident_wavelength"] * fields["incident_energy"] == pytest.approx(
        12398.419843, rel=1e-9
    )
    assert fields["pixel_size_x"] == pytest.approx(75e-6)
    omega = fields["goniometer"]["omega"]
    assert omega["start"] == 5.0 and omega["increment"] == 0.1
    assert omega["vector"] == [1.0, 0.0, 0.0]
    assert omega["helical_step"] == pytest.approx([0.0, 1e-6, 0.0])
    assert fields["unit_cell"] == {
        "a": 79.1,
        "b": 79.1,
        "c": 38.0,
        "alpha": 90.0,
        "beta": 90.0,
        "gamma": 90.0,
    }
    assert fields["pixel_mask"].shape == (1064, 1030)
    assert StillsScan(3).goniometer() == {}


def test_scene_niggli_table_covers_the_14_bravais_types():
    assert len(BRAVAIS_NIGGLI_CLASS) == 14
    assert all(1 <= n <= 44 for n in BRAVAIS_NIGGLI_CLASS.values())
