"""Ready-made realistic scenes (docs/physics.md "Example scenes").

Geometry and cells are those of real experiments, so the images can go through dials.index:
a JUNGFRAU 1M (2 modules, 1030 x 1064 converted pixels of 75 um) at 12.4 keV and 120 mm.
"""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.scenes._crystal import Crystal, UnitCell, random_rotation
from jfjoch_hil.simulator.scenes._geometry import DetectorGeometry, jungfrau_geometry
from jfjoch_hil.simulator.scenes._prediction import image_rng
from jfjoch_hil.simulator.scenes._render import Background, Scene
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, StillsScan

__all__ = [
    "LYSOZYME_CELL",
    "THERMOLYSIN_CELL",
    "lysozyme_crystal",
    "rotation_scene",
    "stills_scene",
    "grid_scene",
]

LYSOZYME_CELL = UnitCell(79.1, 79.1, 38.0, 90.0, 90.0, 90.0)
"""Tetragonal hen egg-white lysozyme (P4(3)2(1)2), Angstrom and degrees."""

THERMOLYSIN_CELL = UnitCell(93.0, 93.0, 130.5, 90.0, 90.0, 120.0)
"""Hexagonal thermolysin (P6(1)22), Angstrom and degrees."""

_ORIENTATION_STREAM = 7


def lysozyme_crystal(seed: int = 0, d_min_a: float = 2.0, mean_photons: float = 600.0) -> Crystal:
    """A lysozyme crystal (tP) in a seeded random orientation."""
    orientation = random_rotation(image_rng(seed, _ORIENTATION_STREAM))
    return Crystal(
        LYSOZYME_CELL,
        "tP",
        orientation,
        mosaicity_deg=0.08,
        profile_radius_recip_a=0.0015,
        d_min_a=d_min_a,
        b_factor_a2=18.0,
        mean_photons=mean_photons,
    )


def rotation_scene(
    n_images: int = 100,
    seed: int = 0,
    increment_deg: float = 0.2,
    geometry: DetectorGeometry | None = None,
    crystal: Crystal | None = None,
    ice_ring_photons: float = 0.0,
) -> Scene:
    """A rotation scan of lysozyme on a JUNGFRAU 1M (12.4 keV, 120 mm): the DIALS-ready scene."""
    return Scene(
        geometry=geometry or jungfrau_geometry(2, 1, distance_mm=120.0, energy_kev=12.4),
        crystal=crystal or lysozyme_crystal(seed),
        scan=RotationScan(n_images, 0.0, increment_deg),
        background=Background(ice_ring_photons=ice_ring_photons),
        seed=seed,
    )


def stills_scene(
    n_images: int = 20,
    seed: int = 0,
    hit_rate: float = 0.6,
    max_crystals_per_hit: int = 2,
    geometry: DetectorGeometry | None = None,
) -> Scene:
    """Serial crystallography of thermolysin microcrystals on a JUNGFRAU 1M."""
    crystal = Crystal(
        THERMOLYSIN_CELL,
        "hP",
        np.eye(3),
        mosaicity_deg=0.05,
        profile_radius_recip_a=0.0008,
        d_min_a=2.2,
        b_factor_a2=25.0,
        mean_photons=400.0,
    )
    return Scene(
        geometry=geometry or jungfrau_geometry(2, 1, distance_mm=150.0, energy_kev=12.4),
        crystal=crystal,
        scan=StillsScan(n_images, hit_rate, max_crystals_per_hit),
        seed=seed,
    )


def grid_scene(
    n_fast: int = 5, n_slow: int = 5, seed: int = 0, geometry: DetectorGeometry | None = None
) -> Scene:
    """A raster over a lysozyme crystal that covers the middle of the grid."""
    return Scene(
        geometry=geometry or jungfrau_geometry(2, 1, distance_mm=120.0, energy_kev=12.4),
        crystal=lysozyme_crystal(seed),
        scan=GridScan(
            n_fast,
            n_slow,
            crystal_center_steps=((n_fast - 1) / 2, (n_slow - 1) / 2),
            crystal_radius_steps=(max(n_fast / 3, 0.6), max(n_slow / 3, 0.6)),
        ),
        seed=seed,
    )
