"""Guarded HDF5 access: link-by-link path resolution that never follows a link out of the run folder.

h5py follows soft and external links on its own; a hostile file can point anywhere (``/etc``, a
network share) or loop. Here every path is walked one member at a time with ``getlink=True``:
soft links are followed with a depth limit, external links only to files inside the master's
folder (unless the caller allows more), and data files are opened by us, read-only, and cached
(hdf5-format.md §2: master and data files share a folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = [
    "Resolver",
    "Missing",
    "as_text",
    "attr",
    "int_attr",
    "dataset_filters",
    "is_group",
    "is_dataset",
]

_MAX_LINK_DEPTH = 16
_MAX_MEMBERS = 20_000


class Missing:
    """Why a path could not be resolved: ``absent``, ``dangling``, ``missing-file``, ``outside``, ``loop``, ``broken``."""

    __slots__ = ("kind", "detail")

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail

    def __bool__(self) -> bool:  # a Missing is never a usable object
        return False

    def __repr__(self) -> str:
        return f"Missing({self.kind}: {self.detail})"


def is_group(obj: Any) -> bool:
    """True for an h5py group (files included)."""
    return isinstance(obj, h5py.Group)


def is_dataset(obj: Any) -> bool:
    """True for an h5py dataset."""
    return isinstance(obj, h5py.Dataset)


def as_text(value: Any) -> str | None:
    """A scalar string value (str, bytes, numpy bytes, one-element array) as str; None otherwise."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, str):
        return value
    return None


def attr(obj: Any, name: str) -> Any:
    """Attribute ``name`` of ``obj`` or None when absent or unreadable."""
    try:
        if name not in obj.attrs:
            return None
        return obj.attrs[name]
    except Exception:  # noqa: BLE001 - unreadable attribute types read as absent; the caller reports
        return None


def int_attr(obj: Any, name: str) -> int | None:
    """Attribute ``name`` of ``obj`` as one integer, or None when absent, not a single integer or
    unreadable."""
    try:
        arr = np.asarray(attr(obj, name))
    except Exception:  # noqa: BLE001 - an unreadable value reads as absent
        return None
    if arr.size != 1 or arr.dtype.kind not in "iu":
        return None
    return int(arr.reshape(-1)[0])


