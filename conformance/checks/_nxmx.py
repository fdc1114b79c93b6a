"""NXmx requirements driven by nxmx-rules.json: presence by level, NX_class, type class, units,
enumerations, ISO 8601 date-times, and symbol-tied shapes (nxmx-rules.md "Per-group requirements",
C01, C07-C13).

Groups are matched by class, not by name (nxmx-rules.md "How to read the rules").
"""

from __future__ import annotations

import re
from typing import Any

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._hdf import Missing, as_text, attr, is_dataset
from jfjoch_hil.conformance.checks._units import unit_fits
from jfjoch_hil.conformance.rules import nxmx_rules

__all__ = ["check_nxmx_items", "check_nx_classes", "check_entry", "is_iso8601", "dtype_kind"]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$")
_PLACEHOLDER = re.compile(
    r"^[A-Z][A-Z_]*[A-Z]"
)  # CHANNELNAME_channel, AXISNAME: any name of the class
_MAX_GROUPS = 3000


def is_iso8601(text: str | None) -> bool:
    """ISO 8601 date-time with an explicit zone (nxmx-rules.md C09)."""
    return bool(text) and bool(_ISO.match(text.strip()))


def dtype_kind(value: Any) -> str:
    """numpy kind of a dataset or attribute value: 'S'/'U'/'O' strings, 'i', 'u', 'f', 'b'."""
    if is_dataset(value):
        dt = value.dtype
        if h5py.check_string_dtype(dt) is not None:
            return "S"
        if h5py.check_enum_dtype(dt) is not None:
            return "b" if dt.kind == "b" else "i"
        return dt.kind
    if isinstance(value, str | bytes):
        return "S"
    arr = np.asarray(value)
    if arr.dtype.kind == "O" and arr.size and isinstance(arr.reshape(-1)[0], str | bytes):
        return "S"
    return arr.dtype.kind


def _type_ok(nx_type: str, kind: str, value_reader) -> bool:
    if nx_type in ("NX_CHAR", "NX_DATE_TIME"):
        return kind in "SUO"
    if nx_type == "NX_INT":
        return kind in "iu"
    if nx_type == "NX_FLOAT":
        return kind == "f"
    if nx_type == "NX_NUMBER":
        return kind in "iuf"
    if nx_type == "NX_BOOLEAN":
        if kind == "b":
            return True
        if kind in "iu":
            values = value_reader()
            return values is not None and bool(np.all(np.isin(values, (0, 1))))
        return False
    return True


def _segments(class_path: str) -> list[str]:
    return [s for s in class_path.split("/") if s]


def _match_segment(ctx: Context, parent: h5py.Group, seg: str) -> list[tuple[str, h5py.Group]]:
    if "[" in seg:
        name, cls = seg[:-1].split("[", 1)
        any_name = bool(_PLACEHOLDER.match(name))
    else:
        name, cls, any_name = seg, seg, True
    out = []
    for child_name, grp in ctx.resolver.groups(parent):
        if ctx.resolver.nx_class(grp) == cls and (any_name or child_name == name):
            out.append((child_name, grp))
    return out


