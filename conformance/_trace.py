"""Stream-to-file tracing: what a recorded stream carried, checked field by field in the files.

``trace_file(master, messages)`` walks :data:`conformance.rules.stream_map.TRACE_MAP` (written from
stream.md and hdf5-format.md) over one series (start, calibration, images, end): every field the
stream carried must be at its HDF5 destination, equal once cast to the stored dtype and converted
to the spec's unit; per-image fields in the row of their image in every layout; images
byte-identical; images never sent read as the fill value. Findings use the TRACE-* rules.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import h5py
import numpy as np
from jfjoch_hil.conformance._report import Finding, Report
from jfjoch_hil.conformance._trace_core import (
    _dataset,
    _equal,
    _factor,
    _Files,
    _short,
    _text,
    _Trace,
)
from jfjoch_hil.conformance._trace_decode import decode_message, plain
from jfjoch_hil.conformance._trace_images import _calibration, _image, _ImageCounts, _never_sent
from jfjoch_hil.conformance.rules import TRACE_RULES
from jfjoch_hil.conformance.rules.stream_map import TRACE_MAP, TraceRow

__all__ = [
    "TracePoint",
    "TraceResult",
    "TraceStatistics",
    "load_dir",
    "trace_decoded",
    "trace_dir",
    "trace_file",
]

_LEGACY_LINK = re.compile(r"^data_(\d{6})$")


@dataclass(frozen=True)
class TracePoint:
    """A destination the trace compared: where a mutation must be caught (the self-test)."""

    kind: str
    key: str
    section: str
    how: str
    file: str  # absolute path of the file holding the dataset
    path: str  # dataset path in that file
    rows: tuple[int, ...] = ()  # rows compared (per-image), empty for run-level values
    unit: str | None = None


@dataclass(frozen=True)
class TraceStatistics:
    """What the trace compared (STYLE.md "Errors": everything counted)."""

    layout: str
    messages: dict
    fields_traced: int
    values_compared: int
    images_expected: int
    images_received: int
    images_identical: int
    images_raw_chunk_equal: int
    images_never_sent: int
    images_never_sent_sentinel: int
    images_never_sent_beyond_file: int
    images_outside_run: int = 0  # image_id >= number_of_images: no row exists for them


@dataclass(frozen=True)
class TraceResult:
    """Findings (as a :class:`Report`), counts, and the destinations compared."""

    report: Report
    statistics: TraceStatistics
    points: tuple[TracePoint, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was lost, moved or altered on the way into the file."""
        return self.report.ok

    def to_json(self) -> dict:
        """The report's JSON form plus ``statistics``."""
        doc = self.report.to_json()
        doc["statistics"] = self.statistics.__dict__
        return doc


def load_dir(folder: str | os.PathLike) -> list[tuple[str, bytes]]:
    """(name, bytes) of the numbered ``NNNNNN.cbor`` files of a recording, in stream order."""
    from jfjoch_hil.stream.dump import dump_files

    return [(p.name, p.read_bytes()) for p in dump_files(folder)]


# --- run-level rows ----------------------------------------------------------------------------


def _expand(row: TraceRow, message: dict) -> list[tuple[str, object, dict]]:
    """(wire key, value, placeholders) for every key of ``message`` the row matches."""
    parts = row.key.split(".")
    out: list[tuple[str, object, dict]] = []

    def walk(value, index: int, names: list[str], fill: dict) -> None:
        if index == len(parts):
            out.append((".".join(names), value, fill))
            return
        part = parts[index]
        if not isinstance(value, dict):
            return
        if part.startswith("{") and part.endswith("}"):
            for k, v in value.items():
                walk(v, index + 1, [*names, str(k)], {**fill, part[1:-1]: k})
        elif part in value:
            walk(value[part], index + 1, [*names, part], fill)

    walk(message, 0, [], {})
    return out


