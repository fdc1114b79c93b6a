"""Scenes from plain mappings (a scenario TOML's ``[scene]`` table; STYLE.md "Runs are data").

Unknown keys are refused with their path, e.g. ``scene.crystal.mosaicity: unknown key, allowed
[...]``. Layout (every table optional except ``crystal.cell`` and ``scan``)::

    [scene]
    seed = 1
    spot_sigma_px = 0.9
    [scene.geometry]            # detector = "jungfrau" | "eiger" | "plain"
    detector = "jungfrau"
    n_modules = 2
    distance_mm = 120.0
    [scene.crystal]
    cell = [79.1, 79.1, 38.0, 90.0, 90.0, 90.0]
    bravais = "tP"
    orientation_seed = 3        # or orientation = [[...], [...], [...]]
    [scene.scan]                # kind = "rotation" | "stills" | "grid"
    kind = "rotation"
    n_images = 100
    [scene.background]
    [scene.defects]
    [[scene.extra_crystals]]    # same keys as scene.crystal
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes._crystal import Crystal, UnitCell, random_rotation
from jfjoch_hil.simulator.scenes._geometry import (
    DetectorGeometry,
    eiger_geometry,
    jungfrau_geometry,
)
from jfjoch_hil.simulator.scenes._prediction import image_rng
from jfjoch_hil.simulator.scenes._render import Background, DetectorDefects, Scene
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, StillsScan

__all__ = ["scene_from_mapping"]

_ORIENTATION_STREAM = 7
_SCENE_KEYS = {
    "seed",
    "spot_sigma_px",
    "geometry",
    "crystal",
    "scan",
    "background",
    "defects",
    "extra_crystals",
}
_LAYOUT_KEYS = {"detector", "n_modules", "modules_per_row", "gap_x_px", "gap_y_px"}
_TUPLE_FIELDS = {"axis", "helical_step_um", "crystal_center_steps", "crystal_radius_steps"}


def _check_keys(table: Mapping[str, Any], allowed: set[str], path: str) -> None:
    if not isinstance(table, Mapping):
        raise SceneError(f"{path}: {type(table).__name__}, allowed a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SceneError(f"{path}.{unknown[0]}: unknown key, allowed {sorted(allowed)}")


def _build(cls, table: Mapping[str, Any], path: str, exclude: set[str] = frozenset()):
    names = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    _check_keys(table, names, path)
    values = {k: tuple(v) if k in _TUPLE_FIELDS and v is not None else v for k, v in table.items()}
    try:
        return cls(**values)
    except TypeError as error:
        raise SceneError(f"{path}: {error}") from error


def _geometry(table: Mapping[str, Any], path: str) -> DetectorGeometry:
    table = dict(table)
    detector = table.pop("detector", "jungfrau")
    if detector == "plain":
        return _build(DetectorGeometry, table, path, exclude={"gap_mask"})
    if detector not in ("jungfrau", "eiger"):
        raise SceneError(f"{path}.detector: {detector!r}, allowed 'jungfrau', 'eiger', 'plain'")
    plain = {f.name for f in dataclasses.fields(DetectorGeometry)}
    allowed = (_LAYOUT_KEYS | plain) - {
        "width_px",
        "height_px",
        "pixel_size_mm",
        "gap_mask",
        "sensor_material",
        "sensor_thickness_mm",
    }
    _check_keys({"detector": detector, **table}, allowed, path)
    factory = jungfrau_geometry if detector == "jungfrau" else eiger_geometry
    layout = {k: table.pop(k) for k in ("n_modules", "modules_per_row") if k in table}
    try:
        return factory(**layout, **table)
    except TypeError as error:
        raise SceneError(f"{path}: {error}") from error


def _crystal(table: Mapping[str, Any], path: str, seed: int, index: int) -> Crystal:
    table = dict(table)
    if "cell" not in table:
        raise SceneError(f"{path}.cell: missing, allowed [a, b, c, alpha, beta, gamma]")
    cell_values = table.pop("cell")
    if len(cell_values) != 6:
        raise SceneError(f"{path}.cell: {cell_values}, allowed [a, b, c, alpha, beta, gamma]")
    orientation = table.pop("orientation", None)
    orientation_seed = table.pop("orientation_seed", None)
    if orientation is not None and orientation_seed is not None:
        raise SceneError(f"{path}: orientation and orientation_seed, allowed one of them")
    if orientation is None:
        rng = image_rng(
            seed if orientation_seed is None else orientation_seed, _ORIENTATION_STREAM, index
        )
        orientation = random_rotation(rng)
    names = {f.name for f in dataclasses.fields(Crystal)} - {"cell", "orientation"}
    _check_keys(table, names, path)
    return Crystal(UnitCell(*cell_values), orientation=np.asarray(orientation, float), **table)


def scene_from_mapping(table: Mapping[str, Any], path: str = "scene") -> Scene:
    """A :class:`Scene` from a scenario's ``[scene]`` table (docs/physics.md; STYLE.md)."""
    _check_keys(table, _SCENE_KEYS, path)
    seed = int(table.get("seed", 0))
    if "crystal" not in table or "scan" not in table:
        raise SceneError(f"{path}: crystal and scan tables required")
    scan_table = dict(table["scan"])
    kind = scan_table.pop("kind", "rotation")
    scan_classes = {"rotation": RotationScan, "stills": StillsScan, "grid": GridScan}
    if kind not in scan_classes:
        raise SceneError(f"{path}.scan.kind: {kind!r}, allowed {sorted(scan_classes)}")
    extra = table.get("extra_crystals", ())
    return Scene(
        geometry=_geometry(table.get("geometry", {}), f"{path}.geometry"),
        crystal=_crystal(table["crystal"], f"{path}.crystal", seed, 0),
        scan=_build(scan_classes[kind], scan_table, f"{path}.scan"),
        background=_build(Background, table.get("background", {}), f"{path}.background"),
        defects=_build(DetectorDefects, table.get("defects", {}), f"{path}.defects"),
        seed=seed,
        spot_sigma_px=float(table.get("spot_sigma_px", 0.9)),
        extra_crystals=tuple(
            _crystal(c, f"{path}.extra_crystals[{i}]", seed, i + 1) for i, c in enumerate(extra)
        ),
    )
