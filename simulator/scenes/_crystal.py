"""Unit cells, crystal orientation, Miller-index sets and Wilson intensities (docs/physics.md).

Reciprocal-lattice convention: r = U @ B @ (h, k, l) in 1/Angstrom without the 2 pi factor, B the
upper-triangular Busing-Levy matrix; the real-space lattice of the same crystal is the matrix
whose rows are a, b, c (Angstrom), i.e. inv(U @ B) (hdf5-format.md §4.1 latticeIndexed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jfjoch_hil.simulator.errors import SceneError

__all__ = [
    "BRAVAIS_NIGGLI_CLASS",
    "Crystal",
    "UnitCell",
    "miller_set",
    "random_rotation",
    "real_space_lattice",
]

BRAVAIS_NIGGLI_CLASS = {
    "cF": 1,
    "hR": 2,
    "cP": 3,
    "cI": 5,
    "tI": 6,
    "oI": 8,
    "mC": 10,
    "tP": 11,
    "hP": 12,
    "oC": 13,
    "oF": 16,
    "aP": 31,
    "oP": 32,
    "mP": 34,
}
"""A representative Niggli-form number (ITC A (2016) Table 3.1.3.1) per Bravais lattice type.

Niggli forms split Bravais types further by the reduced-cell shape; the simulator reports the
first form of each type, which is what the HDF5 ``niggliClass`` column needs (hdf5-format.md §4.1).
"""


@dataclass(frozen=True)
class UnitCell:
    """Unit cell a, b, c (Angstrom), alpha, beta, gamma (degrees) (NXsample unit_cell, §3)."""

    a: float
    b: float
    c: float
    alpha: float = 90.0
    beta: float = 90.0
    gamma: float = 90.0

    def __post_init__(self) -> None:
        for name in ("a", "b", "c"):
            if not getattr(self, name) > 0:
                raise SceneError(f"unit_cell.{name}: {getattr(self, name)}, allowed > 0 Angstrom")
        for name in ("alpha", "beta", "gamma"):
            if not 0 < getattr(self, name) < 180:
                raise SceneError(f"unit_cell.{name}: {getattr(self, name)}, allowed (0, 180) deg")
        if not np.isfinite(self.volume_a3) or self.volume_a3 <= 0:
            raise SceneError(
                f"unit_cell: angles {self.alpha}/{self.beta}/{self.gamma} give no cell"
            )

    @property
    def volume_a3(self) -> float:
        """Cell volume in cubic Angstrom."""
        ca, cb, cg = np.cos(np.radians([self.alpha, self.beta, self.gamma]))
        arg = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg
        return float(self.a * self.b * self.c * np.sqrt(arg)) if arg > 0 else float("nan")

    def real_matrix(self) -> np.ndarray:
        """Rows a, b, c (Angstrom) in the standard setting: a along x, b in the xy plane."""
        ca, cb, cg = np.cos(np.radians([self.alpha, self.beta, self.gamma]))
        sg = np.sin(np.radians(self.gamma))
        cx = self.c * cb
        cy = self.c * (ca - cb * cg) / sg
        cz = np.sqrt(max(self.c * self.c - cx * cx - cy * cy, 0.0))
        return np.array(
            [[self.a, 0.0, 0.0], [self.b * cg, self.b * sg, 0.0], [cx, cy, cz]], dtype=float
        )

    def b_matrix(self) -> np.ndarray:
        """Reciprocal basis as columns (1/Angstrom): r_crystal = B @ hkl, |B @ hkl| = 1/d."""
        return np.linalg.inv(self.real_matrix())

    def d_spacing(self, hkl: np.ndarray) -> np.ndarray:
        """d (Angstrom) of Miller indices ``hkl`` (N, 3)."""
        return 1.0 / np.linalg.norm(np.asarray(hkl, dtype=float) @ self.b_matrix().T, axis=-1)

    def as_map(self) -> dict[str, float]:
        """The start message's ``unit_cell`` map (a, b, c, alpha, beta, gamma)."""
        return {k: float(getattr(self, k)) for k in ("a", "b", "c", "alpha", "beta", "gamma")}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed rotation matrix (from a random unit quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _allowed_by_centring(hkl: np.ndarray, centring: str) -> np.ndarray:
    """Systematic presences of the lattice centring (ITC A reflection conditions)."""
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]  # noqa: E741
    if centring == "I":
        return (h + k + l) % 2 == 0
    if centring == "F":
        return ((h % 2) == (k % 2)) & ((k % 2) == (l % 2))
    if centring == "C":
        return (h + k) % 2 == 0
    if centring == "R":
        return (-h + k + l) % 3 == 0
    return np.ones(len(hkl), dtype=bool)


