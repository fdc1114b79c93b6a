"""Spot finding: threshold over the local background, then connected components
(hdf5-format.md §4.1 peak* datasets and counters; docs/physics.md "Spot finding").

Only a pixel of at least ``photon_threshold`` photons can be strong, and those are few, so the
local statistics are looked up at those candidates alone: window sums come from summed-area tables
of the image (exact integer arithmetic), the window pixel counts from the plan, and the second
pass takes the first pass's strong pixels out of each candidate's window pair by pair instead of
filtering the image again. Connected components are found among the strong pixels only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.analysis._pixels import (
    PixelClasses,
    classify_pixels,
    pixel_classes_from_valid,
)
from jfjoch_hil.simulator.analysis._plan import AnalysisPlan
from jfjoch_hil.simulator.scenes import ICE_RING_D_A

__all__ = ["SpotList", "find_spots", "spots_of", "valid_pixels"]


@dataclass(frozen=True, eq=False)
class SpotList:
    """Spots of one image after filtering, strongest first, at most ``max_spot_count``.

    ``x``/``y`` are intensity-weighted centroids (pixels), ``intensity`` background-subtracted
    photons, ``d_a`` resolution at the centroid; ``spot_pixels`` marks the pixels of every spot
    that passed the filters (isolated noise pixels excluded), ``spot_pixel_indices`` lists them as
    flat indices; ``strong_background`` is the local background of each strong pixel (second
    pass), in the order of the strong pixels' flat indices.
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
    strong_background: np.ndarray
    spot_pixels: np.ndarray
    spot_pixel_indices: np.ndarray

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
            none,
            np.zeros(shape, bool),
            np.zeros(0, np.intp),
        )


def valid_pixels(image: np.ndarray, plan: AnalysisPlan) -> np.ndarray:
    """Pixels that carry a measurement: not error, not saturated, not in a gap (§4.5)."""
    return classify_pixels(image, plan).valid


