"""``jfcheck selftest``: mutants made from the spec coverage table, not from the rules.

For every field row of :data:`conformance.rules._coverage.COVERAGE` present in a writer run, the
object is deleted, moved to a sibling group, given other units, another dtype class (or a narrower
width where the row fixes one), another shape; group rows also get another NX_class; and each
cross-field relation of hdf5-format.md is broken once. Each mutant is applied to a copy of the run
and checked with :func:`check_file`; it is *caught* when the report has an error the pristine run
does not have. Mutants that are no fault by the table (deleting or moving an optional row) are
counted as equivalent and not run. The catch rate is reported per spec section.

The writer files come from the caller (``jfsim run`` output folders): this module never imports
the writer or the simulator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.conformance._api import check_file
from jfjoch_hil.conformance.rules._coverage import COVERAGE, SpecRow

__all__ = ["Mutant", "SelftestResult", "make_mutants", "run_selftest", "find_master"]

# A different unit of the same dimension for each exact unit (a unit change the spec forbids).
_OTHER_UNIT = {
    "m": "mm",
    "s": "ms",
    "eV": "keV",
    "rad": "deg",
    "deg": "rad",
    "pixel": "mm",
    "photons": "eV",
    "Angstrom": "nm",
    "angstrom": "nm",
    "Angstrom^-1": "nm^-1",
    "Angstrom^2": "nm^2",
    "Hz": "kHz",
    "K": "degC",
    "A": "mA",
    "ns": "us",
}
_OTHER_DIMENSION = {"@length": "deg", "@angle": "mm", "@time": "m", "@energy": "s"}


@dataclass(frozen=True)
class Mutant:
    """One mutation of one file of a run."""

    id: str
    section: str
    kind: str  # delete, move, units, dtype, shape, class, relation
    file: str  # file name inside the run folder
    path: str
    apply: Callable[[h5py.File], None] = field(compare=False, repr=False)


@dataclass
class SelftestResult:
    """Counts per spec section, survivors and equivalents."""

    per_section: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # (run, mutant, errors)
    equivalent: list[tuple[str, str]] = field(default_factory=list)  # (mutant id, reason)
    baseline_errors: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(v[0] for v in self.per_section.values())

    @property
    def caught(self) -> int:
        return sum(v[1] for v in self.per_section.values())

    @property
    def all_caught(self) -> bool:
        return self.caught == self.total and not any(self.baseline_errors.values())

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "caught": self.caught,
            "per_section": {k: {"run": v[0], "caught": v[1]} for k, v in self.per_section.items()},
            "survivors": [{"run": r, "mutant": m, "errors": e} for r, m, e in self.survivors],
            "equivalent": len(self.equivalent),
            "skipped": [{"mutant": m, "why": w} for m, w in self.skipped],
            "baseline_errors": self.baseline_errors,
        }

    def to_text(self, survivors: bool = False) -> str:
        lines = [f"{'section':44s} {'caught':>7s} / {'run':>5s}   rate"]
        for sec in sorted(self.per_section, key=_section_key):
            run, caught = self.per_section[sec]
            rate = 100.0 * caught / run if run else 100.0
            lines.append(f"{sec:44s} {caught:7d} / {run:5d}  {rate:5.1f} %")
        rate = 100.0 * self.caught / self.total if self.total else 100.0
        lines.append(
            f"total: {self.caught}/{self.total} non-equivalent mutants caught ({rate:.1f} %); "
            f"{len(self.equivalent)} equivalent (optional rows deleted or moved) not run; "
            f"{len(self.skipped)} not applicable"
        )
        for run, errs in self.baseline_errors.items():
            if errs:
                lines.append(f"baseline {run}: {len(errs)} errors before mutation: {errs[:5]}")
        if survivors or len(self.survivors) <= 30:
            for run, m, _e in self.survivors:
                lines.append(f"SURVIVOR {run}: {m}")
        return "\n".join(lines)


def _section_key(sec: str) -> tuple:
    head = sec.split()[0].lstrip("§")
    nums = tuple(int(x) for x in head.split(".") if x.isdigit())
    return (nums, sec)


def find_master(folder: Path) -> Path:
    """The master of a run folder: ``*_master.h5``, else ``*_process.h5``, else the one .h5."""
    for pattern in ("*_master.h5", "*_process.h5", "*.h5"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"{folder}: no HDF5 master file")


# -------------------------------------------------------------------------------------------
# locating rows in the files of a run (hard links only: an object is mutated where it lives)


def _hard_matches(f: h5py.File, path: str) -> list[str]:
    """Absolute paths matching ``/entry/<path>`` reached by hard links only (first match of each
    pattern segment, so one mutant per row and file)."""
    import fnmatch

    segs = [s for s in f"entry/{path}".split("/") if s]
    frontier = ["/"]
    for i, seg in enumerate(segs):
        nxt = []
        for p in frontier:
            grp = f[p]
            if not isinstance(grp, h5py.Group):
                continue
            names = sorted(grp.keys()) if any(c in seg for c in "*?[") else [seg]
            for n in names:
                if not fnmatch.fnmatchcase(n, seg):
                    continue
                link = grp.get(n, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    continue
                child = grp[n]
                if i < len(segs) - 1 and not isinstance(child, h5py.Group):
                    continue
                nxt.append(f"{p.rstrip('/')}/{n}")
                if any(c in seg for c in "*?["):
                    break
        frontier = nxt
    return frontier


def _files_for(row: SpecRow, folder: Path, master: Path) -> list[Path]:
    if row.where == "master":
        return [master]
    data = sorted(folder.glob("*_data_*.h5"))
    return [master] + data[:1]


def _required(row: SpecRow) -> bool:
    return row.presence != "input"


# -------------------------------------------------------------------------------------------
# mutation helpers


def _rewrite(f: h5py.File, path: str, data) -> None:
    old = f[path]
    attrs = {k: old.attrs[k] for k in old.attrs}
    del f[path]
    ds = f.create_dataset(path, data=data)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _read(f: h5py.File, path: str) -> np.ndarray:
    return np.asarray(f[path][()])


def _delete(path: str):
    return lambda f: f.__delitem__(path)


def _move(path: str):
    def run(f: h5py.File) -> None:
        parent, name = path.rsplit("/", 1)
        parent = parent or "/"
        grand = parent.rsplit("/", 1)[0] or "/"
        siblings = [
            n
            for n in f[grand]
            if isinstance(f[grand].get(n, getlink=True), h5py.HardLink)
            and isinstance(f[grand][n], h5py.Group)
            and f"{grand.rstrip('/')}/{n}" != parent
            and name not in f[grand][n]
        ]
        target = f"{grand.rstrip('/')}/{siblings[0]}" if siblings else f"{grand.rstrip('/')}/moved"
        if not siblings:
            f.require_group(target)
        f.move(path, f"{target}/{name}")

    return run


def _units(path: str, units: str):
    return lambda f: f[path].attrs.__setitem__("units", np.bytes_(units))


def _other_dtype(spec: str, data: np.ndarray) -> np.ndarray:
    if spec == "s":
        return np.zeros(data.shape, dtype=np.int32)
    if spec == "f":
        return np.nan_to_num(data.astype(np.float64)).astype(np.int64)
    if spec in ("i", "u", "b"):
        return data.astype(np.float64) + 0.5
    if spec == "n":
        return np.full(data.shape, b"x", dtype="S2")
    if spec[0] in "iu" and spec[1:].isdigit():  # a fixed width: narrow it
        return data.astype(f"{spec[0]}{max(1, int(spec[1:]) // 16)}")
    return data.astype(np.float64)


def _dtype(path: str, spec: str):
    return lambda f: _rewrite(f, path, _other_dtype(spec, _read(f, path)))


def _other_shape(data: np.ndarray) -> np.ndarray:
    if data.ndim == 0:
        return np.stack([data, data])
    if data.shape[0] > 1 and data.ndim > 0 and data.shape[0] not in (2, 9):
        return data[:-1]
    return np.concatenate([data, data[:1]])


def _shape(path: str):
    return lambda f: _rewrite(f, path, _other_shape(_read(f, path)))


def _nx_class(path: str, current: str | None):
    other = "NXnote" if current != "NXnote" else "NXcollection"
    return lambda f: f[path].attrs.__setitem__("NX_class", np.bytes_(other))


def _row_mutants(row: SpecRow, fname: str, path: str) -> list[Mutant]:
    out = []
    base = f"{fname}:{path}"

    def add(kind: str, fn) -> None:
        out.append(Mutant(f"{kind} {base}", row.section, kind, fname, path, fn))

    if row.is_group:
        add("delete", _delete(path))
        add("move", _move(path))
        add("class", _nx_class(path, row.nx_class))
        return out
    add("delete", _delete(path))
    add("move", _move(path))
    if row.units:
        other = _OTHER_DIMENSION.get(row.units) or _OTHER_UNIT.get(row.units, "furlong")
        add("units", _units(path, other))
    if row.dtype:
        add("dtype", _dtype(path, row.dtype))
    if row.shape is not None and row.shape != "_":
        add("shape", _shape(path))
    return out


# -------------------------------------------------------------------------------------------
# cross-field relations of hdf5-format.md (each broken once per run where its fields exist)

_DET = "/entry/instrument/detector"


def _add_one(path: str, delta: float):
    return lambda f: f[path].__setitem__((), f[path][()] + delta)


def _scale(path: str, factor: float):
    return lambda f: _rewrite(f, path, _read(f, path) * factor)


def _set_text(path: str, text: str):
    return lambda f: _rewrite(f, path, np.bytes_(text))


def _image_nr_high(f: h5py.File) -> None:
    ds = f["/entry/data/data"]
    ds.attrs["image_nr_high"] = ds.attrs["image_nr_high"] + 1


def _shrink_module(f: h5py.File) -> None:
    ds = f[f"{_DET}/module/data_size"]
    v = ds[()]
    v[0] -= 1
    ds[...] = v


def _counters(f: h5py.File) -> None:
    g = f[f"{_DET}/detectorSpecific"]
    for name in ("nimages_collected", "nimages_written"):
        if name in g:
            del g[name]
    g.create_dataset("nimages_written", data=np.int64(10))
    g.create_dataset("nimages_collected", data=np.int64(5))


def _unfiltered_zero(f: h5py.File) -> None:
    _rewrite(
        f, "/entry/MX/peakCountUnfiltered", np.zeros_like(_read(f, "/entry/MX/peakCountUnfiltered"))
    )


def _roi_rename(f: h5py.File) -> None:
    name = sorted(
        n for n in f["/entry/roi_defs"] if isinstance(f["/entry/roi_defs"][n], h5py.Group)
    )[0]
    f.move(f"/entry/roi_defs/{name}", f"/entry/roi_defs/{name}_renamed")


def _npixel_too_many(f: h5py.File) -> None:
    name = sorted(f["/entry/roi"])[0]
    p = f"/entry/roi/{name}/npixel"
    shape = f["/entry/roi_defs/roi_map"].shape
    _rewrite(f, p, np.full(f[p].shape, shape[0] * shape[1] + 1, dtype=np.int64))


def _mx_slot_empty(f: h5py.File) -> None:
    npk = _read(f, "/entry/MX/nPeaks")
    i = int(np.argmax(npk))
    x = _read(f, "/entry/MX/peakXPosRaw").astype(np.float32)
    x[i, 0] = np.nan
    _rewrite(f, "/entry/MX/peakXPosRaw", x)


RELATIONS: tuple[tuple[str, str, str, str, Callable], ...] = (
    # (id, section, file: master|data|results, path that must exist, apply)
    (
        "image width vs x_pixels_in_detector",
        "§4.9 other collections",
        "master",
        f"{_DET}/detectorSpecific/x_pixels_in_detector",
        _add_one(f"{_DET}/detectorSpecific/x_pixels_in_detector", 1),
    ),
    (
        "image height vs y_pixels_in_detector",
        "§4.9 other collections",
        "master",
        f"{_DET}/detectorSpecific/y_pixels_in_detector",
        _add_one(f"{_DET}/detectorSpecific/y_pixels_in_detector", -1),
    ),
    (
        "modules do not tile the image",
        "§3 /entry/instrument/detector/module",
        "master",
        f"{_DET}/module/data_size",
        _shrink_module,
    ),
    (
        "pixel_mask vs image shape",
        "§3 /entry/instrument/detector",
        "master",
        f"{_DET}/detectorSpecific/pixel_mask",
        lambda f: _rewrite(
            f,
            f"{_DET}/detectorSpecific/pixel_mask",
            _read(f, f"{_DET}/detectorSpecific/pixel_mask")[:, :-1],
        ),
    ),
    (
        "data file image_nr_high one too high",
        "§3 /entry/data",
        "data",
        "/entry/data/data",
        _image_nr_high,
    ),
    (
        "nimages_written above nimages_collected",
        "§4.9 other collections",
        "master",
        f"{_DET}/detectorSpecific",
        _counters,
    ),
    (
        "nimages below the images written",
        "§4.9 other collections",
        "master",
        f"{_DET}/detectorSpecific/nimages",
        _scale(f"{_DET}/detectorSpecific/nimages", 0),
    ),
    (
        "bin_to_q vs bin_to_two_theta and wavelength",
        "§4.3 /entry/azint",
        "master",
        "/entry/azint/bin_to_q",
        _scale("/entry/azint/bin_to_q", 2.0),
    ),
    (
        "azint bins vs per-image azint",
        "§4.3 /entry/azint",
        "master",
        "/entry/azint/bin_to_phi",
        lambda f: _rewrite(
            f, "/entry/azint/bin_to_phi", _read(f, "/entry/azint/bin_to_phi")[..., :-1]
        ),
    ),
    (
        "nPeaks above peakCountUnfiltered",
        "§4.1 /entry/MX",
        "results",
        "/entry/MX/peakCountUnfiltered",
        _unfiltered_zero,
    ),
    (
        "slot below nPeaks without a spot",
        "§4.1 /entry/MX",
        "results",
        "/entry/MX/peakXPosRaw",
        _mx_slot_empty,
    ),
    (
        "ROI results without definition",
        "§4.4.1 /entry/roi_defs",
        "master",
        "/entry/roi_defs",
        _roi_rename,
    ),
    (
        "ROI npixel above its footprint",
        "§4.4 /entry/roi",
        "results",
        "/entry/roi",
        _npixel_too_many,
    ),
    (
        "end_time before start_time",
        "§3 /entry",
        "master",
        "/entry/end_time",
        _set_text("/entry/end_time", "2000-01-01T00:00:00Z"),
    ),
    (
        "saturation_value beyond the image dtype",
        "§3 /entry/instrument/detector",
        "master",
        f"{_DET}/saturation_value",
        lambda f: _rewrite(f, f"{_DET}/saturation_value", np.int64(1 << 40)),
    ),
    (
        "error_value beyond the image dtype",
        "§4.10 detector extensions",
        "master",
        f"{_DET}/error_value",
        lambda f: _rewrite(f, f"{_DET}/error_value", np.int64(1 << 40)),
    ),
    (
        "translation labelled mm, value in metres",
        "§3 /entry/instrument/detector/transformations",
        "master",
        f"{_DET}/transformations/translation",
        _units(f"{_DET}/transformations/translation", "mm"),
    ),
    (
        "translation value in mm, labelled m",
        "§3 /entry/instrument/detector/transformations",
        "master",
        f"{_DET}/transformations/translation",
        _scale(f"{_DET}/transformations/translation", 1000.0),
    ),
    (
        "fast_pixel_direction vs x_pixel_size",
        "§3 /entry/instrument/detector/module",
        "master",
        f"{_DET}/module/fast_pixel_direction",
        _scale(f"{_DET}/module/fast_pixel_direction", 1000.0),
    ),
    (
        "detector_distance vs distance",
        "§4.10 detector extensions",
        "master",
        f"{_DET}/detector_distance",
        _scale(f"{_DET}/detector_distance", 2.0),
    ),
    (
        "count_time above frame_time",
        "§3 /entry/instrument/detector",
        "master",
        f"{_DET}/count_time",
        _scale(f"{_DET}/count_time", 10.0),
    ),
    (
        "bit_depth_image vs image dtype",
        "§4.10 detector extensions",
        "master",
        f"{_DET}/bit_depth_image",
        lambda f: _rewrite(f, f"{_DET}/bit_depth_image", np.int32(8)),
    ),
)


def _relation_mutants(folder: Path, master: Path) -> list[Mutant]:
    data = sorted(folder.glob("*_data_*.h5"))
    out = []
    for rid, section, where, must, fn in RELATIONS:
        if where == "master":
            targets = [master]
        elif where == "data":
            targets = data[:1]
        else:
            targets = [master, *data[:1]]
        for t in targets:
            with h5py.File(t, "r") as f:
                link_ok = must in f and _is_hard(f, must)
            if link_ok:
                out.append(
                    Mutant(f"relation {rid} ({t.name})", section, "relation", t.name, must, fn)
                )
                break
    return out


def _is_hard(f: h5py.File, path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    grp = f["/"]
    for p in parts:
        link = grp.get(p, getlink=True)
        if not isinstance(link, h5py.HardLink):
            return False
        grp = grp[p]
    return True


def make_mutants(folder: Path, master: Path) -> tuple[list[Mutant], list[tuple[str, str]]]:
    """Mutants of one run and the equivalent (optional-row) deletions and moves not run."""
    mutants: list[Mutant] = []
    equivalent: list[tuple[str, str]] = []
    layout = _layout(master)
    for row in COVERAGE:
        if row.is_sentence or not row.path:
            continue
        for p in _files_for(row, folder, master):
            with h5py.File(p, "r") as f:
                found = _hard_matches(f, row.path)
            for path in found:
                for m in _row_mutants(row, p.name, path):
                    if m.kind in ("delete", "move") and not _required(row):
                        equivalent.append((m.id, "optional row (presence: input)"))
                        continue
                    if (
                        m.kind in ("delete", "move")
                        and row.where == "diagnostics"
                        and layout == "vds"
                        and p == master
                    ):
                        equivalent.append(
                            (
                                m.id,
                                "§4.7 diagnostics live in the data files; a VDS master "
                                "need not expose them",
                            )
                        )
                        continue
                    mutants.append(m)
    mutants += _relation_mutants(folder, master)
    return mutants, equivalent


def _clone(folder: Path, copy: Path, mutated: str) -> None:
    """A copy of the run: the file to mutate copied, the others hard-linked (read-only use)."""
    copy.mkdir(parents=True)
    for p in folder.iterdir():
        if not p.is_file():
            continue
        if p.name == mutated:
            shutil.copy2(p, copy / p.name)
            continue
        try:
            os.link(p, copy / p.name)
        except OSError:
            shutil.copy2(p, copy / p.name)


def _layout(master: Path) -> str:
    with h5py.File(master, "r") as f:
        data = f.get("/entry/data")
        if data is None:
            return "unknown"
        if "data" not in data:
            return "legacy"
        ds = data["data"]
        if ds.is_virtual and {s.file_name for s in ds.virtual_sources()} - {"."}:
            return "vds"
        return "integrated"


def _errors(report) -> set[tuple[str, str]]:
    return {(f.rule, f.path) for f in report.errors}


def run_selftest(
    folders: list[Path],
    work: str | None = None,
    profile: str = "jungfraujoch",
    sections: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> SelftestResult:
    """Mutate each run folder row by row and report the catch rate per spec section.

    ``sections``: only mutants whose section starts with one of these (all when empty);
    ``kinds``: only mutants of these kinds (delete, move, units, dtype, shape, class, relation).
    """
    result = SelftestResult()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for k, folder in enumerate(folders):
            folder = Path(folder)
            master = find_master(folder)
            run = f"{folder.name}"
            base = check_file(master, profile=profile)
            result.baseline_errors[run] = sorted({f"{r} {p}" for r, p in _errors(base)})
            base_errors = _errors(base)
            mutants, equivalent = make_mutants(folder, master)
            if sections:
                mutants = [m for m in mutants if m.section.startswith(sections)]
            if kinds:
                mutants = [m for m in mutants if m.kind in kinds]
            result.equivalent += equivalent
            for i, m in enumerate(mutants):
                copy = Path(tmp) / f"r{k}m{i}"
                _clone(folder, copy, m.file)
                try:
                    with h5py.File(copy / m.file, "r+") as f:
                        m.apply(f)
                except Exception as exc:  # noqa: BLE001 - a mutation that cannot be made
                    result.skipped.append((f"{run}: {m.id}", f"{type(exc).__name__}: {exc}"[:120]))
                    shutil.rmtree(copy, ignore_errors=True)
                    continue
                report = check_file(copy / master.name, profile=profile)
                new = _errors(report) - base_errors
                caught = bool(new) or report.unreadable
                stats = result.per_section[m.section]
                stats[0] += 1
                stats[1] += caught
                if not caught:
                    result.survivors.append((run, m.id, ""))
                if progress is not None:
                    progress(f"{'caught  ' if caught else 'SURVIVOR'} {run}: {m.id}")
                shutil.rmtree(copy, ignore_errors=True)
    return result
