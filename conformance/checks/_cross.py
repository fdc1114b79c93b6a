"""Cross-field consistency (hdf5-format.md §2-§4): relations between fields that each look right
alone. Rule ids XF-* (profile ``jungfraujoch``), plus the file-level JF-FILE-ATTRS and JF-TMP.

* XF-IMAGE-SHAPE  image [y, x] vs detectorSpecific x/y_pixels_in_detector.
* XF-MODULES      module data_origin / data_size: inside the image, no overlap, reaching its edges.
* XF-IMAGE-NR     image_nr_low/high of every image dataset (VDS data files, master) vs the rows it
                  fills; image counters vs each other.
* XF-IMAGE-COUNT  nimages_written <= nimages_collected <= nimages x ntrigger.
* XF-AZINT        bin_to_q, bin_to_two_theta (and the wavelength) agree: q = 4 pi sin(theta) / lambda.
* XF-SPOTS        spot counters vs spot arrays: stored slots below nPeaks hold positions,
                  nPeaks <= peakCountUnfiltered, indexed slots <= peakCountIndexed.
* XF-ROI          ROI results vs ROI definitions: a definition per result group, box inside the
                  image, npixel <= the pixels of its bit in roi_map.
* XF-TIMES        start_time <= end_time, end_time_estimated.
* XF-DISTANCE     transformation values vs the fields they encode: detector translation vs
                  distance, module pixel directions vs x/y_pixel_size (units converted).
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime

import numpy as np
from jfjoch_hil.conformance._context import Context, sample_indices
from jfjoch_hil.conformance._hdf import as_text, attr, int_attr, is_dataset, is_group
from jfjoch_hil.conformance.checks._spec import LENGTH_TO_M, data_files, places

__all__ = [
    "check_cross_fields",
    "check_file_attrs",
    "check_tmp_files",
]

_D = "instrument/detector"
_DS = f"{_D}/detectorSpecific"


def _image_shape(ctx: Context) -> None:
    if not ctx.image_shape or len(ctx.image_shape) != 2:
        return
    y, x = ctx.image_shape
    for name, want in (("x_pixels_in_detector", x), ("y_pixels_in_detector", y)):
        path = f"{ctx.entry_path}/{_DS}/{name}"
        got = ctx.number(path)
        if got is not None and int(got) != want:
            ctx.add("XF-IMAGE-SHAPE", path, f"{int(got)}, but the images are {y} x {x} (y, x)")


def _pixel_mask_link(ctx: Context) -> None:
    """§3: detector/pixel_mask is hard-linked from detectorSpecific/pixel_mask (one object)."""
    a = ctx.dataset(f"{ctx.entry_path}/{_D}/pixel_mask")
    b = ctx.dataset(f"{ctx.entry_path}/{_DS}/pixel_mask")
    if a is None or b is None:
        return
    try:
        same = a.id == b.id
    except Exception:  # noqa: BLE001
        return
    if not same:
        ctx.add(
            "XF-IMAGE-SHAPE",
            f"{ctx.entry_path}/{_D}/pixel_mask",
            "is not the same object as detectorSpecific/pixel_mask (a hard link is required)",
        )


def _modules(ctx: Context) -> None:
    det = ctx.group(f"{ctx.entry_path}/{_D}")
    if det is None or not ctx.image_shape or len(ctx.image_shape) != 2:
        return
    ny, nx = ctx.image_shape
    rects = []
    for name, grp in ctx.resolver.groups(det):
        if ctx.resolver.nx_class(grp) != "NXdetector_module":
            continue
        base = f"{ctx.entry_path}/{_D}/{name}"
        origin = ctx.scalar_array(f"{base}/data_origin")
        size = ctx.scalar_array(f"{base}/data_size")
        if origin is None or size is None or origin.size != 2 or size.size != 2:
            continue  # NX-MODULE / SPEC-SHAPE report malformed modules
        (oy, ox), (sy, sx) = (int(v) for v in origin), (int(v) for v in size)
        if oy < 0 or ox < 0 or sy <= 0 or sx <= 0 or oy + sy > ny or ox + sx > nx:
            ctx.add(
                "XF-MODULES",
                base,
                f"origin [{oy}, {ox}] size [{sy}, {sx}] does not lie inside the {ny} x {nx} image",
            )
        for other, (py, px, qy, qx) in rects:
            if oy < qy and py < oy + sy and ox < qx and px < ox + sx:
                ctx.add("XF-MODULES", base, f"overlaps module {other}")
        rects.append((name, (oy, ox, oy + sy, ox + sx)))
    if rects:
        reach_y = max(r[1][2] for r in rects)
        reach_x = max(r[1][3] for r in rects)
        if (reach_y, reach_x) != (ny, nx):
            ctx.add(
                "XF-MODULES",
                f"{ctx.entry_path}/{_D}",
                f"modules reach [{reach_y}, {reach_x}], the image is [{ny}, {nx}]: they do not "
                "tile it",
            )


def _image_numbers(ctx: Context) -> None:
    """image_nr_low/high of the master dataset and of each VDS data file vs the rows they fill."""
    if ctx.layout in ("vds", "integrated", "process") and ctx.sources:
        ds = ctx.sources[0].dataset
        low, high = int_attr(ds, "image_nr_low"), int_attr(ds, "image_nr_high")
        if low is not None and high is not None and (low, high) != (1, ctx.n_frames):
            ctx.add(
                "XF-IMAGE-NR",
                ds.name,
                f"image_nr_low {low} / image_nr_high {high}, 1 / {ctx.n_frames} for the "
                f"{ctx.n_frames} images it holds",
            )
    for name, f, lo, hi in data_files(ctx):
        ds = f.get("/entry/data/data")
        label = f"{name}:/entry/data/data"
        if ds is None:
            continue
        low, high = int_attr(ds, "image_nr_low"), int_attr(ds, "image_nr_high")
        if low is None or high is None:
            ctx.add("XF-IMAGE-NR", label, "image_nr_low / image_nr_high missing or not integers")
            continue
        if (low, high) != (lo + 1, hi + 1):
            ctx.add(
                "XF-IMAGE-NR",
                label,
                f"image_nr_low {low} / image_nr_high {high}, but the master maps it to images "
                f"{lo + 1}..{hi + 1}",
            )
        if ds.ndim >= 1 and high - low + 1 != ds.shape[0]:
            ctx.add(
                "XF-IMAGE-NR",
                label,
                f"image_nr_low {low}..high {high} spans {high - low + 1} images, file holds "
                f"{ds.shape[0]}",
            )


def _counters(ctx: Context) -> None:
    base = f"{ctx.entry_path}/{_DS}"
    nimages, ntrigger = ctx.number(f"{base}/nimages"), ctx.number(f"{base}/ntrigger")
    collected = ctx.number(f"{base}/nimages_collected")
    written = ctx.number(f"{base}/nimages_written")
    if written is not None and collected is not None and written > collected:
        ctx.add(
            "XF-IMAGE-COUNT",
            f"{base}/nimages_written",
            f"{written:g} > nimages_collected {collected:g}",
        )
    if nimages is not None and ntrigger is not None and collected is not None:
        if collected > nimages * max(ntrigger, 1):
            ctx.add(
                "XF-IMAGE-COUNT",
                f"{base}/nimages_collected",
                f"{collected:g} > nimages {nimages:g} x ntrigger {ntrigger:g}",
            )


def _azint(ctx: Context) -> None:
    q = ctx.dataset(f"{ctx.entry_path}/azint/bin_to_q")
    tt = ctx.dataset(f"{ctx.entry_path}/azint/bin_to_two_theta")
    phi = ctx.dataset(f"{ctx.entry_path}/azint/bin_to_phi")
    shapes = {
        n: d.shape
        for n, d in (("bin_to_q", q), ("bin_to_two_theta", tt), ("bin_to_phi", phi))
        if d is not None
    }
    if len(set(shapes.values())) > 1:
        ctx.add("XF-AZINT", f"{ctx.entry_path}/azint", f"bin arrays differ in shape: {shapes}")
        return
    wl = ctx.number(f"{ctx.entry_path}/instrument/beam/incident_wavelength")
    if q is None or tt is None or wl is None or wl <= 0 or q.size > 1_000_000:
        return
    wl_units = (
        ctx.units(ctx.dataset(f"{ctx.entry_path}/instrument/beam/incident_wavelength")) or ""
    ).strip()
    if wl_units not in ("angstrom", "Angstrom", "A", "Å"):
        return  # SPEC-UNITS reports the wavelength's units
    try:
        qv = np.asarray(q[()], dtype=np.float64)
        tv = np.asarray(tt[()], dtype=np.float64)
    except Exception:  # noqa: BLE001
        return
    want = 4 * math.pi * np.sin(np.radians(tv) / 2) / wl
    ok = np.isfinite(qv) & np.isfinite(want) & (qv > 0)
    bad = ok & (np.abs(qv - want) > 0.01 * np.abs(want) + 1e-6)
    if bad.any():
        i = np.argwhere(bad)[0]
        ctx.add(
            "XF-AZINT",
            q.name,
            f"bin {list(int(v) for v in i)}: q {qv[tuple(i)]:.5g}, but 2theta "
            f"{tv[tuple(i)]:.5g} deg at {wl:.5g} A gives {want[tuple(i)]:.5g} (4 pi sin(theta)/lambda)",
        )


def _spots(ctx: Context) -> None:
    for place in places(ctx, "results"):
        mx = ctx.resolver.walk(place.root, "/entry/MX")
        if not is_group(mx):
            continue
        get = {
            n: ctx.resolver.child(mx, n)
            for n in (
                "nPeaks",
                "peakXPosRaw",
                "peakYPosRaw",
                "peakCountUnfiltered",
                "peakCountIndexed",
                "peakIndexed",
            )
        }
        npk = get["nPeaks"]
        if not is_dataset(npk) or npk.ndim != 1 or npk.name in ctx.unsafe_virtual:
            continue
        idx = sample_indices(int(npk.shape[0]), ctx.deep)
        try:
            counts = (
                np.asarray(npk[()])[idx]
                if npk.shape[0] <= 100_000
                else np.array([npk[i] for i in idx])
            )
        except Exception:  # noqa: BLE001
            continue
        base = f"{place.label}/entry/MX"
        unf = get["peakCountUnfiltered"]
        if is_dataset(unf) and unf.shape == npk.shape:
            u = np.asarray(unf[()])[idx]
            # -1: the counter's absent sentinel (an image never received, hdf5-format.md §4, §5)
            bad = np.nonzero((counts.astype(np.int64) > u.astype(np.int64)) & (u != -1))[0]
            if bad.size:
                i = idx[bad[0]]
                ctx.add(
                    "XF-SPOTS",
                    f"{base}/nPeaks",
                    f"image {i}: nPeaks {counts[bad[0]]} > peakCountUnfiltered {u[bad[0]]}",
                )
        for name in ("peakXPosRaw", "peakYPosRaw"):
            ds = get[name]
            if (
                not is_dataset(ds)
                or ds.ndim != 2
                or ds.shape[0] != npk.shape[0]
                or ds.dtype.kind != "f"
            ):
                continue
            for k, i in enumerate(idx):
                c = int(counts[k])
                if c <= 0:
                    continue
                row = np.asarray(ds[i, : min(c, ds.shape[1])])
                if not np.all(np.isfinite(row)):
                    ctx.add(
                        "XF-SPOTS",
                        f"{base}/{name}",
                        f"image {i}: a slot below nPeaks {c} holds no position",
                    )
                    break
        pi, pci = get["peakIndexed"], get["peakCountIndexed"]
        if (
            is_dataset(pi)
            and is_dataset(pci)
            and pi.ndim == 2
            and pci.shape == npk.shape == pi.shape[:1]
        ):
            for k, i in enumerate(idx):
                c = min(int(counts[k]), pi.shape[1])
                n_ix = int(np.count_nonzero(np.asarray(pi[i, :c]) == 1)) if c > 0 else 0
                if int(pci[i]) != -1 and n_ix > int(pci[i]):
                    ctx.add(
                        "XF-SPOTS",
                        f"{base}/peakCountIndexed",
                        f"image {i}: {n_ix} stored spots flagged indexed > peakCountIndexed {int(pci[i])}",
                    )
                    break


def _reflections(ctx: Context) -> None:
    """§4.1 integratedReflections[i] vs the rows of /entry/reflections/image_<i+1> (§4.2)."""
    for place in places(ctx, "results"):
        count = ctx.resolver.walk(place.root, "/entry/MX/integratedReflections")
        refl = ctx.resolver.walk(place.root, "/entry/reflections")
        if not is_dataset(count) or count.ndim != 1 or count.name in ctx.unsafe_virtual:
            continue
        if count.shape[0] > 10_000_000 or count.dtype.kind not in "iuf":
            continue
        try:
            counts = np.asarray(count[()])
        except Exception:  # noqa: BLE001
            continue
        members = set(ctx.resolver.members(refl)) if is_group(refl) else set()
        base = f"{place.label}/entry/reflections"
        for i in sample_indices(int(counts.shape[0]), ctx.deep):
            c = counts[i]
            if not np.isfinite(c):
                continue
            name = f"image_{place.first + i + 1:06d}"
            if name not in members:
                if c > 0 and is_group(refl):
                    ctx.add(
                        "XF-REFLECTIONS",
                        f"{base}/{name}",
                        f"missing, but integratedReflections of the image is {int(c)}",
                    )
                continue
            h = ctx.resolver.walk(refl, name + "/h")
            if is_dataset(h) and h.ndim == 1 and h.shape[0] != int(c):
                ctx.add(
                    "XF-REFLECTIONS",
                    f"{base}/{name}",
                    f"{h.shape[0]} reflections, integratedReflections says {int(c)}",
                )


def _roi(ctx: Context) -> None:
    defs = ctx.group(f"{ctx.entry_path}/roi_defs")
    names = set()
    if defs is not None:
        names = {n for n, _ in ctx.resolver.groups(defs)}
    for place in places(ctx, "results"):
        roi = ctx.resolver.walk(place.root, "/entry/roi")
        if not is_group(roi):
            continue
        if place.label:  # §4.4: a data file holds the results of every defined ROI
            have = {n for n, _ in ctx.resolver.groups(roi)}
            for missing in sorted(names - have):
                ctx.add(
                    "XF-ROI",
                    f"{place.label}/entry/roi/{missing}",
                    "ROI defined in /entry/roi_defs but no results in this data file",
                )
        for name, _grp in ctx.resolver.groups(roi):
            if name not in names:
                ctx.add(
                    "XF-ROI",
                    f"{place.label}/entry/roi/{name}",
                    "ROI results without a definition in /entry/roi_defs",
                )
    if defs is None:
        return
    roi_map = ctx.dataset(f"{ctx.entry_path}/roi_defs/roi_map")
    shape = ctx.image_shape
    for name in sorted(names):
        base = f"{ctx.entry_path}/roi_defs/{name}"
        kind = ctx.text(f"{base}/type")
        if kind == "box" and shape and len(shape) == 2:
            v = {
                k: ctx.number(f"{base}/{k}")
                for k in ("min_x_pxl", "max_x_pxl", "min_y_pxl", "max_y_pxl")
            }
            if None not in v.values():
                if v["min_x_pxl"] > v["max_x_pxl"] or v["min_y_pxl"] > v["max_y_pxl"]:
                    ctx.add("XF-ROI", base, f"box bounds reversed: {v}")
                if v["max_x_pxl"] >= shape[1] or v["max_y_pxl"] >= shape[0]:
                    ctx.add(
                        "XF-ROI",
                        base,
                        f"box {v} reaches outside the {shape[0]} x {shape[1]} image",
                        severity="warning",  # a user box may overhang; its footprint is clipped
                    )
        bit = ctx.number(f"{base}/bit_index")
        if roi_map is None or bit is None or not (0 <= bit <= 15) or roi_map.size > 50_000_000:
            continue
        try:
            footprint = int(np.count_nonzero(np.asarray(roi_map[()]) & (1 << int(bit))))
        except Exception:  # noqa: BLE001
            continue
        for place in places(ctx, "results"):
            npx = ctx.resolver.walk(place.root, f"/entry/roi/{name}/npixel")
            if not is_dataset(npx) or npx.ndim != 1 or npx.name in ctx.unsafe_virtual:
                continue
            try:
                vals = (
                    np.asarray(npx[()])
                    if npx.shape[0] <= 100_000
                    else np.asarray([npx[i] for i in sample_indices(npx.shape[0], ctx.deep)])
                )
            except Exception:  # noqa: BLE001
                continue
            if vals.size and np.nanmax(vals.astype(np.float64)) > footprint:
                ctx.add(
                    "XF-ROI",
                    f"{place.label}/entry/roi/{name}/npixel",
                    f"{np.nanmax(vals):g} pixels, more than the {footprint} of bit {int(bit)} in roi_map",
                )


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT")


def _parse_time(text: str | None) -> datetime | None:
    if not text or not _TIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _times(ctx: Context) -> None:
    start = _parse_time(ctx.text(f"{ctx.entry_path}/start_time"))
    if start is None:
        return
    for name in ("end_time", "end_time_estimated"):
        end = _parse_time(ctx.text(f"{ctx.entry_path}/{name}"))
        if end is None:
            continue
        try:
            before = end < start
        except TypeError:  # naive vs aware: NX-DATETIME reports the missing zone
            continue
        if before:
            ctx.add(
                "XF-TIMES",
                f"{ctx.entry_path}/{name}",
                f"{end.isoformat()} is before start_time {start.isoformat()}",
            )


def _metres(ctx: Context, path: str) -> tuple[float, np.ndarray | None] | None:
    ds = ctx.dataset(path)
    value = ctx.number(path)
    if ds is None or value is None:
        return None
    scale = LENGTH_TO_M.get((ctx.units(ds) or "").strip())
    if scale is None:
        return None
    vec = attr(ds, "vector")
    try:
        v = np.asarray(vec, dtype=np.float64).reshape(-1)
    except Exception:  # noqa: BLE001
        v = None
    return value * scale, (v if v is not None and v.size == 3 else None)


def _distance(ctx: Context) -> None:
    det = f"{ctx.entry_path}/{_D}"
    dist = ctx.number(f"{det}/distance")
    d_units = (
        (ctx.units(ctx.dataset(f"{det}/distance")) or "").strip()
        if ctx.dataset(f"{det}/distance") is not None
        else ""
    )
    trans = _metres(ctx, f"{det}/transformations/translation")
    if dist is not None and dist > 0 and d_units in LENGTH_TO_M and trans is not None:
        dist_m = dist * LENGTH_TO_M[d_units]
        t_m, vec = trans
        if vec is not None and np.linalg.norm(vec) > 0 and abs(vec[2]) / np.linalg.norm(vec) >= 0.9:
            along = abs(t_m * vec[2] / np.linalg.norm(vec))
            if not (0.5 * dist_m <= along <= 2.0 * dist_m):
                ctx.add(
                    "XF-DISTANCE",
                    f"{det}/transformations/translation",
                    f"{along:.6g} m along the beam (value converted from its units), but distance "
                    f"is {dist_m:.6g} m",
                )
    for axis, size_name in (
        ("fast_pixel_direction", "x_pixel_size"),
        ("slow_pixel_direction", "y_pixel_size"),
    ):
        size = ctx.number(f"{det}/{size_name}")
        size_ds = ctx.dataset(f"{det}/{size_name}")
        if size is None or size_ds is None or size <= 0:
            continue
        s_scale = LENGTH_TO_M.get((ctx.units(size_ds) or "").strip())
        if s_scale is None:
            continue
        det_grp = ctx.group(det)
        if det_grp is None:
            continue
        for name, grp in ctx.resolver.groups(det_grp):
            if ctx.resolver.nx_class(grp) != "NXdetector_module":
                continue
            got = _metres(ctx, f"{det}/{name}/{axis}")
            if got is None:
                continue
            step = abs(got[0])
            want = size * s_scale
            if abs(step - want) > 0.01 * want:
                ctx.add(
                    "XF-DISTANCE",
                    f"{det}/{name}/{axis}",
                    f"{step:.6g} m per pixel (value converted from its units), {size_name} is "
                    f"{want:.6g} m",
                )


def check_cross_fields(ctx: Context) -> None:
    """All XF-* relations (each part guards itself; a corrupt part is CHECK-FAILED)."""
    if ctx.entry is None:
        return
    for part in (
        _image_shape,
        _pixel_mask_link,
        _reflections,
        _modules,
        _image_numbers,
        _counters,
        _azint,
        _spots,
        _roi,
        _times,
        _distance,
    ):
        part(ctx)


def check_file_attrs(ctx: Context) -> None:
    """§3 /entry: the master carries file_name, file_time, HDF5_Version root attributes."""
    root = ctx.master
    for name in ("file_name", "file_time", "HDF5_Version"):
        if name not in root.attrs:
            ctx.add("JF-FILE-ATTRS", "/", f"root attribute {name} missing")
    fname = as_text(attr(root, "file_name"))
    if fname is not None and fname != os.path.basename(root.filename):
        ctx.add(
            "JF-FILE-ATTRS",
            "/@file_name",
            f"{fname!r}, the file is named {os.path.basename(root.filename)!r}",
            severity="warning",
        )


def check_tmp_files(ctx: Context) -> None:
    """§2: files are written as *.<random>.tmp and renamed on close: none of the run is left."""
    path = ctx.master.filename
    folder, base = os.path.split(os.path.abspath(path))
    prefix = re.sub(r"(_master|_process)?\.h5$", "", base)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    left = sorted(n for n in names if n.startswith(prefix) and n.endswith(".tmp"))
    for n in left[:5]:
        ctx.add(
            "JF-TMP", n, "temporary file of this run left beside the master (not renamed on close)"
        )