def _run_level(trace: _Trace, row: TraceRow, message: dict) -> None:
    for key, value, fill in _expand(row, message):
        if row.how == "roi_def":
            _roi_defs(trace, row, value)
            continue
        if row.how == "angles":
            _angles(trace, row, key, value, fill)
            continue
        if row.how == "calibration":
            continue
        path = row.dest.format(**fill)
        f = trace.files.master
        if row.home == "per_image" and trace.layout == "legacy":
            f, _, _ = trace.data_file(0)
        ds, where = _dataset(trace, f, path, key, "")
        if ds is None:
            continue
        trace.point(row, key, ds)
        trace.compared += 1
        if row.how == "nimages":
            got = int(np.asarray(trace.files.read(ds)).reshape(-1)[0])
            allowed = {value} | trace.truncated_counts
            if got not in allowed:
                trace.add("TRACE-VALUE", where, f"{got}, the stream's '{key}' = {value}")
            continue
        if row.how == "width":
            if ds.ndim < 2 or ds.shape[1] != value:
                trace.add("TRACE-SHAPE", where, f"width {ds.shape[1:2]}, '{key}' = {value}")
            continue
        factor = _factor(trace, row, ds, where)
        if factor is None:
            continue
        stored = trace.files.read(ds)
        if row.how == "date":
            _date(trace, where, key, value, stored)
        elif row.how == "text":
            got = _text(stored)
            if got != value:
                trace.add("TRACE-VALUE", where, f"{_short(got)}, the stream's '{key}' = {value!r}")
        elif row.how == "array":
            _array(trace, where, key, value, stored, factor)
        elif not _equal(value, stored, factor):
            trace.add("TRACE-VALUE", where, f"{_short(stored)}, the stream's '{key}' = {value!r}")


def _array(trace: _Trace, where: str, key: str, value, stored: np.ndarray, factor: float) -> None:
    if isinstance(value, dict):  # unit_cell {a, b, c, alpha, beta, gamma} (HDF5 §3 /entry/sample)
        value = [value.get(k) for k in ("a", "b", "c", "alpha", "beta", "gamma")]
    want = plain(value)
    if np.asarray(want, dtype=object).size != np.asarray(stored).size:
        trace.add(
            "TRACE-SHAPE",
            where,
            f"shape {np.shape(stored)}, the stream's '{key}' has {np.size(want)} values",
        )
        return
    if isinstance(want, np.ndarray) and want.ndim > 1 and want.shape != np.shape(stored):
        trace.add("TRACE-SHAPE", where, f"shape {np.shape(stored)}, the stream's is {want.shape}")
        return
    if not _equal(want, stored, factor):
        trace.add("TRACE-VALUE", where, f"differs from the stream's '{key}'")


def _date(trace: _Trace, where: str, key: str, value, stored) -> None:
    text = _text(stored)
    try:
        got = _dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        got = None
    if got is None or got.tzinfo is None or not isinstance(value, _dt.datetime):
        trace.add("TRACE-VALUE", where, f"{text!r} is not an ISO 8601 date with a zone ({key})")
        return
    digits = len(text.split(".")[1].rstrip("Z").split("+")[0].split("-")[0]) if "." in text else 0
    if abs((got - value).total_seconds()) > 10.0**-digits + 1e-9:
        trace.add("TRACE-VALUE", where, f"{text}, the stream's '{key}' = {value.isoformat()}")


def _roi_defs(trace: _Trace, row: TraceRow, definitions) -> None:
    for definition in definitions or ():
        if not isinstance(definition, dict) or "name" not in definition:
            continue
        for member, value in definition.items():
            if member == "name":
                continue
            key = f"roi_definitions[{definition['name']}].{member}"
            path = f"{row.dest.format(name=definition['name'])}/{member}"
            ds, where = _dataset(trace, trace.files.master, path, key, "")
            if ds is None:
                continue
            trace.point(row, key, ds)
            trace.compared += 1
            stored = trace.files.read(ds)
            ok = _text(stored) == value if isinstance(value, str) else _equal(value, stored)
            if not ok:
                trace.add(
                    "TRACE-VALUE", where, f"{_short(stored)}, the stream's '{key}' = {value!r}"
                )


