"""Experiment geometry: beam, detector plane, pixel maps (hdf5-format.md §3, docs/physics.md).

Lab frame (docs/physics.md "Frames"): z along the beam from the sample towards the detector,
y up, x = y cross z (horizontal). Image coordinates put the centre of pixel (row r, column c) at
(x=c, y=r): the numpy index convention, used for beam centre, spots and predictions alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from jfjoch_hil.simulator.detector import gap_mask as module_gap_mask
from jfjoch_hil.simulator.detector import module_rectangle
from jfjoch_hil.simulator.errors import SceneError

__all__ = [
    "HC_KEV_ANGSTROM",
    "DetectorGeometry",
    "jungfrau_geometry",
    "eiger_geometry",
    "rotation_matrix",
]

HC_KEV_ANGSTROM = 12.398419843320026
"""h*c in keV * Angstrom: wavelength_A = HC_KEV_ANGSTROM / energy_kev."""


def rotation_matrix(axis: np.ndarray, angle_rad: float | np.ndarray) -> np.ndarray:
    """Right-handed rotation(s) about unit ``axis`` by ``angle_rad`` (Rodrigues; docs/physics.md).

    A scalar angle gives a (3, 3) matrix, an array of N angles gives (N, 3, 3).
    """
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    angle = np.asarray(angle_rad, dtype=float)
    cos, sin = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return cos * np.eye(3) + sin * cross + (1.0 - cos) * np.outer(axis, axis)


@dataclass(frozen=True)
class DetectorGeometry:
    """A flat detector and a monochromatic beam (NXmx detector/beam, hdf5-format.md §3).

    ``gap_mask`` is a bool [y, x] array, True where no sensor is (inter-module gaps); ``None`` means
    no gaps. ``tiles`` are the sensor rectangles ``(y0, x0, height, width)`` (one per module),
    each rendered with a noise stream of its own so that a module can be rendered alone; empty
    means the image is one tile. ``rot1_rad`` (about lab y), ``rot2_rad`` (about lab x) and
    ``rot3_rad`` (about the beam) are PONI-style tilts applied about the direct-beam point, so the beam centre stays the
    NXmx beam centre and ``distance_mm`` the sample-to-beam-point distance.
    """

    width_px: int
    height_px: int
    pixel_size_mm: float = 0.075
    distance_mm: float = 120.0
    beam_center_x_px: float = 0.0
    beam_center_y_px: float = 0.0
    energy_kev: float = 12.4
    rot1_rad: float = 0.0
    rot2_rad: float = 0.0
    rot3_rad: float = 0.0
    sensor_material: str = "Si"
    sensor_thickness_mm: float = 0.320
    gap_mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    tiles: tuple[tuple[int, int, int, int], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise SceneError(
                f"geometry.width_px/height_px: {self.width_px}x{self.height_px}, allowed > 0"
            )
        for name in ("pixel_size_mm", "distance_mm", "energy_kev"):
            if not getattr(self, name) > 0:
                raise SceneError(f"geometry.{name}: {getattr(self, name)}, allowed > 0")
        if self.gap_mask is not None:
            mask = np.asarray(self.gap_mask, dtype=bool)
            if mask.shape != (self.height_px, self.width_px):
                raise SceneError(
                    f"geometry.gap_mask: shape {mask.shape}, allowed "
                    f"({self.height_px}, {self.width_px}) [y, x]"
                )
            mask.setflags(write=False)
            object.__setattr__(self, "gap_mask", mask)
        tiles = tuple(tuple(int(v) for v in tile) for tile in self.tiles)
        for tile in tiles:
            if len(tile) != 4:
                raise SceneError(f"geometry.tiles: {tile}, allowed (y0, x0, height, width)")
            y0, x0, h, w = tile
            if (
                y0 < 0
                or x0 < 0
                or h <= 0
                or w <= 0
                or y0 + h > self.height_px
                or x0 + w > self.width_px
            ):
                raise SceneError(
                    f"geometry.tiles: {tile} (y0, x0, height, width) is not inside the "
                    f"{self.height_px} x {self.width_px} image"
                )
        object.__setattr__(self, "tiles", tiles)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape [y, x] (numpy order)."""
        return (self.height_px, self.width_px)

    @property
    def wavelength_a(self) -> float:
        """Incident wavelength in Angstrom (NXbeam incident_wavelength)."""
        return HC_KEV_ANGSTROM / self.energy_kev

    @property
    def s0(self) -> np.ndarray:
        """Incident wave vector, length 1/wavelength (1/Angstrom), along +z."""
        return np.array([0.0, 0.0, 1.0 / self.wavelength_a])

    @cached_property
    def detector_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit fast (column) and slow (row) axes and the plane normal, in the lab frame.

        Untilted: fast along -x and slow along -y (the image as seen from the sample, the usual
        NXmx module vectors), normal along +z. The writer's fast/slow_pixel_direction vectors
        must be these for the files to describe the simulated geometry.
        """
        rotation = (
            rotation_matrix(np.array([0.0, 0.0, 1.0]), self.rot3_rad)
            @ rotation_matrix(np.array([1.0, 0.0, 0.0]), self.rot2_rad)
            @ rotation_matrix(np.array([0.0, 1.0, 0.0]), self.rot1_rad)
        )
        fast = rotation @ np.array([-1.0, 0.0, 0.0])
        slow = rotation @ np.array([0.0, -1.0, 0.0])
        return fast, slow, np.cross(fast, slow)

    def pixel_to_lab_mm(self, x_px: np.ndarray, y_px: np.ndarray) -> np.ndarray:
        """Lab positions (mm, shape (..., 3)) of image points (x_px, y_px)."""
        fast, slow, _ = self.detector_axes
        beam_point = np.array([0.0, 0.0, self.distance_mm])
        u = (np.asarray(x_px, dtype=float) - self.beam_center_x_px) * self.pixel_size_mm
        v = (np.asarray(y_px, dtype=float) - self.beam_center_y_px) * self.pixel_size_mm
        return beam_point + u[..., None] * fast + v[..., None] * slow

    def project(self, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where rays from the sample along ``direction`` (N, 3) hit the detector plane.

        Returns (x_px, y_px, hits): hits is False for rays going away from the plane.
        """
        direction = np.atleast_2d(np.asarray(direction, dtype=float))
        fast, slow, normal = self.detector_axes
        beam_point = np.array([0.0, 0.0, self.distance_mm])
        along_normal = direction @ normal
        hits = along_normal > 1e-12
        scale = np.where(hits, (beam_point @ normal) / np.where(hits, along_normal, 1.0), np.nan)
        offset = direction * scale[:, None] - beam_point
        x_px = self.beam_center_x_px + (offset @ fast) / self.pixel_size_mm
        y_px = self.beam_center_y_px + (offset @ slow) / self.pixel_size_mm
        return x_px, y_px, hits

    def on_sensor(self, x_px: np.ndarray, y_px: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
        """True where (x_px, y_px) lies inside the image (by ``margin_px``) and not in a gap."""
        x_px, y_px = np.asarray(x_px, dtype=float), np.asarray(y_px, dtype=float)
        finite = np.isfinite(x_px) & np.isfinite(y_px)
        inside = (
            finite
            & (x_px >= margin_px - 0.5)
            & (x_px < self.width_px - 0.5 - margin_px)
            & (y_px >= margin_px - 0.5)
            & (y_px < self.height_px - 0.5 - margin_px)
        )
        if self.gap_mask is not None and inside.any():
            col = np.clip(np.rint(np.where(inside, x_px, 0)).astype(int), 0, self.width_px - 1)
            row = np.clip(np.rint(np.where(inside, y_px, 0)).astype(int), 0, self.height_px - 1)
            inside &= ~self.gap_mask[row, col]
        return inside

    @cached_property
    def pixel_maps(self) -> dict[str, np.ndarray]:
        """Per-pixel float32 maps [y, x]: ``two_theta_deg``, ``phi_deg``, ``q_recip_a``, ``d_a``,
        ``solid_angle`` (relative, 1 at the beam point) and ``polarization`` (horizontal, 0.99).

        q = 4 pi sin(theta) / lambda (hdf5-format.md §4.3); phi = atan2(lab y, lab x) in degrees.
        """
        return self.pixel_maps_of((0, 0, *self.shape))

    def pixel_maps_of(self, rect: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
        """:attr:`pixel_maps` of the rectangle ``rect`` (y0, x0, height, width) only, made
        without the rest of the image (not cached)."""
        y0, x0, h, w = rect
        rows, cols = np.indices((h, w), dtype=float)
        rows += y0
        cols += x0
        lab = self.pixel_to_lab_mm(cols, rows)
        radius = np.linalg.norm(lab, axis=-1)
        cos_2theta = np.clip(lab[..., 2] / radius, -1.0, 1.0)
        two_theta = np.arccos(cos_2theta)
        sin_theta = np.sin(two_theta / 2.0)
        with np.errstate(divide="ignore"):
            d_a = np.where(sin_theta > 0, self.wavelength_a / (2.0 * sin_theta), np.inf)
        _, _, normal = self.detector_axes
        obliquity = np.abs(lab @ normal) / radius
        solid_angle = obliquity * (self.distance_mm / radius) ** 2
        unit = lab / radius[..., None]
        # Synchrotron beams are ~99 % polarised in the horizontal (lab x) plane.
        polarization = 0.99 * (1.0 - unit[..., 0] ** 2) + 0.01 * (1.0 - unit[..., 1] ** 2)
        maps = {
            "two_theta_deg": np.degrees(two_theta),
            "phi_deg": np.degrees(np.arctan2(lab[..., 1], lab[..., 0])),
            "q_recip_a": 4.0 * np.pi * sin_theta / self.wavelength_a,
            "d_a": d_a,
            "solid_angle": solid_angle,
            "polarization": polarization,
        }
        out = {}
        for key, value in maps.items():
            arr = np.ascontiguousarray(value, dtype=np.float32)
            arr.setflags(write=False)
            out[key] = arr
        return out

    def module_vectors(self) -> dict[str, list[float]]:
        """NXmx ``fast_pixel_direction``/``slow_pixel_direction`` unit vectors (McStas lab frame)."""
        fast, slow, _ = self.detector_axes
        return {
            "fast_pixel_direction": [float(v) for v in fast],
            "slow_pixel_direction": [float(v) for v in slow],
        }

    def start_fields(self) -> dict[str, object]:
        """Start-message geometry fields (stream.md start message; NXmx units: m, eV, Angstrom)."""
        return {
            "detector_distance": self.distance_mm * 1e-3,
            "beam_center_x": float(self.beam_center_x_px),
            "beam_center_y": float(self.beam_center_y_px),
            "pixel_size_x": self.pixel_size_mm * 1e-3,
            "pixel_size_y": self.pixel_size_mm * 1e-3,
            "incident_energy": self.energy_kev * 1e3,
            "incident_wavelength": self.wavelength_a,
            "sensor_material": self.sensor_material,
            "sensor_thickness": self.sensor_thickness_mm * 1e-3,
            "image_size_x": self.width_px,
            "image_size_y": self.height_px,
        }


def _module_layout(
    n_modules: int, modules_per_row: int, gap_x_px: int, gap_y_px: int
) -> tuple[np.ndarray, tuple[tuple[int, int, int, int], ...]]:
    """Gap mask and module rectangles (y0, x0, height, width) of Jungfraujoch's regular module
    grid (detectors.md §5.2): where the receiver's assembly puts each module, so rectangle m is
    where module m's pixels land."""
    mask = module_gap_mask(n_modules, modules_per_row, gap_x_px, gap_y_px).astype(bool)
    tiles = tuple(
        module_rectangle(m, n_modules, modules_per_row, gap_x_px, gap_y_px)
        for m in range(n_modules)
    )
    return mask, tiles


def jungfrau_geometry(
    n_modules: int = 2,
    modules_per_row: int = 1,
    gap_x_px: int = 8,
    gap_y_px: int = 36,
    distance_mm: float = 120.0,
    energy_kev: float = 12.4,
    beam_center_x_px: float | None = None,
    beam_center_y_px: float | None = None,
    **kwargs: float,
) -> DetectorGeometry:
    """A JUNGFRAU of ``n_modules`` in converted geometry (detectors.md §5.1-5.2, §6.2).

    Modules are 1030 x 514 converted pixels of 75 um, 320 um Si; the beam centre defaults to a
    point slightly off the image centre so that it does not fall into a gap.
    """
    if n_modules < 1 or modules_per_row < 1:
        raise SceneError(
            f"jungfrau_geometry.n_modules/modules_per_row: {n_modules}/{modules_per_row}, allowed >= 1"
        )
    mask, tiles = _module_layout(n_modules, modules_per_row, gap_x_px, gap_y_px)
    height, width = mask.shape
    return DetectorGeometry(
        width_px=width,
        height_px=height,
        pixel_size_mm=0.075,
        distance_mm=distance_mm,
        beam_center_x_px=width / 2 + 23.3 if beam_center_x_px is None else beam_center_x_px,
        beam_center_y_px=height / 2 + 81.7 if beam_center_y_px is None else beam_center_y_px,
        energy_kev=energy_kev,
        sensor_material="Si",
        sensor_thickness_mm=0.320,
        gap_mask=mask,
        tiles=tiles,
        **kwargs,
    )


def eiger_geometry(
    n_modules: int = 2, modules_per_row: int = 1, distance_mm: float = 120.0, **kwargs: float
) -> DetectorGeometry:
    """A PSI EIGER of ``n_modules`` with 8/36-pixel module gaps (detectors.md §5.4, §6.2)."""
    geometry = jungfrau_geometry(n_modules, modules_per_row, distance_mm=distance_mm, **kwargs)
    return geometry