class Resolver:
    """Resolves paths of a master file, following links only where allowed (hdf5-format.md §2)."""

    def __init__(self, master: h5py.File, allow_outside: bool = False) -> None:
        self.master = master
        self.folder = Path(os.path.abspath(master.filename)).parent
        self.allow_outside = allow_outside
        self._files: dict[str, h5py.File] = {}
        self.files_referenced: dict[
            str, str
        ] = {}  # resolved path -> status ("ok", "missing", "outside")

    def close(self) -> None:
        """Close every data file this resolver opened."""
        for f in self._files.values():
            try:
                f.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken file must not mask findings
                pass
        self._files.clear()

    def file_path(self, link_file: str, from_file: h5py.File) -> Path:
        """Where a file named in a link or VDS source lives: relative names are taken from the linking file's folder."""
        base = Path(os.path.abspath(from_file.filename)).parent
        p = Path(link_file)
        return p if p.is_absolute() else (base / p)

    def inside(self, p: Path) -> bool:
        """True when ``p`` lies in the master's folder (or anywhere, when allowed)."""
        if self.allow_outside:
            return True
        try:
            Path(os.path.realpath(p)).relative_to(os.path.realpath(self.folder))
        except ValueError:
            return False
        return True

    def open_file(self, p: Path) -> h5py.File | Missing:
        """Open (and cache) a referenced file read-only, refusing files outside the folder."""
        key = os.path.realpath(p)
        if not self.inside(p):
            self.files_referenced[str(p)] = "outside"
            return Missing("outside", f"{p} lies outside {self.folder} (not followed)")
        if key in self._files:
            return self._files[key]
        if key == os.path.realpath(self.master.filename):
            return self.master
        if not os.path.isfile(key):
            self.files_referenced[str(p)] = "missing"
            return Missing("missing-file", f"file {p.name} does not exist")
        try:
            f = h5py.File(key, "r")
        except Exception as exc:  # noqa: BLE001 - a corrupt data file is a finding, not a crash
            self.files_referenced[str(p)] = "broken"
            return Missing("broken", f"file {p.name} cannot be opened as HDF5: {exc}")
        self.files_referenced[str(p)] = "ok"
        self._files[key] = f
        return f

    def child(self, group: h5py.Group, name: str, depth: int = 0) -> Any:
        """Member ``name`` of ``group``, following links as allowed; a :class:`Missing` if not reachable."""
        if depth > _MAX_LINK_DEPTH:
            return Missing("loop", f"more than {_MAX_LINK_DEPTH} links followed at {name}")
        try:
            link = group.get(name, getlink=True)
        except Exception as exc:  # noqa: BLE001
            return Missing("broken", f"{name}: {exc}")
        if link is None:
            return Missing("absent", f"{name} absent")
        try:
            if isinstance(link, h5py.SoftLink):
                target = link.path
                start = group.file if target.startswith("/") else group
                return self.walk(start, target, depth + 1, dangling_kind="dangling")
            if isinstance(link, h5py.ExternalLink):
                f = self.open_file(self.file_path(link.filename, group.file))
                if isinstance(f, Missing):
                    return f
                return self.walk(f, link.path, depth + 1, dangling_kind="dangling")
            return group[name]
        except Exception as exc:  # noqa: BLE001
            return Missing("broken", f"{name}: {exc}")

    def walk(
        self, start: h5py.Group, path: str, depth: int = 0, dangling_kind: str = "absent"
    ) -> Any:
        """Resolve ``path`` (absolute or relative to ``start``) one member at a time."""
        obj: Any = start.file if path.startswith("/") else start
        for part in [p for p in path.split("/") if p and p != "."]:
            if not is_group(obj):
                return Missing(dangling_kind, f"{path}: {part} is below a dataset")
            nxt = self.child(obj, part, depth)
            if isinstance(nxt, Missing):
                if nxt.kind == "absent":
                    return Missing(dangling_kind, f"{path}: {part} absent")
                return nxt
            obj = nxt
        return obj

    def get(self, path: str) -> Any:
        """Resolve an absolute path of the master."""
        return self.walk(self.master, path)

    def link_kind(self, group: h5py.Group, name: str) -> str | None:
        """``hard``, ``soft``, ``external`` or None when ``name`` is not a member of ``group``."""
        try:
            link = group.get(name, getlink=True)
        except Exception:  # noqa: BLE001
            return None
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            return "soft"
        if isinstance(link, h5py.ExternalLink):
            return "external"
        return "hard"

    def members(self, group: h5py.Group) -> list[str]:
        """Member names of ``group`` (capped, so a hostile file with millions of members stays cheap)."""
        names: list[str] = []
        try:
            for name in group:
                names.append(name)
                if len(names) >= _MAX_MEMBERS:
                    break
        except Exception:  # noqa: BLE001 - a damaged B-tree yields the members read so far
            pass
        return names

    def groups(self, group: h5py.Group) -> list[tuple[str, h5py.Group]]:
        """Sub-groups reached through hard or soft links only (external links are data-file territory)."""
        out = []
        for name in self.members(group):
            if self.link_kind(group, name) == "external":
                continue
            obj = self.child(group, name)
            if is_group(obj):
                out.append((name, obj))
        return out

    def nx_class(self, obj: Any) -> str | None:
        """The NX_class attribute of ``obj`` as text."""
        return as_text(attr(obj, "NX_class"))


def dataset_filters(ds: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """The HDF5 filter pipeline of ``ds`` as (filter id, client values) pairs."""
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        code, _flags, values, _name = plist.get_filter(i)
        out.append((int(code), tuple(int(v) for v in values)))
    return out
