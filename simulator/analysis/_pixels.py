"""Pixel-level reductions: azimuthal integration, ROI integrals, image statistics
(hdf5-format.md §4.3, §4.4, §4.5).

Each image is classified once (:func:`classify_pixels`): the pixels that are not valid (error,
saturated, gap) are set to 0 in a copy, and the prefix sums of that copy and of its squares along
each row are taken once. Every window, bin, band or run sum is then a difference of two prefix
sums; the pixel counts come from the plan, less the few error and saturated pixels. Sums are
exact integers for integer images, so the results equal a direct masked computation bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.analysis._plan import AnalysisPlan
from jfjoch_hil.simulator.errors import AnalysisError

__all__ = [
    "PixelClasses",
    "azimuthal_profile",
    "background_estimate",
    "classify_pixels",
    "image_statistics",
    "pixel_classes_from_valid",
    "roi_integrals",
    "roi_values",
]


@dataclass(frozen=True, eq=False)
class PixelClasses:
    """One image and what the analysis needs to know about its pixels (§4.5).

    ``values`` is the image as the reductions read it (integer images widened to at least 32 bits,
    so that squares and sums do not wrap), ``measured`` the same with every pixel that is not
    valid set to 0, ``valid`` the measured pixels (not error, saturated or gap), ``bad`` the flat
    indices of the error and saturated pixels on the sensor (sorted). ``row_sums`` and
    ``row_sums_sq`` are the prefix sums of ``measured`` and of its squares along each row, with a
    leading 0 column and ``plan.table_pad_rows`` zero rows above and below the image
    ([y + pad, x + 1]). Integer tables are 32-bit when every sum the analysis takes from them
    (a window, a row) fits 32 bits, so that a wrapped-around prefix still gives exact differences;
    64-bit otherwise; float64 for a float image.
    """

    values: np.ndarray
    measured: np.ndarray
    measured_max: float
    measured_min: float
    row_sums: np.ndarray
    row_sums_sq: np.ndarray
    valid: np.ndarray
    bad: np.ndarray
    error_count: int
    saturated_count: int

    @property
    def integer(self) -> bool:
        """Whether the image holds integers (sums are then exact)."""
        return self.values.dtype.kind in "iu"


def _working_values(image: np.ndarray) -> np.ndarray:
    if image.dtype.kind == "b":
        return image.astype(np.int32)
    if image.dtype.kind in "iu":
        if image.dtype.itemsize < 4 or image.dtype == np.uint32:
            return image.astype(np.int32 if image.dtype.itemsize < 4 else np.int64)
        return image if image.dtype.kind == "i" else image.astype(np.int64)
    return image


_INT32_MAX = 2**31 - 1


def _row_prefix(values: np.ndarray, pad: int, dtype) -> np.ndarray:
    height, width = values.shape
    table = np.empty((height + 2 * pad, width + 1), dtype)
    table[:pad] = 0
    table[pad + height :] = 0
    table[pad : pad + height, 0] = 0
    np.cumsum(values, axis=1, dtype=dtype, out=table[pad : pad + height, 1:])
    return table


def _tables(
    measured: np.ndarray, largest: int, plan: AnalysisPlan
) -> tuple[np.ndarray, np.ndarray]:
    pad = plan.table_pad_rows
    if measured.dtype.kind == "f":
        wide = measured.astype(np.float64)
        return _row_prefix(wide, pad, np.float64), _row_prefix(wide * wide, pad, np.float64)
    width = measured.shape[1]
    longest = max(width, (2 * plan.settings.background_window_px + 1) ** 2)
    if measured.dtype.itemsize <= 4 and largest * longest <= _INT32_MAX:
        narrow = measured.astype(np.int32, copy=False)
        sums = _row_prefix(narrow, pad, np.int32)
        if largest * largest * longest <= _INT32_MAX:
            return sums, _row_prefix(narrow * narrow, pad, np.int32)
        wide = narrow.astype(np.int64)
        return sums, _row_prefix(wide * wide, pad, np.int64)
    wide = measured.astype(np.int64)
    return _row_prefix(wide, pad, np.int64), _row_prefix(wide * wide, pad, np.int64)


def _classes(values: np.ndarray, valid: np.ndarray, bad: np.ndarray, plan: AnalysisPlan):
    settings = plan.settings
    bad_values = values.ravel()[bad]
    measured = values.copy()
    measured.ravel()[plan.gap_pixels] = 0
    measured.ravel()[bad] = 0
    high, low = (measured.max(), measured.min()) if measured.size else (0, 0)
    largest = max(int(high), -int(low)) if measured.dtype.kind in "iu" else 0
    return PixelClasses(
        values,
        measured,
        high,
        low,
        *_tables(measured, largest, plan),
        valid,
        bad,
        int(np.count_nonzero(bad_values == settings.error_value)),
        int(np.count_nonzero(bad_values >= settings.saturation_value)),
    )


def classify_pixels(image: np.ndarray, plan: AnalysisPlan) -> PixelClasses:
    """Classify the pixels of ``image`` (photons, [y, x]): valid, error, saturated, gap (§4.5)."""
    settings = plan.settings
    values = _working_values(np.asarray(image))
    flat = values.ravel()
    if values.dtype.kind == "f":
        # NaN is not below saturation: not valid, as a direct `image < saturation` test has it.
        bad_mask = ~(flat < settings.saturation_value)
        bad_mask |= flat == settings.error_value
    else:
        bad_mask = (flat == settings.error_value) | (flat >= settings.saturation_value)
    bad = np.flatnonzero(bad_mask)
    bad = bad[plan.on_sensor.ravel()[bad]]
    valid = plan.on_sensor.copy()
    valid.ravel()[bad] = False
    return _classes(values, valid, bad, plan)


def pixel_classes_from_valid(
    image: np.ndarray, valid: np.ndarray, plan: AnalysisPlan
) -> PixelClasses:
    """:class:`PixelClasses` of ``image`` with a given valid mask (gap pixels must be invalid)."""
    valid = np.asarray(valid, bool)
    if valid.shape != plan.gap.shape:
        raise AnalysisError(f"valid: shape {valid.shape}, allowed {plan.gap.shape} [y, x]")
    if valid.ravel()[plan.gap_pixels].any():
        raise AnalysisError("valid: marks gap pixels valid, allowed only pixels on the sensor")
    values = _working_values(np.asarray(image))
    bad = np.flatnonzero(plan.on_sensor & ~valid)
    return _classes(values, valid, bad, plan)


def _segment_sums(classes: PixelClasses, plan: AnalysisPlan) -> tuple[np.ndarray, np.ndarray]:
    # Sum and sum of squares of the valid pixels of every plan segment (pixels of one azimuthal
    # bin, in or out of the background band), run by run.
    n = len(plan.segment_bin)
    sums = []
    for table in (classes.row_sums.ravel(), classes.row_sums_sq.ravel()):
        runs = (table[plan.run_end] - table[plan.run_first]).astype(np.float64)
        sums.append(np.bincount(plan.run_segment, weights=runs, minlength=n))
    return sums[0], sums[1]


def _azimuthal(classes: PixelClasses, plan: AnalysisPlan, sums, squares) -> dict[str, list]:
    n_bins = plan.az_int_q_bins * plan.az_int_phi_bins
    in_bin = plan.segment_bin >= 0
    which = plan.segment_bin[in_bin]
    total = np.bincount(which, weights=sums[in_bin], minlength=n_bins)
    total_sq = np.bincount(which, weights=squares[in_bin], minlength=n_bins)
    count = plan.bin_on_sensor.copy()
    bad_bins = plan.az_int_map.ravel()[classes.bad]
    count -= np.bincount(bad_bins[bad_bins >= 0], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        std = np.where(count > 0, np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0)), np.nan)
    return {
        "az_int_profile": mean.tolist(),
        "az_int_profile_std": std.tolist(),
        "az_int_profile_count": count.tolist(),
    }


def _band_mean(classes: PixelClasses, plan: AnalysisPlan, sums, spot_pixels: np.ndarray) -> float:
    # Spot pixels are valid, so they and the bad pixels are disjoint.
    band = plan.band_mask.ravel()
    spot_pixels = spot_pixels[band[spot_pixels]]
    total = sums[plan.segment_band].sum() - classes.measured.ravel()[spot_pixels].sum()
    count = len(plan.bkg_band_pixels) - np.count_nonzero(band[classes.bad]) - len(spot_pixels)
    if count <= 0:
        return float("nan")
    return float(total / count)


def reduce_pixels(
    classes: PixelClasses, plan: AnalysisPlan, spot_pixels: np.ndarray, azint: bool
) -> tuple[dict[str, list], float]:
    """The azimuthal profile (when ``azint``) and bkg_estimate from one pass over the plan's
    segments; ``spot_pixels`` are the flat indices of the spots' pixels."""
    sums, squares = _segment_sums(classes, plan)
    profile = _azimuthal(classes, plan, sums, squares) if azint else {}
    return profile, _band_mean(classes, plan, sums, spot_pixels)


