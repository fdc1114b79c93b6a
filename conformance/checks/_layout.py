"""Layouts and links: legacy external links, VDS sources, integrated self-containment, data files,
the image dataset's storage, and image readability (hdf5-format.md §2, §3 /entry/data; NXmx C08).

HDF5 returns fill values silently when a VDS source is missing, so sources are checked file by
file before any virtual dataset is read; a virtual dataset with sources outside the run folder is
never read (unless the caller allows it).
"""

from __future__ import annotations

import os

import h5py
import numpy as np
from jfjoch_hil.conformance._context import LEGACY_LINK, Context, sample_indices
from jfjoch_hil.conformance._hdf import (
    Missing,
    dataset_filters,
    int_attr,
    is_dataset,
    is_group,
)

__all__ = [
    "check_legacy_links",
    "check_external_links",
    "check_virtual",
    "check_integrated",
    "check_layout_exposure",
    "check_image_dataset",
    "check_readable",
    "virtual_datasets",
    "open_with_prefix",
]

_BITSHUFFLE = 32008
_LZ4 = 32004
_PER_IMAGE_GROUPS = ("MX", "image", "roi", "azint", "profiling", "detector", "xfel")
_WALK_LIMIT = 4000
_MAX_IMAGE_PIXELS = 1 << 28  # 268 Mpixel: beyond any detector; a hostile shape is not read


def check_legacy_links(ctx: Context) -> None:
    """Legacy: data_000001..N contiguous, external, same image shape; image_nr_low/high tile 1..total."""
    data_group = ctx.group(f"{ctx.entry_path}/data")
    if data_group is None:
        return
    names = sorted(n for n in ctx.resolver.members(data_group) if LEGACY_LINK.match(n))
    if not names:
        ctx.add(
            "JF-LEGACY-LINKS", f"{ctx.entry_path}/data", "no data_NNNNNN links in a legacy master"
        )
        return
    numbers = [int(LEGACY_LINK.match(n).group(1)) for n in names]
    if numbers != list(range(1, len(numbers) + 1)):
        ctx.add(
            "JF-LEGACY-LINKS",
            f"{ctx.entry_path}/data",
            f"links numbered {numbers}, 1..{len(numbers)} without gaps required",
        )
    expected_low = 1
    shapes = set()
    for name in names:
        path = f"{ctx.entry_path}/data/{name}"
        kind = ctx.resolver.link_kind(data_group, name)
        if kind != "external":
            ctx.add(
                "JF-LEGACY-LINKS",
                path,
                f"is a {kind} link, an external link to a data file required",
                severity="warning",
            )
        ds = ctx.resolver.child(data_group, name)
        if isinstance(ds, Missing):
            if ds.kind in ("missing-file", "outside", "broken"):
                ctx.add("JF-DATA-FILE", path, ds.detail)
            else:
                ctx.add("JF-LEGACY-LINKS", path, f"does not resolve: {ds.detail}")
            expected_low = None
            continue
        if not is_dataset(ds) or ds.ndim != 3:
            ctx.add("JF-LEGACY-LINKS", path, "target is not a 3-D image dataset [n, y, x]")
            expected_low = None
            continue
        shapes.add(tuple(ds.shape[1:]))
        low, high = int_attr(ds, "image_nr_low"), int_attr(ds, "image_nr_high")
        if low is None or high is None:
            # a DECTRIS / Jungfraujoch convention NXmx does not require: a warning under nxmx
            ctx.add(
                "JF-LEGACY-LINKS",
                path,
                "image_nr_low / image_nr_high missing or not integers",
                severity="warning" if ctx.profile == "nxmx" else None,
            )
            expected_low = None
            continue
        if high - low + 1 != ds.shape[0]:
            ctx.add(
                "JF-LEGACY-LINKS",
                path,
                f"image_nr_low {low}..high {high} spans {high - low + 1} images, file holds {ds.shape[0]}",
            )
        if expected_low is not None and low != expected_low:
            ctx.add(
                "JF-LEGACY-LINKS",
                path,
                f"image_nr_low {low}, {expected_low} expected (1-based, contiguous)",
            )
        expected_low = high + 1
    if len(shapes) > 1:
        ctx.add(
            "JF-LEGACY-LINKS",
            f"{ctx.entry_path}/data",
            f"data files differ in image shape: {sorted(shapes)}",
        )
    if expected_low is not None and ctx.n_frames is not None and expected_low - 1 != ctx.n_frames:
        ctx.add(
            "JF-LEGACY-LINKS",
            f"{ctx.entry_path}/data",
            f"max image_nr_high {expected_low - 1} != {ctx.n_frames} frames",
        )


