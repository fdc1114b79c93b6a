"""Bragg prediction for rotation, stills and grid scans (docs/physics.md "Prediction").

A reflection h diffracts when its reciprocal vector r = R(phi) U B h ends on the Ewald sphere,
|s0 + r| = |s0|; the diffracted ray s1 = s0 + r is projected onto the detector.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes._crystal import Crystal, random_rotation, real_space_lattice
from jfjoch_hil.simulator.scenes._geometry import DetectorGeometry, rotation_matrix
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, StillsScan

__all__ = ["ImageTruth", "ReflectionTable", "image_rng", "predict_image", "scene_crystals"]

# Separate random streams per purpose, so adding one never shifts another's numbers.
STREAM_INTENSITIES, STREAM_ORIENTATION, STREAM_NOISE, STREAM_DEFECTS = 0, 1, 2, 3
_MIN_ABS_ZETA = 0.05
_COLUMNS = (
    "hkl",
    "lattice",
    "x_px",
    "y_px",
    "d_a",
    "phi_deg",
    "delta_phi_deg",
    "zeta",
    "dist_ewald_recip_a",
    "partiality",
    "lp",
    "photons",
)


def image_rng(seed: int, stream: int, image_index: int = 0) -> np.random.Generator:
    """The generator of one purpose (``stream``) for one image: order-independent and seeded."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, image_index]))


@dataclass(frozen=True, eq=False)
class ReflectionTable:
    """Predicted reflections, one row each (columns are numpy arrays of equal length).

    ``photons`` is the expected number of photons the reflection deposits in this image
    (``partiality`` of it is recorded here); positions in image pixels; ``phi_deg`` is the
    crossing angle (NaN for stills), ``delta_phi_deg`` its offset from the frame centre (XDS),
    ``dist_ewald_recip_a`` the distance of r from the Ewald sphere at the frame centre.
    """

    hkl: np.ndarray
    lattice: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    d_a: np.ndarray
    phi_deg: np.ndarray
    delta_phi_deg: np.ndarray
    zeta: np.ndarray
    dist_ewald_recip_a: np.ndarray
    partiality: np.ndarray
    lp: np.ndarray
    photons: np.ndarray

    def __len__(self) -> int:
        return len(self.x_px)

    def select(self, keep: np.ndarray) -> ReflectionTable:
        """Rows where ``keep`` (bool mask or index array)."""
        return ReflectionTable(**{name: getattr(self, name)[keep] for name in _COLUMNS})

    @staticmethod
    def concatenate(tables: list[ReflectionTable]) -> ReflectionTable:
        """Rows of all ``tables`` in order."""
        if not tables:
            return _empty_table()
        return ReflectionTable(
            **{name: np.concatenate([getattr(t, name) for t in tables]) for name in _COLUMNS}
        )


def _empty_table() -> ReflectionTable:
    empty = np.zeros(0)
    return ReflectionTable(np.zeros((0, 3), np.int32), np.zeros(0, np.int32), *([empty] * 10))


@dataclass(frozen=True, eq=False)
class ImageTruth:
    """What the scene put on one image: its reflections and the lattices that produced them.

    ``lattices_a`` holds one real-space lattice (rows a, b, c in Angstrom, lab frame, at the
    frame centre) per crystal in the beam; empty for a miss (hdf5-format.md §4.1).
    """

    image_index: int
    reflections: ReflectionTable
    lattices_a: tuple[np.ndarray, ...]
    crystal: Crystal
    angle_start_deg: float | None = None
    angle_end_deg: float | None = None


def _polarization(s1: np.ndarray) -> np.ndarray:
    unit = s1 / np.linalg.norm(s1, axis=1, keepdims=True)
    return 0.99 * (1.0 - unit[:, 0] ** 2) + 0.01 * (1.0 - unit[:, 1] ** 2)


_ROTATION_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_CRYSTAL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scene_crystals(scene) -> tuple[Crystal, ...]:
    """The scene's crystals: ``crystal`` (lattice 0) then ``extra_crystals`` (1, 2, ...)."""
    return (scene.crystal, *getattr(scene, "extra_crystals", ()))