def _window_rows(pixels: np.ndarray, width: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions, in a padded row table ([y + radius, x + 1], see PixelClasses), of the first pixel
    and one past the last of each row of each pixel's window (cut at the left and right edges):
    two arrays [pixel, window row]."""
    stride = width + 1
    rows, cols = np.divmod(pixels, width)
    base = (rows + radius) * stride
    offsets = np.arange(-radius, radius + 1) * stride
    first = (base + np.maximum(cols - radius, 0))[:, None] + offsets[None, :]
    end = (base + np.minimum(cols + radius + 1, width))[:, None] + offsets[None, :]
    return first, end


def _window_sums(table: np.ndarray, first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Window sums from a padded row prefix-sum table: one difference per window row."""
    flat = table.ravel()
    return (flat[end] - flat[first]).sum(axis=1).astype(np.float64)


def _window_totals(
    rank: np.ndarray,
    sources: np.ndarray,
    weights: list[np.ndarray],
    n: int,
    width: int,
    radius: int,
) -> list[np.ndarray]:
    """For each of ``n`` targets, the sum of each ``weights`` array over the sources whose window
    holds the target.

    ``rank`` is a padded row table of the targets (flat indices, sorted): entry [y + radius, x]
    counts the targets before pixel (y, x), so one row of a source's window holds the targets
    ``rank`` at its first pixel to ``rank`` one past its last. Each such range adds the source's
    weight: +w at its start, -w at its end, and a running sum over the targets gives the totals.
    """
    first, end = _window_rows(sources, width, radius)
    lo, hi = rank.ravel()[first].ravel(), rank.ravel()[end].ravel()
    # Most window rows of a spot pixel hold no target: leave them out.
    some = np.flatnonzero(lo != hi)
    lo, hi = lo[some], hi[some]
    source = some // (2 * radius + 1)
    totals = []
    for weight in weights:
        per_row = weight[source]
        steps = np.bincount(lo, per_row, n + 1) - np.bincount(hi, per_row, n + 1)
        totals.append(np.cumsum(steps[:n]))
    return totals


def _threshold(values, count, total, total_sq, settings) -> np.ndarray:
    safe = np.maximum(count, 1e-6)
    mean = total / safe
    var = np.maximum(total_sq / safe - mean * mean, 0.0)
    # Poisson: the variance of a background pixel is at least its mean.
    sigma = np.sqrt(np.maximum(var, mean))
    return values - mean > settings.signal_to_noise * sigma, mean


def _components(strong: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """8-connected components of the strong pixels (sorted flat indices), numbered in the order of
    each component's first pixel in raster order, as a raster-scan labelling numbers them."""
    n = len(strong)
    cols = strong % width
    not_last, not_first = cols < width - 1, cols > 0
    heads, tails = [], []
    # The four neighbours after a pixel in raster order: right, below-left, below, below-right.
    for offset, column_ok in (
        (1, not_last),
        (width - 1, not_first),
        (width, None),
        (width + 1, not_last),
    ):
        target = strong + offset
        found = np.minimum(np.searchsorted(strong, target), n - 1)
        hit = strong[found] == target
        if column_ok is not None:
            hit &= column_ok
        heads.append(np.flatnonzero(hit))
        tails.append(found[hit])
    head, tail = np.concatenate(heads), np.concatenate(tails)
    # Every pixel points at a pixel of its component with a lower or equal index; joined roots
    # take the lower one, and pointer jumping flattens the trees, until every edge joins two
    # pixels with the same root. The root is then the component's first pixel.
    labels = np.arange(n)
    while True:
        at_head, at_tail = labels[head], labels[tail]
        apart = at_head != at_tail
        if not apart.any():
            break
        at_head, at_tail = at_head[apart], at_tail[apart]
        np.minimum.at(labels, np.maximum(at_head, at_tail), np.minimum(at_head, at_tail))
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    roots, ids = np.unique(labels, return_inverse=True)
    return ids, len(roots)


def _rank_table(mask: np.ndarray, count: int, pad: int) -> np.ndarray:
    """Padded row table ([y + pad, x], width + 1 columns) of the number of ``mask`` pixels before
    each position in raster order; 0 in the rows above the image, ``count`` below."""
    height, width = mask.shape
    shifted = np.zeros((height, width + 1), bool)
    shifted[:, 1:] = mask
    rank = np.empty((height + 2 * pad, width + 1), np.int32 if count < 2**31 else np.int64)
    rank[:pad] = 0
    rank[pad + height :] = count
    np.cumsum(shifted.ravel(), dtype=rank.dtype, out=rank[pad : pad + height].ravel())
    return rank


def _strong_pixels(classes: PixelClasses, plan: AnalysisPlan):
    """Flat indices of the strong pixels (sorted), their values and second-pass local means."""
    settings = plan.settings
    values, valid = classes.values, classes.valid
    shape = values.shape
    radius = settings.background_window_px
    threshold = settings.photon_threshold
    if classes.integer:
        threshold = math.ceil(threshold)
    if threshold > 0:
        # Pixels that are not valid hold 0 in `measured`, below any positive threshold.
        candidate_mask = classes.measured >= threshold
    else:
        candidate_mask = valid & (values >= threshold)
    candidates = np.flatnonzero(candidate_mask)
    n = len(candidates)
    if n == 0:
        return candidates, np.zeros(0), np.zeros(0)
    rank = _rank_table(candidate_mask, n, radius)
    first, end = _window_rows(candidates, shape[1], radius)
    total = _window_sums(classes.row_sums, first, end)
    total_sq = _window_sums(classes.row_sums_sq, first, end)
    count = plan.window_on_sensor.ravel()[candidates].astype(np.float64)
    if len(classes.bad):
        # Error and saturated pixels hold 0 in `measured`: take them out of the pixel counts.
        ones = np.ones(len(classes.bad))
        count -= _window_totals(rank, classes.bad, [ones], n, shape[1], radius)[0]
    candidate_values = values.ravel()[candidates].astype(np.float64)
    strong, mean = _threshold(candidate_values, count, total, total_sq, settings)
    # Second pass without the first pass's strong pixels in any window.
    first_strong = np.flatnonzero(strong)
    removed = candidate_values[first_strong]
    weights = [np.ones(len(removed)), removed, removed * removed]
    less = _window_totals(rank, candidates[first_strong], weights, n, shape[1], radius)
    count, total, total_sq = count - less[0], total - less[1], total_sq - less[2]
    strong, mean = _threshold(candidate_values, count, total, total_sq, settings)
    return candidates[strong], candidate_values[strong], mean[strong]


def spots_of(classes: PixelClasses, plan: AnalysisPlan) -> SpotList:
    """:func:`find_spots` of a classified image."""
    settings = plan.settings
    shape = classes.values.shape
    height, width = shape
    flat, strong_values, mean = _strong_pixels(classes, plan)
    if len(flat) == 0:
        return SpotList.empty(shape)
    ids, n_components = _components(flat, width)
    rows, cols = np.divmod(flat, width)
    signal = np.maximum(strong_values - mean, 0.0)
    npix = np.bincount(ids, minlength=n_components)
    total = np.bincount(ids, weights=signal, minlength=n_components)
    background_sum = np.bincount(ids, weights=mean, minlength=n_components)
    safe = np.where(total > 0, total, 1.0)
    x = np.bincount(ids, weights=signal * cols, minlength=n_components) / safe
    y = np.bincount(ids, weights=signal * rows, minlength=n_components) / safe
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
    spot_pixel_indices = flat[keep[ids]]
    spot_pixels = np.zeros(shape, bool)
    spot_pixels.ravel()[spot_pixel_indices] = True
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
        strong_pixel_count=len(flat),
        spot_count_unfiltered=n_components,
        spot_count_low_res=int(np.sum(d[kept] >= settings.low_res_spot_d_a)),
        spot_count_ice_ring=int(ice_all.sum()),
        strong_background=mean,
        spot_pixels=spot_pixels,
        spot_pixel_indices=spot_pixel_indices,
    )


def find_spots(image: np.ndarray, plan: AnalysisPlan, valid: np.ndarray | None = None) -> SpotList:
    """Find the spots of ``image`` (photons, [y, x]) as Jungfraujoch's receiver does per image.

    Two passes: the local mean/variance (window ``2 * background_window_px + 1``, valid pixels
    only) is first taken over all valid pixels, then again without the strong pixels of the first
    pass, so that a bright spot does not raise its own threshold.
    """
    if valid is None:
        classes = classify_pixels(image, plan)
    else:
        classes = pixel_classes_from_valid(image, valid, plan)
    return spots_of(classes, plan)
