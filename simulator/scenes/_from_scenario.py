"""The scene of a scenario's ``[crystal]``, ``[geometry]`` and ``[beam]`` tables.

Duck-typed on the scenario's sections (``detector``, ``run``, ``beam``, ``geometry``, ``crystal``)
so that this module does not depend on the scenario loader. Mapping (docs/physics.md):

* detector: JUNGFRAU/EIGER modules on Jungfraujoch's grid (detectors.md §6.2 layouts: up to 2
  modules stacked, 2 per row up to 8 and for 10M/20 modules, 3 per row otherwise).
* crystal: space group -> Bravais type (centring from the space-group number), orientation seeded
  by ``run.seed``; ``lattices`` > 1 -> extra crystals (rotation, grid) or up to that many per hit.
* photons scale with ``flux_hz * transmission / frame_rate_hz`` (600 photons for a strong
  low-resolution spot at 1e12 photons/s, 100 Hz).
"""

from __future__ import annotations

import math
from dataclasses import replace

from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes._crystal import Crystal, UnitCell, random_rotation
from jfjoch_hil.simulator.scenes._geometry import jungfrau_geometry
from jfjoch_hil.simulator.scenes._prediction import image_rng
from jfjoch_hil.simulator.scenes._render import Background, Scene
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, StillsScan

__all__ = ["bravais_of_space_group", "scene_from_scenario"]

_ORIENTATION_STREAM = 7
_REFERENCE_FLUX_HZ, _REFERENCE_RATE_HZ, _REFERENCE_PHOTONS = 1e12, 100.0, 600.0

_CENTRED = {
    "C": {5, 8, 9, 12, 15, 20, 21, 35, 36, 37, 38, 39, 40, 41, 63, 64, 65, 66, 67, 68},
    "F": {22, 42, 43, 69, 70, 196, 202, 203, 209, 210, 216, 219, 225, 226, 227, 228},
    "I": {
        23,
        24,
        44,
        45,
        46,
        71,
        72,
        73,
        74,
        79,
        80,
        82,
        87,
        88,
        97,
        98,
        107,
        108,
        109,
        110,
        119,
        120,
        121,
        122,
        139,
        140,
        141,
        142,
        197,
        199,
        204,
        206,
        211,
        214,
        217,
        220,
        229,
        230,
    },
    "R": {146, 148, 155, 160, 161, 166, 167},
}


def bravais_of_space_group(number: int) -> str:
    """Bravais type (e.g. ``tP``, ``mC``, ``hR``) of space group ``number`` (ITC A).

    A-centred orthorhombic groups (38-41) are reported as ``oC``, their standard Bravais type.
    """
    if not 1 <= number <= 230:
        raise SceneError(f"crystal.space_group: {number}, allowed 1..230")
    if number <= 2:
        family = "a"
    elif number <= 15:
        family = "m"
    elif number <= 74:
        family = "o"
    elif number <= 142:
        family = "t"
    elif number <= 194:
        family = "h"
    else:
        family = "c"
    centring = next((c for c, groups in _CENTRED.items() if number in groups), "P")
    return family + centring


def _modules_per_row(n_modules: int) -> int:
    if n_modules <= 2:
        return 1
    if n_modules <= 8 or n_modules == 20:
        return 2
    return 3


def scene_from_scenario(scenario) -> Scene:
    """The :class:`Scene` a scenario describes (its ``run.seed`` seeds everything)."""
    detector, run, beam = scenario.detector, scenario.run, scenario.beam
    geometry_settings, crystal_settings = scenario.geometry, scenario.crystal
    n_modules = int(detector.modules)
    centre = tuple(geometry_settings.beam_center_px) or (None, None)
    geometry = jungfrau_geometry(
        n_modules,
        _modules_per_row(n_modules),
        distance_mm=float(geometry_settings.distance_mm),
        energy_kev=float(beam.energy_kev),
        beam_center_x_px=centre[0],
        beam_center_y_px=centre[1],
    )
    if not tuple(geometry_settings.beam_center_px):
        # "image centre" per the scenario, at the middle of the assembled image.
        geometry = replace(
            geometry,
            beam_center_x_px=(geometry.width_px - 1) / 2,
            beam_center_y_px=(geometry.height_px - 1) / 2,
        )
    exposure = (
        (float(beam.flux_hz) / _REFERENCE_FLUX_HZ)
        * float(beam.transmission)
        * (_REFERENCE_RATE_HZ / float(run.frame_rate_hz))
    )
    seed = int(run.seed)
    cell = UnitCell(*crystal_settings.cell)
    bravais = bravais_of_space_group(int(crystal_settings.space_group))

    def crystal(index: int) -> Crystal:
        return Crystal(
            cell,
            bravais,
            random_rotation(image_rng(seed, _ORIENTATION_STREAM, index)),
            mosaicity_deg=float(crystal_settings.mosaicity_deg),
            d_min_a=float(crystal_settings.resolution_limit_a),
            b_factor_a2=float(crystal_settings.b_factor_a2),
            mean_photons=_REFERENCE_PHOTONS * exposure,
        )

    lattices = int(crystal_settings.lattices)
    n_images = int(run.images)
    extra: tuple[Crystal, ...] = ()
    if run.kind == "rotation":
        scan = RotationScan(
            n_images,
            float(crystal_settings.start_angle_deg),
            max(float(crystal_settings.oscillation_deg), 1e-6),
        )
        extra = tuple(crystal(i) for i in range(1, lattices))
    elif run.kind == "stills":
        scan = StillsScan(n_images, float(crystal_settings.hit_rate), lattices)
    else:
        n_fast, n_slow = tuple(crystal_settings.grid) or (n_images, 1)
        # An elliptical crystal covering the hit-rate share of the grid, centred on it.
        area = max(float(crystal_settings.hit_rate), 1e-6) * n_fast * n_slow / math.pi
        aspect = n_fast / n_slow
        radius = (math.sqrt(area * aspect), math.sqrt(area / aspect))
        scan = GridScan(
            n_fast,
            n_slow,
            crystal_center_steps=((n_fast - 1) / 2, (n_slow - 1) / 2),
            crystal_radius_steps=radius,
        )
        extra = tuple(crystal(i) for i in range(1, lattices))
    background = Background(air_photons=0.6 * exposure, solvent_photons=1.2 * exposure)
    return Scene(geometry, crystal(0), scan, background, seed=seed, extra_crystals=extra)
