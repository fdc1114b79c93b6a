"""Indexing outcome from the scene's ground truth (hdf5-format.md §4.1 "Indexing only" columns).

The simulator knows which lattices made the image: found spots are matched to predicted
reflections by position, and an image counts as indexed when a lattice explains enough spots.
Misses keep the sentinels of hdf5-format.md §4: NaN floats, lattice -1, counts 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.analysis._settings import AnalysisSettings
from jfjoch_hil.simulator.analysis._spots import SpotList
from jfjoch_hil.simulator.scenes import ImageTruth

__all__ = ["IndexingOutcome", "index_from_truth", "cell_from_lattice"]


@dataclass(frozen=True, eq=False)
class IndexingOutcome:
    """Per-spot Miller indices and the per-image indexing fields (§4.1)."""

    indexed: np.ndarray
    hkl: np.ndarray
    dist_ewald: np.ndarray
    lattice: np.ndarray
    fields: dict[str, object]


def cell_from_lattice(lattice_a: np.ndarray) -> dict[str, float]:
    """a, b, c (Angstrom) and alpha, beta, gamma (deg) of a real-space lattice (rows a, b, c)."""
    vectors = np.asarray(lattice_a, dtype=float).reshape(3, 3)
    lengths = np.linalg.norm(vectors, axis=1)

    def angle(i: int, j: int) -> float:
        cosine = vectors[i] @ vectors[j] / (lengths[i] * lengths[j])
        return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))

    return {
        "a": float(lengths[0]),
        "b": float(lengths[1]),
        "c": float(lengths[2]),
        "alpha": angle(1, 2),
        "beta": angle(0, 2),
        "gamma": angle(0, 1),
    }


def _miss(n_spots: int) -> IndexingOutcome:
    nan9 = [float("nan")] * 9
    return IndexingOutcome(
        indexed=np.zeros(n_spots, bool),
        hkl=np.zeros((n_spots, 3), np.int32),
        dist_ewald=np.full(n_spots, np.nan),
        lattice=np.full(n_spots, -1, np.int32),
        fields={
            "indexing_result": False,
            "indexing_lattice": nan9,
            "indexing_lattice_extra": [],
            "indexing_lattice_count": 0,
            "spot_count_indexed": 0,
            "niggli_class": 0,
            "profile_radius": float("nan"),
            "mosaicity": float("nan"),
            "b_factor": float("nan"),
        },
    )


def index_from_truth(
    spots: SpotList, truth: ImageTruth | None, settings: AnalysisSettings
) -> IndexingOutcome:
    """Match ``spots`` to ``truth``'s predicted reflections within ``index_tolerance_px``.

    A lattice counts when at least ``min_indexed_spots`` spots match it and, together, the
    counted lattices explain at least ``min_indexed_fraction`` of the spots.
    """
    n_spots = len(spots)
    if truth is None or n_spots == 0 or len(truth.reflections) == 0 or not truth.lattices_a:
        return _miss(n_spots)
    from scipy.spatial import cKDTree  # lazily: only images with a truth need it

    table = truth.reflections
    predicted = np.column_stack([table.x_px, table.y_px])
    distance, nearest = cKDTree(predicted).query(np.column_stack([spots.x, spots.y]))
    matched = distance <= settings.index_tolerance_px
    lattice_of_spot = np.where(matched, table.lattice[np.minimum(nearest, len(table) - 1)], -1)
    counts = np.bincount(lattice_of_spot[matched], minlength=len(truth.lattices_a))
    counted = [
        i for i in np.argsort(-counts, kind="stable") if counts[i] >= settings.min_indexed_spots
    ]
    indexed = matched & np.isin(lattice_of_spot, counted)
    if not counted or indexed.sum() < settings.min_indexed_fraction * n_spots:
        return _miss(n_spots)
    rows = nearest[indexed]
    hkl = np.zeros((n_spots, 3), np.int32)
    hkl[indexed] = table.hkl[rows]
    dist_ewald = np.full(n_spots, np.nan)
    dist_ewald[indexed] = table.dist_ewald_recip_a[rows]
    # Lattice ids are renumbered in the order they are reported: 0 is indexing_lattice.
    renumber = {old: new for new, old in enumerate(counted)}
    lattice = np.array(
        [
            renumber.get(int(i), -1) if ok else -1
            for i, ok in zip(lattice_of_spot, indexed, strict=True)
        ],
        np.int32,
    )
    lattices = [np.asarray(truth.lattices_a[i], dtype=float) for i in counted]
    crystal = truth.crystal
    fields = {
        "indexing_result": True,
        "indexing_lattice": [float(v) for v in lattices[0].ravel()],
        "indexing_lattice_extra": [[float(v) for v in m.ravel()] for m in lattices[1:]],
        "indexing_lattice_count": len(lattices),
        "spot_count_indexed": int(indexed.sum()),
        "bravais_lattice": crystal.bravais,
        "niggli_class": crystal.niggli_class,
        # The profile radius is measured: the RMS Ewald-sphere distance of the indexed spots.
        "profile_radius": float(np.sqrt(np.mean(dist_ewald[indexed] ** 2))),
        "mosaicity": float(crystal.mosaicity_deg),
        "b_factor": float(crystal.b_factor_a2),
    }
    return IndexingOutcome(indexed, hkl, dist_ewald, lattice, fields)
