"""Facts derived once per file: the NXmx entry, the layout, the image datasets and frame count.

Layouts (hdf5-format.md §2): ``legacy`` = external links ``/entry/data/data_NNNNNN``; ``vds`` =
``/entry/data/data`` virtual over other files; ``integrated`` = images stored in the file;
``process`` = integrated analysis file (``*_process.h5``) whose ``/entry/data/data`` is virtual and
points back at the original image files.
"""

from __future__ import annotations

from jfjoch_hil.conformance._context import LEGACY_LINK, Context, ImageSource
from jfjoch_hil.conformance._hdf import as_text, is_dataset, is_group

__all__ = ["derive_facts", "detect_layout"]


def _find_entry(ctx: Context) -> None:
    entries = []
    for name, grp in ctx.resolver.groups(ctx.master):
        if ctx.resolver.nx_class(grp) == "NXentry":
            entries.append((name, grp))
    for name, grp in entries:
        definition = ctx.resolver.child(grp, "definition")
        if is_dataset(definition):
            try:
                if as_text(definition[()]) == "NXmx":
                    ctx.entry, ctx.entry_path = grp, "/" + name
                    return
            except Exception:  # noqa: BLE001, S112 - an unreadable definition is reported by NX-ENTRY
                continue
    if entries:
        ctx.entry, ctx.entry_path = entries[0][1], "/" + entries[0][0]
    elif ctx.group("/entry") is not None:
        ctx.entry, ctx.entry_path = ctx.group("/entry"), "/entry"


def _through_external_link(ctx: Context, path: str) -> bool:
    """True when resolving ``path`` in the master crosses an external link."""
    grp = ctx.master
    parts = [p for p in path.split("/") if p]
    for i, name in enumerate(parts):
        kind = ctx.resolver.link_kind(grp, name)
        if kind == "external":
            return True
        if kind is None or i == len(parts) - 1:
            return False
        child = ctx.resolver.child(grp, name)
        if not is_group(child):
            return False
        grp = child
    return False


def detect_layout(ctx: Context) -> str:
    """The layout the file's /entry/data shows (``unknown`` when it holds no image data)."""
    data_group = ctx.group(f"{ctx.entry_path}/data")
    if data_group is None:
        return "unknown"
    names = ctx.resolver.members(data_group)
    if any(LEGACY_LINK.match(n) for n in names) and "data" not in names:
        return "legacy"
    kind = ctx.resolver.link_kind(data_group, "data")
    if kind is None:
        return "unknown"
    ds = ctx.resolver.child(data_group, "data")
    if not is_dataset(ds):
        return "unknown"
    if ds.is_virtual:
        if ctx.master.filename.endswith("_process.h5"):
            return "process"
        try:
            sources = ds.virtual_sources()
        except Exception:  # noqa: BLE001 - undecodable mapping: treat as VDS, JF-VDS reports it
            return "vds"
        if {s.file_name for s in sources} - {"."}:
            return "vds"
        # Sources in this file may still be external links to data files (nexgen writes its VDS
        # over /entry/data/data_NNNNNN links): then the images are not in this file.
        if any(_through_external_link(ctx, s.dset_name) for s in sources):
            return "vds"
        return "integrated"
    return "integrated"


def _gather_sources(ctx: Context) -> None:
    data_group = ctx.group(f"{ctx.entry_path}/data")
    if data_group is None:
        return
    if ctx.layout == "legacy":
        for name in sorted(n for n in ctx.resolver.members(data_group) if LEGACY_LINK.match(n)):
            ds = ctx.resolver.child(data_group, name)
            if is_dataset(ds) and ds.ndim >= 1:
                ctx.sources.append(
                    ImageSource(f"{ctx.entry_path}/data/{name}", ds, int(ds.shape[0]), ds.file)
                )
    else:
        ds = ctx.resolver.child(data_group, "data")
        if is_dataset(ds) and ds.ndim >= 1:
            ctx.sources.append(
                ImageSource(f"{ctx.entry_path}/data/data", ds, int(ds.shape[0]), ds.file)
            )
    if ctx.sources:
        ctx.n_frames = sum(s.frames for s in ctx.sources)
        first = ctx.sources[0].dataset
        if first.ndim >= 3:
            ctx.image_shape = tuple(int(x) for x in first.shape[1:])
        ctx.image_dtype = first.dtype


def derive_facts(ctx: Context) -> None:
    """Fill ``ctx.entry``, ``ctx.layout``, ``ctx.sources``, ``ctx.n_frames``, ``ctx.image_shape``."""
    _find_entry(ctx)
    detected = detect_layout(ctx)
    if ctx.layout_requested != "auto":
        ctx.layout = ctx.layout_requested
        # A process file is recognised by its name; under another name it looks like a VDS master.
        compatible = {ctx.layout_requested, "unknown"} | (
            {"vds"} if ctx.layout_requested == "process" else set()
        )
        if detected not in compatible:
            ctx.add(
                "JF-LAYOUT",
                f"{ctx.entry_path}/data",
                f"layout {ctx.layout_requested} requested but the file has the {detected} layout",
            )
    else:
        ctx.layout = detected
    _gather_sources(ctx)