def _crystal_arrays(scene, index: int) -> dict[str, np.ndarray]:
    """Miller set, Wilson intensities, float indices and 1/d^2 of crystal ``index`` (cached).

    Crystal 0 draws its intensities from the stream (seed, intensities, 0), crystal n from
    (seed, intensities, n): adding a crystal never changes another one's intensities.
    """
    per_scene = _PER_CRYSTAL.setdefault(scene, {})
    cached = per_scene.get(index)
    if cached is None:
        crystal = scene_crystals(scene)[index]
        hkl = crystal.miller_indices()
        hkl_float = hkl.astype(np.float64)
        reciprocal = hkl_float @ crystal.cell.b_matrix().T
        cached = {
            "hkl": hkl,
            "intensity": crystal.wilson_intensities(
                hkl, image_rng(scene.seed, STREAM_INTENSITIES, index)
            ),
            "hkl_float": hkl_float,
            "inv_d_sq": np.einsum("ij,ij->i", reciprocal, reciprocal),
        }
        per_scene[index] = cached
    return cached


def _rotation_tables(scene) -> list[dict[str, np.ndarray]]:
    """Every Bragg crossing of the whole scan, per crystal (computed once per scene)."""
    cached = _ROTATION_TABLES.get(scene)
    if cached is None:
        cached = [_rotation_table(scene, i) for i in range(len(scene_crystals(scene)))]
        _ROTATION_TABLES[scene] = cached
    return cached


def _rotation_table(scene, crystal_index: int) -> dict[str, np.ndarray]:
    scan: RotationScan = scene.scan
    geometry: DetectorGeometry = scene.geometry
    crystal = scene_crystals(scene)[crystal_index]
    arrays = _crystal_arrays(scene, crystal_index)
    hkl, intensity = arrays["hkl"], arrays["intensity"]
    axis, s0 = scan.axis_unit, geometry.s0
    r0 = arrays["hkl_float"] @ crystal.ub_matrix.T
    r_par = np.outer(r0 @ axis, axis)
    r_perp = r0 - r_par
    e_cross_r = np.cross(axis, r0)
    # s0.R(phi)r0 = s0.r_par + cos(phi) s0.r_perp + sin(phi) s0.(e x r0) must equal -|r|^2/2.
    a_term, b_term = r_perp @ s0, e_cross_r @ s0
    c_term = -0.5 * np.einsum("ij,ij->i", r0, r0) - r_par @ s0
    amplitude = np.hypot(a_term, b_term)
    solvable = amplitude > np.abs(c_term) + 1e-15
    base = np.arctan2(b_term, a_term)
    half = np.arccos(np.clip(c_term / np.where(solvable, amplitude, 1.0), -1.0, 1.0))
    rows, phis = [], []
    for sign in (1.0, -1.0):
        rows.append(np.nonzero(solvable)[0])
        phis.append((base + sign * half)[solvable])
    rows_all, phi_rad = np.concatenate(rows), np.concatenate(phis)
    cos, sin = np.cos(phi_rad)[:, None], np.sin(phi_rad)[:, None]
    r_phi = r_par[rows_all] + cos * r_perp[rows_all] + sin * e_cross_r[rows_all]
    s1 = s0 + r_phi
    x_px, y_px, hits = geometry.project(s1)
    # DIALS' zeta: the axis' component along the unit normal of the diffraction plane.
    normal = np.cross(s1, s0)
    zeta = normal @ axis / np.maximum(np.linalg.norm(normal, axis=1), 1e-300)
    keep = hits & (np.abs(zeta) >= _MIN_ABS_ZETA) & geometry.on_sensor(x_px, y_px)
    rows_all, phi_rad, x_px, y_px, zeta, s1 = (
        rows_all[keep],
        phi_rad[keep],
        x_px[keep],
        y_px[keep],
        zeta[keep],
        s1[keep],
    )
    sigma_deg = max(crystal.mosaicity_deg, 0.01) / np.abs(zeta)
    total_deg = scan.n_images * scan.increment_deg
    # A crossing angle repeats every 360 deg: place each one in every turn the scan covers.
    base_offset = (np.degrees(phi_rad) - scan.start_deg) % 360.0
    idx_parts, phi_parts = [], []
    for turn in range(-1, int(np.ceil(total_deg / 360.0)) + 1):
        offset = base_offset + 360.0 * turn
        inside = np.nonzero((offset > -4 * sigma_deg) & (offset < total_deg + 4 * sigma_deg))[0]
        idx_parts.append(inside)
        phi_parts.append(scan.start_deg + offset[inside])
    idx, phi_all = np.concatenate(idx_parts), np.concatenate(phi_parts)
    lp = _polarization(s1[idx]) / np.abs(zeta[idx])
    table = {
        "row": rows_all[idx],
        "hkl": hkl[rows_all[idx]],
        "x_px": x_px[idx],
        "y_px": y_px[idx],
        "d_a": 1.0 / np.linalg.norm(r0[rows_all[idx]], axis=1),
        "phi_deg": phi_all,
        "sigma_deg": sigma_deg[idx],
        "zeta": zeta[idx],
        "lp": lp,
        "intensity": intensity[rows_all[idx]],
        "r0": r0[rows_all[idx]],
    }
    return table


