"""Jungfraujoch extensions (hdf5-format.md §4): per-image arrays, sentinels, counters, CXI peak
list, azimuthal integration, NXcollection classes, extension units, and plausibility (§3, §4.10).

Per-image arrays live in the master (VDS, integrated, process) or in each data file (legacy); the
checks run on every such "result holder" with the image count it must be padded to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context, sample_indices
from jfjoch_hil.conformance._hdf import Missing, is_dataset, is_group
from jfjoch_hil.conformance.checks._tables import (
    AZINT_BINS,
    AZINT_IMAGES,
    COLLECTION_GROUPS,
    DETECTOR_DIAGNOSTICS,
    DETECTOR_EXTRA_UNITS,
    MILLER,
    MX_LATTICE,
    MX_PER_IMAGE,
    MX_PER_SPOT,
    PER_IMAGE_GROUPS,
    REFLECTION_FIELDS,
    Field,
)
from jfjoch_hil.conformance.checks._units import EXTENSION_UNITS

__all__ = [
    "Holder",
    "result_holders",
    "check_mx",
    "check_diagnostics",
    "check_image_numbers",
    "check_per_image_groups",
    "check_reflections",
    "check_azint",
    "check_collections",
    "check_plausible",
    "check_image_count",
    "check_extension_units",
]

_HC_EV_ANGSTROM = 12398.419843320026  # h*c in eV*Angstrom (CODATA 2018)


@dataclass
class Holder:
    """A file root holding per-image results for ``n_images`` images, labelled for findings."""

    label: str
    root: h5py.Group
    n_images: int | None


def result_holders(ctx: Context) -> list[Holder]:
    """Where per-image arrays are: the master, or (legacy) each resolvable data file."""
    if ctx.layout == "legacy":
        holders = []
        for src in ctx.sources:
            name = os.path.basename(src.dataset.file.filename)
            holders.append(Holder(f"{name}:", src.dataset.file, src.frames))
        return holders
    return [Holder("", ctx.master, ctx.n_frames)]


def _get(ctx: Context, holder: Holder, rel: str):
    obj = ctx.resolver.walk(holder.root, f"/entry/{rel}")
    return None if isinstance(obj, Missing) else obj


def _kind_ok(kind: str, ds: h5py.Dataset) -> bool:
    k = ds.dtype.kind
    if kind == "f":
        return k == "f"
    if kind == "i":
        return k in "iu"
    if kind == "n":
        return k in "iufb"
    if kind == "s":
        return h5py.check_string_dtype(ds.dtype) is not None or k in "SU"
    return True


def _units_ok(ctx: Context, path: str, ds: h5py.Dataset, f: Field) -> None:
    if f.units is None:
        return
    units = ctx.units(ds)
    if units is None:
        ctx.add("JF-UNITS", path, f"units attribute missing, '{f.units}' required")
    elif units.strip() not in EXTENSION_UNITS.get(f.units, {f.units}):
        ctx.add("JF-UNITS", path, f"units '{units}', '{f.units}' required")


def _rows(ds: h5py.Dataset, idx: list[int]) -> np.ndarray:
    if len(idx) == ds.shape[0]:
        return np.asarray(ds[()])
    # One hyperslab per row: h5py's point/list selection scales with the dataset's extent, which a
    # hostile file can make astronomically large.
    return np.stack([np.asarray(ds[i]) for i in idx])


def check_mx(ctx: Context) -> None:
    """§4.1: shapes, kinds, units; sentinels past nPeaks and for unindexed images; counters; CXI."""
    for h in result_holders(ctx):
        mx = _get(ctx, h, "MX")
        if not is_group(mx):
            continue
        base = f"{h.label}/entry/MX"
        n = h.n_images
        present: dict[str, h5py.Dataset] = {}
        max_spots = None
        for f in MX_PER_SPOT + MX_PER_IMAGE + MX_LATTICE:
            ds = ctx.resolver.child(mx, f.name)
            if not is_dataset(ds):
                continue
            path = f"{base}/{f.name}"
            present[f.name] = ds
            if not _kind_ok(f.kind, ds):
                ctx.add("JF-MX-SHAPE", path, f"dtype {ds.dtype} is not of kind '{f.kind}'")
            _units_ok(ctx, path, ds, f)
            rank = (
                2
                if f in MX_PER_SPOT
                else 1
                if f in MX_PER_IMAGE
                else (2 if f.name == "latticeIndexed" else 3)
            )
            if ds.ndim != rank:
                ctx.add("JF-MX-SHAPE", path, f"rank {ds.ndim}, {rank} required")
                continue
            if n is not None and ds.shape[0] != n:
                ctx.add(
                    "JF-IMAGE-COUNT",
                    path,
                    f"first dimension {ds.shape[0]}, {n} images required (padded to the run)",
                )
            if f in MX_PER_SPOT:
                if max_spots is None:
                    max_spots = ds.shape[1]
                elif ds.shape[1] != max_spots:
                    ctx.add(
                        "JF-MX-SHAPE", path, f"max_spots {ds.shape[1]} differs from {max_spots}"
                    )
            if f in MX_LATTICE and ds.shape[-1] != 9:
                ctx.add(
                    "JF-MX-SHAPE",
                    path,
                    f"last dimension {ds.shape[-1]}, 9 required (flattened 3x3)",
                )
        _check_cxi(ctx, base, present)
        _check_sentinels(ctx, base, present, max_spots)


def _check_cxi(ctx: Context, base: str, present: dict[str, h5py.Dataset]) -> None:
    per_spot = [f.name for f in MX_PER_SPOT if f.name in present]
    if not per_spot and "nPeaks" not in present:
        return
    for name in ("nPeaks", "peakXPosRaw", "peakYPosRaw", "peakTotalIntensity"):
        if name not in present:
            ctx.add(
                "JF-CXI",
                f"{base}/{name}",
                "missing: CrystFEL's cxi peak list needs nPeaks, peakXPosRaw, peakYPosRaw, peakTotalIntensity",
            )
    shapes = {
        present[n].shape
        for n in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity")
        if n in present
    }
    if len(shapes) > 1:
        ctx.add("JF-CXI", base, f"peak arrays differ in shape {sorted(shapes)}")
    if "nPeaks" in present and shapes:
        shape = next(iter(shapes))
        if present["nPeaks"].ndim != 1 or (
            len(shape) == 2 and present["nPeaks"].shape[0] != shape[0]
        ):
            ctx.add(
                "JF-CXI",
                f"{base}/nPeaks",
                f"shape {present['nPeaks'].shape} does not match peak arrays {shape}",
            )


def _is_sentinel(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "b":
        return ~values
    if name == "peakLattice":
        return values == -1
    return (values == -1) | (values == 0)


def _check_sentinels(
    ctx: Context, base: str, present: dict[str, h5py.Dataset], max_spots: int | None
) -> None:
    npk_ds = present.get("nPeaks")
    if npk_ds is None or npk_ds.ndim != 1:
        return
    n = npk_ds.shape[0]
    idx = sample_indices(n, ctx.deep)
    if not idx:
        return
    npk = _rows(npk_ds, idx).astype(np.int64)
    if max_spots is not None:
        bad = np.flatnonzero((npk < 0) | (npk > max_spots))
        if bad.size:
            ctx.add(
                "JF-MX-COUNTERS",
                f"{base}/nPeaks",
                f"image {idx[bad[0]]}: nPeaks {npk[bad[0]]} outside 0..{max_spots}",
            )
    indexed = None
    if "imageIndexed" in present and present["imageIndexed"].shape == (n,):
        indexed = _rows(present["imageIndexed"], idx).astype(np.int64)
        bad = np.flatnonzero(~np.isin(indexed, (0, 1)))
        if bad.size:
            ctx.add(
                "JF-MX-COUNTERS",
                f"{base}/imageIndexed",
                f"image {idx[bad[0]]}: value {indexed[bad[0]]}, 0 or 1 required",
            )
    if "peakCountIndexed" in present and present["peakCountIndexed"].shape == (n,):
        pci = _rows(present["peakCountIndexed"], idx)
        bad = np.flatnonzero(pci > npk)
        if bad.size:
            ctx.add(
                "JF-MX-COUNTERS",
                f"{base}/peakCountIndexed",
                f"image {idx[bad[0]]}: peakCountIndexed {pci[bad[0]]} > nPeaks {npk[bad[0]]}",
            )
    if max_spots is None:
        return
    slot = np.arange(max_spots)[None, :]
    unused = slot >= np.clip(npk, 0, max_spots)[:, None]
    unindexed = None if indexed is None else (indexed == 0)[:, None]
    for f in MX_PER_SPOT:
        ds = present.get(f.name)
        if ds is None or ds.ndim != 2 or ds.shape[0] != n or ds.shape[1] != max_spots:
            continue
        values = _rows(ds, idx)
        sentinel = _is_sentinel(values, f.name)
        bad = unused & ~sentinel
        if bad.any():
            r, c = np.argwhere(bad)[0]
            ctx.add(
                "JF-MX-SENTINEL",
                f"{base}/{f.name}",
                f"image {idx[r]} slot {c} (nPeaks {npk[r]}) holds {values[r, c]!r}, a sentinel required",
            )
        if f.indexing_only and unindexed is not None:
            bad = unindexed & ~sentinel
            if bad.any():
                r, c = np.argwhere(bad)[0]
                ctx.add(
                    "JF-MX-SENTINEL",
                    f"{base}/{f.name}",
                    f"image {idx[r]} not indexed but slot {c} holds {values[r, c]!r}",
                )
    lat = present.get("latticeIndexed")
    if lat is not None and indexed is not None and lat.ndim == 2 and lat.shape[0] == n:
        values = _rows(lat, idx)
        bad = np.flatnonzero((indexed == 0) & ~np.all(np.isnan(values), axis=1))
        if bad.size:
            # hdf5-format.md §4.1 marks only per-spot columns "indexing only"; a lattice on an
            # unindexed image is our reading of the same intent, hence a warning (docs/conformance.md).
            ctx.add(
                "JF-MX-SENTINEL",
                f"{base}/latticeIndexed",
                f"image {idx[bad[0]]} not indexed but lattice is not NaN",
                severity="warning",
            )


def check_per_image_groups(ctx: Context) -> None:
    """§4.5, §4.6, §4.8: /entry/image, /entry/profiling, /entry/xfel vectors are [n_images]."""
    for h in result_holders(ctx):
        for gname, fields in PER_IMAGE_GROUPS.items():
            grp = _get(ctx, h, gname)
            if not is_group(grp):
                continue
            for f in fields:
                ds = ctx.resolver.child(grp, f.name)
                if not is_dataset(ds):
                    continue
                path = f"{h.label}/entry/{gname}/{f.name}"
                if ds.ndim != 1 or (h.n_images is not None and ds.shape[0] != h.n_images):
                    ctx.add("JF-IMAGE-COUNT", path, f"shape {ds.shape}, [{h.n_images}] required")
                if not _kind_ok(f.kind, ds):
                    ctx.add("JF-MX-SHAPE", path, f"dtype {ds.dtype} not of kind '{f.kind}'")
                _units_ok(ctx, path, ds, f)


def check_diagnostics(ctx: Context) -> None:
    """§4.7: acquisition diagnostics are [n_images] vectors where the layout keeps them."""
    places = []
    if ctx.layout == "legacy":
        places = [(h, "/entry/detector") for h in result_holders(ctx)]
    elif ctx.layout == "integrated":
        places = [
            (h, f"{ctx.entry_path}/instrument/detector/detectorSpecific")
            for h in result_holders(ctx)
        ]
    for h, gpath in places:
        grp = ctx.resolver.walk(h.root, gpath)
        if not is_group(grp):
            continue
        for f in DETECTOR_DIAGNOSTICS:
            ds = ctx.resolver.child(grp, f.name)
            if is_dataset(ds) and (
                ds.ndim != 1 or (h.n_images is not None and ds.shape[0] != h.n_images)
            ):
                ctx.add(
                    "JF-IMAGE-COUNT",
                    f"{h.label}{gpath}/{f.name}",
                    f"shape {ds.shape}, [{h.n_images}] required",
                )


def check_image_numbers(ctx: Context) -> None:
    """§3 /entry/data: image_nr_low / image_nr_high on a single image dataset span the frames."""
    if ctx.layout == "legacy":
        return  # per data file: JF-LEGACY-LINKS
    for src in ctx.sources:
        low, high = src.dataset.attrs.get("image_nr_low"), src.dataset.attrs.get("image_nr_high")
        if low is None and high is None:
            continue
        try:
            low_i, high_i = (
                int(np.asarray(low).reshape(-1)[0]),
                int(np.asarray(high).reshape(-1)[0]),
            )
        except (TypeError, ValueError, IndexError):
            ctx.add("JF-IMAGE-COUNT", src.label, "image_nr_low / image_nr_high are not integers")
            continue
        if high_i - low_i + 1 != src.frames or low_i < 1:
            ctx.add(
                "JF-IMAGE-COUNT",
                src.label,
                f"image_nr_low {low_i}..image_nr_high {high_i} do not span the {src.frames} frames (1-based)",
            )


def check_azint(ctx: Context) -> None:
    """§4.3: bin maps [phi, q] agree; per-image profiles [n, phi, q]; map [y, x] in the master."""
    az = ctx.group(f"{ctx.entry_path}/azint")
    if az is None:
        return
    bins_shape = None
    for f in AZINT_BINS:
        ds = ctx.resolver.child(az, f.name)
        if not is_dataset(ds):
            continue
        path = f"{ctx.entry_path}/azint/{f.name}"
        _units_ok(ctx, path, ds, f)
        if ds.ndim != 2:
            ctx.add("JF-AZINT", path, f"rank {ds.ndim}, [phi_bins, q_bins] required")
        elif bins_shape is None:
            bins_shape = ds.shape
        elif ds.shape != bins_shape:
            ctx.add("JF-AZINT", path, f"shape {ds.shape} differs from {bins_shape}")
    amap = ctx.resolver.child(az, "map")
    if (
        is_dataset(amap)
        and ctx.image_shape is not None
        and tuple(amap.shape) != tuple(ctx.image_shape[:2])
    ):
        ctx.add(
            "JF-AZINT",
            f"{ctx.entry_path}/azint/map",
            f"shape {amap.shape}, image {ctx.image_shape} required",
        )
    for h in result_holders(ctx):
        grp = _get(ctx, h, "azint")
        if not is_group(grp):
            continue
        for name in AZINT_IMAGES:
            ds = ctx.resolver.child(grp, name)
            if not is_dataset(ds):
                continue
            path = f"{h.label}/entry/azint/{name}"
            if ds.ndim != 3:
                ctx.add("JF-AZINT", path, f"rank {ds.ndim}, [n, phi, q] required")
                continue
            if bins_shape is not None and tuple(ds.shape[1:]) != tuple(bins_shape):
                ctx.add("JF-AZINT", path, f"bins {ds.shape[1:]} differ from bin_to_q {bins_shape}")
            if h.n_images is not None and ds.shape[0] != h.n_images:
                ctx.add(
                    "JF-IMAGE-COUNT", path, f"first dimension {ds.shape[0]}, {h.n_images} required"
                )


def check_collections(ctx: Context) -> None:
    """§4: extension groups are NXcollection; /entry/reflections/image_* are NXreflections (§4.2)."""
    for rel in COLLECTION_GROUPS:
        grp = ctx.group(f"{ctx.entry_path}/{rel}")
        if grp is None:
            continue
        cls = ctx.resolver.nx_class(grp)
        if cls != "NXcollection":
            ctx.add(
                "JF-COLLECTION",
                f"{ctx.entry_path}/{rel}",
                f"NX_class {cls!r}, 'NXcollection' required",
            )
    refl = ctx.group(f"{ctx.entry_path}/reflections")
    if refl is not None:
        names = [n for n in ctx.resolver.members(refl) if n.startswith("image_")]
        for name in names if ctx.deep else names[:4] + names[-4:]:
            grp = ctx.resolver.child(refl, name)
            if is_group(grp) and ctx.resolver.nx_class(grp) != "NXreflections":
                ctx.add(
                    "JF-COLLECTION",
                    f"{ctx.entry_path}/reflections/{name}",
                    "NX_class 'NXreflections' required",
                )


_IMAGE_GROUP = re.compile(r"image_(\d{6})")
_MAX_READ = 1_000_000  # values read per Miller column (a hostile file may declare any length)


def check_reflections(ctx: Context) -> None:
    """§4.2: /entry/reflections/image_NNNNNN groups (sampled; all with --deep): the name is a 6-digit
    number of an image of the run; h, k, l present; every column 1-D, all of one length, with the
    spec's units; Miller indices integral."""
    for h in result_holders(ctx):
        refl = _get(ctx, h, "reflections")
        if not is_group(refl):
            continue
        names = sorted(ctx.resolver.members(refl))
        for name in names if ctx.deep else sorted(set(names[:4] + names[-4:])):
            path = f"{h.label}{ctx.entry_path}/reflections/{name}"
            match = _IMAGE_GROUP.fullmatch(name)
            if match is None:
                ctx.add(
                    "JF-REFLECTIONS",
                    path,
                    "group name must be image_NNNNNN (the 6-digit image number)",
                )
                continue
            number = int(match.group(1))
            if number < 1 or (ctx.n_frames is not None and number > ctx.n_frames):
                ctx.add(
                    "JF-REFLECTIONS",
                    path,
                    f"image number {number} is outside the run (1..{ctx.n_frames})",
                )
            grp = ctx.resolver.child(refl, name)
            if not is_group(grp):
                continue  # a dangling or outside link is the link rules' finding
            _check_reflection_group(ctx, path, grp)


