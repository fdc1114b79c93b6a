"""Geometry: depends_on resolution and chains, transformation attributes, detector modules
(nxmx-rules.md "NXtransformations and depends_on", C02-C06, C14).
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._hdf import Missing, as_text, attr, is_dataset
from jfjoch_hil.conformance.checks._units import unit_fits

__all__ = ["check_geometry", "check_modules"]

_MAX_CHAIN = 64
_MODULE_AXES = ("fast_pixel_direction", "slow_pixel_direction", "module_offset")


def _vec3(value: Any) -> np.ndarray | None:
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except Exception:  # noqa: BLE001
        return None
    return arr if arr.size == 3 else None


def _resolve(ctx: Context, holder: h5py.Group, target: str) -> Any:
    start = holder.file if target.startswith("/") else holder
    return ctx.resolver.walk(start, target, dangling_kind="dangling")


def _name(ds: h5py.Dataset) -> str:
    return ds.name or "?"


def _check_axis(ctx: Context, ds: h5py.Dataset, module_axis: bool = False) -> None:
    path = _name(ds)
    vec = _vec3(attr(ds, "vector"))
    if vec is None:
        ctx.add("NX-TRANSFORMATION", f"{path}@vector", "missing or not 3 numbers")
    elif not np.all(np.isfinite(vec)) or float(np.linalg.norm(vec)) == 0.0:
        ctx.add(
            "NX-TRANSFORMATION", f"{path}@vector", f"{vec.tolist()} is not a finite non-zero vector"
        )
    elif abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
        ctx.add(
            "NX-TRANSFORMATION",
            f"{path}@vector",
            f"{vec.tolist()} is not of unit length",
            severity="warning",
        )
    ttype = as_text(attr(ds, "transformation_type"))
    if module_axis and ttype != "translation":
        ctx.add(
            "NX-TRANSFORMATION",
            f"{path}@transformation_type",
            f"'{ttype}', 'translation' required (C05)",
        )
    elif ttype not in (None, "translation", "rotation"):
        ctx.add(
            "NX-TRANSFORMATION",
            f"{path}@transformation_type",
            f"'{ttype}' not translation/rotation",
        )
    if attr(ds, "depends_on") is None:
        ctx.add("NX-TRANSFORMATION", f"{path}@depends_on", "missing")
    offset = attr(ds, "offset")
    if offset is None:
        if module_axis:
            ctx.add("NX-TRANSFORMATION", f"{path}@offset", "missing (required on module axes, C05)")
    else:
        off = _vec3(offset)
        if off is None or not np.all(np.isfinite(off)):
            ctx.add("NX-TRANSFORMATION", f"{path}@offset", "not 3 finite numbers")
    if ttype in ("translation", "rotation"):
        units = ctx.units(ds)
        cat = "NX_LENGTH" if ttype == "translation" else "NX_ANGLE"
        if not unit_fits(cat, units):
            ctx.add("NX-TRANSFORMATION", path, f"units {units!r} do not fit a {ttype} ({cat}, C04)")


def _follow(
    ctx: Context, start_path: str, holder: h5py.Group, value: str | None, seen_axes: dict
) -> list[str]:
    """Follow a chain from a depends_on value; returns the axis paths visited."""
    chain: list[str] = []
    visited: set[str] = set()
    current_holder, current_value, where = holder, value, start_path
    for _ in range(_MAX_CHAIN):
        if current_value is None:
            ctx.add("NX-DEPENDS-ON", where, "depends_on has no text value")
            return chain
        if current_value == ".":
            return chain
        target = _resolve(ctx, current_holder, current_value)
        if isinstance(target, Missing) or not is_dataset(target):
            detail = target.detail if isinstance(target, Missing) else "not a dataset"
            ctx.add("NX-DEPENDS-ON", where, f"'{current_value}' does not resolve ({detail})")
            return chain
        if attr(target, "vector") is None:
            ctx.add(
                "NX-DEPENDS-ON",
                where,
                f"'{current_value}' resolves to {target.name}, which has no @vector",
            )
        key = target.name
        if key in visited:
            ctx.add("NX-CHAIN", where, f"cycle through {key}")
            return chain
        visited.add(key)
        chain.append(key)
        seen_axes.setdefault(key, target)
        current_holder = target.parent
        current_value = as_text(attr(target, "depends_on"))
        where = f"{key}@depends_on"
    ctx.add("NX-CHAIN", start_path, f"more than {_MAX_CHAIN} steps without reaching '.'")
    return chain


def _transformation_groups(ctx: Context) -> list[h5py.Group]:
    out = []
    stack = [ctx.entry] if ctx.entry is not None else []
    budget = 400
    while stack and budget:
        grp = stack.pop()
        budget -= 1
        for name, child in ctx.resolver.groups(grp):
            if name.startswith("image_") or name in (
                "MX",
                "reflections",
                "roi",
                "azint",
                "profiling",
            ):
                continue  # per-image collections hold no axes; skip their many members
            if ctx.resolver.nx_class(child) == "NXtransformations":
                out.append(child)
            stack.append(child)
    return out


def check_geometry(ctx: Context) -> None:
    """C02-C05, C14: depends_on targets, chains to '.', axis attributes and units, module chain join."""
    if ctx.entry is None:
        return
    axes: dict[str, h5py.Dataset] = {}
    for tgrp in _transformation_groups(ctx):
        for name in ctx.resolver.members(tgrp):
            obj = ctx.resolver.child(tgrp, name)
            if is_dataset(obj) and attr(obj, "vector") is not None:
                axes.setdefault(obj.name, obj)
    detectors, sample_chain = [], []
    for _name, grp in ctx.resolver.groups(ctx.entry):
        cls = ctx.resolver.nx_class(grp)
        if cls == "NXsample":
            dep = ctx.text(f"{grp.name}/depends_on")
            raw = ctx.get(f"{grp.name}/depends_on")
            if isinstance(raw, Missing) and raw.kind != "absent":
                ctx.add(
                    "NX-DEPENDS-ON", f"{grp.name}/depends_on", f"unresolvable link: {raw.detail}"
                )
            if dep is not None:
                sample_chain = _follow(ctx, f"{grp.name}/depends_on", grp, dep, axes)
                if sample_chain:
                    scan = ctx.resolver.get(sample_chain[0])
                    if (
                        is_dataset(scan)
                        and scan.ndim == 1
                        and scan.shape[0] > 1
                        and ctx.n_frames is not None
                        and scan.shape[0] != ctx.n_frames
                    ):
                        ctx.add(
                            "NX-SHAPE",
                            scan.name,
                            f"scan axis has {scan.shape[0]} values for {ctx.n_frames} frames (C14)",
                        )
        if cls == "NXinstrument":
            for _dname, dgrp in ctx.resolver.groups(grp):
                if ctx.resolver.nx_class(dgrp) == "NXdetector":
                    detectors.append(dgrp)
    for det in detectors:
        dep_path = f"{det.name}/depends_on"
        det_chain: list[str] = []
        dep = ctx.get(dep_path)
        if is_dataset(dep):
            det_chain = _follow(ctx, dep_path, det, ctx.text(dep_path), axes)
        elif isinstance(dep, Missing) and dep.kind != "absent":
            ctx.add("NX-DEPENDS-ON", dep_path, f"depends_on is an unresolvable link: {dep.detail}")
        for _mname, mod in ctx.resolver.groups(det):
            if ctx.resolver.nx_class(mod) != "NXdetector_module":
                continue
            for axis_name in _MODULE_AXES:
                ax = ctx.resolver.child(mod, axis_name)
                if not is_dataset(ax):
                    continue
                _check_axis(ctx, ax, module_axis=True)
                chain = _follow(
                    ctx, f"{ax.name}@depends_on", mod, as_text(attr(ax, "depends_on")), axes
                )
                if (
                    axis_name == "fast_pixel_direction"
                    and det_chain
                    and not (set(chain) & set(det_chain))
                ):
                    ctx.add(
                        "NX-TRANSFORMATION",
                        ax.name,
                        f"module chain {chain} does not join the detector chain {det_chain} (C05)",
                    )
    for ax in list(axes.values()):
        _check_axis(ctx, ax)
        _follow(ctx, f"{ax.name}@depends_on", ax.parent, as_text(attr(ax, "depends_on")), axes)


def check_modules(ctx: Context) -> None:
    """C06: each NXdetector has a module whose data_origin + data_size lie inside the image."""
    if ctx.entry is None:
        return
    for _iname, inst in ctx.resolver.groups(ctx.entry):
        if ctx.resolver.nx_class(inst) != "NXinstrument":
            continue
        for _dname, det in ctx.resolver.groups(inst):
            if ctx.resolver.nx_class(det) != "NXdetector":
                continue
            modules = [
                m
                for _n, m in ctx.resolver.groups(det)
                if ctx.resolver.nx_class(m) == "NXdetector_module"
            ]
            if not modules:
                ctx.add("NX-MODULE", det.name, "no NXdetector_module")
            for mod in modules:
                origin = ctx.scalar_array(f"{mod.name}/data_origin")
                size = ctx.scalar_array(f"{mod.name}/data_size")
                if origin is None or size is None:
                    continue  # absence is NX-REQUIRED's finding
                if origin.shape != size.shape:
                    ctx.add(
                        "NX-MODULE",
                        mod.name,
                        f"data_origin {origin.tolist()} and data_size {size.tolist()} differ in rank",
                    )
                    continue
                if ctx.image_shape is not None and origin.size != len(ctx.image_shape):
                    ctx.add(
                        "NX-MODULE",
                        mod.name,
                        f"rank {origin.size} differs from the image rank {len(ctx.image_shape)}",
                    )
                    continue
                if np.any(origin < 0) or np.any(size <= 0):
                    ctx.add(
                        "NX-MODULE",
                        mod.name,
                        f"origin {origin.tolist()} / size {size.tolist()} not positive",
                    )
                    continue
                if ctx.image_shape is not None and np.any(
                    origin + size > np.asarray(ctx.image_shape)
                ):
                    ctx.add(
                        "NX-MODULE",
                        mod.name,
                        f"origin {origin.tolist()} + size {size.tolist()} exceeds the image {list(ctx.image_shape)}",
                    )