_ERF = np.frompyfunc(math.erf, 1, 1)


def _ndtr(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF; math.erf element-wise (only a few hundred values per image)."""
    return 0.5 * (1.0 + _ERF(np.asarray(x, dtype=float) / math.sqrt(2.0)).astype(float))


def _predict_rotation(scene, image_index: int) -> ImageTruth:
    scan: RotationScan = scene.scan
    start = scan.start_deg + image_index * scan.increment_deg
    end = start + scan.increment_deg
    centre = 0.5 * (start + end)
    rotation = rotation_matrix(scan.axis_unit, np.radians(centre))
    s0 = scene.geometry.s0
    tables, lattices = [], []
    for lattice_id, (crystal, table) in enumerate(
        zip(scene_crystals(scene), _rotation_tables(scene), strict=True)
    ):
        phi, sigma = table["phi_deg"], table["sigma_deg"]
        near = np.nonzero(np.abs(phi - centre) < 0.5 * scan.increment_deg + 4 * sigma)[0]
        partiality = _ndtr((end - phi[near]) / sigma[near]) - _ndtr(
            (start - phi[near]) / sigma[near]
        )
        keep = near[partiality > 1e-3]
        partiality = partiality[partiality > 1e-3]
        r_centre = table["r0"][keep] @ rotation.T
        dist_ewald = np.linalg.norm(s0 + r_centre, axis=1) - np.linalg.norm(s0)
        lp = table["lp"][keep]
        tables.append(
            ReflectionTable(
                hkl=table["hkl"][keep].astype(np.int32),
                lattice=np.full(len(keep), lattice_id, np.int32),
                x_px=table["x_px"][keep],
                y_px=table["y_px"][keep],
                d_a=table["d_a"][keep],
                phi_deg=phi[keep],
                delta_phi_deg=phi[keep] - centre,
                zeta=table["zeta"][keep],
                dist_ewald_recip_a=dist_ewald,
                partiality=partiality,
                lp=lp,
                photons=crystal.mean_photons * table["intensity"][keep] * partiality * lp,
            )
        )
        lattices.append(real_space_lattice(rotation @ crystal.ub_matrix))
    return ImageTruth(
        image_index, ReflectionTable.concatenate(tables), tuple(lattices), scene.crystal, start, end
    )


def _predict_still(scene, image_index: int, members: list[tuple[int, np.ndarray]]) -> ImageTruth:
    """A still of the crystals ``members`` = [(crystal index, orientation U), ...]; lattice ids
    follow the list order."""
    geometry: DetectorGeometry = scene.geometry
    s0 = geometry.s0
    k = s0[2]
    crystals = scene_crystals(scene)
    tables, lattices = [], []
    for lattice_id, (crystal_index, orientation) in enumerate(members):
        crystal = crystals[crystal_index]
        arrays = _crystal_arrays(scene, crystal_index)
        hkl, hkl_float, inv_d_sq = arrays["hkl"], arrays["hkl_float"], arrays["inv_d_sq"]
        radius = crystal.profile_radius_recip_a
        ub = orientation @ crystal.cell.b_matrix()
        # |s0 + r|^2 = |r|^2 + 2 r_z / lambda + 1 / lambda^2: only r_z depends on the
        # orientation, so one dot product per reflection finds those near the Ewald sphere.
        r_z = hkl_float @ ub[2]
        dist_all = np.sqrt(np.maximum(inv_d_sq + 2.0 * k * r_z + k * k, 0.0)) - k
        near = np.nonzero(np.abs(dist_all) < 3.0 * radius)[0]
        s1 = s0 + hkl_float[near] @ ub.T
        dist = np.linalg.norm(s1, axis=1) - k
        x_px, y_px, hits = geometry.project(s1)
        ok = hits & geometry.on_sensor(x_px, y_px)
        near, s1, x_px, y_px, dist = near[ok], s1[ok], x_px[ok], y_px[ok], dist[ok]
        partiality = np.exp(-0.5 * (dist / radius) ** 2)
        lp = _polarization(s1)
        count = len(near)
        tables.append(
            ReflectionTable(
                hkl=hkl[near].astype(np.int32),
                lattice=np.full(count, lattice_id, np.int32),
                x_px=x_px,
                y_px=y_px,
                d_a=1.0 / np.sqrt(inv_d_sq[near]),
                phi_deg=np.full(count, np.nan),
                delta_phi_deg=np.full(count, np.nan),
                zeta=np.full(count, np.nan),
                dist_ewald_recip_a=dist,
                partiality=partiality,
                lp=lp,
                photons=crystal.mean_photons * arrays["intensity"][near] * partiality * lp,
            )
        )
        lattices.append(real_space_lattice(ub))
    return ImageTruth(
        image_index, ReflectionTable.concatenate(tables), tuple(lattices), scene.crystal
    )


def predict_image(scene, image_index: int) -> ImageTruth:
    """The ground truth of image ``image_index`` of ``scene``.

    Rotation: reflections whose rocking curve overlaps the frame, with their partiality.
    Stills: a hit with probability ``hit_rate``, each crystal randomly oriented.
    Grid: the scene's crystal, slightly misoriented per point, where the grid meets it.
    """
    scan = scene.scan
    if not 0 <= image_index < scan.n_images:
        raise SceneError(f"image_index: {image_index}, allowed [0, {scan.n_images})")
    if isinstance(scan, RotationScan):
        return _predict_rotation(scene, image_index)
    rng = image_rng(scene.seed, STREAM_ORIENTATION, image_index)
    if isinstance(scan, StillsScan):
        if rng.random() >= scan.hit_rate:
            return ImageTruth(image_index, _empty_table(), (), scene.crystal)
        n_crystals = int(rng.integers(1, scan.max_crystals_per_hit + 1))
        # Serial hits are microcrystals of the scene's crystal form in random orientations.
        return _predict_still(
            scene, image_index, [(0, random_rotation(rng)) for _ in range(n_crystals)]
        )
    if isinstance(scan, GridScan):
        if not scan.crystal_at(image_index):
            return ImageTruth(image_index, _empty_table(), (), scene.crystal)
        members = []
        for index, crystal in enumerate(scene_crystals(scene)):
            jitter_axis = rng.normal(size=3)
            jitter = rotation_matrix(jitter_axis, np.radians(scan.jitter_deg) * rng.normal())
            members.append((index, jitter @ crystal.orientation))
        return _predict_still(scene, image_index, members)
    raise TypeError(f"scene.scan: {type(scan).__name__}, allowed RotationScan/StillsScan/GridScan")
