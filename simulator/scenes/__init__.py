"""Diffraction scenes: geometry, crystals, Bragg prediction and rendering (docs/physics.md).

Typical use::

    scene = rotation_scene(n_images=100, seed=1)
    image = render(scene, 0)          # int32 photons [y, x], cached per distinct image
    truth = scene.truth(0)            # predicted reflections and lattices of that image
"""

from jfjoch_hil.simulator.scenes._crystal import (
    BRAVAIS_NIGGLI_CLASS,
    Crystal,
    UnitCell,
    miller_set,
    random_rotation,
    real_space_lattice,
)
from jfjoch_hil.simulator.scenes._examples import (
    LYSOZYME_CELL,
    THERMOLYSIN_CELL,
    grid_scene,
    lysozyme_crystal,
    rotation_scene,
    stills_scene,
)
from jfjoch_hil.simulator.scenes._from_scenario import bravais_of_space_group, scene_from_scenario
from jfjoch_hil.simulator.scenes._geometry import (
    HC_KEV_ANGSTROM,
    DetectorGeometry,
    eiger_geometry,
    jungfrau_geometry,
    rotation_matrix,
)
from jfjoch_hil.simulator.scenes._prediction import (
    ImageTruth,
    ReflectionTable,
    image_rng,
    predict_image,
    scene_crystals,
)
from jfjoch_hil.simulator.scenes._render import (
    ICE_RING_D_A,
    Background,
    DetectorDefects,
    Scene,
    clear_render_cache,
    pixel_mask,
    render,
    render_expected,
    render_tile,
)
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, Scan, StillsScan

__all__ = [
    "BRAVAIS_NIGGLI_CLASS",
    "HC_KEV_ANGSTROM",
    "ICE_RING_D_A",
    "LYSOZYME_CELL",
    "THERMOLYSIN_CELL",
    "Background",
    "Crystal",
    "DetectorDefects",
    "DetectorGeometry",
    "GridScan",
    "ImageTruth",
    "ReflectionTable",
    "RotationScan",
    "Scan",
    "Scene",
    "StillsScan",
    "UnitCell",
    "bravais_of_space_group",
    "clear_render_cache",
    "eiger_geometry",
    "grid_scene",
    "image_rng",
    "jungfrau_geometry",
    "lysozyme_crystal",
    "miller_set",
    "pixel_mask",
    "predict_image",
    "random_rotation",
    "real_space_lattice",
    "render",
    "render_expected",
    "render_tile",
    "rotation_matrix",
    "rotation_scene",
    "scene_crystals",
    "scene_from_scenario",
    "stills_scene",
]
