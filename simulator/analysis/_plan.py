"""Per-geometry analysis maps: azimuthal bins, ROI bitmask, resolution bands (hdf5-format.md §4.3,
§4.4.1). Built once per (geometry, settings) pair and reused for every image.

Besides the maps the start message carries, the plan holds what the per-image reductions would
otherwise recompute from the geometry on every image: the number of on-sensor pixels in each
pixel's spot-finding window; the azimuthal bins and the background band as runs of adjacent pixels
within a row (a run's sum is two lookups in the image's row prefix sums, so one image costs one
lookup per run end instead of one scatter per pixel) and their on-sensor pixel counts; each ROI's
pixel rows and columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.analysis._settings import AnalysisSettings, RoiAzim, RoiBox, RoiCircle
from jfjoch_hil.simulator.scenes import DetectorGeometry

__all__ = ["AnalysisPlan", "build_plan", "start_message_fields"]

NO_BIN = -1
"""az_int_map value of pixels outside every azimuthal bin (hdf5-format.md §4 integer sentinel)."""


@dataclass(frozen=True, eq=False)
class AnalysisPlan:
    """Everything the per-image analysis needs that does not depend on the image."""

    geometry: DetectorGeometry
    settings: AnalysisSettings
    gap: np.ndarray
    d_a: np.ndarray
    q_recip_a: np.ndarray
    az_int_map: np.ndarray
    az_int_q_bins: int
    az_int_phi_bins: int
    bin_to_q: np.ndarray
    bin_to_two_theta: np.ndarray
    bin_to_phi: np.ndarray
    roi_map: np.ndarray
    roi_pixels: dict[str, np.ndarray]
    bkg_band_pixels: np.ndarray
    on_sensor: np.ndarray
    on_sensor_count: int
    gap_pixels: np.ndarray
    window_on_sensor: np.ndarray
    table_pad_rows: int
    run_first: np.ndarray
    run_end: np.ndarray
    run_segment: np.ndarray
    segment_bin: np.ndarray
    segment_band: np.ndarray
    bin_on_sensor: np.ndarray
    band_mask: np.ndarray
    roi_rows: dict[str, np.ndarray]
    roi_cols: dict[str, np.ndarray]


def _roi_footprint(roi, geometry: DetectorGeometry, q: np.ndarray, phi: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(geometry.shape)
    if isinstance(roi, RoiBox):
        return (
            (cols >= roi.min_x_pxl)
            & (cols <= roi.max_x_pxl)
            & (rows >= roi.min_y_pxl)
            & (rows <= roi.max_y_pxl)
        )
    if isinstance(roi, RoiCircle):
        dx, dy = cols - roi.center_x_pxl, rows - roi.center_y_pxl
        return dx * dx + dy * dy <= roi.radius_pxl**2
    if isinstance(roi, RoiAzim):
        inside = (q >= roi.q_min_recipA) & (q < roi.q_max_recipA)
        if roi.phi_min_deg is not None:
            lo, hi = roi.phi_min_deg, roi.phi_max_deg
            # A sector may wrap through +-180 degrees.
            sector = (phi >= lo) & (phi <= hi) if lo <= hi else (phi >= lo) | (phi <= hi)
            inside &= sector
        return inside
    raise TypeError(f"roi: {type(roi).__name__}, allowed RoiBox/RoiCircle/RoiAzim")


def window_sums(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum of ``values`` over the (2 radius + 1)^2 window around every pixel, the window cut at
    the image edges (what a box filter with zero padding gives), through a summed-area table."""
    height, width = values.shape
    table = np.zeros((height + 1, width + 1), values.dtype)
    np.cumsum(values, axis=1, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=0, out=table[1:, 1:])
    rows, cols = np.arange(height), np.arange(width)
    y0 = np.maximum(rows - radius, 0)[:, None]
    y1 = np.minimum(rows + radius + 1, height)[:, None]
    x0 = np.maximum(cols - radius, 0)[None, :]
    x1 = np.minimum(cols + radius + 1, width)[None, :]
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]


