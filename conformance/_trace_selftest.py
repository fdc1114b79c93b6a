"""Self-test of the stream-to-file trace, made from the stream map rather than from the checks.

A clean run is traced once; every destination the trace compared (a :class:`TracePoint`, i.e. a
row of conformance/rules/stream_map.py found in this file) is then broken in a copy of the run,
one way at a time, and the trace must fail the copy:

``drop``   the dataset is deleted                ``move``  it moves one group up (a sibling path)
``alter``  one traced value changes (a pixel of an image, one element of an array, a string)
``shift``  the per-image rows move down by one   ``units`` the units attribute names another unit
``narrow`` a float dataset is stored as float16 (equivalent when every value survives the cast)

A mutant that leaves every traced value as it was (rolling rows that are all equal, narrowing
values float16 holds exactly) is *equivalent*: it is reported with its reason and not counted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.conformance._trace import (
    TracePoint,
    TraceResult,
    _decode_all,
    load_dir,
    trace_decoded,
)

__all__ = ["MUTATIONS", "Mutant", "Outcome", "SelftestResult", "make_mutants", "run_selftest"]

MUTATIONS = ("drop", "move", "alter", "shift", "units", "narrow")
_NOT_APPLICABLE = "n/a: "

#: another unit for each unit the map names: a units mutant relabels without converting
_OTHER_UNIT = {
    "m": "mm",
    "s": "ms",
    "ns": "s",
    "deg": "rad",
    "rad": "deg",
    "eV": "keV",
    "angstrom": "nm",
    "Angstrom": "nm",
    "Angstrom^-1": "nm^-1",
    "Angstrom^2": "m",
    "pixel": "mm",
    "photons": "eV",
    "Hz": "kHz",
    "A": "mA",
    "K": "s",
}


@dataclass(frozen=True)
class Mutant:
    """One way of breaking one traced destination."""

    mutation: str
    point: TracePoint

    @property
    def group(self) -> str:
        """The report group: message kind and spec section."""
        return f"{self.point.kind}: {self.point.section}"

    def describe(self) -> str:
        """``mutation file:path (key)``."""
        return f"{self.mutation} {Path(self.point.file).name}:{self.point.path} ({self.point.key})"


@dataclass(frozen=True)
class Outcome:
    """What the trace said about one mutant."""

    mutant: Mutant
    caught: bool
    equivalent: str | None = None  # why the mutant changed nothing traceable
    rules: tuple[str, ...] = ()
    error: str | None = None  # the mutation does not apply here (or could not be applied)


@dataclass(frozen=True)
class SelftestResult:
    """Outcomes of every mutant, with catch rates per group and per mutation."""

    layout: str
    outcomes: tuple[Outcome, ...]

    def rates(self, by: str = "group") -> dict[str, tuple[int, int]]:
        """``{group: (caught, non-equivalent)}`` by ``group`` (kind + section) or ``mutation``."""
        table: dict[str, list[int]] = {}
        for o in self.outcomes:
            if o.equivalent or o.error:
                continue
            key = o.mutant.group if by == "group" else o.mutant.mutation
            cell = table.setdefault(key, [0, 0])
            cell[0] += o.caught
            cell[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}

    @property
    def survivors(self) -> tuple[Outcome, ...]:
        """Non-equivalent mutants the trace let through."""
        return tuple(o for o in self.outcomes if not o.caught and not o.equivalent and not o.error)


def make_mutants(
    points: Iterable[TracePoint], mutations: Iterable[str] = MUTATIONS
) -> list[Mutant]:
    """Every applicable mutation of every traced destination."""
    wanted = set(mutations)
    out = []
    for p in points:
        for m in MUTATIONS:
            if m not in wanted:
                continue
            if m == "shift" and len(p.rows) < 1:
                continue
            if m == "units" and p.unit is None:
                continue
            if m == "narrow" and p.how in ("image", "text", "date", "calibration", "width"):
                continue
            out.append(Mutant(m, p))
    return out


# --- applying a mutation ------------------------------------------------------------------------


def _recreate(f: h5py.File, path: str, data: np.ndarray) -> None:
    attrs = {k: f[path].attrs[k] for k in f[path].attrs}
    del f[path]
    ds = f.create_dataset(path, data=data)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _physical(f: h5py.File, path: str, row: int | None):
    """(file, path, row) where a value of ``f[path]`` is stored: through a VDS to its source."""
    ds = f[path]
    if not ds.is_virtual:
        return f, path, row
    want = 0 if row is None else row
    for source in ds.virtual_sources():
        low, high = source.vspace.get_select_bounds()
        if low[0] <= want <= high[0]:
            try:
                src_low = source.src_space.get_select_bounds()[0][0]
            except ValueError:
                src_low = 0
            folder = Path(f.filename).parent
            other = h5py.File(folder / source.file_name, "r+")
            return other, source.dset_name, src_low + want - low[0]
    raise ValueError(f"no VDS source of {path} holds row {want}")


def _altered(value):
    if isinstance(value, bytes | np.bytes_):
        return b"Zz" if bytes(value)[:2] != b"Zz" else b"Yy"
    if isinstance(value, np.bool_ | bool):
        return not value
    if isinstance(value, np.integer | int):
        return value + 1
    if isinstance(value, np.floating | float):
        return 1.0 if np.isnan(value) else value * 1.5 + 1.0
    raise ValueError(f"cannot alter a {type(value).__name__}")


def _alter(f: h5py.File, point: TracePoint) -> None:
    row = point.rows[0] if point.rows else None
    g, path, row = _physical(f, point.path, row)
    try:
        ds = g[path]
        if point.how == "image":
            pixel = ds[row, 0, 0]
            top = np.iinfo(ds.dtype).max if ds.dtype.kind in "iu" else np.inf
            ds[row, 0, 0] = pixel + 1 if pixel < top else pixel - 1
            return
        if ds.shape == ():
            value = ds[()]
            if isinstance(value, bytes):
                text = value.decode("utf-8", "replace")
                new = "2001-01-01T00:00:00Z" if point.how == "date" else text + "-mutated"
                _recreate(g, path, np.bytes_(new.encode()))
                return
            _recreate(g, path, np.asarray(_altered(value), dtype=ds.dtype))
            return
        data = ds[()]
        index = (row,) if row is not None else ()
        cell = data[index] if index else data
        flat_index = index + tuple(0 for _ in range(np.ndim(cell)))
        data[flat_index] = _altered(data[flat_index])
        ds[...] = data
    finally:
        if g is not f:
            g.close()


def _shift(f: h5py.File, point: TracePoint) -> str | None:
    g, path, _row = _physical(f, point.path, point.rows[0])
    try:
        ds = g[path]
        if ds.ndim == 0 or ds.shape[0] < 2:
            return f"{_NOT_APPLICABLE}one row only: nothing to shift"
        data = ds[()]
        rolled = np.roll(data, 1, axis=0)
        if data.dtype.kind == "f":
            same = np.array_equal(rolled, data, equal_nan=True)
        else:
            same = np.array_equal(rolled, data)
        if same:
            return "every row holds the same value"
        ds[...] = rolled
        return None
    finally:
        if g is not f:
            g.close()


def _narrow(f: h5py.File, point: TracePoint) -> str | None:
    g, path, _row = _physical(f, point.path, point.rows[0] if point.rows else None)
    try:
        ds = g[path]
        if ds.dtype.kind != "f":
            return f"{_NOT_APPLICABLE}not a float dataset"
        data = ds[()]
        with np.errstate(over="ignore"):  # values beyond float16 become inf: a loss, not an error
            narrowed = np.asarray(data).astype(np.float16)
        if np.array_equal(narrowed.astype(data.dtype), data, equal_nan=True):
            return "every value is exact in float16"
        _recreate(g, path, narrowed)
        return None
    finally:
        if g is not f:
            g.close()


def _apply(mutant: Mutant, f: h5py.File) -> str | None:
    """Break ``f`` (the copy holding the point); return an equivalence reason or None."""
    p = mutant.point
    if mutant.mutation == "drop":
        del f[p.path]
    elif mutant.mutation == "move":
        parent, name = p.path.rsplit("/", 1)
        up = parent.rsplit("/", 1)[0] or "/"
        target = f"{up.rstrip('/')}/{name}"
        if target in f:
            target += "_moved"
        f.move(p.path, target)
    elif mutant.mutation == "alter":
        _alter(f, p)
    elif mutant.mutation == "shift":
        return _shift(f, p)
    elif mutant.mutation == "units":
        f[p.path].attrs["units"] = _OTHER_UNIT.get(p.unit or "", "furlong")
    elif mutant.mutation == "narrow":
        return _narrow(f, p)
    return None


# --- running ------------------------------------------------------------------------------------


def run_selftest(
    master: str | os.PathLike,
    recording: str | os.PathLike,
    *,
    mutations: Iterable[str] = MUTATIONS,
    select=None,
    work_dir: str | os.PathLike | None = None,
) -> SelftestResult:
    """Trace ``recording`` into a clean run (must pass), then every mutant of it (see module doc).

    ``select``: optional predicate on :class:`Mutant` to run a subset (tests run a sample).
    """
    import hdf5plugin  # noqa: F401 - the image mutants rewrite bitshuffle chunks

    master = Path(master).resolve()
    decoded = _decode_all(load_dir(recording), lambda *a: None)
    baseline = trace_decoded(master, decoded)
    if not baseline.ok:
        raise ValueError(
            f"the clean run does not trace: {[f.message for f in baseline.report.errors][:3]}"
        )
    mutants = [m for m in make_mutants(baseline.points, mutations) if select is None or select(m)]
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="trace-selftest-") as scratch:
        scratch_dir = Path(scratch)
        pristine = scratch_dir / "pristine"
        copy = scratch_dir / "run"
        pristine.mkdir()
        copy.mkdir()
        for h5 in master.parent.glob("*.h5"):
            shutil.copy2(h5, pristine / h5.name)
            shutil.copy2(h5, copy / h5.name)
        outcomes = [_one(m, master, copy, pristine, decoded) for m in mutants]
    return SelftestResult(baseline.statistics.layout, tuple(outcomes))


def _one(mutant: Mutant, master: Path, copy: Path, pristine: Path, decoded) -> Outcome:
    name = Path(mutant.point.file).name
    try:
        with h5py.File(copy / name, "r+") as f:
            equivalent = _apply(mutant, f)
        if equivalent and equivalent.startswith(_NOT_APPLICABLE):
            return Outcome(mutant, caught=False, error=equivalent[len(_NOT_APPLICABLE) :])
        if equivalent:
            return Outcome(mutant, caught=False, equivalent=equivalent)
        result: TraceResult = trace_decoded(copy / master.name, decoded)
        rules = tuple(sorted(result.report.rule_ids("error")))
        return Outcome(mutant, caught=not result.ok, rules=rules)
    except Exception as exc:  # noqa: BLE001 - a mutation that cannot be applied is reported
        return Outcome(mutant, caught=False, error=f"{type(exc).__name__}: {str(exc)[:120]}")
    finally:
        for h5 in pristine.glob("*.h5"):  # restore every file a VDS mutation may have touched
            if (copy / h5.name).stat().st_mtime_ns != h5.stat().st_mtime_ns:
                shutil.copy2(h5, copy / h5.name)
