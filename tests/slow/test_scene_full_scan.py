"""A whole rotation scan: bit-for-bit reproducible and spot finding >= 90 % on every image
(slow: renders and analyses a hundred 1M images)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from jfjoch_hil.simulator.analysis import (
    AnalysisSettings,
    analyse_scene_image,
    plan_for,
    summarise_run,
)
from jfjoch_hil.simulator.scenes import clear_render_cache, render, rotation_scene

# The analysis uses scipy.ndimage / scipy.spatial (a declared dependency of the project).
pytest.importorskip("scipy")


def _nearest_distance(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distance from each query to its nearest point (brute force, written for the test)."""
    if len(points) == 0:
        return np.full(len(queries), np.inf)
    diff = queries[:, None, :] - points[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1)).min(axis=1)


pytestmark = pytest.mark.slow


def _digest(scene, n_images):
    digest = hashlib.sha256()
    for index in range(n_images):
        digest.update(render(scene, index, cache_size=0).tobytes())
    return digest.hexdigest()


def test_scene_full_scan_is_reproducible_and_spots_recovered():
    n_images = 100
    first = _digest(rotation_scene(n_images, seed=21), n_images)
    assert _digest(rotation_scene(n_images, seed=21), n_images) == first
    scene = rotation_scene(n_images, seed=21)
    settings = AnalysisSettings(max_spot_count=2000)
    plan = plan_for(scene.geometry, settings)
    results = []
    for index in range(n_images):
        result = analyse_scene_image(scene, index, settings, plan=plan)
        results.append(result)
        table = scene.truth(index).reflections
        strong = (table.photons >= 60) & scene.geometry.on_sensor(table.x_px, table.y_px, 5)
        dx = table.x_px - scene.geometry.beam_center_x_px
        dy = table.y_px - scene.geometry.beam_center_y_px
        strong &= np.hypot(dx, dy) > 25
        strong &= ~((dx < 0) & (np.abs(dy) < 10))
        found = np.array([[s["x"], s["y"]] for s in result["spots"]])
        distance = _nearest_distance(found, np.column_stack([table.x_px, table.y_px])[strong])
        assert np.mean(distance <= 1.5) >= 0.9
        assert result["indexing_result"]
        clear_render_cache(scene)
    summary = summarise_run(results, scene)
    assert summary["image_indexed_mean"] == 1.0
    lattice = np.array(summary["rotation_lattice"]).reshape(3, 3)
    np.testing.assert_allclose(np.linalg.norm(lattice, axis=1), [79.1, 79.1, 38.0], rtol=1e-9)
