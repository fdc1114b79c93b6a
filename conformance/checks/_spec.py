"""The table-driven check: every field row of the spec coverage table (conformance/rules/_coverage.py)
is enforced from its columns: presence, NX_class, dtype, rank and shape relation, units, domain.

Rule ids: SPEC-PRESENT, SPEC-CLASS, SPEC-DTYPE, SPEC-SHAPE, SPEC-UNITS, SPEC-DOMAIN (profile
``jungfraujoch``). Rows are visited in table order; shape symbols (``spots``, ``phi``, ``q``) are
bound by the first dataset that uses them, ``n`` is the image count of the file holding the row,
``y``/``x`` the image size.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
from jfjoch_hil.conformance._context import Context, sample_indices
from jfjoch_hil.conformance._hdf import Missing, as_text, attr, is_dataset, is_group
from jfjoch_hil.conformance.checks._nxmx import is_iso8601
from jfjoch_hil.conformance.checks._units import CATEGORY_UNITS, EXTENSION_UNITS
from jfjoch_hil.conformance.rules._coverage import COVERAGE, SpecRow

__all__ = [
    "check_spec_rows",
    "Place",
    "places",
    "data_files",
    "unit_matches",
    "LENGTH_TO_M",
    "BRAVAIS",
]

BRAVAIS = frozenset(
    {"aP", "mP", "mC", "oP", "oC", "oI", "oF", "tP", "tI", "hP", "hR", "cP", "cI", "cF"}
)
_ROI_TYPES = frozenset({"box", "circle", "azim"})
_WILDCARD_SAMPLE = 4  # without --deep, the first and last 4 members a wildcard matches

# Spellings taken as the same unit (exact units of hdf5-format.md §3-§5).
_SAME_UNIT: dict[str, frozenset[str]] = {
    **EXTENSION_UNITS,
    "angstrom": EXTENSION_UNITS["Angstrom"],
    "A": frozenset({"A", "ampere", "amp"}),
    "Hz": frozenset({"Hz", "1/s", "s^-1"}),
    "K": frozenset({"K", "kelvin"}),
    "rad": frozenset({"rad", "radian", "radians"}),
    "ns": frozenset({"ns", "nanosecond", "nanoseconds"}),
}
_DIMENSION: dict[str, frozenset[str]] = {
    "@length": frozenset(CATEGORY_UNITS["NX_LENGTH"] or ()),
    "@angle": frozenset(CATEGORY_UNITS["NX_ANGLE"] or ()),
    "@time": frozenset(CATEGORY_UNITS["NX_TIME"] or ()),
    "@energy": frozenset(CATEGORY_UNITS["NX_ENERGY"] or ()),
    "@inverse-length": frozenset(
        {"Angstrom^-1", "angstrom^-1", "1/Angstrom", "1/angstrom", "A^-1", "1/m", "m^-1", "nm^-1"}
    ),
}
LENGTH_TO_M: dict[str, float] = {
    "m": 1.0,
    "meter": 1.0,
    "metre": 1.0,
    "meters": 1.0,
    "metres": 1.0,
    "cm": 1e-2,
    "mm": 1e-3,
    "millimeter": 1e-3,
    "millimetre": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "micron": 1e-6,
    "microns": 1e-6,
    "micrometer": 1e-6,
    "micrometre": 1e-6,
    "nm": 1e-9,
    "angstrom": 1e-10,
    "Angstrom": 1e-10,
    "A": 1e-10,
    "Å": 1e-10,
    "pm": 1e-12,
}


def unit_matches(expected: str, units: str | None) -> bool:
    """True when ``units`` is the exact unit ``expected`` (a spelling of it) or of its dimension."""
    if units is None:
        return False
    u = units.strip()
    if expected.startswith("@"):
        return u in _DIMENSION[expected]
    return u in _SAME_UNIT.get(expected, frozenset({expected}))


@dataclass
class Place:
    """A file root where rows of one ``where`` kind live, with its image count."""

    label: str
    root: h5py.Group
    n_images: int | None
    rewrite: dict[str, str]  # path prefix rewrites (integrated §4.7 diagnostics)
    optional: bool = False  # rows here are checked when present, never required
    first: int = 0  # run index (0-based) of this file's first image row


def data_files(ctx: Context) -> list[tuple[str, h5py.File, int, int]]:
    """VDS layout: (file name, open file, first row, last row) of each source of /entry/data/data."""
    cached = ctx.__dict__.get("_data_files")
    if cached is not None:
        return cached
    ctx.__dict__["_data_files"] = out = _data_files(ctx)
    return out


def _data_files(ctx: Context) -> list[tuple[str, h5py.File, int, int]]:
    if ctx.layout not in ("vds",) or not ctx.sources:
        return []
    ds = ctx.sources[0].dataset
    if not ds.is_virtual or ds.name in ctx.unsafe_virtual:
        return []
    out = []
    try:
        sources = ds.virtual_sources()
    except Exception:  # noqa: BLE001 - JF-VDS reports an unreadable mapping
        return []
    for src in sources:
        if src.file_name == ".":
            continue
        f = ctx.resolver.open_file(ctx.resolver.file_path(src.file_name, ctx.master))
        if isinstance(f, Missing):
            continue
        try:
            lo, hi = src.vspace.get_select_bounds()
        except Exception:  # noqa: BLE001, S112
            continue
        out.append((os.path.basename(src.file_name), f, int(lo[0]), int(hi[0])))
    return out


def places(ctx: Context, where: str) -> list[Place]:
    """Where rows of kind ``where`` are checked (hdf5-format.md §2 "Master vs data file")."""
    master = Place("", ctx.master, ctx.n_frames, {})
    if where == "master":
        return [master]
    if where == "results":
        if ctx.layout == "legacy":
            return _legacy_places(ctx)
        if ctx.layout == "vds":  # the arrays live in the data files; the master exposes them
            return [master] + [
                Place(f"{name}:", f, hi - lo + 1, {}, first=lo)
                for name, f, lo, hi in data_files(ctx)
            ]
        return [master]
    if where == "diagnostics":
        if ctx.layout == "legacy":
            return _legacy_places(ctx)
        if ctx.layout == "vds":  # in the data files; a master that exposes them is checked too
            files = [Place(f"{name}:", f, hi - lo + 1, {}) for name, f, lo, hi in data_files(ctx)]
            return files + [Place("", ctx.master, ctx.n_frames, {}, optional=True)]
        if ctx.layout == "integrated":
            return [master_with(ctx, {"detector": "instrument/detector/detectorSpecific"})]
        return []  # a process file re-runs the analysis; acquisition diagnostics stay behind
    return []


def _legacy_places(ctx: Context) -> list[Place]:
    out, first = [], 0
    for s in ctx.sources:
        name = os.path.basename(s.dataset.file.filename)
        out.append(Place(f"{name}:", s.dataset.file, s.frames, {}, first=first))
        first += s.frames
    return out


def master_with(ctx: Context, rewrite: dict[str, str]) -> Place:
    """The master with path rewrites."""
    return Place("", ctx.master, ctx.n_frames, rewrite)


def _rewrite(path: str, rewrite: dict[str, str]) -> str:
    for old, new in rewrite.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old) :]
    return path


def _is_glob(seg: str) -> bool:
    return any(c in seg for c in "*?[")


def _sampled(names: list[str], deep: bool) -> list[str]:
    names = sorted(names)
    if deep or len(names) <= 2 * _WILDCARD_SAMPLE:
        return names
    return names[:_WILDCARD_SAMPLE] + names[-_WILDCARD_SAMPLE:]


def expand(ctx: Context, root: h5py.Group, entry: str, path: str) -> list[tuple[str, Any]]:
    """(concrete path, object or Missing) for every match of ``path`` below ``entry`` in ``root``.

    A glob segment in the middle expands over member groups; a glob last segment over members
    that exist. A plain last segment yields its object or a Missing.
    """
    segs = [s for s in path.split("/") if s]
    memo = _memo(ctx, root)
    if entry not in memo:
        memo[entry] = ctx.resolver.walk(root, entry) if entry not in ("", "/") else root
    frontier: list[tuple[str, Any]] = [(entry, memo[entry])]
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        nxt: list[tuple[str, Any]] = []
        for p, obj in frontier:
            if not is_group(obj):
                continue
            if _is_glob(seg):
                key = f"{p}/*members"
                if key not in memo:
                    memo[key] = ctx.resolver.members(obj)
                names = [n for n in memo[key] if fnmatch.fnmatchcase(n, seg)]
                chosen = [(f"{p}/{n}", n) for n in _sampled(names, ctx.deep)]
            else:
                chosen = [(f"{p}/{seg}", seg)]
            for cp, n in chosen:
                if cp not in memo:
                    memo[cp] = ctx.resolver.child(obj, n)
                child = memo[cp]
                if _is_glob(seg) and not last and not is_group(child):
                    continue
                nxt.append((cp, child))
        frontier = nxt
    return frontier


def _memo(ctx: Context, root: h5py.Group) -> dict[str, Any]:
    """Per-check cache of resolved paths below ``root`` (the table visits groups many times)."""
    caches = ctx.__dict__.setdefault("_spec_memo", {})
    return caches.setdefault(id(root), {})


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _dtype_ok(spec: str, ds: h5py.Dataset) -> bool:
    k = ds.dtype.kind
    if spec == "f":
        return k == "f"
    if spec == "i":
        return k in "iu"
    if spec == "u":
        return k == "u"
    if spec == "b":
        return k in "biu"
    if spec == "n":
        return k in "iufb"
    if spec == "s":
        return h5py.check_string_dtype(ds.dtype) is not None or k in "SUO"
    if spec[0] in "iuf" and spec[1:].isdigit():
        return k == spec[0] and ds.dtype.itemsize * 8 == int(spec[1:])
    return True


def _shape_ok(spec: str, shape: tuple[int, ...], env: dict[str, int]) -> str | None:
    """None when ``shape`` fits ``spec`` (binding free symbols in ``env``); else what was expected."""
    if spec == "n?":
        if shape == ():
            return None
        spec = "n"
    want = [s for s in spec.split(",") if s] if spec else []
    if len(want) != len(shape):
        return f"rank {len(shape)}, [{spec}] (rank {len(want)}) required"
    for sym, got in zip(want, shape, strict=True):
        if sym == "_":
            continue
        if sym.isdigit():
            if int(sym) != got:
                return f"shape {list(shape)}, [{spec}] required"
            continue
        if sym not in env or env[sym] is None:
            env[sym] = got
            continue
        if env[sym] != got:
            return f"shape {list(shape)}, [{spec}] with {sym}={env[sym]} required"
    return None


def _values(ds: h5py.Dataset, deep: bool) -> np.ndarray | None:
    """Values of ``ds`` for domain checks: all when small, else sampled rows along axis 0."""
    try:
        if ds.size <= 4096 or ds.ndim == 0:
            return np.asarray(ds[()])
        idx = sample_indices(int(ds.shape[0]), deep)
        return np.stack([np.asarray(ds[i]) for i in idx])
    except Exception:  # noqa: BLE001 - unreadable values: DATA-READABLE / JF-VDS report them
        return None


def _texts(values: np.ndarray) -> list[str]:
    return [as_text(v) or "" for v in np.asarray(values, dtype=object).reshape(-1)]


def domain_problem(domain: str, ds: h5py.Dataset, deep: bool) -> str | None:
    """What is wrong with the values of ``ds`` for ``domain`` (None when they fit)."""
    if domain.startswith(("rotation", "translation")):
        want_type, _, dep = domain.partition(":")
        ttype = as_text(attr(ds, "transformation_type"))
        if ttype != want_type:
            return f"transformation_type {ttype!r}, {want_type!r} required"
        if dep:
            got = as_text(attr(ds, "depends_on"))
            if got is None or (got != dep and not got.endswith("/" + dep)):
                return f"depends_on {got!r}, {dep!r} required"
        return None
    values = _values(ds, deep)
    if values is None:
        return None
    if domain in ("NXmx", "iso8601", "bravais", "roi-type", "triggered", "rot3"):
        texts = _texts(values)
        if domain == "NXmx":
            bad = [t for t in texts if t != "NXmx"]
        elif domain == "iso8601":
            bad = [t for t in texts if not is_iso8601(t)]
        elif domain == "bravais":
            bad = [t for t in texts if t and t not in BRAVAIS]
        elif domain == "roi-type":
            bad = [t for t in texts if t not in _ROI_TYPES]
        elif domain == "triggered":
            bad = [t for t in texts if t != "triggered"]
        else:
            bad = [t for t in texts if not (t == "rot3" or t.endswith("/rot3"))]
        return f"value {bad[0]!r} outside the domain {domain}" if bad else None
    if values.dtype.kind not in "biuf":
        return f"{values.dtype} values, numbers required ({domain})"
    v = values.astype(np.float64).reshape(-1)
    fv = v[np.isfinite(v)]
    if domain == "finite":
        return None if fv.size == v.size else "non-finite value"
    if domain == ">0":
        bad = fv[fv <= 0]
        if fv.size != v.size:
            return "non-finite value, > 0 required"
    elif domain == ">=0":
        bad = fv[(fv < 0) & (fv != -1)]  # -1: the absent-value sentinel (hdf5-format.md §4, §5)
    elif domain == "01":
        bad = fv[(fv != 0) & (fv != 1)]
    elif domain == "0..1":
        bad = fv[(fv < 0) | (fv > 1)]
    elif domain == "bit":
        bad = fv[(fv < 0) | (fv > 15) | (fv != np.round(fv))]
    else:
        return None
    return f"value {bad[0]:g} outside {domain}" if bad.size else None


def _required(ctx: Context, row: SpecRow, concrete: str, root: h5py.Group) -> bool:
    pres = row.presence
    if pres == "always":
        return True
    if pres == "group":
        parent = _parent(concrete)
        group = ctx.resolver.walk(root, parent) if parent else root
        # an empty NXcollection records nothing (a run stopped before its first block of
        # results was written): its members are required once it holds any of them.  Any other
        # group is there for its members (an NXattenuator without its transmission is a fault)
        if not is_group(group):
            return False
        if parent and len(group) == 0:
            return ctx.resolver.nx_class(group) != "NXcollection"
        return True
    if pres in ("indexed", "spots"):
        name, wanted = ("imageIndexed", 1) if pres == "indexed" else ("nPeaks", None)
        flags = ctx.resolver.walk(root, f"{_parent(concrete)}/{name}")
        if not is_dataset(flags):
            return False
        try:
            values = np.nan_to_num(np.asarray(flags[()], dtype=float))
        except Exception:  # noqa: BLE001  (an unreadable array is reported by its own row)
            return False
        return bool(np.any(values == wanted) if wanted is not None else np.any(values > 0))
    if pres.startswith("layout:"):
        return ctx.layout in pres[len("layout:") :].split("|")
    if pres.startswith("type:"):
        t = ctx.resolver.walk(root, f"{_parent(concrete)}/type")
        if not is_dataset(t):
            return False
        try:
            return as_text(t[()]) == pres[len("type:") :]
        except Exception:  # noqa: BLE001
            return False
    return False


def _check_object(
    ctx: Context, row: SpecRow, label: str, path: str, obj: Any, env: dict[str, int]
) -> None:
    where = f"{label}{path}"
    if row.is_group:
        if not is_group(obj):
            ctx.add("SPEC-PRESENT", where, f"is not a group ({row.section})")
            return
        cls = ctx.resolver.nx_class(obj)
        if cls != row.nx_class:
            ctx.add("SPEC-CLASS", where, f"NX_class {cls!r}, {row.nx_class!r} required")
        return
    if not is_dataset(obj):
        if row.dtype or row.shape is not None:
            ctx.add("SPEC-PRESENT", where, f"is not a dataset ({row.section})")
        return
    if row.dtype and not _dtype_ok(row.dtype, obj):
        ctx.add("SPEC-DTYPE", where, f"dtype {obj.dtype}, class {row.dtype!r} required")
    if row.shape is not None:
        problem = _shape_ok(row.shape, tuple(int(s) for s in obj.shape), env)
        if problem:
            ctx.add("SPEC-SHAPE", where, problem)
    if row.units:
        units = ctx.units(obj)
        if not unit_matches(row.units, units):
            want = f"a unit of {row.units[1:]}" if row.units.startswith("@") else repr(row.units)
            ctx.add("SPEC-UNITS", where, f"units {units!r}, {want} required")
    if row.domain and obj.name not in ctx.unsafe_virtual:
        problem = domain_problem(row.domain, obj, ctx.deep)
        if problem:
            ctx.add("SPEC-DOMAIN", where, problem)


def _env(ctx: Context) -> dict[str, int]:
    env: dict[str, int] = {}
    if ctx.image_shape and len(ctx.image_shape) == 2:
        env["y"], env["x"] = ctx.image_shape
    return env


def check_spec_rows(ctx: Context) -> None:
    """Enforce every field row of the coverage table on this file (hdf5-format.md §3-§4)."""
    if ctx.entry is None:
        return
    shared = _env(ctx)  # master symbols (azint bins) are shared with every holder
    per_place: dict[tuple[str, str], dict[str, int]] = {}
    where_places = {w: places(ctx, w) for w in ("master", "results", "diagnostics")}
    for row in COVERAGE:
        if row.is_sentence:
            continue
        for place in where_places[row.where]:
            key = (row.where, place.label)
            if key not in per_place:
                per_place[key] = dict(shared) | {"n": place.n_images}
            env = shared if row.where == "master" else per_place[key]
            if row.where == "master" and ctx.n_frames is not None:
                env.setdefault("n", ctx.n_frames)
            rel = _rewrite(row.path, place.rewrite)
            entry = ctx.entry_path if place.label == "" else "/entry"
            for concrete, obj in expand(ctx, place.root, entry, rel):
                if isinstance(obj, Missing) or obj is None:
                    if _is_glob(concrete.rsplit("/", 1)[-1]):
                        continue
                    if not place.optional and _required(ctx, row, concrete, place.root):
                        ctx.add(
                            "SPEC-PRESENT",
                            f"{place.label}{concrete}",
                            f"missing; required ({row.presence}) by hdf5-format.md {row.section}",
                        )
                    continue
                if row.is_group and _is_glob(rel.rsplit("/", 1)[-1]) and not is_group(obj):
                    continue  # a pattern of groups also matches sibling datasets (roi_map)
                _check_object(ctx, row, place.label, concrete, obj, env)
                if row.where != "master":
                    for sym in ("phi", "q"):
                        if sym in env and sym not in shared:
                            shared[sym] = env[sym]
            if row.path.rsplit("/", 1)[-1] != "" and _is_glob(row.path.rsplit("/", 1)[-1]):
                _require_any(ctx, row, place, entry, rel)


def _require_any(ctx: Context, row: SpecRow, place: Place, entry: str, rel: str) -> None:
    """A required row whose last segment is a pattern needs at least one match."""
    if not row.presence.startswith("layout:"):
        return
    if not _required(ctx, row, f"{entry}/{rel}", place.root):
        return
    if not expand(ctx, place.root, entry, rel):
        ctx.add(
            "SPEC-PRESENT",
            f"{place.label}{entry}/{rel}",
            f"no member matches; required ({row.presence}) by hdf5-format.md {row.section}",
        )