def _angles(trace: _Trace, row: TraceRow, key: str, axis: dict, fill: dict) -> None:
    if not isinstance(axis, dict) or "start" not in axis or "increment" not in axis:
        return
    path = row.dest.format(**fill)
    ds, where = _dataset(trace, trace.files.master, path, key, "")
    if ds is None:
        return
    trace.point(row, key, ds)
    trace.compared += 1
    factor = _factor(trace, row, ds, where)
    if factor is None:
        return
    stored = np.asarray(trace.files.read(ds), dtype=np.float64).reshape(-1)
    want = (axis["start"] + np.arange(stored.size) * axis["increment"]) * factor
    if not np.allclose(stored, want, rtol=1e-9, atol=1e-9):
        bad = int(np.argmax(~np.isclose(stored, want, rtol=1e-9, atol=1e-9)))
        trace.add(
            "TRACE-VALUE",
            where,
            f"angle of image {bad} is {stored[bad]}, start + {bad} x increment = {want[bad]}",
        )
    vector = axis.get("vector")
    if vector is not None:
        got = ds.attrs.get("vector")
        if got is None or not np.allclose(np.ravel(got), np.ravel(vector)):
            trace.add("TRACE-VALUE", where, f"@vector {got!r}, the stream's is {list(vector)}")


# --- per-image rows ----------------------------------------------------------------------------


def _per_image(trace: _Trace, row: TraceRow, message: dict) -> None:
    image_id = message.get("image_id")
    if not isinstance(image_id, int):
        return
    if row.how == "image":
        return  # images: _image
    expanded = _expand(row, message)
    if row.how == "spots":  # "spots.x": member x of every entry of the spots array (§9)
        spots = message.get("spots")
        expanded = [(row.key, spots, {})] if isinstance(spots, list) else []
    for key, value, fill in expanded:
        if isinstance(value, list) and not value and row.how != "spot_count":
            continue  # an empty list carries nothing to store
        f, index, link = trace.home(row, image_id)
        label = f"{link}:" if link else ""
        if row.how == "reflection":
            number = image_id + int(trace.start.get("image_number_start", 1) or 1)
            path = row.dest.format(number=number, **fill)
            ds, where = _dataset(trace, f, path, key, label)
            if ds is not None:
                trace.point(row, key, ds)
                trace.compared += 1
                _array(
                    trace,
                    where,
                    key,
                    value,
                    trace.files.read(ds),
                    _factor(trace, row, ds, where) or 1.0,
                )
            continue
        path = trace.dest_path(row).format(**fill)
        if _all_nan(value) and not isinstance(
            trace.files.get(f, path) if f else None, h5py.Dataset
        ):
            continue  # the sentinel only (HDF5 §4: NaN = absent): nothing had to be stored
        ds, where = _dataset(trace, f, path, key, label)
        if ds is None:
            continue
        if ds.ndim == 0 or index >= ds.shape[0]:
            trace.add("TRACE-ROW", where, f"no row {index} for image {image_id} (shape {ds.shape})")
            continue
        trace.point(row, key, ds, index)
        trace.compared += 1
        factor = _factor(trace, row, ds, where)
        if factor is None:
            continue
        stored = trace.files.read(ds)
        if row.how == "spots":
            _spots(trace, where, key, value, stored, index, image_id, factor)
            continue
        if row.how == "spot_count":
            width = _spot_width(trace, f)
            want = len(value) if width is None else min(len(value), width)
            if not _equal(want, stored[index]):
                _row_finding(trace, where, key, want, stored, index, image_id, factor)
            continue
        want = plain(value)
        if isinstance(value, str) or row.how == "row" and not isinstance(want, list | np.ndarray):
            if not _equal(want, stored[index], factor):
                _row_finding(trace, where, key, want, stored, index, image_id, factor)
            continue
        # row_array: a flat list against the row's [..] shape
        cell = stored[index]
        if np.size(want) > np.size(cell) or (np.size(want) < np.size(cell) and "Extra" not in path):
            trace.add(
                "TRACE-SHAPE",
                where,
                f"row of shape {np.shape(cell)}, '{key}' has {np.size(want)} values",
            )
            continue
        if np.size(want) == 0:
            continue
        part = np.ravel(cell)[: np.size(want)]
        if not _equal(np.ravel(np.asarray(want, dtype=np.float64)), part, factor):
            _row_finding(trace, where, key, want, stored, index, image_id, factor)


