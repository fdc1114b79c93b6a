"""Mutants: one way to break each rule, applied to a copy of a valid run.

Each mutant names the rule id that must report it and the layouts it applies to. Mutations act on
the files with h5py directly; the per-image holder is the first data file (legacy, vds) or the
master (integrated, process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from tests.unit.conformance._files import text

__all__ = ["Mutant", "MUTANTS", "ALL"]

ALL = ("legacy", "vds", "integrated", "process")
SPLIT = ("legacy", "vds")
SELF = ("integrated", "process")
DET = "/entry/instrument/detector"
REFL = "/entry/reflections/image_000002"  # in the first data file (legacy, vds) or the master


@dataclass(frozen=True)
class Mutant:
    """A named mutation, the rule that must catch it, and where it applies."""

    name: str
    rule: str
    layouts: tuple[str, ...]
    apply: Callable[[Path, Path], None]  # (folder, master)
    profile: str = "jungfraujoch"


def _holder(folder: Path, master: Path) -> Path:
    data1 = sorted(folder.glob("*_data_000001.h5"))
    return data1[0] if data1 and master.name.endswith("_master.h5") else master


def _edit(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def _m(fn):
    return lambda folder, master: _edit(master, fn)


def _h(fn):
    return lambda folder, master: _edit(_holder(folder, master), fn)


def _replace(f, path, data, **attrs):
    old_attrs = dict(f[path].attrs)
    del f[path]
    ds = f.create_dataset(path, data=data)
    for k, v in {**old_attrs, **attrs}.items():
        ds.attrs[k] = v
    return ds


def _both(fn):
    """Apply to the per-image holder and, when it has the item too, to the master (VDS exposes it)."""

    def run(folder: Path, master: Path) -> None:
        holder = _holder(folder, master)
        _edit(holder, fn)
        if holder != master:
            try:
                _edit(master, fn)
            except KeyError:
                pass  # legacy master does not expose per-image arrays

    return run


def _set_attr(path, name, value):
    return _m(lambda f: f[path].attrs.__setitem__(name, value))


def _sentinel_slot(f):
    npk = f["/entry/MX/nPeaks"][()]
    row = int(np.flatnonzero(npk < f["/entry/MX/peakXPosRaw"].shape[1])[0])
    f["/entry/MX/peakXPosRaw"][row, npk[row]] = 1.0


def _unindexed_h(f):
    idx, npk = f["/entry/MX/imageIndexed"][()], f["/entry/MX/nPeaks"][()]
    rows = np.flatnonzero((idx == 0) & (npk > 0))
    row = int(rows[0]) if rows.size else int(np.flatnonzero(idx == 0)[0])
    f["/entry/MX/peakH"][row, 0] = 3


def _corrupt_chunk(f):
    ds = f["/entry/data/data"]
    ds.id.write_direct_chunk(
        (0, 0, 0), b"\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x20\x00garbage!" * 4
    )


def _refill(f):
    ds = f["/entry/data/data"]
    data, attrs = ds[()], dict(ds.attrs)
    del f["/entry/data/data"]
    new = f.create_dataset("/entry/data/data", data=data, chunks=(1, *data.shape[1:]), fillvalue=0)
    for k, v in attrs.items():
        new.attrs[k] = v


def _remove_file(name_glob: str):
    def run(folder: Path, master: Path) -> None:
        for p in folder.glob(name_glob):
            p.unlink()

    return run


def _rename_source_dataset(folder: Path, master: Path) -> None:
    with h5py.File(next(folder.glob("*_data_000002.h5")), "r+") as f:
        f.move("/entry/data/data", "/entry/data/moved")


def _partial_vds(f):
    ds = f["/entry/MX/nPeaks"]
    src = ds.virtual_sources()[0]
    n = ds.shape[0]
    layout = h5py.VirtualLayout(shape=(n,), dtype=ds.dtype)
    count = src.vspace.get_select_bounds()[1][0] + 1
    layout[0:count] = h5py.VirtualSource(src.file_name, src.dset_name, shape=(count,))
    del f["/entry/MX/nPeaks"]
    f["/entry/MX"].create_virtual_dataset("nPeaks", layout, fillvalue=0)


def _truncate(folder: Path, master: Path) -> None:
    raw = master.read_bytes()
    master.write_bytes(raw[:100])


MUTANTS: tuple[Mutant, ...] = (
    Mutant("definition deleted", "NX-ENTRY", ALL, _m(lambda f: f.__delitem__("/entry/definition"))),
    Mutant(
        "sensor_material deleted",
        "NX-REQUIRED",
        ALL,
        _m(lambda f: f.__delitem__(f"{DET}/sensor_material")),
    ),
    Mutant(
        "sample group deleted", "NX-REQUIRED", ALL, _m(lambda f: f.__delitem__("/entry/sample"))
    ),
    Mutant(
        "beam profile deleted",
        "NX-RECOMMENDED",
        ALL,
        _m(lambda f: f.__delitem__("/entry/instrument/beam/profile")),
    ),
    Mutant(
        "flatfield_error written",
        "NX-FORBIDDEN",
        ALL,
        _m(lambda f: f[DET].create_dataset("flatfield_error", data=np.zeros((16, 24), np.float32))),
    ),
    Mutant(
        "deprecated weight written",
        "NX-DEPRECATED",
        ALL,
        _m(
            lambda f: f["/entry/instrument/beam"].create_dataset(
                "incident_wavelength_weight", data=1.0
            )
        ),
    ),
    Mutant(
        "source NX_class removed",
        "NX-CLASS",
        ALL,
        _m(lambda f: f["/entry/source"].attrs.__delitem__("NX_class")),
    ),
    Mutant(
        "distance as integer",
        "NX-DTYPE",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/distance", np.int32(1))),
    ),
    Mutant(
        "boolean as 2",
        "NX-DTYPE",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/flatfield_applied", np.int8(2))),
    ),
    Mutant(
        "wavelength in eV",
        "NX-UNITS",
        ALL,
        _set_attr("/entry/instrument/beam/incident_wavelength", "units", text("eV")),
    ),
    Mutant(
        "thickness without units",
        "NX-UNITS",
        ALL,
        _m(lambda f: f[f"{DET}/sensor_thickness"].attrs.__delitem__("units")),
    ),
    Mutant(
        "profile not enumerated",
        "NX-ENUM",
        ALL,
        _m(lambda f: _replace(f, "/entry/instrument/beam/profile", text("square"))),
    ),
    Mutant(
        "start_time not ISO",
        "NX-DATETIME",
        ALL,
        _m(lambda f: _replace(f, "/entry/start_time", text("yesterday"))),
    ),
    Mutant(
        "start_time without zone",
        "NX-DATETIME",
        ALL,
        _m(lambda f: _replace(f, "/entry/start_time", text("2026-01-01T00:00:00"))),
    ),
    Mutant(
        "detector depends_on dangling",
        "NX-DEPENDS-ON",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/depends_on", text(f"{DET}/transformations/nope"))),
    ),
    Mutant(
        "sample depends_on to a group",
        "NX-DEPENDS-ON",
        ALL,
        _m(
            lambda f: _replace(f, "/entry/sample/depends_on", text("/entry/sample/transformations"))
        ),
    ),
    Mutant(
        "cycle in chain",
        "NX-CHAIN",
        ALL,
        _set_attr(f"{DET}/transformations/rot1", "depends_on", text("rot3")),
    ),
    Mutant(
        "zero vector",
        "NX-TRANSFORMATION",
        ALL,
        _set_attr(f"{DET}/transformations/rot2", "vector", np.zeros(3)),
    ),
    Mutant(
        "module axis rotation",
        "NX-TRANSFORMATION",
        ALL,
        _set_attr(f"{DET}/module/fast_pixel_direction", "transformation_type", text("rotation")),
    ),
    Mutant(
        "rotation in metres",
        "NX-TRANSFORMATION",
        ALL,
        _set_attr(f"{DET}/transformations/rot1", "units", text("m")),
    ),
    Mutant(
        "module offset attribute removed",
        "NX-TRANSFORMATION",
        ALL,
        _m(lambda f: f[f"{DET}/module/slow_pixel_direction"].attrs.__delitem__("offset")),
    ),
    Mutant(
        "module exceeds image",
        "NX-MODULE",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/module/data_size", np.array([17, 24], np.int32))),
    ),
    Mutant(
        "pixel_mask wrong shape",
        "NX-SHAPE",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/pixel_mask", np.zeros((15, 24), np.uint32))),
    ),
    Mutant(
        "omega wrong length",
        "NX-SHAPE",
        ALL,
        _m(lambda f: _replace(f, "/entry/sample/transformations/omega", np.arange(9) * 0.1)),
    ),
    Mutant(
        "unit_cell rank 1",
        "NX-BASE-SHAPE",
        ALL,
        _m(lambda f: f["/entry/sample"].create_dataset("unit_cell", data=np.ones(6))),
    ),
    # layouts and links
    Mutant(
        "legacy link gap",
        "JF-LEGACY-LINKS",
        ("legacy",),
        _m(lambda f: f.move("/entry/data/data_000002", "/entry/data/data_000003")),
    ),
    Mutant(
        "image_nr_low shifted",
        "JF-LEGACY-LINKS",
        ("legacy",),
        lambda folder, master: _edit(
            next(folder.glob("*_data_000002.h5")),
            lambda f: f["/entry/data/data"].attrs.__setitem__("image_nr_low", np.int32(6)),
        ),
    ),
    Mutant(
        "data file missing",
        "JF-DATA-FILE",
        ("legacy", "vds", "process"),
        _remove_file("*_data_000002.h5"),
    ),
    Mutant("broken VDS source", "JF-VDS", ("vds", "process"), _rename_source_dataset),
    Mutant("VDS covers part of the run", "JF-VDS", ("vds",), _m(_partial_vds)),
    Mutant(
        "external link in integrated",
        "JF-INTEGRATED",
        ("integrated",),
        _m(
            lambda f: (
                f["/entry/user"]
                if False
                else f["/entry"].__setitem__("extra", h5py.ExternalLink("other.h5", "/x"))
            )
        ),
    ),
    Mutant(
        "VDS master without /entry/image",
        "JF-LAYOUT",
        ("vds",),
        _m(lambda f: f.__delitem__("/entry/image")),
    ),
    Mutant(
        "fill value 0",
        "JF-IMAGE-DATASET",
        ALL,
        lambda folder, master: _edit(
            master
            if master.name.endswith("_master.h5") and not list(folder.glob("*_data_*"))
            else _holder(folder, master),
            _refill,
        ),
    ),
    Mutant(
        "nimages_written wrong",
        "JF-IMAGE-COUNT",
        ALL,
        _m(
            lambda f: f[f"{DET}/detectorSpecific"].create_dataset(
                "nimages_written", data=np.int64(99)
            )
        ),
    ),
    Mutant(
        "MX not padded",
        "JF-IMAGE-COUNT",
        SELF,
        _h(lambda f: _replace(f, "/entry/MX/bkgEstimate", np.zeros(2, np.float32))),
    ),
    Mutant(
        "image_nr_high too small",
        "JF-IMAGE-COUNT",
        ("vds", "integrated", "process"),
        _set_attr("/entry/data/data", "image_nr_high", np.int32(3)),
    ),
    Mutant(
        "diagnostics not padded",
        "JF-IMAGE-COUNT",
        ("legacy", "integrated"),
        lambda folder, master: _edit(
            _holder(folder, master),
            lambda f: _replace(
                f,
                "/entry/detector/number"
                if "/entry/detector/number" in f
                else "/entry/instrument/detector/detectorSpecific/number",
                np.arange(2, dtype=np.int64),
            ),
        ),
    ),
    Mutant(
        "MX class NXdata",
        "JF-COLLECTION",
        ALL,
        _m(lambda f: f["/entry/MX"].attrs.__setitem__("NX_class", text("NXdata"))),
    ),
    Mutant(
        "peak x in metres",
        "JF-UNITS",
        ("legacy", "integrated", "process"),
        _h(lambda f: f["/entry/MX/peakXPosRaw"].attrs.__setitem__("units", text("m"))),
    ),
    Mutant(
        "detector_distance in mm",
        "JF-UNITS",
        ALL,
        _set_attr(f"{DET}/detector_distance", "units", text("mm")),
    ),
    Mutant(
        "lattice of 8",
        "JF-MX-SHAPE",
        ("legacy", "integrated", "process"),
        _h(
            lambda f: _replace(
                f,
                "/entry/MX/latticeIndexed",
                np.full((f["/entry/MX/nPeaks"].shape[0], 8), np.nan, np.float32),
            )
        ),
    ),
    Mutant("value past nPeaks", "JF-MX-SENTINEL", ALL, _h(_sentinel_slot)),
    Mutant("Miller index on unindexed image", "JF-MX-SENTINEL", ALL, _h(_unindexed_h)),
    Mutant(
        "peakCountIndexed > nPeaks",
        "JF-MX-COUNTERS",
        ALL,
        _h(lambda f: f["/entry/MX/peakCountIndexed"].__setitem__(0, 99)),
    ),
    Mutant(
        "imageIndexed = 2",
        "JF-MX-COUNTERS",
        ALL,
        _h(lambda f: f["/entry/MX/imageIndexed"].__setitem__(0, 2)),
    ),
    Mutant(
        "peakTotalIntensity deleted",
        "JF-CXI",
        ALL,
        _both(lambda f: f.__delitem__("/entry/MX/peakTotalIntensity")),
    ),
    Mutant(
        "circle without radius",
        "JF-ROI-DEFS",
        ALL,
        _m(lambda f: f.__delitem__("/entry/roi_defs/ring/radius_pxl")),
    ),
    Mutant(
        "unknown ROI type",
        "JF-ROI-DEFS",
        ALL,
        _m(lambda f: _replace(f, "/entry/roi_defs/box1/type", text("ellipse"))),
    ),
    Mutant(
        "roi_map pixel flipped",
        "JF-ROI-MAP",
        ALL,
        _m(
            lambda f: f["/entry/roi_defs/roi_map"].__setitem__(
                (0, 23), f["/entry/roi_defs/roi_map"][0, 23] ^ 1
            )
        ),
    ),
    Mutant(
        "box bound moved",
        "JF-ROI-MAP",
        ALL,
        _m(lambda f: _replace(f, "/entry/roi_defs/box1/max_x_pxl", np.int64(8))),
    ),
    Mutant(
        "ROI result missing",
        "JF-ROI-RESULTS",
        ALL,
        _both(lambda f: f.__delitem__("/entry/roi/box1/sum")),
    ),
    Mutant(
        "azint map wrong shape",
        "JF-AZINT",
        ALL,
        _m(lambda f: _replace(f, "/entry/azint/map", np.zeros((3, 3), np.int32))),
    ),
    Mutant(
        "reflection column shorter",
        "JF-REFLECTIONS",
        ALL,
        _h(lambda f: _replace(f, f"{REFL}/int_sum", np.array([1.0, 2.0], np.float32))),
    ),
    Mutant(
        "Miller index not integral",
        "JF-REFLECTIONS",
        ALL,
        _h(lambda f: _replace(f, f"{REFL}/h", np.array([1.0, 2.5, 3.0], np.float32))),
    ),
    Mutant(
        "Miller index column missing",
        "JF-REFLECTIONS",
        ALL,
        _h(lambda f: f.__delitem__(f"{REFL}/k")),
    ),
    Mutant(
        "reflection column 2-D",
        "JF-REFLECTIONS",
        ALL,
        _h(lambda f: _replace(f, f"{REFL}/lp", np.ones((3, 2), np.float32))),
    ),
    Mutant(
        "reflection group misnamed",
        "JF-REFLECTIONS",
        ("legacy", "integrated", "process"),
        _h(lambda f: f.move(REFL, "/entry/reflections/image_2")),
    ),
    Mutant(
        "reflection group of no image",
        "JF-REFLECTIONS",
        ("legacy", "integrated", "process"),
        _h(lambda f: f.move(REFL, "/entry/reflections/image_000099")),
    ),
    Mutant(
        "reflection link of no image",
        "JF-REFLECTIONS",
        ("vds",),
        _m(lambda f: f.move(REFL, "/entry/reflections/image_000099")),
    ),
    Mutant(
        "reflection d units",
        "JF-UNITS",
        ALL,
        _h(lambda f: f[f"{REFL}/d"].attrs.__setitem__("units", text("m"))),
    ),
    Mutant(
        "count_time > frame_time",
        "JF-PLAUSIBLE",
        ALL,
        _m(lambda f: f[f"{DET}/count_time"].__setitem__((), 0.01)),
    ),
    Mutant(
        "negative distance",
        "JF-PLAUSIBLE",
        ALL,
        _m(lambda f: f[f"{DET}/distance"].__setitem__((), -0.1)),
    ),
    Mutant(
        "energy disagrees",
        "JF-PLAUSIBLE",
        ALL,
        _m(
            lambda f: (
                f["/entry/instrument/beam"]
                .create_dataset("incident_energy", data=9000.0)
                .attrs.__setitem__("units", text("eV"))
            )
        ),
    ),
    Mutant(
        "saturation beyond dtype",
        "JF-PLAUSIBLE",
        ALL,
        _m(lambda f: f[f"{DET}/saturation_value"].__setitem__((), 70000)),
    ),
    Mutant(
        "corrupted chunk",
        "DATA-READABLE",
        ALL,
        lambda folder, master: _edit(
            next(iter(sorted(folder.glob("*_data_000001.h5"))), master), _corrupt_chunk
        ),
    ),
    Mutant(
        "nimages deleted",
        "RD-NEGGIA",
        ("legacy",),
        _m(lambda f: f.__delitem__(f"{DET}/detectorSpecific/nimages")),
    ),
    Mutant(
        "chunked detectorSpecific mask",
        "RD-NEGGIA",
        ("legacy",),
        _m(
            lambda f: (
                f[f"{DET}/detectorSpecific"].__delitem__("pixel_mask")
                or f[f"{DET}/detectorSpecific"].create_dataset(
                    "pixel_mask", data=np.zeros((16, 24), np.uint32), chunks=(8, 24)
                )
            )
        ),
    ),
    Mutant(
        "UTF-8 NX_class",
        "RD-DURIN",
        ALL,
        _m(lambda f: f["/entry/sample"].attrs.__setitem__("NX_class", "NXsample")),
    ),
    Mutant(
        "pixel size unterminated units",
        "RD-DURIN",
        ALL,
        _set_attr(f"{DET}/x_pixel_size", "units", np.array(b"m", dtype="S1")),
    ),
    Mutant(
        "data_scaling_factor",
        "RD-FABIO",
        ALL,
        _m(lambda f: f["/entry/data"].create_dataset("data_scaling_factor", data=1.0)),
    ),
    # spec coverage table (SPEC-*) and cross-field relations (XF-*)
    Mutant(
        "detector distance deleted",
        "SPEC-PRESENT",
        ALL,
        _m(lambda f: f.__delitem__(f"{DET}/distance")),
    ),
    Mutant(
        "bravaisLattice deleted",
        "SPEC-PRESENT",
        ALL,
        _both(lambda f: f.__delitem__("/entry/MX/bravaisLattice")),
    ),
    Mutant(
        "source declared NXcollection",
        "SPEC-CLASS",
        ALL,
        _set_attr("/entry/source", "NX_class", text("NXcollection")),
    ),
    Mutant(
        "roi_map narrowed to uint8",
        "SPEC-DTYPE",
        ALL,
        _m(
            lambda f: _replace(
                f, "/entry/roi_defs/roi_map", f["/entry/roi_defs/roi_map"][()].astype(np.uint8)
            )
        ),
    ),
    Mutant(
        "azint map one row short",
        "SPEC-SHAPE",
        ALL,
        _m(lambda f: _replace(f, "/entry/azint/map", f["/entry/azint/map"][()][:-1])),
    ),
    Mutant(
        "translation in mm",
        "SPEC-UNITS",
        ALL,
        _set_attr(f"{DET}/transformations/translation", "units", text("mm")),
    ),
    Mutant(
        "acquisition_type untriggered",
        "SPEC-DOMAIN",
        ALL,
        _m(lambda f: _replace(f, f"{DET}/acquisition_type", text("gated"))),
    ),
    Mutant(
        "x_pixels_in_detector one too many",
        "XF-IMAGE-SHAPE",
        ALL,
        _m(
            lambda f: f[f"{DET}/detectorSpecific/x_pixels_in_detector"].__setitem__(
                (), f[f"{DET}/detectorSpecific/x_pixels_in_detector"][()] + 1
            )
        ),
    ),
    Mutant(
        "module one row short",
        "XF-MODULES",
        ALL,
        _m(
            lambda f: f[f"{DET}/module/data_size"].__setitem__(
                0, f[f"{DET}/module/data_size"][0] - 1
            )
        ),
    ),
    Mutant(
        "VDS data file image_nr_high one too high",
        "XF-IMAGE-NR",
        ("vds",),
        lambda folder, master: _edit(
            _holder(folder, master),
            lambda f: f["/entry/data/data"].attrs.__setitem__(
                "image_nr_high", f["/entry/data/data"].attrs["image_nr_high"] + 1
            ),
        ),
    ),
    Mutant(
        "nimages_collected below nimages_written",
        "XF-IMAGE-COUNT",
        ALL,
        _m(
            lambda f: (
                f[f"{DET}/detectorSpecific"].create_dataset("nimages_written", data=np.int64(6)),
                f[f"{DET}/detectorSpecific"].create_dataset("nimages_collected", data=np.int64(5)),
            )
        ),
    ),
    Mutant(
        "bin_to_q doubled",
        "XF-AZINT",
        ALL,
        _m(
            lambda f: f["/entry/azint/bin_to_q"].__setitem__((), f["/entry/azint/bin_to_q"][()] * 2)
        ),
    ),
    Mutant(
        "peakCountUnfiltered zero",
        "XF-SPOTS",
        ALL,
        _both(
            lambda f: (
                f["/entry/MX/peakCountUnfiltered"].__setitem__(
                    (), np.zeros(f["/entry/MX/peakCountUnfiltered"].shape, np.int32)
                )
                if not f["/entry/MX/peakCountUnfiltered"].is_virtual
                else None
            )
        ),
    ),
    Mutant(
        "ROI results without a definition",
        "XF-ROI",
        ALL,
        _m(lambda f: f.move("/entry/roi_defs/box1", "/entry/roi_defs/box9")),
    ),
    Mutant(
        "integratedReflections disagrees with the reflection rows",
        "XF-REFLECTIONS",
        ALL,
        _both(
            lambda f: (
                None
                if f["/entry/MX/integratedReflections"].is_virtual
                else f["/entry/MX/integratedReflections"].__setitem__(
                    (), f["/entry/MX/integratedReflections"][()] + 1
                )
            )
        ),
    ),
    Mutant(
        "end_time before start_time",
        "XF-TIMES",
        ALL,
        _m(lambda f: _replace(f, "/entry/end_time", text("2025-12-31T23:59:59Z"))),
    ),
    Mutant(
        "translation labelled mm, value in metres",
        "XF-DISTANCE",
        ALL,
        _set_attr(f"{DET}/transformations/translation", "units", text("mm")),
    ),
    Mutant(
        "file_time attribute deleted",
        "JF-FILE-ATTRS",
        ALL,
        _m(lambda f: f.attrs.__delitem__("file_time")),
    ),
    Mutant(
        "temporary file left behind",
        "JF-TMP",
        ALL,
        lambda folder, master: (folder / f"{master.name}.x7Qz.tmp").write_bytes(b""),
    ),
    Mutant("truncated master", "FILE-UNREADABLE", ALL, _truncate),
    # the nxmx profile on a DECTRIS-style file
    Mutant(
        "dectris: sensor_thickness deleted",
        "NX-REQUIRED",
        ("dectris",),
        _m(lambda f: f.__delitem__(f"{DET}/sensor_thickness")),
        profile="nxmx",
    ),
    Mutant(
        "dectris: link gap",
        "JF-LEGACY-LINKS",
        ("dectris",),
        _m(lambda f: f.move("/entry/data/data_000002", "/entry/data/data_000004")),
        profile="nxmx",
    ),
    Mutant(
        "dectris: data file missing",
        "JF-DATA-FILE",
        ("dectris",),
        _remove_file("*_data_000001.h5"),
        profile="nxmx",
    ),
)
