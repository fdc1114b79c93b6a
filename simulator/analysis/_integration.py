"""Summation integration of predicted reflections and per-image scaling (hdf5-format.md §4.2,
§4.1 imageScale*)."""

from __future__ import annotations

import time

import numpy as np
from jfjoch_hil.simulator.analysis._settings import AnalysisSettings
from jfjoch_hil.simulator.scenes import ImageTruth
from jfjoch_hil.stream import REFLECTION_DTYPES

__all__ = ["REFLECTION_COLUMNS", "integrate", "empty_reflections", "fit_image_scale"]

#: The ``reflections`` columns and their dtypes (hdf5-format.md §4.2), declared once in stream.
REFLECTION_COLUMNS = REFLECTION_DTYPES

_MIN_PARTIALITY = 0.05


def fit_image_scale(int_sum: np.ndarray, model: np.ndarray, truth: ImageTruth) -> dict[str, float]:
    """Least-squares scale g of observed to expected photons and their correlation (§4.1)."""
    if len(model) < 3 or np.sum(model * model) <= 0:
        return {}
    scale = float(np.sum(int_sum * model) / np.sum(model * model))
    cc = float(np.corrcoef(int_sum, model)[0, 1]) if np.std(int_sum) > 0 else float("nan")
    return {
        "image_scale_factor": scale,
        "image_scale_cc": cc,
        "image_scale_mosaicity": float(truth.crystal.mosaicity_deg),
        "image_scale_b_factor": float(truth.crystal.b_factor_a2),
    }


def empty_reflections() -> dict[str, np.ndarray]:
    """A reflections map with every column and no rows."""
    return {name: np.zeros(0, dtype) for name, dtype in REFLECTION_COLUMNS.items()}


def integrate(
    image: np.ndarray,
    valid: np.ndarray,
    truth: ImageTruth | None,
    settings: AnalysisSettings,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Integrate every predicted reflection of ``truth`` whose peak disc is fully measured.

    Peak: pixels within ``integration_radius_px`` of the prediction; background: the ring out to
    ``integration_radius_px + background_ring_px``. Returns the reflections map and the image
    scale fields (g fitted to the truth's expected photons, its correlation coefficient).
    """
    scale_fields = {
        "image_scale_factor": float("nan"),
        "image_scale_cc": float("nan"),
        "image_scale_mosaicity": float("nan"),
        "image_scale_b_factor": float("nan"),
    }
    if truth is None or len(truth.reflections) == 0:
        return empty_reflections(), scale_fields
    table = truth.reflections
    keep = np.nonzero(table.partiality >= _MIN_PARTIALITY)[0]
    height, width = image.shape
    peak_r = settings.integration_radius_px
    outer_r = peak_r + settings.background_ring_px
    offsets = np.arange(-outer_r, outer_r + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    radius_sq = (dx * dx + dy * dy).ravel()
    peak_disc, ring = radius_sq <= peak_r**2, (radius_sq > peak_r**2) & (radius_sq <= outer_r**2)
    centre_x = np.rint(table.x_px[keep]).astype(np.int64)
    centre_y = np.rint(table.y_px[keep]).astype(np.int64)
    cols = centre_x[:, None] + dx.ravel()[None, :]
    rows = centre_y[:, None] + dy.ravel()[None, :]
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    cols_c, rows_c = np.clip(cols, 0, width - 1), np.clip(rows, 0, height - 1)
    pixel_ok = inside & valid[rows_c, cols_c]
    values = np.where(pixel_ok, image[rows_c, cols_c], 0).astype(np.float64)
    usable = np.all(pixel_ok[:, peak_disc], axis=1) & (np.sum(pixel_ok[:, ring], axis=1) >= 4)
    keep, values, pixel_ok = keep[usable], values[usable], pixel_ok[usable]
    cols, rows = cols[usable], rows[usable]
    ring_ok = pixel_ok & ring[None, :]
    n_ring = ring_ok.sum(axis=1)
    background = np.where(ring_ok, values, 0).sum(axis=1) / np.maximum(n_ring, 1)
    n_peak = peak_disc.sum()
    peak_values = values[:, peak_disc]
    signal = peak_values - background[:, None]
    int_sum = signal.sum(axis=1)
    # Poisson variance of the peak pixels plus that of the background subtracted n_peak times;
    # a background that converted below zero (noise around an empty ring) has no Poisson variance
    int_err = np.sqrt(
        np.maximum(peak_values.sum(axis=1), 0)
        + n_peak**2 * np.maximum(background, 0) / np.maximum(n_ring, 1)
    )
    weights = np.maximum(signal, 0)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed_x = np.where(total > 0, (weights * cols[:, peak_disc]).sum(axis=1) / total, np.nan)
        observed_y = np.where(total > 0, (weights * rows[:, peak_disc]).sum(axis=1) / total, np.nan)
    model = table.photons[keep]
    t_scale = time.perf_counter()
    scale_fields.update(fit_image_scale(int_sum, model, truth))
    scale = scale_fields["image_scale_factor"]
    lp, partiality = table.lp[keep], table.partiality[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        # I_true = image_scale_corr * int_sum: undo the image scale, Lorentz-polarisation and
        # the recorded fraction (hdf5-format.md §4.2).
        scale_corr = 1.0 / (scale * lp * partiality)
    scale_fields["image_scale_time_s"] = time.perf_counter() - t_scale
    columns = {
        "h": table.hkl[keep, 0],
        "k": table.hkl[keep, 1],
        "l": table.hkl[keep, 2],
        "d": table.d_a[keep],
        "int_sum": int_sum,
        "int_err": int_err,
        "background_mean": background,
        "predicted_x": table.x_px[keep],
        "predicted_y": table.y_px[keep],
        "observed_x": observed_x,
        "observed_y": observed_y,
        "observed_frame": np.full(len(keep), truth.image_index, float),
        "lp": lp,
        "partiality": partiality,
        "delta_phi": table.delta_phi_deg[keep],
        "zeta": table.zeta[keep],
        "image_scale_corr": scale_corr,
    }
    return {k: np.asarray(v, REFLECTION_COLUMNS[k]) for k, v in columns.items()}, scale_fields