def _check_reflection_group(ctx: Context, path: str, grp: h5py.Group) -> None:
    lengths: dict[str, int] = {}
    for column in ctx.resolver.members(grp):
        ds = ctx.resolver.child(grp, column)
        if not is_dataset(ds):
            continue
        if ds.ndim != 1:
            ctx.add("JF-REFLECTIONS", f"{path}/{column}", f"rank {ds.ndim}, a 1-D column required")
            continue
        lengths[column] = ds.shape[0]
        field_ = REFLECTION_FIELDS.get(column)
        if field_ is not None:
            _units_ok(ctx, f"{path}/{column}", ds, field_)
    missing = [c for c in MILLER if c not in lengths]
    if missing:
        ctx.add("JF-REFLECTIONS", path, f"Miller index column(s) {', '.join(missing)} missing")
    if len(set(lengths.values())) > 1:
        shortest = min(lengths, key=lengths.get)
        ctx.add(
            "JF-REFLECTIONS",
            path,
            f"columns differ in length ({shortest}: {lengths[shortest]}, "
            f"{max(lengths.values())} elsewhere)",
        )
    for column in MILLER:
        ds = ctx.resolver.child(grp, column) if column in lengths else None
        if ds is None or ds.dtype.kind not in "iuf":
            if ds is not None:
                ctx.add("JF-REFLECTIONS", f"{path}/{column}", f"type {ds.dtype}, a number required")
            continue
        if ds.dtype.kind == "f":
            values = np.asarray(ds[:_MAX_READ])
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                ctx.add("JF-REFLECTIONS", f"{path}/{column}", "Miller indices must be integers")


