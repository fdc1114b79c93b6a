"""Run-level summaries written at finalisation (hdf5-format.md §4.1 "Run-level summaries")."""

from __future__ import annotations

import math

import numpy as np
from jfjoch_hil.simulator.scenes import RotationScan, Scene, real_space_lattice

__all__ = ["summarise_run"]


def summarise_run(
    results: list[dict[str, object]], scene: Scene | None = None
) -> dict[str, object]:
    """End-of-run fields from the per-image results (``analyse_image`` dicts, in image order).

    ``rotation_lattice`` (9 floats, Angstrom) is the crystal's real-space lattice at goniometer
    angle zero for a rotation scan in which at least one image was indexed, NaN otherwise;
    ``image_indexed_mean`` and ``bkg_estimate_mean`` average over the images (NaN-aware).
    """
    indexed = [bool(r.get("indexing_result", False)) for r in results]
    backgrounds = [float(r.get("bkg_estimate", math.nan)) for r in results]
    finite = [b for b in backgrounds if math.isfinite(b)]
    summary: dict[str, object] = {
        "image_indexed_mean": float(np.mean(indexed)) if indexed else math.nan,
        "bkg_estimate_mean": float(np.mean(finite)) if finite else math.nan,
        "indexing_algorithm": "ground truth (simulator)",
        "rotation_lattice": [math.nan] * 9,
        "rotation_lattice_niggli_class": 0,
    }
    if scene is not None and isinstance(scene.scan, RotationScan) and any(indexed):
        lattice = real_space_lattice(scene.crystal.ub_matrix)
        summary["rotation_lattice"] = [float(v) for v in lattice.ravel()]
        summary["rotation_lattice_niggli_class"] = scene.crystal.niggli_class
    return summary
