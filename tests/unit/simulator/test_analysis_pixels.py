"""Azimuthal integration, ROIs (+ roi_map), image statistics and start-message fields against a
direct numpy recomputation written differently (hdf5-format.md §4.3-4.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.simulator.analysis import (
    NO_BIN,
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    AnalysisSettings,
    RoiAzim,
    RoiBox,
    RoiCircle,
    analyse_image,
    plan_for,
    start_message_fields,
)
from jfjoch_hil.simulator.errors import AnalysisError
from jfjoch_hil.simulator.scenes import DetectorGeometry, lysozyme_crystal, render, rotation_scene

# The analysis uses scipy.ndimage / scipy.spatial (a declared dependency of the project).
pytest.importorskip("scipy")

ERROR, SATURATED = -32768, 32767


def _geometry(width=90, height=70):
    gap = np.zeros((height, width), bool)
    gap[:, 40:43] = True  # a vertical inter-module gap
    return DetectorGeometry(width, height, 0.075, 30.0, 20.3, 33.7, 12.4, gap_mask=gap)


GEOMETRY = _geometry()
ROIS = (
    RoiBox("box", 5, 50, 10, 30),
    RoiCircle("disc", 60.0, 40.0, 12.5),
    RoiAzim("ring", 0.6, 1.4),
    RoiAzim("sector", 0.3, 2.0, phi_min_deg=150.0, phi_max_deg=-150.0),
)
SETTINGS = AnalysisSettings(
    rois=ROIS,
    az_int_phi_bins=4,
    az_int_q_spacing_recip_a=0.1,
    az_int_q_min_recip_a=0.2,
    az_int_q_max_recip_a=2.5,
)


@st.composite
def images(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.poisson(draw(st.floats(0.1, 30.0)), size=GEOMETRY.shape).astype(np.int32)
    special = rng.random(GEOMETRY.shape)
    image[special < draw(st.floats(0, 0.05))] = ERROR
    image[special > 1 - draw(st.floats(0, 0.05))] = SATURATED
    image[GEOMETRY.gap_mask] = ERROR
    return image


def _independent_q_phi(geometry):
    # Untilted detector: r in the plane, 2theta = atan(r / L); columns run along -x, rows -y.
    rows, cols = np.mgrid[0 : geometry.height_px, 0 : geometry.width_px]
    x_mm = -(cols - geometry.beam_center_x_px) * geometry.pixel_size_mm
    y_mm = -(rows - geometry.beam_center_y_px) * geometry.pixel_size_mm
    two_theta = np.arctan2(np.hypot(x_mm, y_mm), geometry.distance_mm)
    q = 4 * np.pi * np.sin(two_theta / 2) / geometry.wavelength_a
    return q, np.degrees(np.arctan2(y_mm, x_mm))


@settings(max_examples=40, deadline=None)
@given(images())
def test_analysis_roi_integrals_equal_direct_recomputation(image):
    result = analyse_image(image, GEOMETRY, SETTINGS)
    q, phi = _independent_q_phi(GEOMETRY)
    rows, cols = np.mgrid[0 : GEOMETRY.height_px, 0 : GEOMETRY.width_px]
    footprints = {
        "box": (cols >= 5) & (cols <= 50) & (rows >= 10) & (rows <= 30),
        "disc": (cols - 60.0) ** 2 + (rows - 40.0) ** 2 <= 12.5**2,
        "ring": (q >= 0.6) & (q < 1.4),
        "sector": (q >= 0.3) & (q < 2.0) & ((phi >= 150) | (phi <= -150)),
    }
    for name, footprint in footprints.items():
        member = footprint & ~GEOMETRY.gap_mask
        values = np.ma.masked_array(image, mask=~member | (image == ERROR))
        summed = np.ma.masked_array(image, mask=np.ma.getmaskarray(values) | (image == SATURATED))
        got = result["roi_integrals"][name]
        # Pixels exactly on a ring edge may differ between float32 and float64 q: allow 1 %.
        tolerance = 0 if name in ("box", "disc") else 0.01
        assert got["npixel"] == pytest.approx(summed.count(), rel=tolerance)
        assert got["sum"] == pytest.approx(
            int(summed.sum() or 0), rel=tolerance, abs=tolerance * 100
        )
        assert got["sum_sq"] == pytest.approx(
            int((summed.astype(np.int64) ** 2).sum() or 0), rel=tolerance, abs=tolerance * 1e4
        )
        if tolerance == 0 and values.count():
            assert got["max"] == int(values.max())
        if tolerance == 0 and got["sum"] > 0:
            assert got["x"] == pytest.approx(float((summed * cols).sum() / summed.sum()))
            assert got["y"] == pytest.approx(float((summed * rows).sum() / summed.sum()))


@settings(max_examples=30, deadline=None)
@given(images())
def test_analysis_azimuthal_profile_equals_direct_recomputation(image):
    result = analyse_image(image, GEOMETRY, SETTINGS)
    plan = plan_for(GEOMETRY, SETTINGS)
    n_phi, n_q = plan.az_int_phi_bins, plan.az_int_q_bins
    mean = np.array(result["az_int_profile"]).reshape(n_phi, n_q)
    std = np.array(result["az_int_profile_std"]).reshape(n_phi, n_q)
    count = np.array(result["az_int_profile_count"]).reshape(n_phi, n_q)
    good = (image != ERROR) & (image != SATURATED) & ~GEOMETRY.gap_mask
    for phi_bin in range(n_phi):
        for q_bin in range(n_q):
            members = image[(plan.az_int_map == phi_bin * n_q + q_bin) & good].astype(float)
            assert count[phi_bin, q_bin] == members.size
            if members.size == 0:
                assert math.isnan(mean[phi_bin, q_bin]) and math.isnan(std[phi_bin, q_bin])
            else:
                assert mean[phi_bin, q_bin] == pytest.approx(np.mean(members), rel=1e-9)
                assert std[phi_bin, q_bin] == pytest.approx(np.std(members), rel=1e-6, abs=1e-9)


def test_analysis_azimuthal_map_agrees_with_independent_q():
    plan = plan_for(GEOMETRY, SETTINGS)
    q, phi = _independent_q_phi(GEOMETRY)
    binned = plan.az_int_map != NO_BIN
    q_bin = plan.az_int_map[binned] % plan.az_int_q_bins
    phi_bin = plan.az_int_map[binned] // plan.az_int_q_bins
    centre_q = plan.bin_to_q[phi_bin, q_bin]
    centre_phi = plan.bin_to_phi[phi_bin, q_bin]
    assert np.all(np.abs(q[binned] - centre_q) <= 0.05 + 1e-4)
    assert np.all(np.abs(phi[binned] - centre_phi) <= 45 + 1e-3)
    inside = (q >= 0.2 + 1e-4) & (q < 2.5 - 1e-4) & ~GEOMETRY.gap_mask
    assert np.array_equal(binned & inside, inside)
    assert not binned[GEOMETRY.gap_mask].any()
    two_theta = np.degrees(2 * np.arcsin(plan.bin_to_q * GEOMETRY.wavelength_a / (4 * np.pi)))
    np.testing.assert_allclose(plan.bin_to_two_theta, two_theta, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(images())
def test_analysis_image_statistics_equal_direct_recomputation(image):
    result = analyse_image(image, GEOMETRY, SETTINGS)
    sensor = ~GEOMETRY.gap_mask
    viable = image[sensor & (image != ERROR) & (image != SATURATED)]
    assert result["error_pixel_count"] == int(np.sum(image[sensor] == ERROR))
    assert result["saturated_pixel_count"] == int(np.sum(image[sensor] == SATURATED))
    assert result["pixel_sum"] == int(viable.astype(np.int64).sum())
    if viable.size:
        assert result["image_max_value"] == int(viable.max())
        assert result["image_min_value"] == int(viable.min())


def test_analysis_roi_map_and_start_fields():
    plan = plan_for(GEOMETRY, SETTINGS)
    fields = start_message_fields(plan)
    roi_map = fields["roi_map"]
    assert roi_map.dtype == np.uint16 and roi_map.shape == GEOMETRY.shape
    rows, cols = np.mgrid[0 : GEOMETRY.height_px, 0 : GEOMETRY.width_px]
    box = (cols >= 5) & (cols <= 50) & (rows >= 10) & (rows <= 30)
    disc = (cols - 60.0) ** 2 + (rows - 40.0) ** 2 <= 12.5**2
    assert np.array_equal((roi_map & 1) > 0, box)
    assert np.array_equal((roi_map & 2) > 0, disc)
    definitions = {d["name"]: d for d in fields["roi_definitions"]}
    assert definitions["box"] == {
        "name": "box",
        "bit_index": 0,
        "type": "box",
        "min_x_pxl": 5,
        "max_x_pxl": 50,
        "min_y_pxl": 10,
        "max_y_pxl": 30,
    }
    assert definitions["sector"]["type"] == "azim" and definitions["sector"]["bit_index"] == 3
    assert "phi_min_deg" not in definitions["ring"]
    assert fields["detector_distance"] == pytest.approx(0.030)
    assert fields["pixel_size_x"] == pytest.approx(75e-6)
    assert fields["incident_energy"] == pytest.approx(12400.0)
    assert fields["incident_wavelength"] == pytest.approx(12.398419843320026 / 12.4)
    assert fields["az_int_bin_to_q"].shape == (4, fields["az_int_q_bins"])
    assert fields["az_int_map"].shape == GEOMETRY.shape
    assert fields["max_spot_count"] == SETTINGS.max_spot_count


def test_analysis_result_has_every_image_message_field():
    scene = rotation_scene(3, seed=1)
    settings_ = AnalysisSettings(rois=(RoiBox("b", 0, 99, 0, 99),))
    result = analyse_image(render(scene, 1), scene.geometry, settings_, scene.truth(1))
    for key in (
        "spots",
        "strong_pixel_count",
        "spot_count_unfiltered",
        "spot_count_low_res",
        "spot_count_ice_ring",
        "spot_count_indexed",
        "indexing_lattice_count",
        "integrated_reflection_count",
        "niggli_class",
        "indexing_result",
        "indexing_lattice",
        "indexing_lattice_extra",
        "bravais_lattice",
        "indexing_unit_cell",
        "profile_radius",
        "mosaicity",
        "b_factor",
        "resolution_estimate",
        "bkg_estimate",
        "beam_corr_x",
        "beam_corr_y",
        "image_scale_factor",
        "image_scale_cc",
        "image_scale_mosaicity",
        "image_scale_b_factor",
        "reflections",
        "az_int_profile",
        "az_int_profile_std",
        "az_int_profile_count",
        "roi_integrals",
        "image_max_value",
        "image_min_value",
        "error_pixel_count",
        "saturated_pixel_count",
        "pixel_sum",
        "profiling",
    ):
        assert key in result, key
    assert set(result["profiling"]) == set(PROFILING_KEYS)
    assert result["profiling"]["processingTime"] >= result["profiling"]["spotFindingTime"] > 0
    assert set(result["reflections"]) == set(REFLECTION_COLUMNS)
    spot = result["spots"][0]
    assert set(spot) == {
        "x",
        "y",
        "I",
        "indexed",
        "h",
        "k",
        "l",
        "dist_ewald",
        "lattice",
        "ice_ring",
    }


def test_analysis_background_estimate_is_mean_of_3_to_5_angstrom_band():
    # No Bragg spots, so the band holds background only; d recomputed from the geometry here.
    scene = rotation_scene(2, seed=4, crystal=lysozyme_crystal(4, mean_photons=0.0))
    image = render(scene, 0)
    result = analyse_image(image, scene.geometry, AnalysisSettings())
    q, _ = _independent_q_phi(scene.geometry)
    d = 2 * np.pi / np.maximum(q, 1e-9)
    band = (d >= 3.0) & (d <= 5.0) & (image >= 0) & (image < 32767)
    assert result["bkg_estimate"] == pytest.approx(image[band].mean(), rel=0.01)


def test_analysis_rejects_wrong_image_shape_and_bad_settings():
    with pytest.raises(AnalysisError, match="image: shape"):
        analyse_image(np.zeros((3, 3), np.int32), GEOMETRY, SETTINGS)
    with pytest.raises(ValueError, match="roi\\[b\\]"):
        RoiBox("b", 5, 1, 0, 1)
    with pytest.raises(ValueError, match="settings.rois"):
        AnalysisSettings(rois=tuple(RoiCircle(f"c{i}", 1, 1, 1) for i in range(17)))


@settings(max_examples=15, deadline=None)
@given(images())
def test_analysis_int16_converted_image_gives_the_same_results(image):
    # The receiver's JUNGFRAU images are int16 photons; ours are int32: same analysis.
    wide = analyse_image(image, GEOMETRY, SETTINGS)
    narrow = analyse_image(image.astype(np.int16), GEOMETRY, SETTINGS)
    for key in (
        "pixel_sum",
        "image_max_value",
        "error_pixel_count",
        "roi_integrals",
        "strong_pixel_count",
        "az_int_profile_count",
    ):
        assert narrow[key] == wide[key], key
    np.testing.assert_array_equal(narrow["az_int_profile"], wide["az_int_profile"])


def test_analysis_plans_follow_the_geometry_object_not_its_value():
    other_gap = np.zeros(GEOMETRY.shape, bool)
    other_gap[10:12, :] = True
    twin = DetectorGeometry(90, 70, 0.075, 30.0, 20.3, 33.7, 12.4, gap_mask=other_gap)
    assert twin == GEOMETRY  # equal by value: the mask is not compared...
    plan_a, plan_b = plan_for(GEOMETRY, SETTINGS), plan_for(twin, SETTINGS)
    assert np.array_equal(plan_b.gap, other_gap)  # ...but each gets its own plan
    assert np.array_equal(plan_a.gap, GEOMETRY.gap_mask)
    assert plan_for(GEOMETRY, SETTINGS) is plan_a


def test_analysis_settings_from_toml_table():
    import tomllib

    from jfjoch_hil.simulator.analysis import settings_from_mapping

    table = tomllib.loads("""
[analysis]
max_spot_count = 100
az_int_phi_bins = 4
[[analysis.rois]]
type = "box"
name = "box"
min_x_pxl = 5
max_x_pxl = 50
min_y_pxl = 10
max_y_pxl = 30
[[analysis.rois]]
type = "azim"
name = "sector"
q_min_recipA = 0.3
q_max_recipA = 2.0
phi_min_deg = 150.0
phi_max_deg = -150.0
""")["analysis"]
    built = settings_from_mapping(table)
    assert built.rois == (ROIS[0], ROIS[3]) and built.max_spot_count == 100
    with pytest.raises(AnalysisError, match="analysis.rois\\[1\\].radius: unknown key"):
        settings_from_mapping({"rois": [table["rois"][0], {**table["rois"][1], "radius": 1}]})
    with pytest.raises(AnalysisError, match="analysis.spot_threshold: unknown key"):
        settings_from_mapping({"spot_threshold": 3})