def check_extension_units(ctx: Context) -> None:
    """§4.10: detector extension scalars with units (detector_distance m, conversion factor eV)."""
    for f in DETECTOR_EXTRA_UNITS:
        path = f"{ctx.entry_path}/instrument/detector/{f.name}"
        ds = ctx.dataset(path)
        if ds is not None:
            _units_ok(ctx, path, ds, f)


def _length_m(ctx: Context, path: str) -> float | None:
    value = ctx.number(path)
    if value is None:
        return None
    scale = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "cm": 1e-2, "nm": 1e-9}.get(
        (ctx.units(ctx.dataset(path)) or "m").strip()
    )
    return None if scale is None else value * scale


def _wavelength_a(ctx: Context, path: str) -> float | None:
    value = ctx.number(path)
    if value is None:
        return None
    scale = {
        "angstrom": 1.0,
        "Angstrom": 1.0,
        "A": 1.0,
        "Å": 1.0,
        "nm": 10.0,
        "m": 1e10,
        "pm": 1e-2,
    }.get((ctx.units(ctx.dataset(path)) or "angstrom").strip())
    return None if scale is None else value * scale


def check_plausible(ctx: Context) -> None:
    """§3, §4.10: wavelength vs energy, distance > 0, finite beam centre, count_time <= frame_time,
    saturation and error values inside the image bit depth / dtype."""
    e = ctx.entry_path
    det = f"{e}/instrument/detector"
    wl = _wavelength_a(ctx, f"{e}/instrument/beam/incident_wavelength")
    if wl is not None and not (np.isfinite(wl) and wl > 0):
        ctx.add(
            "JF-PLAUSIBLE",
            f"{e}/instrument/beam/incident_wavelength",
            f"{wl} is not a positive wavelength",
        )
    energy = ctx.number(f"{e}/instrument/beam/incident_energy")
    if wl and energy:
        scale = {"eV": 1.0, "keV": 1e3}.get(
            (ctx.units(ctx.dataset(f"{e}/instrument/beam/incident_energy")) or "eV").strip(), 1.0
        )
        if abs(_HC_EV_ANGSTROM / wl - energy * scale) > 1e-3 * energy * scale:
            ctx.add(
                "JF-PLAUSIBLE",
                f"{e}/instrument/beam",
                f"wavelength {wl} A and energy {energy * scale} eV disagree",
            )
    for name in (
        "distance",
        "detector_distance",
        "sensor_thickness",
        "x_pixel_size",
        "y_pixel_size",
    ):
        value = _length_m(ctx, f"{det}/{name}")
        if value is not None and not (np.isfinite(value) and value > 0):
            ctx.add("JF-PLAUSIBLE", f"{det}/{name}", f"{value} m is not positive")
    d1, d2 = _length_m(ctx, f"{det}/distance"), _length_m(ctx, f"{det}/detector_distance")
    if d1 is not None and d2 is not None and abs(d1 - d2) > 1e-9 + 1e-6 * abs(d1):
        ctx.add("JF-PLAUSIBLE", f"{det}/detector_distance", f"{d2} m differs from distance {d1} m")
    for name in ("beam_center_x", "beam_center_y"):
        value = ctx.number(f"{det}/{name}")
        if value is not None and not np.isfinite(value):
            ctx.add("JF-PLAUSIBLE", f"{det}/{name}", f"{value} is not finite")
    count, frame = ctx.number(f"{det}/count_time"), ctx.number(f"{det}/frame_time")
    if count is not None and frame is not None and count > frame * (1 + 1e-9):
        ctx.add(
            "JF-PLAUSIBLE",
            f"{det}/count_time",
            f"count_time {count} s exceeds frame_time {frame} s",
        )
    bits = ctx.number(f"{det}/bit_depth_image")
    dtype = ctx.image_dtype
    sat = ctx.number(f"{det}/saturation_value")
    err = ctx.number(f"{det}/error_value")
    if (
        bits is not None
        and dtype is not None
        and dtype.kind in "iu"
        and int(bits) != dtype.itemsize * 8
    ):
        ctx.add("JF-PLAUSIBLE", f"{det}/bit_depth_image", f"{int(bits)} bits, images are {dtype}")
    if dtype is not None and dtype.kind in "iu":
        info = np.iinfo(dtype)
        for name, value in (("saturation_value", sat), ("error_value", err)):
            if value is not None and not (info.min <= value <= info.max):
                ctx.add(
                    "JF-PLAUSIBLE", f"{det}/{name}", f"{value} does not fit the image dtype {dtype}"
                )
        if sat is not None and err is not None and sat == err:
            ctx.add(
                "JF-PLAUSIBLE",
                f"{det}/saturation_value",
                "equals error_value: the sentinel would be ambiguous",
            )