def _all_nan(value) -> bool:
    """True for a float or list of floats that is NaN throughout (the absent-value sentinel)."""
    try:
        arr = np.asarray(plain(value), dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.size > 0 and bool(np.all(np.isnan(arr)))


def _spot_width(trace: _Trace, f: h5py.File | None) -> int | None:
    ds = trace.files.get(f, "/entry/MX/peakXPosRaw") if f is not None else None
    return ds.shape[1] if isinstance(ds, h5py.Dataset) and ds.ndim == 2 else None


def _spots(trace, where, key, spots, stored, index, image_id, factor) -> None:
    member = key.split(".")[-1]
    values = [s.get(member) for s in spots if isinstance(s, dict)]
    if stored.ndim != 2:
        trace.add("TRACE-SHAPE", where, f"shape {stored.shape}, [n_images, max_spots] needed")
        return
    values = values[: stored.shape[1]]
    if any(v is None for v in values):
        return
    if not _equal(values, stored[index, : len(values)], factor):
        _row_finding(trace, where, key, values, stored, index, image_id, factor)


def _row_finding(trace, where, key, want, stored, index, image_id, factor) -> None:
    """TRACE-ROW when the value sits in a neighbouring row, TRACE-VALUE otherwise."""
    for other in (index - 1, index + 1):
        if 0 <= other < stored.shape[0]:
            cell = stored[other]
            if stored.ndim == 2 and np.ndim(want) == 1 and np.size(want) < stored.shape[1]:
                cell = cell[: np.size(want)]
            try:
                moved = _equal(want, cell, factor) if np.size(want) else False
            except ValueError:
                moved = False
            if moved:
                trace.add(
                    "TRACE-ROW", where, f"image {image_id}'s '{key}' is in row {other}, not {index}"
                )
                return
    trace.add(
        "TRACE-VALUE",
        where,
        f"row {index} holds {_short(stored[index])}, image {image_id}'s '{key}' = {_short(want)}",
    )


# --- images ------------------------------------------------------------------------------------


# --- entry points ------------------------------------------------------------------------------


def _layout(master: h5py.File) -> str:
    data = master.get("/entry/data")
    if data is None:
        return "unknown"
    if any(_LEGACY_LINK.match(k) for k in data):
        return "legacy"
    ds = data.get("data")
    if isinstance(ds, h5py.Dataset):
        return "vds" if ds.is_virtual else "integrated"
    return "unknown"


def _decode_all(messages: Iterable[tuple[str, bytes]], add) -> list[dict]:
    decoded = []
    for label, raw in messages:
        try:
            decoded.append(decode_message(raw))
        except ValueError as exc:
            add("TRACE-INPUT", label, str(exc))
    return decoded


def trace_file(
    master_path: str | os.PathLike, messages: Iterable[tuple[str, bytes]], target: str | None = None
) -> TraceResult:
    """Trace one series of ``messages`` ((label, raw CBOR bytes) in stream order) into the run
    whose master (or integrated) file is ``master_path``."""
    early: list[Finding] = []

    def add_early(rule_id: str, where: str, message: str) -> None:
        r = TRACE_RULES[rule_id]
        early.append(Finding(rule_id, r.severity, where, message, r.section))

    return trace_decoded(master_path, _decode_all(messages, add_early), target, early)


def trace_decoded(
    master_path: str | os.PathLike,
    decoded: list[dict],
    target: str | None = None,
    early: list[Finding] | None = None,
) -> TraceResult:
    """:func:`trace_file` on messages decoded already (the self-test decodes a recording once)."""
    try:
        import hdf5plugin  # noqa: F401 - bitshuffle / LZ4 filters for the image reads
    except ImportError:
        pass
    target = target or str(master_path)
    early = list(early or ())

    def add_early(rule_id: str, where: str, message: str) -> None:
        r = TRACE_RULES[rule_id]
        early.append(Finding(rule_id, r.severity, where, message, r.section))

    starts = [m for m in decoded if m.get("type") == "start"]
    counts = _ImageCounts()
    kinds: dict[str, int] = {}
    for m in decoded:
        kinds[m.get("type")] = kinds.get(m.get("type"), 0) + 1
    if len(starts) != 1:
        add_early("TRACE-INPUT", target, f"{len(starts)} start messages; one series needs one")
    # no end message (an aborted run, a writer fed without one) is a fact of the stream, not of the
    # file: the run-level summaries are then simply not traced (statistics.messages shows it)
    try:
        master = h5py.File(master_path, "r")
    except OSError as exc:
        add_early("TRACE-MISSING", target, f"the file does not open: {exc}")
        return _result(target, "unknown", early, [], {}, 0, kinds, counts, 0, 0, 0)
    files = _Files(master)
    try:
        trace = _Trace(files, _layout(master), starts[0] if starts else {})
        images = [m for m in decoded if m.get("type") == "image"]
        declared = trace.start.get("number_of_images")
        if isinstance(declared, int) and declared > 0:
            # an image numbered past the run (stream.md §8.1; jfcheck stream: ST-IMAGE-ID) has no
            # row to go to: counted, not traced
            outside = [
                m
                for m in images
                if isinstance(m.get("image_id"), int) and m["image_id"] >= declared
            ]
            images = [m for m in images if m not in outside]
        else:
            outside = []
        ids = [m["image_id"] for m in images if isinstance(m.get("image_id"), int)]
        if ids and len(set(ids)) < (trace.start.get("number_of_images") or 0):
            trace.truncated_counts = {len(set(ids)), max(ids) + 1}
        for row in TRACE_MAP:
            if row.kind == "start" and starts:
                _run_level(trace, row, starts[0])
            elif row.kind == "end":
                for m in decoded:
                    if m.get("type") == "end":
                        _run_level(trace, row, m)
            elif row.kind == "calibration":
                for m in decoded:
                    if m.get("type") == "calibration":
                        _calibration(trace, row, m)
            elif row.kind == "image":
                for m in images:
                    if row.how == "image":
                        _image(trace, row, m, counts)
                    else:
                        _per_image(trace, row, m)
        expected = trace.start.get("number_of_images")
        expected = expected if isinstance(expected, int) else 0
        received = {m["image_id"] for m in images if isinstance(m.get("image_id"), int)}
        missing = sorted(set(range(expected)) - received)
        _never_sent(trace, missing, counts)
        findings = list(early)
        for (rule_id, where), (count, message) in trace.findings.items():
            r = TRACE_RULES[rule_id]
            extra = f" ({count} rows/images like this)" if count > 1 else ""
            findings.append(Finding(rule_id, r.severity, where, message + extra, r.section))
        points = [
            TracePoint(
                row.kind, key, row.section, row.how, file, path, tuple(sorted(rows)), row.unit
            )
            for (file, path, _), (row, key, rows) in trace.points.items()
        ]
        return _result(
            target,
            trace.layout,
            findings,
            points,
            kinds,
            len(trace.traced_keys),
            kinds,
            counts,
            expected,
            len(received),
            len(missing),
            compared=trace.compared,
            outside=len(outside),
        )
    finally:
        files.close()
        master.close()


def _result(
    target,
    layout,
    findings,
    points,
    _k,
    traced,
    kinds,
    counts,
    expected,
    received,
    missing,
    compared=0,
    outside=0,
):
    report = Report(
        target,
        "trace",
        layout,
        tuple(findings),
        checked=len(TRACE_RULES),
        unreadable=False,
        rules_run=tuple(sorted(TRACE_RULES)),
    )
    stats = TraceStatistics(
        layout=layout,
        messages=dict(kinds),
        fields_traced=traced,
        values_compared=compared,
        images_expected=expected,
        images_received=received,
        images_identical=counts.identical,
        images_raw_chunk_equal=counts.raw_equal,
        images_never_sent=missing,
        images_never_sent_sentinel=counts.sentinel,
        images_never_sent_beyond_file=counts.beyond,
        images_outside_run=outside,
    )
    return TraceResult(report, stats, tuple(points))


def trace_dir(master_path: str | os.PathLike, folder: str | os.PathLike) -> TraceResult:
    """Trace a recording folder (``NNNNNN.cbor``, from ``jfsim record`` / ``jfsim run --record``)."""
    return trace_file(master_path, load_dir(folder), target=str(master_path))