def _walk_links(ctx: Context, root: h5py.Group):
    """Yield (path, group, name, link kind) for members of the master reached by hard links."""
    stack = [root]
    seen = set()
    budget = _WALK_LIMIT if not ctx.deep else 10 * _WALK_LIMIT
    while stack and budget > 0:
        grp = stack.pop()
        try:
            key = hash(grp.id)
        except Exception:  # noqa: BLE001
            continue
        if key in seen:
            continue
        seen.add(key)
        for name in ctx.resolver.members(grp):
            budget -= 1
            kind = ctx.resolver.link_kind(grp, name)
            yield grp, name, kind
            if kind == "hard":
                try:
                    child = grp[name]
                except Exception:  # noqa: BLE001, S112
                    continue
                if is_group(child):
                    stack.append(child)


def check_external_links(ctx: Context) -> None:
    """Every external link of the master (outside /entry/data, which the legacy rule covers) resolves."""
    for grp, name, kind in _walk_links(ctx, ctx.master):
        if kind != "external":
            continue
        path = f"{grp.name.rstrip('/')}/{name}"
        if ctx.layout == "integrated":
            ctx.add("JF-INTEGRATED", path, "external link in an integrated file")
        if grp.name == f"{ctx.entry_path}/data" and ctx.layout == "legacy":
            continue
        target = ctx.resolver.child(grp, name)
        if isinstance(target, Missing):
            rule = (
                "JF-DATA-FILE"
                if target.kind in ("missing-file", "outside", "broken")
                else "JF-LEGACY-LINKS"
            )
            if ctx.layout != "legacy" and rule == "JF-LEGACY-LINKS":
                rule = "JF-DATA-FILE"
            ctx.add(rule, path, f"external link does not resolve: {target.detail}")


def virtual_datasets(ctx: Context) -> list[h5py.Dataset]:
    """Virtual datasets of the master reached by hard links (budgeted walk)."""
    out = []
    for grp, name, kind in _walk_links(ctx, ctx.master):
        if kind != "hard":
            continue
        try:
            obj = grp[name]
        except Exception:  # noqa: BLE001, S112
            continue
        if is_dataset(obj) and obj.is_virtual:
            out.append(obj)
    return out


def check_virtual(ctx: Context) -> None:
    """VDS: every source file exists in the folder, holds its dataset, and the mappings cover axis 0."""
    for ds in virtual_datasets(ctx):
        path = ds.name
        try:
            sources = ds.virtual_sources()
        except Exception as exc:  # noqa: BLE001
            ctx.add("JF-VDS", path, f"virtual mapping unreadable: {exc}")
            ctx.unsafe_virtual.add(path)
            continue
        covered: list[tuple[int, int]] = []
        for src in sources:
            if src.file_name == ".":
                target_file = ctx.master
            else:
                p = ctx.resolver.file_path(src.file_name, ctx.master)
                if ctx.layout == "integrated":
                    ctx.add(
                        "JF-INTEGRATED", path, f"virtual source in another file {src.file_name}"
                    )
                target_file = ctx.resolver.open_file(p)
                if isinstance(target_file, Missing):
                    rule = "JF-DATA-FILE"
                    ctx.add(rule, path, f"VDS source {src.file_name}: {target_file.detail}")
                    if target_file.kind == "outside":
                        ctx.unsafe_virtual.add(path)
                    continue
            src_ds = ctx.resolver.walk(target_file, src.dset_name, dangling_kind="dangling")
            if not is_dataset(src_ds):
                ctx.add(
                    "JF-VDS", path, f"VDS source {src.file_name}:{src.dset_name} is not a dataset"
                )
                continue
            try:
                (vlo, vhi) = src.vspace.get_select_bounds()
            except Exception:  # noqa: BLE001
                ctx.add("JF-VDS", path, f"VDS mapping of {src.file_name} has no bounded selection")
                continue
            try:
                (_slo, shi) = src.src_space.get_select_bounds()
            except Exception:  # noqa: BLE001 - an "all" selection: the mapped extent must fit the source
                shi = tuple(h - lo for h, lo in zip(vhi, vlo, strict=False))
            if len(shi) != len(src_ds.shape) or any(
                h >= n for h, n in zip(shi, src_ds.shape, strict=False)
            ):
                ctx.add(
                    "JF-VDS",
                    path,
                    f"source selection up to {list(shi)} exceeds {src.file_name}:{src.dset_name} shape {list(src_ds.shape)}",
                )
                continue
            covered.append((int(vlo[0]), int(vhi[0])))
        if not ds.shape:
            continue
        n = int(ds.shape[0])
        # Merge the mapped intervals instead of allocating a mask: a hostile shape can be huge.
        next_free, first_gap = 0, None
        for lo, hi in sorted(covered):
            if lo > next_free and first_gap is None:
                first_gap = next_free
            next_free = max(next_free, hi + 1)
        if first_gap is None and next_free < n:
            first_gap = next_free
        if n and first_gap is not None and first_gap < n:
            ctx.add("JF-VDS", path, f"images from {first_gap} on (of {n}) have no existing source")


