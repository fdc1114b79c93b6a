"""The per-image reductions against simple reference implementations kept here: window statistics
by direct correlation and connected components by scipy.ndimage labelling, masked bincounts for
the azimuthal profile, masked reductions for the statistics, the ROIs and the background estimate
(hdf5-format.md §4.1, §4.3-4.5). The analysis computes the same quantities from prefix sums over
precomputed runs and candidate pixels; on random images the results must be equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.analysis import (
    AnalysisSettings,
    RoiAzim,
    RoiBox,
    RoiCircle,
    analyse_image,
    find_spots,
    plan_for,
)
from jfjoch_hil.simulator.scenes import ICE_RING_D_A, DetectorGeometry, render, rotation_scene

ndimage = pytest.importorskip("scipy.ndimage")

ERROR, SATURATED = -32768, 32767


def _geometry(width=96, height=72, beam_x=30.3, beam_y=40.7):
    gap = np.zeros((height, width), bool)
    gap[:, 44:47] = True
    gap[35:37, :] = True
    return DetectorGeometry(width, height, 0.075, 40.0, beam_x, beam_y, 12.4, gap_mask=gap)


GEOMETRY = _geometry()
SETTINGS = AnalysisSettings(
    rois=(
        RoiBox("box", 3, 60, 5, 40),
        RoiCircle("disc", 70.0, 50.0, 9.5),
        RoiAzim("ring", 0.5, 1.2),
    ),
    az_int_phi_bins=3,
    az_int_q_spacing_recip_a=0.07,
    az_int_q_min_recip_a=0.15,
    az_int_q_max_recip_a=2.2,
    max_spot_count=30,
    low_resolution_limit_a=1000.0,
)


@st.composite
def images(draw, geometry=GEOMETRY):
    """Poisson background with Gaussian spots, error and saturated pixels, gaps holding either 0
    or the error value, as int32, int16 or float32."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = geometry.shape
    expected = np.full(shape, draw(st.floats(0.02, 8.0)))
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    for _ in range(draw(st.integers(0, 25))):
        x, y = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        sigma, photons = rng.uniform(0.5, 2.5), rng.uniform(5, 4000)
        expected += (
            photons
            / (2 * np.pi * sigma**2)
            * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
        )
    image = rng.poisson(expected).astype(np.int32)
    if draw(st.booleans()):
        image -= rng.integers(0, 2, shape, dtype=np.int32)  # pedestal noise: some -1 pixels
    special = rng.random(shape)
    image[special < draw(st.sampled_from([0.0, 0.001, 0.02]))] = ERROR
    image[special > 1 - draw(st.sampled_from([0.0, 0.001, 0.02]))] = SATURATED
    image[geometry.gap_mask] = draw(st.sampled_from([0, ERROR]))
    return image.astype(draw(st.sampled_from([np.int32, np.int16, np.float32])))


# --- references -------------------------------------------------------------------------------


def _reference_valid(image, settings_, geometry):
    gap = geometry.gap_mask
    return (image != settings_.error_value) & (image < settings_.saturation_value) & ~gap


def _reference_strong(image, valid, settings_):
    """Two passes of window statistics with exact window sums (correlation with a box of ones)."""
    values = np.where(valid, image, 0).astype(np.float64)
    window = np.ones((2 * settings_.background_window_px + 1,) * 2)
    use = valid
    for _ in range(2):
        weight = use.astype(np.float64)
        count = ndimage.correlate(weight, window, mode="constant")
        total = ndimage.correlate(values * weight, window, mode="constant")
        total_sq = ndimage.correlate(values * values * weight, window, mode="constant")
        safe = np.maximum(count, 1e-6)
        mean = total / safe
        var = np.maximum(total_sq / safe - mean * mean, 0.0)
        sigma = np.sqrt(np.maximum(var, mean))
        strong = (
            valid
            & (values >= settings_.photon_threshold)
            & (values - mean > settings_.signal_to_noise * sigma)
        )
        use = valid & ~strong
    return strong, mean, values


