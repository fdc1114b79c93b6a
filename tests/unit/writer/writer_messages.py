"""Stream messages carrying every per-image result kind, for the writer's tests (not a test module).

The expected values are the inputs themselves (kept in :class:`SentRun`), so tests compare what
they read back with h5py against what they sent, never against the writer's own formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from jfjoch_hil.stream import (
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    CalibrationMessage,
    EndMessage,
    ImageMessage,
    StartMessage,
    TypedArray,
)

NY, NX = 16, 24
ROIS = ("beamstop", "ring")
MAX_SPOTS = 6
PHI, Q = 2, 5


@dataclass
class SentRun:
    """A run's messages plus the arrays they were built from."""

    start: StartMessage
    images: list[ImageMessage] = field(default_factory=list)
    pixels: dict[int, np.ndarray] = field(default_factory=dict)
    end: EndMessage | None = None
    calibration: list[CalibrationMessage] = field(default_factory=list)


def make_start(
    n_images: int,
    *,
    file_format="NXmxVDS",
    images_per_file=10,
    prefix="run1/sample",
    dtype="uint16",
    compression="bslz4",
    **overrides,
) -> StartMessage:
    """A start message with geometry, goniometer, mask, ROIs, azint bins and user data."""
    mask = np.zeros((NY, NX), np.uint32)
    mask[0, :3] = 1
    roi_map = np.zeros((NY, NX), np.uint16)
    roi_map[2:6, 3:9] = 1
    roi_map[8:12, :] |= 2
    fields = dict(
        series_id=7,
        series_unique_id="01HZTESTSERIES000000000001",
        arm_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        beam_center_x=11.5,
        beam_center_y=7.25,
        count_time=0.001,
        frame_time=0.002,
        detector_description="PSI JUNGFRAU 0.5M (test)",
        detector_serial_number="JF-TEST-1",
        detector_distance=0.12,
        incident_energy=12400.0,
        incident_wavelength=0.99987,
        image_size_x=NX,
        image_size_y=NY,
        image_dtype=dtype,
        bit_depth_readout=16,
        bit_depth_image=np.dtype(dtype).itemsize * 8,
        number_of_images=n_images,
        pixel_size_x=75e-6,
        pixel_size_y=75e-6,
        saturation_value=32000,
        error_value=65535,
        sensor_material="Si",
        sensor_thickness=320e-6,
        pixel_mask={"default": TypedArray.from_numpy(mask)},
        pixel_mask_enabled=True,
        goniometer={"omega": {"start": 10.0, "increment": 0.1, "vector": [-1.0, 0.0, 0.0]}},
        file_prefix=prefix,
        file_format=file_format,
        images_per_file=images_per_file,
        image_number_start=1,
        source_name="Swiss Light Source",
        source_type="Synchrotron X-ray Source",
        instrument_name="X06SA",
        sample_name="lysozyme",
        unit_cell={"a": 79.1, "b": 79.1, "c": 38.0, "alpha": 90.0, "beta": 90.0, "gamma": 90.0},
        max_spot_count=MAX_SPOTS,
        max_extra_lattices=2,
        indexing_algorithm="FFBIDX",
        roi_definitions=[
            {
                "name": "beamstop",
                "type": "box",
                "bit_index": 0,
                "min_x_pxl": 3,
                "max_x_pxl": 8,
                "min_y_pxl": 2,
                "max_y_pxl": 5,
            },
            {
                "name": "ring",
                "type": "azim",
                "bit_index": 1,
                "q_min_recipA": 0.1,
                "q_max_recipA": 0.3,
            },
        ],
        roi_map=TypedArray.from_numpy(roi_map),
        az_int_q_bins=Q,
        az_int_phi_bins=PHI,
        # q = 4 pi sin(theta) / lambda of each bin's two-theta (hdf5-format.md §4.3)
        az_int_bin_to_q=[
            4 * np.pi * np.sin(np.radians(1.0 * (i % Q + 1)) / 2) / 0.99987 for i in range(PHI * Q)
        ],
        az_int_bin_to_two_theta=[1.0 * (i % Q + 1) for i in range(PHI * Q)],
        az_int_bin_to_phi=[180.0 * (i // Q) for i in range(PHI * Q)],
        az_int_map=TypedArray.from_numpy(
            (np.arange(NY * NX) % (PHI * Q)).astype(np.uint16).reshape(NY, NX)
        ),
        pulsed_source=True,
        user_data={
            "user": {
                "proposal": "p1",
                "hdf5": {"beamline": "X06SA", "foils": 2, "../evil": "x", "nested": {"a": 1}},
            }
        },
    )
    fields.update(overrides)
    return StartMessage(**fields)


def image_pixels(index: int, dtype="uint16", *, spotty: bool = False) -> np.ndarray:
    """Deterministic pixels of image ``index`` (distinct per image); ``spotty``: a low background
    with three bright 2x2 spots, which spot finders accept."""
    rng = np.random.default_rng(1000 + index)
    info = np.iinfo(dtype)
    if spotty:
        pixels = rng.poisson(1.0, size=(NY, NX)).astype(dtype)
        for k in range(3):
            y, x = 3 + 4 * k, 4 + 6 * k + index % 3
            pixels[y : y + 2, x : x + 2] = 500 + index
        return pixels
    return rng.integers(max(info.min, -50), min(info.max, 400), size=(NY, NX), dtype=dtype)


def make_image(
    start: StartMessage, index: int, *, compression="bslz4", dtype="uint16", spotty: bool = False
) -> tuple[ImageMessage, np.ndarray]:
    """An image message with every per-image result kind (stream.md 9)."""
    pixels = image_pixels(index, dtype, spotty=spotty)
    rng = np.random.default_rng(index)
    n_spots = int(rng.integers(0, MAX_SPOTS + 1))
    spots = [
        {
            "x": float(rng.uniform(0, NX)),
            "y": float(rng.uniform(0, NY)),
            "I": float(rng.uniform(1, 100)),
            "indexed": bool(k % 2),
            "h": int(k - 2),
            "k": int(k),
            "l": int(-k),
            "dist_ewald": float(0.001 * k),
            "lattice": int(k % 2) - 1 + 1,
            "ice_ring": bool(k == 1),
        }
        for k in range(n_spots)
    ]
    reflections = None
    if index % 3 == 0:
        n = 4 + index % 5
        reflections = {
            name: TypedArray.from_numpy(
                np.arange(n, dtype=np.int32) - index
                if name in ("h", "k", "l", "observed_frame")
                else (np.arange(n, dtype=np.float32) * 0.5 + index),
                multidim=False,
            )
            for name in REFLECTION_COLUMNS
        }
    message = ImageMessage(
        series_id=start.series_id,
        series_unique_id=start.series_unique_id,
        image_id=index,
        data={"default": TypedArray.from_numpy(pixels, compression=compression)},
        spots=spots,
        strong_pixel_count=100 + index,
        spot_count_unfiltered=n_spots + 3,
        spot_count_low_res=1,
        spot_count_ice_ring=index % 2,
        spot_count_indexed=n_spots // 2,
        indexing_result=bool(index % 2),
        indexing_lattice=[float(index + v) for v in range(9)],
        indexing_lattice_extra=[[float(-index - v) for v in range(9)]] if index % 4 == 1 else [],
        indexing_lattice_count=1 + index % 2,
        niggli_class=index % 44 + 1,
        bravais_lattice=("aP", "mC", "tP")[index % 3],
        profile_radius=0.001 * index,
        mosaicity=0.05,
        b_factor=12.5,
        resolution_estimate=1.8 + 0.01 * index,
        integrated_reflection_count=0 if reflections is None else len(reflections["h"].to_numpy()),
        bkg_estimate=3.5,
        beam_corr_x=0.1,
        beam_corr_y=-0.1,
        image_scale_factor=1.01,
        image_scale_cc=0.9,
        image_scale_mosaicity=0.07,
        image_scale_b_factor=3.0,
        reflections=reflections,
        az_int_profile=[float(index + i) for i in range(PHI * Q)],
        az_int_profile_std=[float(i) * 0.5 for i in range(PHI * Q)],
        az_int_profile_count=[float(10 + i) for i in range(PHI * Q)],
        roi_integrals={
            "beamstop": {
                "sum": 100 + index,
                "sum_sq": 1000 + index,
                "npixel": 24,
                "max": 50,
                "x": 5.5,
                "y": 3.5,
            },
            "ring": {
                "sum": 7 * index,
                "sum_sq": 49 * index,
                "npixel": 96,
                "max": 9,
                "x": 12.0,
                "y": 10.0,
            },
        },
        image_max_value=int(pixels.max()),
        image_min_value=int(pixels.min()),
        error_pixel_count=index % 3,
        saturated_pixel_count=0,
        pixel_sum=int(pixels.sum()),
        profiling={name: 1e-4 * (k + 1) + 1e-6 * index for k, name in enumerate(PROFILING_KEYS)},
        xfel_pulse_id=10_000 + index,
        xfel_event_code=3,
        storage_cell=index % 16,
        packets_expected=64,
        packets_received=64 - index % 2,
        data_collection_efficiency=(64 - index % 2) / 64,
        receiver_delay=index,
        receiver_free_send_buffers=100,
        det_info=index * 2,
        timestamp=123456 + index,
        exposure_time=0.001,
    )
    return message, pixels


def make_run(n_images=24, *, order=None, end=True, spotty=False, **start_overrides) -> SentRun:
    """A complete run: start, calibration, images (in ``order``), end."""
    start = make_start(n_images, **start_overrides)
    run = SentRun(start)
    for index in order if order is not None else range(n_images):
        message, pixels = make_image(
            start, index, dtype=start.image_dtype or "uint16", spotty=spotty
        )
        run.images.append(message)
        run.pixels[index] = pixels
    run.calibration.append(
        CalibrationMessage(
            name="pedestal_g0_sc0",
            data=TypedArray.from_numpy(np.full((NY, NX), 3000.0, np.float32)),
        )
    )
    if end:
        run.end = EndMessage(
            series_id=start.series_id,
            series_unique_id=start.series_unique_id,
            end_date=datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC),
            images_collected=n_images,
            rotation_lattice=[float(v) for v in range(9)],
            rotation_lattice_extra=[[1.0] * 9, [2.0] * 9],
            rotation_lattice_niggli_class=5,
            indexing_rate=0.5,
            bkg_estimate_mean=3.5,
            indexed_lattice_count=12,
            adu_histogram=TypedArray.from_numpy(np.arange(8, dtype=np.uint64), multidim=False),
            adu_histogram_bin_width=32,
            fluorescence_energy=[1000.0, 2000.0],
            fluorescence_data=[5.0, 6.0],
        )
    return run