class _GroupIndex:
    """Memoised class-path -> matched groups (the entry is the NXmx entry found once)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cache: dict[tuple[str, ...], list[tuple[str, h5py.Group]]] = {(): [("", ctx.master)]}

    def groups(self, segs: tuple[str, ...]) -> list[tuple[str, h5py.Group]]:
        if segs in self.cache:
            return self.cache[segs]
        parents = self.groups(segs[:-1])
        out: list[tuple[str, h5py.Group]] = []
        if segs == ("NXentry",):
            if self.ctx.entry is not None:
                out = [(self.ctx.entry_path, self.ctx.entry)]
        else:
            for ppath, pgrp in parents:
                for name, grp in _match_segment(self.ctx, pgrp, segs[-1]):
                    out.append((f"{ppath}/{name}", grp))
        self.cache[segs] = out
        return out


def _level_finding(ctx: Context, level: str, path: str, what: str) -> None:
    if level == "required":
        ctx.add("NX-REQUIRED", path, f"required {what} is missing")
    elif level == "recommended":
        ctx.add("NX-RECOMMENDED", path, f"recommended {what} is missing")


def _small_values(ds: h5py.Dataset) -> np.ndarray | None:
    try:
        return (
            np.asarray(ds[()])
            if ds.size <= 4096
            else np.asarray(ds[tuple(slice(0, 1) for _ in ds.shape)])
        )
    except Exception:  # noqa: BLE001
        return None


def _symbol_length(ctx: Context, sym: str) -> int | None:
    if sym == "nP":
        return ctx.n_frames
    if ctx.image_shape is None:
        return None
    if sym == "i":
        return ctx.image_shape[0] if len(ctx.image_shape) >= 1 else None
    if sym == "j":
        return ctx.image_shape[1] if len(ctx.image_shape) >= 2 else None
    if sym == "k":
        return ctx.image_shape[2] if len(ctx.image_shape) >= 3 else None
    return int(sym) if sym.isdigit() else None


def _check_dims(ctx: Context, rule: dict, path: str, ds: h5py.Dataset) -> None:
    dims = rule.get("dims") or {}
    spec = dims.get("dim") or []
    if not spec or path.endswith(
        "group_index"
    ):  # group_index's 'i' is a definition defect (C07 note)
        return
    rule_id = "NX-BASE-SHAPE" if rule["level"] in ("base", "extension") else "NX-SHAPE"
    name = path.rsplit("/", 1)[-1]
    shape = ds.shape or ()
    n_required = sum(1 for d in spec if d.get("required", True))
    accepted = [spec]
    if name == "pixel_mask":  # C13: [i, j] or per frame [nP, i, j]
        accepted.append([{"value": "nP"}, *spec])
    fits = False
    for option in accepted:
        req = n_required + (len(option) - len(spec))
        if not (req <= len(shape) <= len(option)):
            continue
        lengths = [_symbol_length(ctx, d["value"]) for d in option[: len(shape)]]
        if all(exp is None or exp == got for exp, got in zip(lengths, shape, strict=False)):
            fits = True
            break
    if not fits:
        want = ", ".join(d["value"] for d in spec)
        ctx.add(
            rule_id,
            path,
            f"shape {list(shape)} does not fit [{want}] (nP={ctx.n_frames}, image {ctx.image_shape})",
        )


def _check_value(ctx: Context, rule: dict, path: str, obj: Any, kind: str, read) -> None:
    nx_type = rule.get("type")
    if nx_type and not _type_ok(nx_type, kind, read):
        ctx.add("NX-DTYPE", path, f"has numpy kind '{kind}', {nx_type} required")
        return
    needs_text = nx_type == "NX_DATE_TIME" or (rule.get("enum") and kind in "SUO")
    if not needs_text:
        return
    value = read()
    text = as_text(value) if value is not None else None
    if nx_type == "NX_DATE_TIME" and not path.endswith("time_zone"):  # time_zone: known NXDL quirk
        if not is_iso8601(text):
            ctx.add("NX-DATETIME", path, f"'{text}' is not ISO 8601 with an explicit zone")
    if rule.get("enum") and text is not None and text not in rule["enum"]:
        ctx.add("NX-ENUM", path, f"'{text}' is not one of {rule['enum']}")


def _check_units(ctx: Context, rule: dict, path: str, ds: h5py.Dataset, name: str) -> None:
    cat = rule.get("units")
    if not cat or cat == "NX_TRANSFORMATION":
        return
    units = ctx.units(ds)
    fits = unit_fits(cat, units, name)
    if fits is False:
        if units is None:
            ctx.add("NX-UNITS", path, f"units attribute missing ({cat} required)")
        else:
            ctx.add("NX-UNITS", path, f"units '{units}' are not a {cat} unit")


def check_nxmx_items(ctx: Context) -> None:
    """Every non-transformation row of nxmx-rules.json: presence by level, type, units, enum, dims."""
    index = _GroupIndex(ctx)
    for rule in nxmx_rules()["rules"]:
        cpath = rule["path"]
        if cpath.startswith("**"):
            continue  # NXtransformations axes: checks/_geometry.py
        owner_path, _, attr_name = cpath.partition("@")
        segs = _segments(owner_path)
        level = rule["level"]
        kind = rule["kind"]
        if kind == "group":
            for ppath, pgrp in index.groups(tuple(segs[:-1])):
                if not _match_segment(ctx, pgrp, segs[-1]):
                    _level_finding(
                        ctx, level, f"{ppath}/{segs[-1]}", f"group of class {rule['nx_class']}"
                    )
            continue
        if kind == "attribute":
            if segs and not segs[-1].startswith("NX") and "[" not in segs[-1]:
                owners = [
                    (f"{p}/{segs[-1]}", ctx.resolver.child(g, segs[-1]))
                    for p, g in index.groups(tuple(segs[:-1]))
                ]
                owners = [(p, o) for p, o in owners if not isinstance(o, Missing)]
            else:
                owners = index.groups(tuple(segs))
            for opath, owner in owners:
                path = f"{opath or ''}@{attr_name}"
                value = attr(owner, attr_name)
                try:
                    present = attr_name in owner.attrs
                except Exception:  # noqa: BLE001
                    present = False
                if not present:
                    _level_finding(ctx, level, path, "attribute")
                    continue
                if level == "forbidden":
                    ctx.add("NX-FORBIDDEN", path, "must not be written")
                _check_value(ctx, rule, path, owner, dtype_kind(value), lambda v=value: v)
            continue
        # field
        for ppath, pgrp in index.groups(tuple(segs[:-1])):
            name = segs[-1]
            path = f"{ppath}/{name}"
            obj = ctx.resolver.child(pgrp, name)
            if isinstance(obj, Missing):
                if obj.kind == "absent":
                    _level_finding(ctx, level, path, "field")
                elif obj.kind in ("dangling", "loop", "broken") and level == "required":
                    ctx.add(
                        "NX-REQUIRED", path, f"required field is an unresolvable link: {obj.detail}"
                    )
                # dangling links and missing files are reported by the link rules
                continue
            if level == "forbidden":
                ctx.add("NX-FORBIDDEN", path, "must not be written (maxOccurs=0)")
            if level == "deprecated":
                ctx.add("NX-DEPRECATED", path, "deprecated; write its replacement")
            if not is_dataset(obj):
                ctx.add("NX-DTYPE", path, "is a group where a field is required")
                continue
            _check_value(ctx, rule, path, obj, dtype_kind(obj), lambda o=obj: _small_values(o))
            _check_units(ctx, rule, path, obj, name)
            _check_dims(ctx, rule, path, obj)


def check_entry(ctx: Context) -> None:
    """C01: an NXentry whose definition is exactly 'NXmx'."""
    if ctx.entry is None:
        ctx.add("NX-ENTRY", "/", "no NXentry group")
        return
    if ctx.resolver.nx_class(ctx.entry) != "NXentry":
        ctx.add("NX-ENTRY", ctx.entry_path, "entry group lacks NX_class='NXentry'")
    text = ctx.text(f"{ctx.entry_path}/definition")
    if text != "NXmx":
        ctx.add(
            "NX-ENTRY", f"{ctx.entry_path}/definition", f"definition is {text!r}, 'NXmx' required"
        )


def check_nx_classes(ctx: Context) -> None:
    """C12: every group (reached by hard or soft links) has an NX_class naming a NeXus class."""
    seen: set[int] = set()
    stack: list[tuple[str, h5py.Group]] = [("", ctx.master)]
    visited = 0
    while stack and (ctx.deep or visited < _MAX_GROUPS):
        path, grp = stack.pop()
        try:
            key = hash(grp.id)
        except Exception:  # noqa: BLE001
            continue
        if key in seen:
            continue
        seen.add(key)
        visited += 1
        if path:
            cls = ctx.resolver.nx_class(grp)
            if cls is None:
                # NeXus: a group without NX_class is non-NeXus content a validator may warn
                # about; only our own profile makes it an error.
                ctx.add(
                    "NX-CLASS",
                    path,
                    "group has no NX_class attribute",
                    severity="warning" if ctx.profile == "nxmx" else None,
                )
            elif not cls.startswith("NX"):
                ctx.add("NX-CLASS", path, f"NX_class '{cls}' is not a NeXus class name")
        for name, child in ctx.resolver.groups(grp):
            stack.append((f"{path}/{name}", child))