def check_image_count(ctx: Context) -> None:
    """§4.9: detectorSpecific nimages x ntrigger and nimages_written agree with the frames present."""
    ds_path = f"{ctx.entry_path}/instrument/detector/detectorSpecific"
    if ctx.n_frames is None:
        return
    written = ctx.number(f"{ds_path}/nimages_written")
    if written is not None and int(written) > ctx.n_frames:
        ctx.add(
            "JF-IMAGE-COUNT",
            f"{ds_path}/nimages_written",
            f"{int(written)} but {ctx.n_frames} frames in /entry/data",
        )
    elif written is not None and int(written) < ctx.n_frames:
        # Frames lost on the way (a frame-number jump, a dead module's frame) leave slots at the fill
        # value; the file says so honestly, so this is reported, not a violation (docs/conformance.md).
        ctx.add(
            "JF-IMAGE-COUNT",
            f"{ds_path}/nimages_written",
            f"{int(written)} images written of {ctx.n_frames} frames: {ctx.n_frames - int(written)} hold the fill value",
            severity="warning",
        )
    nimages = ctx.number(f"{ds_path}/nimages")
    ntrigger = ctx.number(f"{ds_path}/ntrigger") or 1
    if nimages is not None and written is None and int(nimages * ntrigger) != ctx.n_frames:
        ctx.add(
            "JF-IMAGE-COUNT",
            f"{ds_path}/nimages",
            f"nimages x ntrigger = {int(nimages * ntrigger)} but {ctx.n_frames} frames in /entry/data",
        )
