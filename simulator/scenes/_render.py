"""Scenes and their rendering into photon-count images (docs/physics.md).

An image is Poisson(background + Bragg spots) photons per pixel, shadowed by the beam stop,
clipped at saturation, with hot pixels saturated and dead/gap pixels at the error value: the
converted-image conventions of detectors.md §4.4-4.6 (int16: +32767 saturation, -32768 error).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from jfjoch_hil.simulator.errors import SceneError
from jfjoch_hil.simulator.scenes._crystal import Crystal
from jfjoch_hil.simulator.scenes._geometry import DetectorGeometry
from jfjoch_hil.simulator.scenes._prediction import (
    STREAM_DEFECTS,
    STREAM_NOISE,
    ImageTruth,
    image_rng,
    predict_image,
)
from jfjoch_hil.simulator.scenes._scans import GridScan, RotationScan, Scan, StillsScan

__all__ = [
    "ICE_RING_D_A",
    "Background",
    "DetectorDefects",
    "Scene",
    "render",
    "render_expected",
    "render_tile",
    "pixel_mask",
    "clear_render_cache",
]

ICE_RING_D_A = (3.897, 3.669, 3.441, 2.671, 2.249, 2.072, 1.948, 1.918, 1.883, 1.721)
"""d-spacings (Angstrom) of the strong hexagonal-ice (Ih) powder rings."""

_STAMP_RADIUS_PX = 3


@dataclass(frozen=True)
class Background:
    """Diffuse background in photons per pixel at the beam point (before solid angle and
    polarisation): air scatter falling off with q, a solvent ring near 3.2 Angstrom and, when
    ``ice_ring_photons`` > 0, the ice rings of ICE_RING_D_A."""

    air_photons: float = 0.6
    air_falloff_recip_a: float = 0.8
    solvent_photons: float = 1.2
    solvent_d_a: float = 3.2
    solvent_width_recip_a: float = 0.35
    ice_ring_photons: float = 0.0
    ice_ring_width_recip_a: float = 0.012

    def __post_init__(self) -> None:
        for name in ("air_photons", "solvent_photons", "ice_ring_photons"):
            if getattr(self, name) < 0:
                raise SceneError(f"background.{name}: {getattr(self, name)}, allowed >= 0")
        for name in ("air_falloff_recip_a", "solvent_width_recip_a", "ice_ring_width_recip_a"):
            if not getattr(self, name) > 0:
                raise SceneError(f"background.{name}: {getattr(self, name)}, allowed > 0")


@dataclass(frozen=True)
class DetectorDefects:
    """Beam-stop shadow (disc plus an arm to the image's left edge) and hot/dead pixels.

    Hot pixels read saturated, dead pixels the error value; both are drawn once per scene seed.
    """

    beam_stop_radius_px: float = 15.0
    beam_stop_arm_width_px: float = 8.0
    beam_stop_transmission: float = 0.002
    hot_pixel_fraction: float = 2e-5
    dead_pixel_fraction: float = 2e-5
    saturation_value: int = 32767
    error_value: int = -32768

    def __post_init__(self) -> None:
        for name in ("hot_pixel_fraction", "dead_pixel_fraction", "beam_stop_transmission"):
            if not 0 <= getattr(self, name) <= 1:
                raise SceneError(f"defects.{name}: {getattr(self, name)}, allowed [0, 1]")
        if self.error_value >= 0 or self.saturation_value <= 0:
            raise SceneError(
                f"defects.error_value/saturation_value: {self.error_value}/"
                f"{self.saturation_value}, allowed < 0 / > 0"
            )


@dataclass(frozen=True, eq=False)
class Scene:
    """One diffraction experiment: geometry, crystal, scan, background, defects and the seed.

    ``extra_crystals`` are further crystals in the beam of a rotation or grid scan (lattices 1,
    2, ...); a stills scan draws its own number of crystals per hit instead.

    The same scene and seed give the same photons, bit for bit. Scenes compare by
    identity, which is what their caches key on.
    """

    geometry: DetectorGeometry
    crystal: Crystal
    scan: Scan
    background: Background = field(default_factory=Background)
    defects: DetectorDefects = field(default_factory=DetectorDefects)
    seed: int = 0
    spot_sigma_px: float = 0.9
    extra_crystals: tuple[Crystal, ...] = ()

    def __post_init__(self) -> None:
        if not all(isinstance(c, Crystal) for c in self.extra_crystals):
            raise SceneError("scene.extra_crystals: allowed a tuple of Crystal")
        if not isinstance(self.scan, RotationScan | StillsScan | GridScan):
            raise SceneError(
                f"scene.scan: {type(self.scan).__name__}, allowed RotationScan/StillsScan/GridScan"
            )
        if not 0.3 <= self.spot_sigma_px <= 10:
            raise SceneError(f"scene.spot_sigma_px: {self.spot_sigma_px}, allowed [0.3, 10]")
        if self.seed < 0:
            raise SceneError(f"scene.seed: {self.seed}, allowed >= 0")

    @property
    def n_images(self) -> int:
        """Number of images of the scan."""
        return self.scan.n_images

    def truth(self, image_index: int) -> ImageTruth:
        """The predicted reflections and lattices of one image (predict_image)."""
        return predict_image(self, image_index)

    def start_fields(self) -> dict[str, object]:
        """Start-message fields of geometry, goniometer and unit cell (stream.md start message)."""
        fields = self.geometry.start_fields()
        fields["goniometer"] = self.scan.goniometer()
        fields["unit_cell"] = self.crystal.cell.as_map()
        fields["pixel_mask"] = pixel_mask(self)
        fields["saturation_value"] = self.defects.saturation_value
        fields["error_value"] = self.defects.error_value
        return fields


_STATIC: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_DEFECTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RENDERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()  # the receiver may render from several threads


def _static_maps(scene: Scene, rect: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """Maps of the rectangle ``rect`` (y0, x0, height, width) that do not change between images:
    background, beam-stop transmission, gaps and defects.  Made once per scene and rectangle,
    from that rectangle's pixels alone (a module tile does not need the rest of the
    detector's)."""
    full = (0, 0, *scene.geometry.shape)
    with _CACHE_LOCK:
        per_scene = _STATIC.setdefault(scene, {})
        cached = per_scene.get(rect)
    if cached is not None:
        return cached
    geometry, bkg, defects = scene.geometry, scene.background, scene.defects
    y0, x0, h, w = rect
    maps = geometry.pixel_maps if rect == full else geometry.pixel_maps_of(rect)
    q = maps["q_recip_a"].astype(np.float64)
    profile = bkg.air_photons * np.exp(-q / bkg.air_falloff_recip_a)
    q_solvent = 2 * np.pi / bkg.solvent_d_a
    profile += bkg.solvent_photons * np.exp(
        -0.5 * ((q - q_solvent) / bkg.solvent_width_recip_a) ** 2
    )
    if bkg.ice_ring_photons > 0:
        for d_ice in ICE_RING_D_A:
            q_ice = 2 * np.pi / d_ice
            profile += bkg.ice_ring_photons * np.exp(
                -0.5 * ((q - q_ice) / bkg.ice_ring_width_recip_a) ** 2
            )
    rows, cols = np.indices((h, w))
    dx = cols + x0 - geometry.beam_center_x_px
    dy = rows + y0 - geometry.beam_center_y_px
    shadow = (dx * dx + dy * dy <= defects.beam_stop_radius_px**2) | (
        (dx <= 0) & (np.abs(dy) <= defects.beam_stop_arm_width_px / 2)
    )
    transmission = np.where(shadow, defects.beam_stop_transmission, 1.0)
    part = (slice(y0, y0 + h), slice(x0, x0 + w))
    gap, hot, dead = (m[part] for m in _defect_maps(scene))
    cached = {
        "background": profile * maps["solid_angle"] * maps["polarization"] * transmission,
        "transmission": transmission,
        "gap": gap,
        "hot": hot,
        "dead": dead,
    }
    with _CACHE_LOCK:
        _STATIC[scene][rect] = cached
    return cached


def _defect_maps(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gap, hot, dead) bool [y, x] of the whole image: one draw per scene seed."""
    with _CACHE_LOCK:
        cached = _DEFECTS.get(scene)
    if cached is not None:
        return cached
    geometry, defects = scene.geometry, scene.defects
    gap = np.zeros(geometry.shape, bool) if geometry.gap_mask is None else geometry.gap_mask
    draw = image_rng(scene.seed, STREAM_DEFECTS).random(geometry.shape)
    hot = (draw < defects.hot_pixel_fraction) & ~gap
    dead = (draw >= 1.0 - defects.dead_pixel_fraction) & ~gap
    with _CACHE_LOCK:
        _DEFECTS[scene] = (gap, hot, dead)
    return gap, hot, dead


def _deposit_spots(
    expected: np.ndarray, truth: ImageTruth, sigma_px: float, origin: tuple[int, int] = (0, 0)
) -> None:
    """Add each reflection's photons as a normalised 2-D Gaussian on a small stamp.

    ``expected`` is the part of the image whose pixel [0, 0] is image pixel ``origin`` (y, x);
    stamp pixels outside it are left out."""
    table = truth.reflections
    if len(table) == 0:
        return
    height, width = expected.shape
    y0, x0 = origin
    offsets = np.arange(-_STAMP_RADIUS_PX, _STAMP_RADIUS_PX + 1)
    centre_col = np.rint(table.x_px).astype(np.int64)
    centre_row = np.rint(table.y_px).astype(np.int64)
    near = (
        (centre_col >= x0 - _STAMP_RADIUS_PX)
        & (centre_col < x0 + width + _STAMP_RADIUS_PX)
        & (centre_row >= y0 - _STAMP_RADIUS_PX)
        & (centre_row < y0 + height + _STAMP_RADIUS_PX)
    )
    if not near.any():
        return
    x_px, y_px, photons = table.x_px[near], table.y_px[near], table.photons[near]
    cols = centre_col[near][:, None, None] + offsets[None, None, :]
    rows = centre_row[near][:, None, None] + offsets[None, :, None]
    weight = np.exp(
        -0.5 * ((cols - x_px[:, None, None]) ** 2 + (rows - y_px[:, None, None]) ** 2) / sigma_px**2
    )
    weight /= weight.sum(axis=(1, 2), keepdims=True)
    cols, rows = np.broadcast_arrays(cols - x0, rows - y0)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    flat = (rows * width + cols)[inside]
    values = (weight * photons[:, None, None])[inside]
    expected += np.bincount(flat, weights=values, minlength=expected.size).reshape(expected.shape)


def render_expected(scene: Scene, image_index: int) -> np.ndarray:
    """Expected photons per pixel (float64 [y, x]) of one image, before noise and defects."""
    return _expected(scene, (0, 0, *scene.geometry.shape), predict_image(scene, image_index))


def _expected(scene: Scene, rect: tuple[int, int, int, int], truth: ImageTruth) -> np.ndarray:
    """Expected photons (float64) of the rectangle ``rect`` (y0, x0, height, width) of the image
    whose reflections are ``truth``: background plus spots, through the beam stop."""
    y0, x0, h, w = rect
    static = _static_maps(scene, rect)
    expected = static["background"].copy()
    spots = np.zeros((h, w))
    _deposit_spots(spots, truth, scene.spot_sigma_px, (y0, x0))
    expected += spots * static["transmission"]
    return expected


def render(scene: Scene, image_index: int, cache_size: int = 16) -> np.ndarray:
    """The photon-count image (int32 [y, x], read-only) of ``image_index``.

    Each distinct (scene, image) is rendered once and kept in a per-scene LRU cache of
    ``cache_size`` images; noise comes from a generator seeded by (seed, image), so the result
    does not depend on the order in which images are asked for.  A geometry with ``tiles``
    (modules) draws each tile's noise from a generator of its own, seeded by (seed, image, tile),
    so :func:`render_tile` gives a module's pixels without rendering the others; pixels outside
    every tile are gaps (the error value).
    """
    with _CACHE_LOCK:
        per_scene = _RENDERED.setdefault(scene, OrderedDict())
        image = per_scene.get(image_index)
        if image is not None:
            per_scene.move_to_end(image_index)
            return image
    tiles = scene.geometry.tiles
    if tiles:
        image = np.full(scene.geometry.shape, scene.defects.error_value, dtype=np.int32)
        truth = predict_image(scene, image_index)
        for index, (y0, x0, h, w) in enumerate(tiles):
            image[y0 : y0 + h, x0 : x0 + w] = _render_tile(scene, image_index, index, truth)
    else:
        image = _render_part(
            scene,
            (0, 0, *scene.geometry.shape),
            predict_image(scene, image_index),
            image_rng(scene.seed, STREAM_NOISE, image_index),
        )
    image.setflags(write=False)
    if cache_size > 0:
        with _CACHE_LOCK:
            per_scene[image_index] = image
            while len(per_scene) > cache_size:
                per_scene.popitem(last=False)
    return image


def render_tile(scene: Scene, image_index: int, tile: int) -> np.ndarray:
    """Tile ``tile`` of the scene's geometry (int32 [h, w]) in image ``image_index``, equal to
    that rectangle of :func:`render` but made without rendering any other tile."""
    tiles = scene.geometry.tiles
    if not 0 <= tile < len(tiles):
        raise SceneError(f"tile: {tile}; this geometry has {len(tiles)} tiles")
    return _render_tile(scene, image_index, tile, predict_image(scene, image_index))


def _render_tile(scene: Scene, image_index: int, tile: int, truth: ImageTruth) -> np.ndarray:
    rng = np.random.default_rng(
        np.random.SeedSequence([scene.seed, STREAM_NOISE, image_index, tile])
    )
    return _render_part(scene, scene.geometry.tiles[tile], truth, rng)


def _render_part(
    scene: Scene, rect: tuple[int, int, int, int], truth: ImageTruth, rng: np.random.Generator
) -> np.ndarray:
    """Photon counts (int32) of the rectangle ``rect`` (y0, x0, height, width) of the image whose
    reflections are ``truth``: Poisson noise from ``rng`` on the expected photons, saturation,
    hot, dead and gap pixels."""
    static = _static_maps(scene, rect)
    defects = scene.defects
    counts = rng.poisson(_expected(scene, rect, truth))
    image = np.minimum(counts, defects.saturation_value).astype(np.int32)
    image[static["hot"]] = defects.saturation_value
    image[static["dead"] | static["gap"]] = defects.error_value
    return image


def clear_render_cache(scene: Scene | None = None) -> None:
    """Forget rendered images (of one scene, or of all)."""
    with _CACHE_LOCK:
        if scene is None:
            _RENDERED.clear()
        else:
            _RENDERED.pop(scene, None)


def pixel_mask(scene: Scene) -> np.ndarray:
    """NXmx pixel_mask (uint32 [y, x]; detectors.md §4.5): bit 0 gap, 1 dead, 3 hot."""
    gap, hot, dead = _defect_maps(scene)
    mask = gap.astype(np.uint32)
    mask |= dead.astype(np.uint32) << 1
    mask |= hot.astype(np.uint32) << 3
    return mask
