"""Shared state of the stream-to-file trace: the opened files, the findings, value comparison
(stored dtype and spec unit, hdf5-format.md §5) and destination lookup."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.conformance.rules.stream_map import UNITS, TraceRow


class _Files:
    """Opens the master and its data files once; reads whole datasets once."""

    def __init__(self, master: h5py.File) -> None:
        self.master = master
        self.folder = Path(os.path.abspath(master.filename)).parent
        self.opened: dict[str, h5py.File] = {os.path.abspath(master.filename): master}
        self.cache: dict[tuple[str, str], object] = {}
        self.objects: dict[tuple[str, str], object] = {}
        self.homes: dict[object, tuple[str, str]] = {}

    def open(self, name: str) -> h5py.File | None:
        path = os.path.abspath(self.folder / name)
        if path not in self.opened:
            if not os.path.isfile(path):
                return None
            try:
                self.opened[path] = h5py.File(path, "r")
            except OSError:
                return None
        return self.opened[path]

    def get(self, f: h5py.File, path: str):
        key = (f.filename, path)
        if key not in self.objects:
            try:
                obj = f.get(path)
            except (KeyError, OSError, ValueError):
                obj = None
            self.objects[key] = obj
            if isinstance(obj, h5py.Dataset):
                self.homes[obj.id] = (os.path.abspath(obj.file.filename), obj.name)
        return self.objects[key]

    def home(self, ds: h5py.Dataset) -> tuple[str, str]:
        """(absolute file path, dataset path) where ``ds`` is stored."""
        if ds.id not in self.homes:
            self.homes[ds.id] = (os.path.abspath(ds.file.filename), ds.name)
        return self.homes[ds.id]

    def read(self, ds: h5py.Dataset) -> np.ndarray:
        key = self.home(ds)
        if key not in self.cache:
            self.cache[key] = ds[()]
        return self.cache[key]  # type: ignore[return-value]

    def close(self) -> None:
        for path, f in self.opened.items():
            if path != os.path.abspath(self.master.filename):
                f.close()


@dataclass
class _Trace:
    files: _Files
    layout: str
    start: dict
    findings: dict = field(default_factory=dict)  # (rule, file, path) -> [count, first message]
    points: dict = field(default_factory=dict)  # (file, path) -> TracePoint args
    compared: int = 0
    traced_keys: set = field(default_factory=set)
    truncated_counts: set = field(default_factory=set)  # frame counts a truncated run may declare

    # --- findings and points ----------------------------------------------------------------
    def add(self, rule_id: str, where: str, message: str) -> None:
        entry = self.findings.setdefault((rule_id, where), [0, message])
        entry[0] += 1

    def point(self, row: TraceRow, key: str, ds: h5py.Dataset, index: int | None = None) -> None:
        fkey = (*self.files.home(ds), row.key)
        rows = self.points.setdefault(fkey, (row, key, set()))[2]
        if index is not None:
            rows.add(index)
        self.traced_keys.add((row.kind, key))

    # --- where per-image data live (hdf5-format.md §2) ----------------------------------------
    def images_per_file(self) -> int:
        value = self.start.get("images_per_file")
        return int(value) if isinstance(value, int) and value > 0 else 0

    def data_file(self, image_id: int) -> tuple[h5py.File | None, int, str]:
        """The legacy data file of an image and its row there (stream.md §2.2: by file number)."""
        per_file = self.images_per_file()
        number = image_id // per_file + 1 if per_file else 1
        row = image_id - (number - 1) * per_file if per_file else image_id
        link_name = f"data_{number:06d}"
        data = self.files.master.get("/entry/data")
        link = data.get(link_name, getlink=True) if data is not None else None
        if not isinstance(link, h5py.ExternalLink):
            return None, row, f"/entry/data/{link_name}"
        return self.files.open(link.filename), row, f"/entry/data/{link_name}"

    def home(self, row: TraceRow, image_id: int) -> tuple[h5py.File | None, int, str]:
        if row.home == "master":
            return self.files.master, image_id, ""
        if self.layout == "legacy":
            return self.data_file(image_id)
        return self.files.master, image_id, ""

    def dest_path(self, row: TraceRow) -> str:
        if self.layout == "integrated" and row.integrated_dest:
            return row.integrated_dest
        return row.dest


def _units_of(ds: h5py.Dataset) -> str | None:
    value = ds.attrs.get("units")
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes | np.bytes_) else str(value)


def _same_unit(a: str, b: str) -> bool:
    return a == b or a.lower() == b.lower() == "angstrom"


def _factor(trace: _Trace, row: TraceRow, ds: h5py.Dataset, where: str) -> float | None:
    """Factor from the spec's unit to the file's (None: not comparable; a finding is made)."""
    if row.unit is None:
        return 1.0
    found = _units_of(ds)
    if found is None:
        trace.add("TRACE-UNITS", where, f"no units attribute; the spec gives '{row.unit}'")
        return 1.0
    if _same_unit(found, row.unit):
        return 1.0
    spec, got = UNITS.get(row.unit), UNITS.get(found)
    if got is None or spec is None or got[0] != spec[0]:
        trace.add("TRACE-UNITS", where, f"units '{found}'; the spec gives '{row.unit}'")
        return None
    trace.add("TRACE-UNITS", where, f"units '{found}'; the spec gives '{row.unit}' (converted)")
    return spec[1] / got[1]


def _text(value) -> str | None:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, str):
        return value
    return None


def _equal(expected, stored, factor: float = 1.0) -> bool:
    """``expected`` (stream value, spec unit) equals ``stored`` once cast to its dtype and unit."""
    stored = np.asarray(stored)
    if stored.dtype.kind in "SUO":
        want = [expected] if isinstance(expected, str) else list(np.ravel(expected))
        got = [_text(v) for v in np.ravel(stored)]
        return stored.size == len(want) and got == [str(w) for w in want]
    try:
        want = np.asarray(expected, dtype=np.float64 if factor != 1.0 else None)
    except (TypeError, ValueError):
        return False
    if want.dtype.kind in "SUO":
        return False
    if want.size != stored.size:
        return False
    want = want.reshape(stored.shape)
    if stored.dtype.kind == "f":
        if stored.dtype.itemsize < 4:  # narrower than Jungfraujoch's float32 (HDF5 §4): lossy
            narrow = np.asarray(want, dtype=np.float64) * factor
            return bool(
                np.array_equal(narrow.astype(np.float32), stored.astype(np.float32), equal_nan=True)
            )
        if factor == 1.0:
            cast = want.astype(stored.dtype)
            return bool(np.array_equal(cast, stored, equal_nan=True))
        eps = float(np.finfo(stored.dtype).eps)
        return bool(np.allclose(want * factor, stored, rtol=8 * eps, atol=0.0, equal_nan=True))
    if stored.dtype.kind == "b" or want.dtype.kind == "b":
        return bool(np.array_equal(want.astype(np.int64), stored.astype(np.int64)))
    if stored.dtype.kind in "iu":
        if want.dtype.kind == "f":
            if not np.all(np.isfinite(want)) or not np.all(want == np.round(want)):
                return False
        scaled = want * factor if factor != 1.0 else want
        return bool(np.array_equal(np.asarray(scaled).astype(np.int64), stored.astype(np.int64)))
    return False


def _short(value) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) < 60 else text[:57] + "..."


def _dataset(trace: _Trace, f: h5py.File | None, path: str, key: str, where_file: str):
    where = f"{where_file}{path}"
    ds = trace.files.get(f, path) if f is not None else None
    if not isinstance(ds, h5py.Dataset):
        trace.add(
            "TRACE-MISSING", where, f"'{key}' was in the stream but {path} is not in the file"
        )
        return None, where
    return ds, where
