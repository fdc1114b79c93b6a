"""Layout snapshots and the format-change gate: ``jfcheck manifest`` and ``jfcheck diff``.

A manifest lists every path of a master file (groups, datasets, links) with NX_class, dtype,
shape (the image count written as the symbol ``n``; per-image names ``image_NNNNNN`` and
``data_NNNNNN`` collapsed) and attributes. ``diff`` classifies each change as breaking (a reader
of the old layout may fail: removal, type/rank/units/class change) or not (additions, widening).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._facts import derive_facts
from jfjoch_hil.conformance._hdf import Resolver, as_text, is_dataset, is_group
from jfjoch_hil.conformance.errors import ManifestError, UnreadableFileError

__all__ = ["make_manifest", "load_manifest", "diff_manifests", "Change", "MANIFEST_FORMAT"]

MANIFEST_FORMAT = "jfcheck-manifest/1"
_NUMBERED = re.compile(r"^(image|data)_\d{6}$")
_TEXT_ATTRS = ("NX_class", "units", "transformation_type", "signal")
_MAX_PATHS = 20_000


def _symbolic(shape: tuple[int, ...], n: int | None) -> list:
    # Only axis 0 is the image axis in hdf5-format.md §4; other axes equal to n by chance stay numbers.
    return ["n" if i == 0 and n is not None and d == n else int(d) for i, d in enumerate(shape)]


def _dtype_text(dt: np.dtype) -> str:
    if h5py.check_string_dtype(dt) is not None:
        return "string"
    return dt.str.lstrip("<>|=")


def _attrs(obj) -> dict[str, str]:
    out = {}
    try:
        names = list(obj.attrs)
    except Exception:  # noqa: BLE001
        return out
    for name in names:
        try:
            value = obj.attrs[name]
        except Exception:  # noqa: BLE001
            out[name] = "unreadable"
            continue
        t = as_text(value)
        if name in _TEXT_ATTRS and t is not None:
            out[name] = t
        elif t is not None:
            out[name] = "string"
        else:
            arr = np.asarray(value)
            out[name] = f"{_dtype_text(arr.dtype)}{list(arr.shape)}"
    return out


def make_manifest(path: str | Path) -> dict:
    """Snapshot of a master file's layout (JSON-serialisable)."""
    try:
        master = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001
        raise UnreadableFileError(f"{path}: not readable as HDF5 ({exc})") from exc
    resolver = Resolver(master)
    try:
        ctx = Context(
            target=str(path), resolver=resolver, profile="nxmx", layout_requested="auto", deep=False
        )
        derive_facts(ctx)
        n = ctx.n_frames
        entries: dict[str, dict] = {}
        stack = [("", master)]
        while stack and len(entries) < _MAX_PATHS:
            gpath, grp = stack.pop()
            for name in resolver.members(grp):
                key = f"{gpath}/{_NUMBERED.sub(lambda m: m.group(1) + '_NNNNNN', name)}"
                if key in entries:
                    continue
                kind = resolver.link_kind(grp, name)
                if kind == "external":
                    link = grp.get(name, getlink=True)
                    entries[key] = {"kind": "external_link", "target": link.path}
                    continue
                obj = resolver.child(grp, name)
                if is_group(obj):
                    entries[key] = {"kind": "group", "attrs": _attrs(obj)}
                    if kind == "hard":
                        stack.append((key, obj))
                elif is_dataset(obj):
                    entries[key] = {
                        "kind": "dataset",
                        "dtype": _dtype_text(obj.dtype),
                        "shape": _symbolic(obj.shape or (), n),
                        "virtual": bool(obj.is_virtual),
                        "attrs": _attrs(obj),
                    }
                else:
                    entries[key] = {"kind": "dangling_link"}
        return {
            "format": MANIFEST_FORMAT,
            "layout": ctx.layout,
            "n_images": n,
            "entries": dict(sorted(entries.items())),
        }
    finally:
        resolver.close()
        master.close()


def load_manifest(path: str | Path) -> dict:
    """A manifest from a JSON manifest file or (made on the fly) from an HDF5 file."""
    p = Path(path)
    try:
        head = p.read_bytes()[:8]
    except OSError as exc:
        raise UnreadableFileError(f"{path}: {exc}") from exc
    if head.startswith(b"\x89HDF"):
        return make_manifest(p)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: neither HDF5 nor a JSON manifest ({exc})") from exc
    if (
        not isinstance(doc, dict)
        or doc.get("format") != MANIFEST_FORMAT
        or not isinstance(doc.get("entries"), dict)
    ):
        raise ManifestError(f"{path}: format must be '{MANIFEST_FORMAT}' with an 'entries' object")
    return doc


@dataclass(frozen=True)
class Change:
    """One difference between two manifests and whether it breaks readers of the old layout."""

    kind: str  # added, removed, changed
    path: str
    detail: str
    breaking: bool

    def as_dict(self) -> dict:
        """JSON form."""
        return {
            "kind": self.kind,
            "path": self.path,
            "detail": self.detail,
            "breaking": self.breaking,
        }


def _dtype_breaking(old: str, new: str) -> bool:
    if old == new:
        return False
    if "string" in (old, new):
        return True
    try:
        a, b = np.dtype(old), np.dtype(new)
    except TypeError:
        return True
    if a.kind != b.kind:
        return True
    return b.itemsize < a.itemsize


def diff_manifests(old: dict, new: dict) -> list[Change]:
    """Added, removed and changed entries of ``new`` relative to ``old``, each classified."""
    try:
        eo, en = old["entries"], new["entries"]
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"entries: missing ({exc})") from exc
    changes: list[Change] = []
    for path in sorted(set(eo) - set(en)):
        changes.append(Change("removed", path, f"{eo[path].get('kind')} removed", True))
    for path in sorted(set(en) - set(eo)):
        changes.append(Change("added", path, f"{en[path].get('kind')} added", False))
    for path in sorted(set(eo) & set(en)):
        a, b = eo[path], en[path]
        if a.get("kind") != b.get("kind"):
            changes.append(
                Change("changed", path, f"kind {a.get('kind')} -> {b.get('kind')}", True)
            )
            continue
        if a.get("kind") == "dataset":
            if a.get("dtype") != b.get("dtype"):
                changes.append(
                    Change(
                        "changed",
                        path,
                        f"dtype {a.get('dtype')} -> {b.get('dtype')}",
                        _dtype_breaking(str(a.get("dtype")), str(b.get("dtype"))),
                    )
                )
            if a.get("shape") != b.get("shape"):
                changes.append(
                    Change("changed", path, f"shape {a.get('shape')} -> {b.get('shape')}", True)
                )
            if a.get("virtual") != b.get("virtual"):
                changes.append(
                    Change(
                        "changed", path, f"virtual {a.get('virtual')} -> {b.get('virtual')}", False
                    )
                )
        if a.get("target") != b.get("target"):
            changes.append(
                Change("changed", path, f"link target {a.get('target')} -> {b.get('target')}", True)
            )
        aa, ba = a.get("attrs") or {}, b.get("attrs") or {}
        for name in sorted(set(aa) - set(ba)):
            changes.append(Change("removed", f"{path}@{name}", "attribute removed", True))
        for name in sorted(set(ba) - set(aa)):
            changes.append(Change("added", f"{path}@{name}", "attribute added", False))
        for name in sorted(set(aa) & set(ba)):
            if aa[name] != ba[name]:
                changes.append(
                    Change("changed", f"{path}@{name}", f"{aa[name]} -> {ba[name]}", True)
                )
    return changes
