"""Valid test files written with h5py straight from shared/spec/hdf5-format.md (never via `writer`).

``build_run(folder, layout)`` writes a master (plus data files for legacy / vds / process) with a
few bitshuffle-LZ4 images, /entry/MX with sentinels, ROI definitions and roi_map, per-image ROI
results, /entry/image and /entry/azint. ``build_dectris(folder)`` writes a plain NXmx file set of
the kind a DECTRIS file writer produces (no Jungfraujoch extensions), for ``--profile nxmx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

__all__ = ["RunSpec", "build_run", "build_dectris", "LAYOUTS", "text", "roi_mask"]

LAYOUTS = ("legacy", "vds", "integrated", "process")


@dataclass(frozen=True)
class RunSpec:
    """Size of a generated run."""

    n_images: int = 6
    images_per_file: int = 4
    ny: int = 16
    nx: int = 24
    max_spots: int = 5
    seed: int = 7
    prefix: str = "run"
    reflection_images: tuple[int, ...] = (2, 5)  # 1-based images with integrated reflections (§4.2)


def text(value: str) -> np.ndarray:
    """Fixed-length ASCII with room for a terminator (what C writers produce; Durin-safe)."""
    raw = value.encode("ascii")
    return np.array(raw, dtype=f"S{len(raw) + 1}")


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    g = parent.require_group(name)
    g.attrs["NX_class"] = text(nx_class)
    return g


def _field(
    grp: h5py.Group, name: str, value, units: str | None = None, dtype=None, **attrs
) -> h5py.Dataset:
    if isinstance(value, str):
        ds = grp.create_dataset(name, data=text(value))
    else:
        ds = grp.create_dataset(name, data=np.asarray(value, dtype=dtype))
    if units is not None:
        ds.attrs["units"] = text(units)
    for key, v in attrs.items():
        ds.attrs[key] = text(v) if isinstance(v, str) else np.asarray(v)
    return ds


def _axis(grp, name, value, units, ttype, vector, depends_on):
    return _field(
        grp,
        name,
        value,
        units,
        dtype=np.float64,
        transformation_type=ttype,
        vector=np.asarray(vector, dtype=np.float64),
        offset=np.zeros(3),
        depends_on=depends_on,
    )


def roi_mask(kind: str, p: dict, ny: int, nx: int) -> np.ndarray:
    """Footprint by the convention of docs/conformance.md (written here independently of the checker)."""
    mask = np.zeros((ny, nx), dtype=bool)
    for y in range(ny):
        for x in range(nx):
            if kind == "box":
                mask[y, x] = (
                    p["min_x_pxl"] <= x <= p["max_x_pxl"] and p["min_y_pxl"] <= y <= p["max_y_pxl"]
                )
            else:
                mask[y, x] = (x - p["center_x_pxl"]) ** 2 + (y - p["center_y_pxl"]) ** 2 <= p[
                    "radius_pxl"
                ] ** 2
    return mask


ROIS = {
    "box1": ("box", 0, {"min_x_pxl": 2, "max_x_pxl": 7, "min_y_pxl": 3, "max_y_pxl": 9}),
    "ring": ("circle", 1, {"center_x_pxl": 15.0, "center_y_pxl": 8.0, "radius_pxl": 4.5}),
    "shell": ("azim", 2, {"q_min_recipA": 0.1, "q_max_recipA": 0.4}),
}


def _images(spec: RunSpec) -> np.ndarray:
    rng = np.random.default_rng(spec.seed)
    return rng.integers(0, 50, size=(spec.n_images, spec.ny, spec.nx), dtype=np.uint16)


def _mx_arrays(spec: RunSpec) -> dict[str, tuple[np.ndarray, str | None]]:
    rng = np.random.default_rng(spec.seed + 1)
    n, m = spec.n_images, spec.max_spots
    npk = rng.integers(0, m + 1, size=n).astype(np.int32)
    npk[0] = m  # one full image
    indexed = (rng.random(n) < 0.5).astype(np.uint8)
    indexed[0], indexed[-1] = 1, 0
    nan = np.full((n, m), np.nan, dtype=np.float32)
    x, y, inten, dist = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    h = np.zeros((n, m), dtype=np.int32)
    k, l_ = h.copy(), h.copy()
    pidx = np.zeros((n, m), dtype=np.uint8)
    ice = np.zeros((n, m), dtype=np.uint8)
    lattice = np.full((n, m), -1, dtype=np.int32)
    lat9 = np.full((n, 9), np.nan, dtype=np.float32)
    count_indexed = np.zeros(n, dtype=np.int32)
    for i in range(n):
        c = npk[i]
        x[i, :c] = rng.uniform(0, spec.nx, c)
        y[i, :c] = rng.uniform(0, spec.ny, c)
        inten[i, :c] = rng.uniform(10, 1000, c)
        ice[i, :c] = rng.integers(0, 2, c)
        if indexed[i]:
            h[i, :c], k[i, :c], l_[i, :c] = (rng.integers(-9, 10, c) for _ in range(3))
            dist[i, :c] = rng.uniform(0, 0.01, c)
            fits = rng.integers(0, 2, c).astype(np.uint8)
            pidx[i, :c] = fits
            lattice[i, :c] = 0
            count_indexed[i] = int(fits.sum())
            lat9[i] = rng.uniform(-80, 80, 9)
    return {
        "peakXPosRaw": (x, "pixel"),
        "peakYPosRaw": (y, "pixel"),
        "peakTotalIntensity": (inten, "photons"),
        "peakIceRingRes": (ice, None),
        "peakH": (h, None),
        "peakK": (k, None),
        "peakL": (l_, None),
        "peakDistEwaldSphere": (dist, "Angstrom^-1"),
        "peakIndexed": (pidx, None),
        "peakLattice": (lattice, None),
        "nPeaks": (npk, None),
        "strongPixels": (npk * 7, None),
        "peakCountIndexed": (count_indexed, None),
        "imageIndexed": (indexed, None),
        "indexingLatticeCount": (indexed.astype(np.int32), None),
        "profileRadius": (rng.uniform(0, 0.01, n).astype(np.float32), "Angstrom^-1"),
        "mosaicity": (rng.uniform(0, 0.5, n).astype(np.float32), "deg"),
        "bkgEstimate": (rng.uniform(0, 5, n).astype(np.float32), "photons"),
        "latticeIndexed": (lat9, "Angstrom"),
        # the rest of the §4.1 per-image table: present whenever /entry/MX is
        "peakCountUnfiltered": (npk * 3, None),
        "peakCountLowRes": (npk // 2, None),
        "peakCountIceRingRes": (ice.sum(axis=1).astype(np.int32), None),
        "niggliClass": (np.where(indexed == 1, 44, 0).astype(np.int32), None),
        "bravaisLattice": (np.array([b"tP" if v else b"" for v in indexed], dtype="S3"), None),
        "bFactor": (rng.uniform(5, 30, n).astype(np.float32), "Angstrom^2"),
        "resolutionEstimate": (rng.uniform(1.5, 4, n).astype(np.float32), "Angstrom"),
        # rows of each image's /entry/reflections group (3 per image listed in the spec)
        "integratedReflections": (
            np.array([3 if i + 1 in spec.reflection_images else 0 for i in range(n)], np.int32),
            None,
        ),
        "beam_corr_x": (np.zeros(n, np.float32), "pixel"),
        "beam_corr_y": (np.zeros(n, np.float32), "pixel"),
        "imageScaleFactor": (np.ones(n, np.float32), None),
        "imageScaleCC": (np.full(n, 0.9, np.float32), None),
        "imageScaleMosaicity": (np.full(n, 0.1, np.float32), "deg"),
        "imageScaleBFactor": (np.full(n, 10.0, np.float32), "Angstrom^2"),
    }


def _roi_results(spec: RunSpec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(spec.seed + 2)
    n = spec.n_images
    return {
        "max": rng.integers(0, 50, n).astype(np.int64),
        "sum": rng.integers(0, 5000, n).astype(np.int64),
        "sum_sq": rng.integers(0, 50000, n).astype(np.int64),
        "npixel": np.full(n, 5, dtype=np.int64),  # within every ROI's footprint (XF-ROI)
        "x": rng.uniform(0, spec.nx, n),
        "y": rng.uniform(0, spec.ny, n),
    }


def _image_stats(spec: RunSpec, images: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "max_value": images.max(axis=(1, 2)).astype(np.int64),
        "min_value": images.min(axis=(1, 2)).astype(np.int64),
        "error_pixels": np.zeros(spec.n_images, np.int64),
        "saturated_pixels": np.zeros(spec.n_images, np.int64),
        "pixel_sum": images.sum(axis=(1, 2)).astype(np.int64),
    }


def _azint_images(spec: RunSpec) -> np.ndarray:
    rng = np.random.default_rng(spec.seed + 3)
    return rng.uniform(0, 10, size=(spec.n_images, 2, 5)).astype(np.float32)


def _write_images(grp: h5py.Group, images: np.ndarray, first_number: int) -> h5py.Dataset:
    ds = grp.create_dataset(
        "data",
        data=images,
        chunks=(1, *images.shape[1:]),
        fillvalue=np.uint16(65535),
        **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"),
    )
    ds.attrs["image_nr_low"] = np.int32(first_number)
    ds.attrs["image_nr_high"] = np.int32(first_number + images.shape[0] - 1)
    return ds


def _write_per_image(entry: h5py.Group, spec: RunSpec, sl: slice, images: np.ndarray) -> None:
    """MX, roi results, image stats and azint profiles for images ``sl`` of the run."""
    mx = _group(entry, "MX", "NXcollection")
    for name, (arr, units) in _mx_arrays(spec).items():
        _field(mx, name, arr[sl], units)
    roi = _group(entry, "roi", "NXcollection")
    for name in ROIS:
        g = _group(roi, name, "NXcollection")
        kind, _bit, params = ROIS[name]
        footprint = 6 if kind == "azim" else int(roi_mask(kind, params, spec.ny, spec.nx).sum())
        for fname, arr in _roi_results(spec).items():
            if fname == "npixel":  # never more pixels than the ROI's footprint in roi_map
                arr = np.minimum(arr, footprint)
            _field(g, fname, arr[sl])
    img = _group(entry, "image", "NXcollection")
    for fname, arr in _image_stats(spec, images).items():
        _field(img, fname, arr[sl])
    az = _group(entry, "azint", "NXcollection")
    prof = _azint_images(spec)[sl]
    _field(az, "image", prof)
    _field(az, "image_std", np.sqrt(prof))
    _field(az, "image_count", np.full(prof.shape, 3, dtype=np.int32))


_REFLECTION_UNITS = {
    "d": "Angstrom",
    "int_sum": "photons",
    "int_err": "photons",
    "background_mean": "photons",
    "predicted_x": "pixel",
    "predicted_y": "pixel",
    "observed_x": "pixel",
    "observed_y": "pixel",
    "delta_phi": "deg",
}


def _reflections(entry: h5py.Group, numbers) -> None:
    """§4.2: one NXreflections group per image, the spec's columns, three reflections each."""
    numbers = list(numbers)
    if not numbers:
        return
    refl = _group(entry, "reflections", "NXcollection")
    for number in numbers:
        g = _group(refl, f"image_{number:06d}", "NXreflections")
        for name, values in (("h", [1, -2, 3]), ("k", [0, 4, -1]), ("l", [2, 2, -5])):
            g.create_dataset(name, data=np.array(values, np.int32))
        columns = {
            "d": [2.1, 3.5, 1.8],
            "int_sum": [120.0, 45.5, 300.0],
            "int_err": [11.0, 7.0, 17.5],
            "background_mean": [1.5, 1.2, 1.9],
            "predicted_x": [10.2, 4.4, 20.1],
            "predicted_y": [3.3, 8.8, 12.0],
            "observed_x": [10.0, 4.5, 20.0],
            "observed_y": [3.4, 8.7, 12.2],
            "observed_frame": [number - 0.4, number - 0.5, number - 0.6],
            "lp": [0.9, 0.8, 0.95],
            "partiality": [1.0, 0.5, 0.75],
            "delta_phi": [0.01, -0.02, 0.03],
            "zeta": [0.7, 0.6, 0.9],
            "image_scale_corr": [1.0, 1.0, 1.0],
        }
        for name, values in columns.items():
            ds = g.create_dataset(name, data=np.array(values, np.float32))
            if name in _REFLECTION_UNITS:
                ds.attrs["units"] = text(_REFLECTION_UNITS[name])


