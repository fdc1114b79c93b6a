"""Spot finding: threshold over the local background, then connected components
(hdf5-format.md §4.1 peak* datasets and counters; docs/physics.md "Spot finding")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.analysis._plan import AnalysisPlan
from jfjoch_hil.simulator.scenes import ICE_RING_D_A

__all__ = ["SpotList", "find_spots", "valid_pixels"]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, eq=False)
class SpotList:
    """Spots of one image after filtering, strongest first, at most ``max_spot_count``.

    ``x``/``y`` are intensity-weighted centroids (pixels), ``intensity`` background-subtracted
    photons, ``d_a`` resolution at the centroid; ``spot_pixels`` marks the pixels of every spot
    that passed the filters (isolated noise pixels excluded).
    """

    x: np.ndarray
    y: np.ndarray
    intensity: np.ndarray
    d_a: np.ndarray
    ice_ring: np.ndarray
    strong_pixel_count: int
    spot_count_unfiltered: int
    spot_count_low_res: int
    spot_count_ice_ring: int
    local_background: np.ndarray
    spot_pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @staticmethod
    def empty(shape: tuple[int, int]) -> SpotList:
        """No spots (spot finding switched off)."""
        none = np.zeros(0)
        return SpotList(
            none,
            none,
            none,
            none,
            np.zeros(0, bool),
            0,
            0,
            0,
            0,
            np.zeros(shape, np.float32),
            np.zeros(shape, bool),
        )


def valid_pixels(image: np.ndarray, plan: AnalysisPlan) -> np.ndarray:
    """Pixels that carry a measurement: not error, not saturated, not in a gap (§4.5)."""
    settings = plan.settings
    return (image != settings.error_value) & (image < settings.saturation_value) & ~plan.gap


def _local_mean_var(values: np.ndarray, use: np.ndarray, window: int):
    from scipy.ndimage import uniform_filter  # lazily: keeps `import simulator.analysis` light

    weight = use.astype(np.float32)
    masked = values * weight
    count = uniform_filter(weight, window, mode="constant")
    total = uniform_filter(masked, window, mode="constant")
    total_sq = uniform_filter(masked * masked, window, mode="constant")
    safe = np.maximum(count, 1e-6)
    mean = total / safe
    var = np.maximum(total_sq / safe - mean * mean, 0.0)
    return mean, var


def find_spots(image: np.ndarray, plan: AnalysisPlan, valid: np.ndarray | None = None) -> SpotList:
    """Find the spots of ``image`` (photons, [y, x]) as Jungfraujoch's receiver does per image.

    Two passes: the local mean/variance is first taken over all valid pixels, then again without
    the strong pixels of the first pass, so that a bright spot does not raise its own threshold.
    """
    from scipy.ndimage import label

    settings = plan.settings
    if valid is None:
        valid = valid_pixels(image, plan)
    values = np.where(valid, image, 0).astype(np.float32)
    window = 2 * settings.background_window_px + 1
    use = valid
    strong = np.zeros(image.shape, bool)
    mean = np.zeros(image.shape, np.float32)
    for _ in range(2):
        mean, var = _local_mean_var(values, use, window)
        # Poisson: the variance of a background pixel is at least its mean.
        sigma = np.sqrt(np.maximum(var, mean))
        strong = (
            valid
            & (values >= settings.photon_threshold)
            & (values - mean > settings.signal_to_noise * sigma)
        )
        use = valid & ~strong
    labels, n_components = label(strong, structure=_EIGHT_CONNECTED)
    flat = np.flatnonzero(strong)
    ids = labels.ravel()[flat] - 1
    rows, cols = np.divmod(flat, image.shape[1])
    signal = np.maximum(values.ravel()[flat] - mean.ravel()[flat], 0.0)
    npix = np.bincount(ids, minlength=n_components)
    total = np.bincount(ids, weights=signal, minlength=n_components)
    background_sum = np.bincount(ids, weights=mean.ravel()[flat], minlength=n_components)
    safe = np.where(total > 0, total, 1.0)
    x = np.bincount(ids, weights=signal * cols, minlength=n_components) / safe
    y = np.bincount(ids, weights=signal * rows, minlength=n_components) / safe
    height, width = image.shape
    d = plan.d_a[
        np.clip(np.rint(y).astype(int), 0, height - 1),
        np.clip(np.rint(x).astype(int), 0, width - 1),
    ].astype(np.float64)
    keep = (
        (npix >= settings.min_pixels_per_spot)
        & (npix <= settings.max_pixels_per_spot)
        & (total > 0)
        & (total >= settings.min_spot_snr * np.sqrt(total + background_sum))
        & (d >= settings.high_resolution_limit_a)
        & (d <= settings.low_resolution_limit_a)
    )
    kept = np.nonzero(keep)[0]
    spot_pixels = np.zeros(image.shape, bool)
    spot_pixels.ravel()[flat[keep[ids]]] = True
    q_ice = 2 * np.pi / np.asarray(ICE_RING_D_A)
    ice_all = np.any(
        np.abs(2 * np.pi / d[kept][:, None] - q_ice[None, :]) <= settings.ice_ring_width_recip_a,
        axis=1,
    )
    # Counters cover every spot that passed the filters, the list only the strongest.
    rank = np.argsort(-total[kept], kind="stable")[: settings.max_spot_count]
    order, ice = kept[rank], ice_all[rank]
    return SpotList(
        x=x[order],
        y=y[order],
        intensity=total[order],
        d_a=d[order],
        ice_ring=ice,
        strong_pixel_count=int(strong.sum()),
        spot_count_unfiltered=int(n_components),
        spot_count_low_res=int(np.sum(d[kept] >= settings.low_res_spot_d_a)),
        spot_count_ice_ring=int(ice_all.sum()),
        local_background=mean,
        spot_pixels=spot_pixels,
    )