def azimuthal_profile(image: np.ndarray, valid: np.ndarray, plan: AnalysisPlan) -> dict[str, list]:
    """Mean, standard deviation and pixel count per [phi, q] bin, flattened row-major, NaN where
    no pixel contributes (``az_int_profile``, ``_std``, ``_count``; §4.3)."""
    classes = pixel_classes_from_valid(image, valid, plan)
    return reduce_pixels(classes, plan, np.zeros(0, np.intp), True)[0]


def background_estimate(
    image: np.ndarray, valid: np.ndarray, spot_pixels: np.ndarray, plan: AnalysisPlan
) -> float:
    """Mean photons per valid pixel outside spots with 3 <= d <= 5 Angstrom (bkgEstimate, §4.1);
    ``spot_pixels`` a [y, x] mask."""
    classes = pixel_classes_from_valid(image, valid, plan)
    return reduce_pixels(classes, plan, np.flatnonzero(spot_pixels), False)[1]


def _roi_by_pixels(image: np.ndarray, plan: AnalysisPlan) -> dict[str, dict[str, object]]:
    # Values truncated to integers, pixel by pixel: the path of float images.
    settings = plan.settings
    width = image.shape[1]
    flat_image = np.asarray(image).ravel()
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


def roi_values(classes: PixelClasses, plan: AnalysisPlan) -> dict[str, dict[str, object]]:
    """:func:`roi_integrals` of a classified image."""
    if not classes.integer:
        return _roi_by_pixels(classes.values, plan)
    settings = plan.settings
    measured = classes.measured.ravel()
    bad_bits = plan.roi_map.ravel()[classes.bad]
    bad_values = classes.values.ravel()[classes.bad]
    results = {}
    for bit, (name, pixels) in enumerate(plan.roi_pixels.items()):
        # Not valid pixels hold 0 in `measured`: they add nothing to the sums.
        v = measured[pixels]
        wide = v.astype(np.int64)
        total = int(wide.sum())
        in_roi = ((bad_bits >> bit) & 1).astype(bool)
        saturated = bad_values[in_roi & (bad_values >= settings.saturation_value)]
        npixel = len(pixels) - int(np.count_nonzero(in_roi))
        if len(saturated):
            # Saturated pixels count for the max and exceed every valid one.
            largest = int(saturated.max())
        elif npixel == 0:
            largest = 0
        else:
            largest = int(v.max())
            if largest <= 0 and np.count_nonzero(in_roi):
                # Below zero the error pixels' 0 would win: the max needs the mask.
                largest = int(v[classes.valid.ravel()[pixels]].max())
        results[name] = {
            "sum": total,
            "sum_sq": int(np.dot(wide, wide)),
            "npixel": npixel,
            "max": largest,
            "x": int(np.dot(wide, plan.roi_cols[name])) / total if total > 0 else float("nan"),
            "y": int(np.dot(wide, plan.roi_rows[name])) / total if total > 0 else float("nan"),
        }
    return results