def _reference_spots(image, plan):
    settings_ = plan.settings
    valid = _reference_valid(image, settings_, plan.geometry)
    strong, mean, values = _reference_strong(image, valid, settings_)
    labels, n = ndimage.label(strong, structure=np.ones((3, 3), bool))
    flat = np.flatnonzero(strong)
    ids = labels.ravel()[flat] - 1
    rows, cols = np.divmod(flat, image.shape[1])
    signal = np.maximum(values.ravel()[flat] - mean.ravel()[flat], 0.0)
    npix = np.bincount(ids, minlength=n)
    total = np.bincount(ids, weights=signal, minlength=n)
    background = np.bincount(ids, weights=mean.ravel()[flat], minlength=n)
    safe = np.where(total > 0, total, 1.0)
    x = np.bincount(ids, weights=signal * cols, minlength=n) / safe
    y = np.bincount(ids, weights=signal * rows, minlength=n) / safe
    d = plan.d_a[
        np.clip(np.rint(y).astype(int), 0, image.shape[0] - 1),
        np.clip(np.rint(x).astype(int), 0, image.shape[1] - 1),
    ].astype(np.float64)
    keep = (
        (npix >= settings_.min_pixels_per_spot)
        & (npix <= settings_.max_pixels_per_spot)
        & (total > 0)
        & (total >= settings_.min_spot_snr * np.sqrt(total + background))
        & (d >= settings_.high_resolution_limit_a)
        & (d <= settings_.low_resolution_limit_a)
    )
    kept = np.nonzero(keep)[0]
    q_ice = 2 * np.pi / np.asarray(ICE_RING_D_A)
    ice = np.any(
        np.abs(2 * np.pi / d[kept][:, None] - q_ice[None, :]) <= settings_.ice_ring_width_recip_a,
        axis=1,
    )
    order = kept[np.argsort(-total[kept], kind="stable")[: settings_.max_spot_count]]
    spot_pixels = np.zeros(image.shape, bool)
    spot_pixels.ravel()[flat[keep[ids]]] = True
    return {
        "x": x[order],
        "y": y[order],
        "intensity": total[order],
        "strong_pixel_count": int(strong.sum()),
        "spot_count_unfiltered": int(n),
        "spot_count_ice_ring": int(ice.sum()),
        "spot_pixels": spot_pixels,
        "strong": strong,
    }


def _reference_azimuthal(image, valid, plan):
    n_bins = plan.az_int_q_bins * plan.az_int_phi_bins
    bins = plan.az_int_map.ravel()
    use = (bins >= 0) & valid.ravel()
    values = image.ravel()[use].astype(np.float64)
    count = np.bincount(bins[use], minlength=n_bins).astype(np.float64)
    total = np.bincount(bins[use], weights=values, minlength=n_bins)
    total_sq = np.bincount(bins[use], weights=values * values, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        std = np.where(count > 0, np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0)), np.nan)
    return mean, std, count


