"""ROI definitions, the roi_map bitmask and per-image ROI results (hdf5-format.md §4.4, §4.4.1).

Footprints (a choice where the spec is silent, see docs/conformance.md): pixel (x, y) = (column,
row) index; a box covers min <= x <= max and min <= y <= max (inclusive); a circle covers
(x - cx)^2 + (y - cy)^2 <= r^2. Azimuthal ROIs need the geometry, so their bits are not recomputed.
"""

from __future__ import annotations

import numpy as np
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._hdf import is_dataset, is_group
from jfjoch_hil.conformance.checks._extensions import result_holders
from jfjoch_hil.conformance.checks._tables import ROI_RESULT_FIELDS, ROI_TYPES

__all__ = ["check_roi", "roi_footprint"]

_MAX_BITS = 16


def roi_footprint(kind: str, params: dict[str, float], shape: tuple[int, int]) -> np.ndarray:
    """The boolean [y, x] footprint of a box or circle ROI (the rule JF-ROI-MAP compares bits with)."""
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    if kind == "box":
        return (
            (xs >= params["min_x_pxl"])
            & (xs <= params["max_x_pxl"])
            & (ys >= params["min_y_pxl"])
            & (ys <= params["max_y_pxl"])
        )
    if kind == "circle":
        return (xs - params["center_x_pxl"]) ** 2 + (ys - params["center_y_pxl"]) ** 2 <= params[
            "radius_pxl"
        ] ** 2
    raise ValueError(f"roi type: '{kind}' has no pixel footprint; box or circle allowed")


def check_roi(ctx: Context) -> None:
    """JF-ROI-DEFS, JF-ROI-MAP, JF-ROI-RESULTS."""
    base = f"{ctx.entry_path}/roi_defs"
    defs = ctx.group(base)
    rois: dict[str, tuple[str, int | None, dict[str, float]]] = {}
    if defs is not None:
        used_bits: dict[int, str] = {}
        for name, _grp in ctx.resolver.groups(defs):
            path = f"{base}/{name}"
            kind = ctx.text(f"{path}/type")
            bit = ctx.number(f"{path}/bit_index")
            if kind not in ROI_TYPES:
                ctx.add(
                    "JF-ROI-DEFS", f"{path}/type", f"{kind!r}, one of {sorted(ROI_TYPES)} required"
                )
                continue
            if bit is None or bit != int(bit) or not 0 <= bit < _MAX_BITS:
                ctx.add(
                    "JF-ROI-DEFS",
                    f"{path}/bit_index",
                    f"{bit!r}, an integer 0..{_MAX_BITS - 1} required",
                )
                bit = None
            else:
                bit = int(bit)
                if bit in used_bits:
                    ctx.add(
                        "JF-ROI-DEFS",
                        f"{path}/bit_index",
                        f"bit {bit} also used by {used_bits[bit]}",
                    )
                used_bits[bit] = name
            params: dict[str, float] = {}
            for fname in ROI_TYPES[kind]:
                value = ctx.number(f"{path}/{fname}")
                if value is None or not np.isfinite(value):
                    ctx.add(
                        "JF-ROI-DEFS",
                        f"{path}/{fname}",
                        f"required for a {kind} ROI (finite number)",
                    )
                else:
                    params[fname] = value
            if kind == "azim":
                phis = [ctx.number(f"{path}/{p}") for p in ("phi_min_deg", "phi_max_deg")]
                if (phis[0] is None) != (phis[1] is None):
                    ctx.add(
                        "JF-ROI-DEFS",
                        path,
                        "phi_min_deg and phi_max_deg go together (both or neither)",
                    )
            if len(params) == len(ROI_TYPES[kind]):
                if kind == "box" and (
                    params["min_x_pxl"] > params["max_x_pxl"]
                    or params["min_y_pxl"] > params["max_y_pxl"]
                ):
                    ctx.add("JF-ROI-DEFS", path, "box min exceeds max")
                if kind == "circle" and params["radius_pxl"] <= 0:
                    ctx.add("JF-ROI-DEFS", f"{path}/radius_pxl", "radius must be positive")
                if kind == "azim" and params["q_min_recipA"] >= params["q_max_recipA"]:
                    ctx.add("JF-ROI-DEFS", path, "q_min_recipA must be below q_max_recipA")
            rois[name] = (kind, bit, params)
        _check_map(ctx, base, rois)
    _check_results(ctx, rois)


def _check_map(ctx: Context, base: str, rois: dict) -> None:
    ds = ctx.dataset(f"{base}/roi_map")
    if ds is None:
        if rois:
            ctx.add("JF-ROI-MAP", f"{base}/roi_map", "missing: ROIs are defined")
        return
    path = ds.name
    if ds.dtype != np.uint16:
        ctx.add("JF-ROI-MAP", path, f"dtype {ds.dtype}, uint16 required")
    if ctx.image_shape is not None and tuple(ds.shape) != tuple(ctx.image_shape[:2]):
        ctx.add("JF-ROI-MAP", path, f"shape {ds.shape}, image {ctx.image_shape} required")
        return
    if ds.ndim != 2:
        ctx.add("JF-ROI-MAP", path, f"rank {ds.ndim}, [y, x] required")
        return
    try:
        bits_map = np.asarray(ds[()]).astype(np.uint32)
    except Exception as exc:  # noqa: BLE001
        ctx.add("JF-ROI-MAP", path, f"unreadable: {exc}")
        return
    defined = 0
    for name, (kind, bit, params) in rois.items():
        if bit is None:
            continue
        defined |= 1 << bit
        if kind not in ("box", "circle") or len(params) != len(ROI_TYPES[kind]):
            continue
        want = roi_footprint(kind, params, bits_map.shape)
        have = ((bits_map >> bit) & 1).astype(bool)
        diff = np.argwhere(want != have)
        if diff.size:
            y, x = diff[0]
            ctx.add(
                "JF-ROI-MAP",
                path,
                f"bit {bit} ({name}): {len(diff)} pixels differ from the {kind} footprint, first at x={x}, y={y}",
            )
    stray = np.bitwise_and(bits_map, np.uint32(~defined & 0xFFFF))
    if stray.any():
        y, x = np.argwhere(stray)[0]
        ctx.add(
            "JF-ROI-MAP", path, f"bits {int(stray[y, x]):#06x} set at x={x}, y={y} belong to no ROI"
        )


def _check_results(ctx: Context, rois: dict) -> None:
    if ctx.layout in ("vds", "integrated", "process"):
        for name in rois:
            if ctx.group(f"{ctx.entry_path}/roi/{name}") is None:
                ctx.add(
                    "JF-ROI-RESULTS",
                    f"{ctx.entry_path}/roi/{name}",
                    f"missing: the {ctx.layout} master exposes per-image ROI results",
                )
    for h in result_holders(ctx):
        roi = ctx.resolver.walk(h.root, "/entry/roi")
        if not is_group(roi):
            continue
        for name, grp in ctx.resolver.groups(roi):
            path = f"{h.label}/entry/roi/{name}"
            if rois and name not in rois:
                ctx.add("JF-ROI-RESULTS", path, "no /entry/roi_defs entry of this name")
            for fname in ROI_RESULT_FIELDS:
                ds = ctx.resolver.child(grp, fname)
                if not is_dataset(ds):
                    ctx.add("JF-ROI-RESULTS", f"{path}/{fname}", "missing")
                elif ds.ndim != 1 or (h.n_images is not None and ds.shape[0] != h.n_images):
                    ctx.add(
                        "JF-ROI-RESULTS",
                        f"{path}/{fname}",
                        f"shape {ds.shape}, [{h.n_images}] required",
                    )