def miller_set(cell: UnitCell, d_min_a: float, centring: str = "P") -> np.ndarray:
    """All Miller indices (N, 3, int32) with d >= ``d_min_a``, except (0,0,0) and centring absences.

    Ordered lexicographically, so the same cell always gives the same array (seeding relies on it).
    """
    if not d_min_a > 0:
        raise SceneError(f"crystal.d_min_a: {d_min_a}, allowed > 0 Angstrom")
    real = cell.real_matrix()
    # |h| <= |a| / d_min bounds every index inside the resolution sphere.
    limits = [int(np.ceil(np.linalg.norm(real[i]) / d_min_a)) for i in range(3)]
    if np.prod([2 * n + 1 for n in limits]) > 3e7:
        raise SceneError(
            f"crystal.d_min_a: {d_min_a} A with cell {cell} gives more than 3e7 indices, allowed fewer"
        )
    grids = np.meshgrid(*[np.arange(-n, n + 1) for n in limits], indexing="ij")
    hkl = np.stack([g.ravel() for g in grids], axis=1).astype(np.int32)
    inv_d = np.linalg.norm(hkl @ cell.b_matrix().T, axis=1)
    keep = (inv_d > 0) & (inv_d <= 1.0 / d_min_a) & _allowed_by_centring(hkl, centring)
    return hkl[keep]


@dataclass(frozen=True)
class Crystal:
    """A crystal: cell, Bravais type, orientation and quality.

    ``orientation`` is U (3x3 rotation, None = identity); intensities follow a Wilson
    distribution with ``b_factor_a2``; ``mosaicity_deg`` spreads reflections in rotation angle,
    ``profile_radius_recip_a`` is their reciprocal-space radius for stills.
    ``mean_photons`` is the mean recorded photon count of a fully recorded low-resolution spot.
    """

    cell: UnitCell
    bravais: str = "aP"
    orientation: np.ndarray | None = field(default=None, compare=False, repr=False)
    mosaicity_deg: float = 0.1
    profile_radius_recip_a: float = 0.002
    d_min_a: float = 2.0
    b_factor_a2: float = 20.0
    mean_photons: float = 400.0

    def __post_init__(self) -> None:
        if self.bravais not in BRAVAIS_NIGGLI_CLASS:
            raise SceneError(
                f"crystal.bravais: {self.bravais!r}, allowed {sorted(BRAVAIS_NIGGLI_CLASS)}"
            )
        if self.mosaicity_deg < 0 or self.profile_radius_recip_a <= 0 or self.mean_photons < 0:
            raise SceneError(
                "crystal.mosaicity_deg/profile_radius_recip_a/mean_photons: "
                f"{self.mosaicity_deg}/{self.profile_radius_recip_a}/{self.mean_photons}, "
                "allowed >= 0 / > 0 / >= 0"
            )
        u = np.eye(3) if self.orientation is None else np.asarray(self.orientation, dtype=float)
        if u.shape != (3, 3) or not np.allclose(u @ u.T, np.eye(3), atol=1e-6):
            raise SceneError(
                "crystal.orientation: not a 3x3 rotation matrix, allowed U with U U^T = 1"
            )
        u = u.copy()
        u.setflags(write=False)
        object.__setattr__(self, "orientation", u)

    @property
    def niggli_class(self) -> int:
        """Niggli-form number of the Bravais type (BRAVAIS_NIGGLI_CLASS)."""
        return BRAVAIS_NIGGLI_CLASS[self.bravais]

    @property
    def ub_matrix(self) -> np.ndarray:
        """U @ B (1/Angstrom), the NXsample ``ub_matrix`` at goniometer angle zero."""
        return self.orientation @ self.cell.b_matrix()

    def with_orientation(self, orientation: np.ndarray) -> Crystal:
        """The same crystal turned to ``orientation``."""
        return Crystal(
            self.cell,
            self.bravais,
            orientation,
            self.mosaicity_deg,
            self.profile_radius_recip_a,
            self.d_min_a,
            self.b_factor_a2,
            self.mean_photons,
        )

    def miller_indices(self) -> np.ndarray:
        """Every reflection inside ``d_min_a`` allowed by the centring (miller_set)."""
        return miller_set(self.cell, self.d_min_a, self.bravais[1])

    def wilson_intensities(self, hkl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Relative intensities: exponential (acentric Wilson) times exp(-B / (2 d^2))."""
        d = self.cell.d_spacing(hkl)
        return rng.exponential(1.0, size=len(hkl)) * np.exp(-self.b_factor_a2 / (2.0 * d * d))


def real_space_lattice(ub: np.ndarray) -> np.ndarray:
    """Rows a, b, c (Angstrom, lab frame) of the lattice whose reciprocal basis is ``ub``."""
    return np.linalg.inv(ub)