def check_integrated(ctx: Context) -> None:
    """Integrated: images stored in the file itself (no virtual or external image data)."""
    ds = ctx.dataset(f"{ctx.entry_path}/data/data")
    if ds is not None and ds.is_virtual:
        try:
            names = {s.file_name for s in ds.virtual_sources()}
        except Exception:  # noqa: BLE001
            names = {"?"}
        if names - {"."}:
            ctx.add("JF-INTEGRATED", ds.name, f"image data virtual over {sorted(names - {'.'})}")


def check_layout_exposure(ctx: Context) -> None:
    """What the master exposes per layout (hdf5-format.md §2, §4): image data, per-image results."""
    data_path = f"{ctx.entry_path}/data"
    if ctx.layout == "unknown":
        ctx.add(
            "JF-LAYOUT", data_path, "no image data: neither data_NNNNNN links nor a data dataset"
        )
        return
    if ctx.layout in ("vds", "process"):
        ds = ctx.dataset(f"{data_path}/data")
        if ds is None or not ds.is_virtual:
            ctx.add(
                "JF-LAYOUT",
                f"{data_path}/data",
                f"{ctx.layout} layout needs a virtual dataset here",
            )
    if ctx.layout == "integrated":
        ds = ctx.dataset(f"{data_path}/data")
        if ds is None:
            ctx.add(
                "JF-LAYOUT", f"{data_path}/data", "integrated layout needs the image dataset here"
            )
    if ctx.layout == "vds" and ctx.sources:
        try:
            files = sorted({s.file_name for s in ctx.sources[0].dataset.virtual_sources()} - {"."})
        except Exception:  # noqa: BLE001
            files = []
        first = (
            ctx.resolver.open_file(ctx.resolver.file_path(files[0], ctx.master)) if files else None
        )
        if first is not None and not isinstance(first, Missing):
            for gname in _PER_IMAGE_GROUPS:
                if gname == "detector":
                    continue  # /entry/detector diagnostics stay in the data files (§4.7)
                if (
                    is_group(ctx.resolver.walk(first, f"/entry/{gname}"))
                    and ctx.group(f"{ctx.entry_path}/{gname}") is None
                ):
                    ctx.add(
                        "JF-LAYOUT",
                        f"{ctx.entry_path}/{gname}",
                        f"data files hold /entry/{gname}; the VDS master must expose it",
                    )


def _storage_datasets(ctx: Context) -> list[h5py.Dataset]:
    out = []
    for src in ctx.sources:
        ds = src.dataset
        if ds.is_virtual and ds.name not in ctx.unsafe_virtual:
            try:
                vs = ds.virtual_sources()
            except Exception:  # noqa: BLE001
                vs = []
            for s in (vs[:1] + vs[-1:]) if len(vs) > 1 else vs:
                f = (
                    ctx.master
                    if s.file_name == "."
                    else ctx.resolver.open_file(ctx.resolver.file_path(s.file_name, ctx.master))
                )
                if isinstance(f, Missing):
                    continue
                target = ctx.resolver.walk(f, s.dset_name)
                if is_dataset(target):
                    out.append(target)
        elif not ds.is_virtual:
            out.append(ds)
    return out


