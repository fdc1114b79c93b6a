"""Scene tiles: one per module, where the receiver's assembly puts that module (detectors.md
§5.2), each rendered with a noise stream of its own so that a module can be rendered alone."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import assemble_image
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes import (
    Crystal,
    DetectorGeometry,
    RotationScan,
    Scene,
    UnitCell,
    clear_render_cache,
    jungfrau_geometry,
    render,
    render_tile,
)

LAYOUTS = [(1, 1), (2, 1), (3, 2), (3, 1), (5, 2), (4, 2), (7, 3)]


def _landing(n_modules: int, per_row: int, module: int) -> np.ndarray:
    """Where module ``module``'s pixels land in the converted image, by the receiver's own
    assembly (mirrored lines, module 0 at the bottom left)."""
    frames = np.zeros((n_modules, 512, 1024), np.int32)
    frames[module] = 1
    return assemble_image(frames, per_row, 8, 36, divide=False, fill_value=0) == 1


@pytest.mark.parametrize("n_modules, per_row", LAYOUTS)
def test_tiles_and_gaps_are_where_the_assembly_puts_each_module(n_modules, per_row):
    geometry = jungfrau_geometry(n_modules, per_row)
    assert len(geometry.tiles) == n_modules
    sensor = np.zeros(geometry.shape, bool)
    for module, (y0, x0, h, w) in enumerate(geometry.tiles):
        inside = np.zeros(geometry.shape, bool)
        inside[y0 : y0 + h, x0 : x0 + w] = True
        np.testing.assert_array_equal(inside, _landing(n_modules, per_row, module))
        sensor |= inside
    np.testing.assert_array_equal(geometry.gap_mask, ~sensor)


@pytest.fixture(scope="module")
def three_module_scene() -> Scene:
    geometry = jungfrau_geometry(3, 2, distance_mm=90.0)
    crystal = Crystal(UnitCell(50.0, 60.0, 70.0), "oP", np.eye(3), d_min_a=2.0, mean_photons=900)
    return Scene(geometry, crystal, RotationScan(3, 0.0, 1.0), seed=5)


def test_a_tile_rendered_alone_is_that_part_of_the_whole_image(three_module_scene):
    scene = three_module_scene
    clear_render_cache(scene)
    alone = [render_tile(scene, 1, t) for t in range(len(scene.geometry.tiles))]
    whole = render(scene, 1)
    covered = np.zeros(whole.shape, bool)
    for (y0, x0, h, w), part in zip(scene.geometry.tiles, alone, strict=True):
        np.testing.assert_array_equal(whole[y0 : y0 + h, x0 : x0 + w], part)
        covered[y0 : y0 + h, x0 : x0 + w] = True
    assert np.all(whole[~covered] == scene.defects.error_value)
    assert any(part.max() > 50 for part in alone), "the scene should put spots on some tile"
    # each tile has its own noise: the same expected photons would still differ tile to tile
    first, second = alone[0].astype(np.int64), alone[2].astype(np.int64)
    assert not np.array_equal(first, second)


def test_tile_index_and_tile_shape_errors_name_the_field(three_module_scene):
    with pytest.raises(SceneError, match="tile: 3"):
        render_tile(three_module_scene, 0, 3)
    with pytest.raises(SceneError, match="geometry.tiles"):
        DetectorGeometry(100, 50, tiles=((0, 0, 60, 10),))
    with pytest.raises(SceneError, match="geometry.tiles"):
        DetectorGeometry(100, 50, tiles=((0, 0, 10),))


def test_a_tile_is_made_from_its_own_pixels_maps_only():
    # A rank that renders one module must not compute the whole detector's pixel maps (q, solid
    # angle, polarisation): on a 4-module geometry, rendering one tile leaves them unmade.
    geometry = jungfrau_geometry(4, 2, distance_mm=90.0)
    crystal = Crystal(UnitCell(50.0, 60.0, 70.0), "oP", np.eye(3), d_min_a=2.0, mean_photons=900)
    scene = Scene(geometry, crystal, RotationScan(2, 0.0, 1.0), seed=9)
    part = render_tile(scene, 0, 3)
    assert "pixel_maps" not in vars(geometry), "the whole image's maps were made"
    y0, x0, h, w = geometry.tiles[3]
    np.testing.assert_array_equal(render(scene, 0)[y0 : y0 + h, x0 : x0 + w], part)