def _runs(az_map: np.ndarray, band: np.ndarray, pad_rows: int):
    """Runs of adjacent pixels in a row with the same (azimuthal bin, in band) pair.

    A run is given by the positions of its first pixel and one past its last in a row prefix-sum
    table of width + 1 columns and ``pad_rows`` zero rows above the image; segments are the
    distinct pairs, numbered in key order, with
    their bin (-1: none) and whether they lie in the band. Pixels in no bin and out of the band
    belong to no run.
    """
    height, width = az_map.shape
    key = (az_map.astype(np.int64) + 1) * 2 + band
    change = np.ones((height, width), bool)
    change[:, 1:] = key[:, 1:] != key[:, :-1]
    rows, first = np.nonzero(change)
    end = np.r_[first[1:], width]
    end[np.r_[rows[1:] != rows[:-1], True]] = width
    run_key = key[rows, first]
    used = run_key != 0
    rows, first, end, run_key = rows[used], first[used], end[used], run_key[used]
    keys, segment = np.unique(run_key, return_inverse=True)
    stride = width + 1
    rows = rows + pad_rows
    return (
        rows * stride + first,
        rows * stride + end,
        segment.astype(np.intp),
        (keys // 2 - 1).astype(np.intp),
        (keys % 2).astype(bool),
    )


def build_plan(geometry: DetectorGeometry, settings: AnalysisSettings) -> AnalysisPlan:
    """Build the azimuthal map, ROI bitmask and resolution maps for ``geometry``."""
    maps = geometry.pixel_maps
    q, phi, d = maps["q_recip_a"], maps["phi_deg"], maps["d_a"]
    gap = np.zeros(geometry.shape, bool) if geometry.gap_mask is None else geometry.gap_mask
    spacing = settings.az_int_q_spacing_recip_a
    q_min, q_max = settings.az_int_q_min_recip_a, settings.az_int_q_max_recip_a
    n_q = max(1, math.ceil((q_max - q_min) / spacing - 1e-9))
    n_phi = settings.az_int_phi_bins
    q_bin = np.floor((q.astype(np.float64) - q_min) / spacing).astype(np.int64)
    phi_bin = np.minimum(
        ((phi.astype(np.float64) + 180.0) / 360.0 * n_phi).astype(np.int64), n_phi - 1
    )
    valid = (q_bin >= 0) & (q_bin < n_q) & (q < q_max) & ~gap
    az_map = np.where(valid, phi_bin * n_q + q_bin, NO_BIN).astype(np.int32)
    q_centres = q_min + (np.arange(n_q) + 0.5) * spacing
    phi_centres = -180.0 + (np.arange(n_phi) + 0.5) * 360.0 / n_phi
    bin_to_q = np.broadcast_to(q_centres, (n_phi, n_q)).astype(np.float32)
    sin_theta = np.clip(bin_to_q * geometry.wavelength_a / (4 * np.pi), -1, 1)
    bin_to_two_theta = np.degrees(2 * np.arcsin(sin_theta)).astype(np.float32)
    bin_to_phi = np.broadcast_to(phi_centres[:, None], (n_phi, n_q)).astype(np.float32)
    roi_map = np.zeros(geometry.shape, np.uint16)
    # Row prefix-sum tables carry a window's height of zero rows above and below the image, so
    # that window rows off the image read zeros rather than being masked.
    pad_rows = settings.background_window_px
    roi_pixels, roi_rows, roi_cols = {}, {}, {}
    for bit, roi in enumerate(settings.rois):
        footprint = _roi_footprint(roi, geometry, q, phi)
        roi_map |= footprint.astype(np.uint16) << np.uint16(bit)
        roi_pixels[roi.name] = np.flatnonzero(footprint & ~gap)
        rows, cols = np.divmod(roi_pixels[roi.name], geometry.width_px)
        roi_rows[roi.name], roi_cols[roi.name] = rows.astype(np.int32), cols.astype(np.int32)
    band = (d >= 3.0) & (d <= 5.0) & ~gap
    on_sensor = ~gap
    run_first, run_end, run_segment, segment_bin, segment_band = _runs(az_map, band, pad_rows)
    in_bin = az_map.ravel()[az_map.ravel() >= 0]
    return AnalysisPlan(
        geometry,
        settings,
        gap,
        d,
        q,
        az_map,
        n_q,
        n_phi,
        bin_to_q,
        bin_to_two_theta,
        bin_to_phi,
        roi_map,
        roi_pixels,
        np.flatnonzero(band),
        on_sensor,
        int(on_sensor.sum()),
        np.flatnonzero(gap),
        window_sums(on_sensor.astype(np.int32), settings.background_window_px),
        pad_rows,
        run_first,
        run_end,
        run_segment,
        segment_bin,
        segment_band,
        np.bincount(in_bin, minlength=n_q * n_phi).astype(np.float64),
        band,
        roi_rows,
        roi_cols,
    )


def _roi_definition(bit: int, roi) -> dict[str, object]:
    entry: dict[str, object] = {"name": roi.name, "bit_index": bit}
    if isinstance(roi, RoiBox):
        entry.update(
            type="box",
            min_x_pxl=roi.min_x_pxl,
            max_x_pxl=roi.max_x_pxl,
            min_y_pxl=roi.min_y_pxl,
            max_y_pxl=roi.max_y_pxl,
        )
    elif isinstance(roi, RoiCircle):
        entry.update(
            type="circle",
            center_x_pxl=float(roi.center_x_pxl),
            center_y_pxl=float(roi.center_y_pxl),
            radius_pxl=float(roi.radius_pxl),
        )
    else:
        entry.update(
            type="azim", q_min_recipA=float(roi.q_min_recipA), q_max_recipA=float(roi.q_max_recipA)
        )
        if roi.phi_min_deg is not None:
            entry.update(phi_min_deg=float(roi.phi_min_deg), phi_max_deg=float(roi.phi_max_deg))
    return entry


def start_message_fields(plan: AnalysisPlan, scene=None) -> dict[str, object]:
    """Start-message fields the writer needs (hdf5-format.md §3, §4.3, §4.4.1; stream.md start).

    Geometry (m, eV, Angstrom, pixel), ROI definitions and ``roi_map``, the azimuthal bins and
    ``az_int_map``, ``max_spot_count``; with a ``scene`` also ``goniometer``, ``unit_cell`` and
    ``pixel_mask``.
    """
    fields = scene.start_fields() if scene is not None else plan.geometry.start_fields()
    fields.update(
        roi_definitions=[_roi_definition(bit, roi) for bit, roi in enumerate(plan.settings.rois)],
        roi_map=plan.roi_map,
        max_spot_count=plan.settings.max_spot_count,
    )
    if not plan.settings.azint:
        return fields
    fields.update(
        az_int_q_bins=plan.az_int_q_bins,
        az_int_phi_bins=plan.az_int_phi_bins,
        az_int_bin_to_q=plan.bin_to_q,
        az_int_bin_to_two_theta=plan.bin_to_two_theta,
        az_int_bin_to_phi=plan.bin_to_phi,
        az_int_map=plan.az_int_map,
    )
    return fields
