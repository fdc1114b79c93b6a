"""What the XDS plugins and fabio need beyond NXmx (nxmx-rules.json ``reader_requirements``).

Neggia (legacy layout only): data_%06d files of equal length, chunks [1, ny, nx], one filter
(none, LZ4, bitshuffle-LZ4), unsigned pixels, no VDS, positive detectorSpecific/nimages,
contiguous integer detectorSpecific/pixel_mask of the image shape, float pixel sizes.
Durin: pixel sizes with length units, ASCII NX_class/units strings that survive its reader,
no bitshuffle-Zstd. fabio: no other /entry/data member named data*.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._hdf import dataset_filters

__all__ = ["check_neggia", "check_durin", "check_fabio", "string_attr_problem"]

_BITSHUFFLE, _LZ4 = 32008, 32004
_DURIN_LENGTH = {
    "m",
    "mm",
    "um",
    "cm",
    "meter",
    "meters",
    "metre",
    "metres",
    "millimeter",
    "millimeters",
    "micrometer",
    "micrometers",
    "micron",
    "microns",
    "centimeter",
    "centimeters",
}
_FABIO_OK = re.compile(r"^data(_\d{6})?$")


def _zstd(filters: list[tuple[int, tuple[int, ...]]]) -> bool:
    return any(code == _BITSHUFFLE and len(vals) >= 5 and vals[4] == 3 for code, vals in filters)


def check_neggia(ctx: Context) -> None:
    """RD-NEGGIA (legacy layout)."""
    frames = [s.frames for s in ctx.sources]
    if (
        len(frames) > 1
        and len(set(frames[:-1])) > 1
        or (len(frames) > 1 and frames[-1] > frames[0])
    ):
        ctx.add(
            "RD-NEGGIA",
            f"{ctx.entry_path}/data",
            f"frames per file {frames}: all but the last must equal data_000001's",
        )
    for src in ctx.sources:
        ds = src.dataset
        if ds.is_virtual:
            ctx.add("RD-NEGGIA", src.label, "virtual dataset: Neggia aborts on layout class 3")
            continue
        if ds.dtype.kind != "u" or ds.dtype.itemsize not in (1, 2, 4):
            # Signed images (JUNGFRAU photons) are what a Jungfraujoch writer stores as received;
            # Neggia cannot read them (Durin can): a reader limitation, reported as a warning.
            ctx.add(
                "RD-NEGGIA",
                src.label,
                f"dtype {ds.dtype}: Neggia reads only unsigned 8/16/32-bit (use Durin)",
                severity="warning" if ds.dtype.kind == "i" else None,
            )
        if ds.ndim == 3 and ds.chunks != (1, *ds.shape[1:]):
            ctx.add("RD-NEGGIA", src.label, f"chunks {ds.chunks}, [1, ny, nx] required")
        filters = dataset_filters(ds)
        ok = len(filters) <= 1 and all(
            code == _LZ4 or (code == _BITSHUFFLE and not _zstd(filters)) for code, _ in filters
        )
        if not ok:
            ctx.add(
                "RD-NEGGIA",
                src.label,
                f"filters {[c for c, _ in filters]}: at most one of LZ4 or bitshuffle-LZ4",
            )
    dspec = f"{ctx.entry_path}/instrument/detector/detectorSpecific"
    nimages = ctx.scalar(f"{dspec}/nimages")
    if not isinstance(nimages, int | np.integer) or nimages <= 0:
        ctx.add(
            "RD-NEGGIA",
            f"{dspec}/nimages",
            f"{nimages!r}: a positive integer required ('CANNOT READ N_IMAGES')",
        )
    ntrigger = ctx.scalar(f"{dspec}/ntrigger")
    if ntrigger is not None and (not isinstance(ntrigger, int | np.integer) or ntrigger <= 0):
        ctx.add("RD-NEGGIA", f"{dspec}/ntrigger", f"{ntrigger!r}: a positive integer required")
    if isinstance(nimages, int | np.integer) and ctx.n_frames is not None:
        total = int(nimages) * int(
            ntrigger if isinstance(ntrigger, int | np.integer) and ntrigger > 0 else 1
        )
        if total != ctx.n_frames:
            ctx.add(
                "RD-NEGGIA",
                f"{dspec}/nimages",
                f"nimages x ntrigger = {total}, {ctx.n_frames} frames linked",
            )
    mask = ctx.dataset(f"{dspec}/pixel_mask")
    if mask is None:
        ctx.add("RD-NEGGIA", f"{dspec}/pixel_mask", "missing (Neggia requires it)")
    else:
        if mask.ndim != 2 or mask.dtype.kind not in "iu":
            ctx.add(
                "RD-NEGGIA",
                f"{dspec}/pixel_mask",
                f"{mask.dtype} rank {mask.ndim}: 2-D integer required",
            )
        if mask.chunks is not None:
            ctx.add("RD-NEGGIA", f"{dspec}/pixel_mask", "chunked: Neggia needs a contiguous mask")
        if ctx.image_shape is not None and tuple(mask.shape) != tuple(ctx.image_shape[:2]):
            ctx.add(
                "RD-NEGGIA",
                f"{dspec}/pixel_mask",
                f"shape {mask.shape}, image {ctx.image_shape} required",
            )
    for axis in ("x_pixel_size", "y_pixel_size"):
        ds = ctx.dataset(f"{ctx.entry_path}/instrument/detector/{axis}")
        if ds is not None and ds.dtype not in (np.float32, np.float64):
            ctx.add("RD-NEGGIA", ds.name, f"dtype {ds.dtype}, float32/float64 required")


def string_attr_problem(obj, name: str) -> str | None:
    """Why Durin would misread string attribute ``name`` of ``obj`` (None when it is safe)."""
    try:
        if name not in obj.attrs:
            return None
        aid = obj.attrs.get_id(name)
        tid = aid.get_type()
    except Exception as exc:  # noqa: BLE001
        return f"unreadable attribute: {exc}"
    if not isinstance(tid, h5py.h5t.TypeStringID):
        return "not a string"
    if tid.is_variable_str():
        if tid.get_cset() == h5py.h5t.CSET_UTF8:
            return "variable-length UTF-8 string (Durin has no conversion path)"
        return None
    size = tid.get_size()
    try:
        raw = obj.attrs[name]
        text = raw if isinstance(raw, bytes | np.bytes_) else bytes(np.asarray(raw).reshape(-1)[0])
    except Exception:  # noqa: BLE001
        return None
    if len(bytes(text).rstrip(b"\x00")) >= size:
        return f"fixed-length string of size {size} without room for a terminator (Durin drops the last character)"
    return None


def check_durin(ctx: Context) -> None:
    """RD-DURIN."""
    det = f"{ctx.entry_path}/instrument/detector"
    for axis in ("x_pixel_size", "y_pixel_size"):
        ds = ctx.dataset(f"{det}/{axis}") or ctx.dataset(f"{det}/detectorSpecific/{axis}")
        if ds is None:
            ctx.add(
                "RD-DURIN",
                f"{det}/{axis}",
                "missing: 'Could not locate x_pixel_size and y_pixel_size'",
            )
            continue
        units = ctx.units(ds)
        if units is None or units.strip() not in _DURIN_LENGTH:
            ctx.add("RD-DURIN", ds.name, f"units {units!r}: m, mm, um or cm required")
        problem = string_attr_problem(ds, "units")
        if problem:
            ctx.add("RD-DURIN", f"{ds.name}@units", problem)
    groups = [ctx.master]
    seen = 0
    while groups and seen < 200:
        grp = groups.pop()
        seen += 1
        problem = string_attr_problem(grp, "NX_class")
        if problem:
            ctx.add("RD-DURIN", f"{grp.name}@NX_class", problem)
        for name, child in ctx.resolver.groups(grp):
            if name.startswith("image_") or name in (
                "MX",
                "reflections",
                "roi",
                "roi_defs",
                "profiling",
                "azint",
            ):
                continue
            groups.append(child)
    for src in ctx.sources:
        if not src.dataset.is_virtual and _zstd(dataset_filters(src.dataset)):
            ctx.add(
                "RD-DURIN", src.label, "bitshuffle with Zstd: Durin refuses 6-parameter bitshuffle"
            )


def check_fabio(ctx: Context) -> None:
    """RD-FABIO: every /entry/data member named data* must be data or data_NNNNNN."""
    grp = ctx.group(f"{ctx.entry_path}/data")
    if grp is None:
        return
    for name in ctx.resolver.members(grp):
        if name.startswith("data") and not _FABIO_OK.match(name):
            ctx.add(
                "RD-FABIO",
                f"{ctx.entry_path}/data/{name}",
                "fabio EigerImage takes every data* member as an image stack",
            )