# --- comparisons ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(images())
def test_analysis_spots_equal_the_labelling_reference(image):
    plan = plan_for(GEOMETRY, SETTINGS)
    reference = _reference_spots(image, plan)
    spots = find_spots(image, plan)
    strong = np.zeros(image.shape, bool)
    strong.ravel()[spots.spot_pixel_indices] = True
    assert spots.strong_pixel_count == reference["strong_pixel_count"]
    assert spots.spot_count_unfiltered == reference["spot_count_unfiltered"]
    assert spots.spot_count_ice_ring == reference["spot_count_ice_ring"]
    assert np.array_equal(spots.spot_pixels, reference["spot_pixels"])
    assert len(spots) == len(reference["x"])
    # Same sums in another order: equal to the last few bits.
    np.testing.assert_allclose(spots.x, reference["x"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(spots.y, reference["y"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(spots.intensity, reference["intensity"], rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(images())
def test_analysis_pixel_reductions_equal_the_masked_reference(image):
    plan = plan_for(GEOMETRY, SETTINGS)
    result = analyse_image(image, GEOMETRY, SETTINGS)
    valid = _reference_valid(image, SETTINGS, GEOMETRY)
    mean, std, count = _reference_azimuthal(image, valid, plan)
    np.testing.assert_array_equal(result["az_int_profile_count"], count)
    np.testing.assert_array_equal(result["az_int_profile"], mean)
    np.testing.assert_array_equal(result["az_int_profile_std"], std)

    sensor = ~GEOMETRY.gap_mask
    viable = image[valid]
    assert result["error_pixel_count"] == int(np.count_nonzero((image == ERROR) & sensor))
    assert result["saturated_pixel_count"] == int(np.count_nonzero((image >= SATURATED) & sensor))
    assert result["pixel_sum"] == int(viable.sum(dtype=np.int64))
    assert result["image_max_value"] == (int(viable.max()) if viable.size else 0)
    assert result["image_min_value"] == (int(viable.min()) if viable.size else 0)

    spot_pixels = _reference_spots(image, plan)["spot_pixels"]
    band = plan.bkg_band_pixels
    use = valid.ravel()[band] & ~spot_pixels.ravel()[band]
    expected = float(image.ravel()[band][use].mean()) if use.any() else math.nan
    assert result["bkg_estimate"] == pytest.approx(expected, rel=1e-12, nan_ok=True)

    width = image.shape[1]
    for name, pixels in plan.roi_pixels.items():
        values = image.ravel()[pixels].astype(np.int64)
        measured = values != ERROR
        summed = measured & (values < SATURATED)
        v = values[summed]
        rows, cols = np.divmod(pixels[summed], width)
        got = result["roi_integrals"][name]
        assert got["sum"] == int(v.sum()) and got["sum_sq"] == int((v * v).sum())
        assert got["npixel"] == int(summed.sum())
        assert got["max"] == (int(values[measured].max()) if measured.any() else 0)
        if v.sum() > 0:
            assert got["x"] == pytest.approx(float((v * cols).sum() / v.sum()), rel=1e-12)
            assert got["y"] == pytest.approx(float((v * rows).sum() / v.sum()), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(images(), st.integers(1, 12), st.sampled_from([-1.0, 0.0, 1.0, 4.0, 6.5]))
def test_analysis_spots_equal_the_reference_for_any_window(image, window_px, threshold):
    settings_ = AnalysisSettings(
        background_window_px=window_px,
        low_resolution_limit_a=1000.0,
        photon_threshold=threshold,
        max_pixels_per_spot=100_000,
    )
    plan = plan_for(GEOMETRY, settings_)
    reference = _reference_spots(image, plan)
    spots = find_spots(image, plan)
    assert spots.strong_pixel_count == reference["strong_pixel_count"]
    assert np.array_equal(spots.spot_pixels, reference["spot_pixels"])
    np.testing.assert_allclose(spots.x, reference["x"], rtol=0, atol=1e-9)


def test_analysis_spots_of_a_rendered_module_image_equal_the_reference():
    # Rendered diffraction (hundreds of spots), with the first implementation's float32 box filter
    # as a second witness: the same spots, positions within float32 rounding.
    scene = rotation_scene(2, seed=3)
    image = render(scene, 1)[:514, :1030]
    geometry = _geometry(1030, 514, 515.0, 257.0)
    plan = plan_for(geometry, AnalysisSettings(max_spot_count=2000))
    image = np.where(geometry.gap_mask, 0, image)
    reference = _reference_spots(image, plan)
    spots = find_spots(image, plan)
    assert len(spots) > 50
    assert np.array_equal(spots.spot_pixels, reference["spot_pixels"])
    np.testing.assert_allclose(spots.x, reference["x"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(spots.intensity, reference["intensity"], rtol=1e-12)

    valid = _reference_valid(image, plan.settings, geometry)
    values = np.where(valid, image, 0).astype(np.float32)
    use = valid
    window = 2 * plan.settings.background_window_px + 1
    for _ in range(2):
        weight = use.astype(np.float32)
        count = ndimage.uniform_filter(weight, window, mode="constant")
        total = ndimage.uniform_filter(values * weight, window, mode="constant")
        total_sq = ndimage.uniform_filter(values * values * weight, window, mode="constant")
        safe = np.maximum(count, 1e-6)
        mean = total / safe
        var = np.maximum(total_sq / safe - mean * mean, 0.0)
        strong = valid & (values >= 4.0) & (values - mean > 3.0 * np.sqrt(np.maximum(var, mean)))
        use = valid & ~strong
    assert np.count_nonzero(strong != reference["strong"]) <= 0.001 * strong.sum()


def test_analysis_a_valid_mask_with_gap_pixels_is_refused():
    plan = plan_for(GEOMETRY, SETTINGS)
    image = np.zeros(GEOMETRY.shape, np.int32)
    with pytest.raises(ValueError, match="valid: marks gap pixels valid"):
        find_spots(image, plan, np.ones(GEOMETRY.shape, bool))