def _data_file(path: Path, spec: RunSpec, images: np.ndarray, start: int, stop: int) -> None:
    with h5py.File(path, "w") as f:
        entry = _group(f, "entry", "NXentry")
        data = _group(entry, "data", "NXdata")
        _write_images(data, images[start:stop], start + 1)
        _write_per_image(entry, spec, slice(start, stop), images)
        det = _group(entry, "detector", "NXcollection")
        _field(det, "number", np.arange(start, stop, dtype=np.int64))
        _field(det, "timestamp", np.arange(start, stop, dtype=np.int64) * 1000)
        _reflections(entry, [n for n in spec.reflection_images if start < n <= stop])


def _vds(
    master_grp: h5py.Group,
    name: str,
    spec: RunSpec,
    files: list[tuple[str, int, int]],
    src_path: str,
    tail: tuple[int, ...],
    dtype,
    fill,
) -> h5py.Dataset:
    layout = h5py.VirtualLayout(shape=(spec.n_images, *tail), dtype=dtype)
    for fname, start, stop in files:
        layout[start:stop] = h5py.VirtualSource(
            fname, src_path, shape=(stop - start, *tail), dtype=dtype
        )
    return master_grp.create_virtual_dataset(name, layout, fillvalue=fill)


def _common_master(f: h5py.File, spec: RunSpec, layout: str, jf: bool = True) -> h5py.Group:
    f.attrs["file_name"] = text(Path(f.filename).name)
    f.attrs["file_time"] = text("2026-01-01T00:00:05Z")
    f.attrs["HDF5_Version"] = text(h5py.version.hdf5_version)
    f.attrs["default"] = text("entry")
    entry = _group(f, "entry", "NXentry")
    entry.attrs["version"] = text("1.0")
    entry.attrs["default"] = text("data")
    _field(entry, "definition", "NXmx")
    _field(entry, "title", "test run")
    _field(entry, "start_time", "2026-01-01T00:00:00Z")
    _field(entry, "end_time", "2026-01-01T00:00:04Z")
    _field(entry, "end_time_estimated", "2026-01-01T00:00:04Z")
    src = _group(entry, "source", "NXsource")
    _field(src, "name", "Swiss Light Source", short_name="SLS")
    _field(src, "type", "Synchrotron X-ray Source")
    inst = _group(entry, "instrument", "NXinstrument")
    _field(inst, "name", "X06SA", short_name="PXI")
    _field(inst, "time_zone", "UTC+1")
    beam = _group(inst, "beam", "NXbeam")
    _field(beam, "incident_wavelength", 1.0, "angstrom")
    _field(beam, "total_flux", 1e12, "Hz")
    _field(beam, "incident_beam_size", [50e-6, 30e-6], "m")
    _field(beam, "profile", "Gaussian")
    att = _group(inst, "attenuator", "NXattenuator")
    _field(att, "attenuator_transmission", 1.0)
    det = _group(inst, "detector", "NXdetector")
    _field(det, "depends_on", "/entry/instrument/detector/transformations/rot3")
    _field(det, "description", "PSI JUNGFRAU 0.5M")
    _field(det, "serial_number", "JF-TEST")
    _field(det, "distance", 0.1, "m")
    _field(det, "distance_derived", False)
    _field(det, "count_time", 0.0009, "s")
    _field(det, "frame_time", 0.001, "s")
    _field(det, "beam_center_x", 12.0, "pixel")
    _field(det, "beam_center_y", 8.0, "pixel")
    _field(det, "sensor_material", "Si")
    _field(det, "sensor_thickness", 320e-6, "m")
    _field(det, "x_pixel_size", 75e-6, "m")
    _field(det, "y_pixel_size", 75e-6, "m")
    _field(det, "bit_depth_readout", np.int32(16))
    _field(det, "saturation_value", np.int64(65534))
    _field(det, "flatfield_applied", False)
    _field(det, "pixel_mask_applied", False)
    _field(det, "countrate_correction_applied", False)
    if jf:
        _field(det, "detector_distance", 0.1, "m")
        _field(det, "bit_depth_image", np.int32(16))
        _field(det, "error_value", np.int64(65535))
        _field(det, "number_of_cycles", np.int32(1))
        _field(det, "acquisition_type", "triggered")
    tr = _group(det, "transformations", "NXtransformations")
    _axis(tr, "translation", 0.1, "m", "translation", [0, 0, 1], ".")
    _axis(tr, "rot1", 0.0, "rad", "rotation", [1, 0, 0], "translation")
    _axis(tr, "rot2", 0.0, "rad", "rotation", [0, 1, 0], "rot1")
    _axis(tr, "rot3", 0.0, "rad", "rotation", [0, 0, 1], "rot2")
    mod = _group(det, "module", "NXdetector_module")
    _field(mod, "data_origin", np.array([0, 0], dtype=np.int32))
    _field(mod, "data_size", np.array([spec.ny, spec.nx], dtype=np.int32))
    _field(mod, "data_stride", np.array([1, 1], dtype=np.int32))
    # The module origin sits so that the beam (along z) meets pixel (beam_center_x, beam_center_y).
    origin = np.array([12.0 * 75e-6, 8.0 * 75e-6, 0.0])
    _axis(
        mod,
        "module_offset",
        float(np.linalg.norm(origin)),
        "m",
        "translation",
        origin / np.linalg.norm(origin),
        "/entry/instrument/detector/transformations/rot3",
    )
    _axis(
        mod,
        "fast_pixel_direction",
        75e-6,
        "m",
        "translation",
        [-1, 0, 0],
        "/entry/instrument/detector/module/module_offset",
    )
    _axis(
        mod,
        "slow_pixel_direction",
        75e-6,
        "m",
        "translation",
        [0, -1, 0],
        "/entry/instrument/detector/module/module_offset",
    )
    dspec = _group(det, "detectorSpecific", "NXcollection")
    _field(dspec, "nimages", np.int64(spec.n_images))
    _field(dspec, "ntrigger", np.int64(1))
    _field(dspec, "x_pixels_in_detector", np.int64(spec.nx))
    _field(dspec, "y_pixels_in_detector", np.int64(spec.ny))
    mask = np.zeros((spec.ny, spec.nx), dtype=np.uint32)
    mask[spec.ny // 2, :] = 1  # a gap row, bit 0
    dspec.create_dataset("pixel_mask", data=mask)  # contiguous: Neggia needs it
    det["pixel_mask"] = dspec["pixel_mask"]  # hard link (hdf5-format.md §3)
    sample = _group(entry, "sample", "NXsample")
    _field(sample, "name", "lysozyme")
    _field(sample, "depends_on", "/entry/sample/transformations/omega")
    _field(sample, "temperature", 100.0, "K")
    st = _group(sample, "transformations", "NXtransformations")
    _axis(st, "omega", np.arange(spec.n_images) * 0.1, "deg", "rotation", [-1, 0, 0], ".")
    _field(st, "omega_end", (np.arange(spec.n_images) + 1) * 0.1, "deg")
    sample["goniometer"] = st
    data = _group(entry, "data", "NXdata")
    if layout != "legacy":
        data.attrs["signal"] = text("data")
    return entry


def _master_extensions(entry: h5py.Group, spec: RunSpec) -> None:
    """roi_defs + roi_map, azint bins + map: master-only content (hdf5-format.md §4.3, §4.4.1)."""
    defs = _group(entry, "roi_defs", "NXcollection")
    roi_map = np.zeros((spec.ny, spec.nx), dtype=np.uint16)
    for name, (kind, bit, params) in ROIS.items():
        g = _group(defs, name, "NXcollection")
        _field(g, "type", kind)
        _field(g, "bit_index", np.int32(bit))
        for key, value in params.items():
            _field(g, key, value)
        if kind != "azim":
            roi_map |= roi_mask(kind, params, spec.ny, spec.nx).astype(np.uint16) << bit
        else:
            roi_map[0:2, 0:3] |= np.uint16(1 << bit)
    _field(defs, "roi_map", roi_map)
    az = _group(entry, "azint", "NXcollection")
    q = np.tile(np.linspace(0.1, 0.5, 5), (2, 1))
    _field(az, "bin_to_q", q, "Angstrom^-1")
    _field(az, "bin_to_two_theta", np.degrees(2 * np.arcsin(q / (4 * np.pi))), "deg")
    _field(az, "bin_to_phi", np.repeat([[0.0], [180.0]], 5, axis=1), "deg")
    _field(az, "map", np.zeros((spec.ny, spec.nx), dtype=np.int32))
    mx = _group(entry, "MX", "NXcollection")
    _field(mx, "indexing_algorithm", "FFBIDX")
    _field(mx, "imageIndexedMean", 0.5)


def _split(spec: RunSpec) -> list[tuple[int, int]]:
    return [
        (s, min(s + spec.images_per_file, spec.n_images))
        for s in range(0, spec.n_images, spec.images_per_file)
    ]


def build_run(folder: Path, layout: str, spec: RunSpec = RunSpec()) -> Path:
    """Write a valid run of ``layout`` into ``folder``; returns the master (or process) file."""
    folder.mkdir(parents=True, exist_ok=True)
    images = _images(spec)
    parts = _split(spec)
    files = []
    if layout in ("legacy", "vds", "process"):
        for k, (start, stop) in enumerate(parts, start=1):
            name = f"{spec.prefix}_data_{k:06d}.h5"
            _data_file(folder / name, spec, images, start, stop)
            files.append((name, start, stop))
    master = folder / (
        f"{spec.prefix}_process.h5" if layout == "process" else f"{spec.prefix}_master.h5"
    )
    with h5py.File(master, "w") as f:
        entry = _common_master(f, spec, layout)
        _master_extensions(entry, spec)
        data = entry["data"]
        if layout == "legacy":
            for k, (name, _s, _e) in enumerate(files, start=1):
                data[f"data_{k:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
        elif layout in ("vds", "process"):
            ds = _vds(
                data, "data", spec, files, "/entry/data/data", (spec.ny, spec.nx), np.uint16, 65535
            )
            ds.attrs["image_nr_low"] = np.int32(1)
            ds.attrs["image_nr_high"] = np.int32(spec.n_images)
        else:
            _write_images(data, images, 1)
        if layout == "vds":
            mx = entry["MX"]
            for name, (arr, units) in _mx_arrays(spec).items():
                fill = np.nan if arr.dtype.kind == "f" else (-1 if name == "peakLattice" else 0)
                if arr.dtype.kind == "S":
                    fill = b""
                ds = _vds(
                    mx, name, spec, files, f"/entry/MX/{name}", arr.shape[1:], arr.dtype, fill
                )
                if units:
                    ds.attrs["units"] = text(units)
            roi = _group(entry, "roi", "NXcollection")
            for rname in ROIS:
                g = _group(roi, rname, "NXcollection")
                for fname, arr in _roi_results(spec).items():
                    _vds(g, fname, spec, files, f"/entry/roi/{rname}/{fname}", (), arr.dtype, 0)
            img = _group(entry, "image", "NXcollection")
            for fname, arr in _image_stats(spec, images).items():
                _vds(img, fname, spec, files, f"/entry/image/{fname}", (), arr.dtype, 0)
            az = entry["azint"]
            for fname in ("image", "image_std", "image_count"):
                dt = np.int32 if fname == "image_count" else np.float32
                _vds(az, fname, spec, files, f"/entry/azint/{fname}", (2, 5), dt, 0)
        if (
            layout == "vds"
        ):  # §4.2: the master exposes the data files' groups through external links
            numbers = [n for n in spec.reflection_images if n <= spec.n_images]
            refl = _group(entry, "reflections", "NXcollection") if numbers else None
            for number in numbers:
                name = next(n for n, a, b in files if a < number <= b)
                refl[f"image_{number:06d}"] = h5py.ExternalLink(
                    name, f"/entry/reflections/image_{number:06d}"
                )
        if layout in ("integrated", "process"):
            _reflections(entry, [n for n in spec.reflection_images if n <= spec.n_images])
        if layout in ("integrated", "process"):
            _write_per_image(entry, spec, slice(0, spec.n_images), images)
            if layout == "integrated":  # §4.7: diagnostics live in detectorSpecific here
                dspec = entry["instrument/detector/detectorSpecific"]
                _field(dspec, "number", np.arange(spec.n_images, dtype=np.int64))
                _field(dspec, "timestamp", np.arange(spec.n_images, dtype=np.int64) * 1000)
    return master


def build_dectris(folder: Path, spec: RunSpec = RunSpec(prefix="dectris")) -> Path:
    """A plain NXmx legacy file set as a DECTRIS writer produces: uint32 images, h5py default (variable-length)
    strings for values, no Jungfraujoch extensions. Valid under ``--profile nxmx``."""
    folder.mkdir(parents=True, exist_ok=True)
    images = _images(spec).astype(np.uint32)
    names = []
    for k, (start, stop) in enumerate(_split(spec), start=1):
        name = f"{spec.prefix}_data_{k:06d}.h5"
        with h5py.File(folder / name, "w") as f:
            entry = _group(f, "entry", "NXentry")
            data = _group(entry, "data", "NXdata")
            ds = data.create_dataset(
                "data",
                data=images[start:stop],
                chunks=(1, spec.ny, spec.nx),
                **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"),
            )
            ds.attrs["image_nr_low"] = np.uint64(start + 1)
            ds.attrs["image_nr_high"] = np.uint64(stop)
        names.append(name)
    master = folder / f"{spec.prefix}_master.h5"
    with h5py.File(master, "w") as f:
        entry = _common_master(f, spec, "legacy", jf=False)
        entry["definition"][...] = text("NXmx")
        del entry["instrument/detector/description"]
        entry["instrument/detector"].create_dataset("description", data="Dectris EIGER2 Si 500K")
        for k, name in enumerate(names, start=1):
            entry["data"][f"data_{k:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
    return master
