"""Pixel-level reductions: azimuthal integration, ROI integrals, image statistics
(hdf5-format.md §4.3, §4.4, §4.5)."""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.analysis._plan import AnalysisPlan

__all__ = ["azimuthal_profile", "roi_integrals", "image_statistics", "background_estimate"]


def azimuthal_profile(image: np.ndarray, valid: np.ndarray, plan: AnalysisPlan) -> dict[str, list]:
    """Mean, standard deviation and pixel count per [phi, q] bin, flattened row-major, NaN where
    no pixel contributes (``az_int_profile``, ``_std``, ``_count``; §4.3)."""
    n_bins = plan.az_int_q_bins * plan.az_int_phi_bins
    bins = plan.az_int_map.ravel()
    use = (bins >= 0) & valid.ravel()
    which = bins[use]
    values = image.ravel()[use].astype(np.float64)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    total = np.bincount(which, weights=values, minlength=n_bins)
    total_sq = np.bincount(which, weights=values * values, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        std = np.where(count > 0, np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0)), np.nan)
    return {
        "az_int_profile": mean.tolist(),
        "az_int_profile_std": std.tolist(),
        "az_int_profile_count": count.tolist(),
    }


def roi_integrals(image: np.ndarray, plan: AnalysisPlan) -> dict[str, dict[str, object]]:
    """Per ROI: sum, sum of squares, valid pixel count, max and intensity-weighted centroid.

    Error/gap pixels are excluded entirely; saturated pixels are left out of the sums but count
    for the max (stream.md §9 "ROI quantities"). Centroid NaN when the sum is not positive;
    max 0 when the ROI has no measured pixel.
    """
    settings = plan.settings
    width = image.shape[1]
    flat_image = image.ravel()
    results = {}
    for name, pixels in plan.roi_pixels.items():
        values = flat_image[pixels].astype(np.int64)
        measured = values != settings.error_value
        summed = measured & (values < settings.saturation_value)
        v = values[summed]
        rows, cols = np.divmod(pixels[summed], width)
        total = int(v.sum())
        results[name] = {
            "sum": total,
            "sum_sq": int((v * v).sum()),
            "npixel": int(summed.sum()),
            "max": int(values[measured].max()) if measured.any() else 0,
            "x": float((v * cols).sum() / total) if total > 0 else float("nan"),
            "y": float((v * rows).sum() / total) if total > 0 else float("nan"),
        }
    return results


def image_statistics(image: np.ndarray, valid: np.ndarray, plan: AnalysisPlan) -> dict[str, object]:
    """Viable min/max (not error, saturated or gap), error and saturated pixel counts outside the
    gaps, and the sum of viable pixels (``/entry/image``; §4.5)."""
    settings = plan.settings
    on_sensor = ~plan.gap
    viable = image[valid]
    return {
        "image_max_value": int(viable.max()) if viable.size else 0,
        "image_min_value": int(viable.min()) if viable.size else 0,
        "error_pixel_count": int(np.count_nonzero((image == settings.error_value) & on_sensor)),
        "saturated_pixel_count": int(
            np.count_nonzero((image >= settings.saturation_value) & on_sensor)
        ),
        "pixel_sum": int(viable.sum(dtype=np.int64)),
    }


def background_estimate(
    image: np.ndarray, valid: np.ndarray, spot_pixels: np.ndarray, plan: AnalysisPlan
) -> float:
    """Mean photons per valid pixel outside spots with 3 <= d <= 5 Angstrom (bkgEstimate, §4.1)."""
    pixels = plan.bkg_band_pixels
    use = valid.ravel()[pixels] & ~spot_pixels.ravel()[pixels]
    if not use.any():
        return float("nan")
    return float(image.ravel()[pixels][use].mean())