def sentinel_for(dtype: np.dtype) -> int | None:
    """The image fill value hdf5-format.md §2 requires: INTx_MIN signed, UINTx_MAX unsigned."""
    if dtype.kind == "i":
        return int(np.iinfo(dtype).min)
    if dtype.kind == "u":
        return int(np.iinfo(dtype).max)
    return None


def check_image_dataset(ctx: Context) -> None:
    """Images: one image per chunk, bitshuffle (LZ4 or Zstd) filter, integer sentinel fill value."""
    for src in ctx.sources:
        ds = src.dataset
        want = sentinel_for(ds.dtype)
        if ds.dtype.kind not in "iu":
            ctx.add("JF-IMAGE-DATASET", src.label, f"image dtype {ds.dtype} is not an integer type")
        elif ds.fillvalue is not None and int(ds.fillvalue) != want:
            ctx.add(
                "JF-IMAGE-DATASET",
                src.label,
                f"fill value {ds.fillvalue}, {want} required for {ds.dtype}",
            )
    for ds in _storage_datasets(ctx):
        label = f"{os.path.basename(ds.file.filename)}:{ds.name}"
        if ds.ndim != 3:
            ctx.add("JF-IMAGE-DATASET", label, f"rank {ds.ndim}, [n, y, x] required")
            continue
        if ds.chunks != (1, *ds.shape[1:]):
            ctx.add(
                "JF-IMAGE-DATASET",
                label,
                f"chunks {ds.chunks}, one image per chunk {(1, *ds.shape[1:])} required",
            )
        codes = [c for c, _ in dataset_filters(ds)]
        if _BITSHUFFLE not in codes:
            ctx.add(
                "JF-IMAGE-DATASET",
                label,
                f"filters {codes}: bitshuffle ({_BITSHUFFLE}) with LZ4 or Zstd required",
            )
        want = sentinel_for(ds.dtype)
        if want is not None and ds.fillvalue is not None and int(ds.fillvalue) != want:
            ctx.add(
                "JF-IMAGE-DATASET",
                label,
                f"fill value {ds.fillvalue}, {want} required for {ds.dtype}",
            )


def open_with_prefix(ctx: Context, ds: h5py.Dataset) -> h5py.Dataset:
    """Re-open a virtual dataset with the virtual prefix set to its file's folder, so relative source
    names resolve next to the master whatever the working directory."""
    if not ds.is_virtual:
        return ds
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    folder = os.path.dirname(os.path.abspath(ds.file.filename)) + os.sep
    dapl.set_virtual_prefix(folder.encode())
    dsid = h5py.h5d.open(ds.file.id, ds.name.encode(), dapl)
    return h5py.Dataset(dsid)


def check_readable(ctx: Context) -> None:
    """The first, last and a sample of images decompress (all with --deep)."""
    for src in ctx.sources:
        ds = src.dataset
        if ds.name in ctx.unsafe_virtual:
            continue
        try:
            ds = open_with_prefix(ctx, ds)
        except Exception as exc:  # noqa: BLE001
            ctx.add("DATA-READABLE", src.label, f"cannot open: {exc}")
            continue
        pixels = int(np.prod(ds.shape[1:], dtype=np.float64)) if ds.ndim > 1 else 1
        if pixels > _MAX_IMAGE_PIXELS:
            ctx.add(
                "DATA-READABLE",
                src.label,
                f"images of {pixels} pixels are too large to read back",
                severity="warning",
            )
            continue
        bad = []
        for i in sample_indices(src.frames, ctx.deep):
            try:
                ds[i]
            except Exception as exc:  # noqa: BLE001 - a corrupt chunk is the finding
                bad.append((i, str(exc).splitlines()[0][:120]))
                if len(bad) >= 5:
                    break
        for i, msg in bad:
            ctx.add("DATA-READABLE", f"{src.label}[{i}]", f"image does not decompress: {msg}")