def roi_integrals(image: np.ndarray, plan: AnalysisPlan) -> dict[str, dict[str, object]]:
    """Per ROI: sum, sum of squares, valid pixel count, max and intensity-weighted centroid.

    Error/gap pixels are excluded entirely; saturated pixels are left out of the sums but count
    for the max (stream.md §9 "ROI quantities"). Centroid NaN when the sum is not positive;
    max 0 when the ROI has no measured pixel.
    """
    return roi_values(classify_pixels(image, plan), plan)


def statistics_of(classes: PixelClasses, plan: AnalysisPlan) -> dict[str, object]:
    """The image statistics of :func:`image_statistics` from a classified image."""
    viable = plan.on_sensor_count - len(classes.bad)
    if viable:
        # The pixels that are not valid hold 0 in ``measured``: 0 is the answer only if some
        # valid pixel holds it too.
        measured = classes.measured
        image_max, image_min = classes.measured_max, classes.measured_min
        if classes.integer:
            # Row totals are the last column of the row prefix sums.
            pixel_sum = int(classes.row_sums[:, -1].sum(dtype=np.int64))
        else:
            pixel_sum = int(measured.sum(dtype=np.int64))
        if image_max == 0 or image_min == 0:
            zero_valid = np.count_nonzero(measured == 0) > plan.gap.size - viable
            if not zero_valid:
                valid = classes.valid
                image_max = np.max(measured, where=valid, initial=measured.min())
                image_min = np.min(measured, where=valid, initial=measured.max())
        image_max, image_min = int(image_max), int(image_min)
    else:
        image_max = image_min = pixel_sum = 0
    return {
        "image_max_value": image_max,
        "image_min_value": image_min,
        "error_pixel_count": classes.error_count,
        "saturated_pixel_count": classes.saturated_count,
        "pixel_sum": pixel_sum,
    }


def image_statistics(image: np.ndarray, valid: np.ndarray, plan: AnalysisPlan) -> dict[str, object]:
    """Viable min/max (not error, saturated or gap), error and saturated pixel counts outside the
    gaps, and the sum of viable pixels (``/entry/image``; §4.5)."""
    return statistics_of(pixel_classes_from_valid(image, valid, plan), plan)
