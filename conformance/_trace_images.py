"""Images in the stream-to-file trace: pixels byte-identical (raw chunk or decompressed,
stream.md §4.3, hdf5-format.md §2), images never sent read as sentinels, calibration images."""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
from jfjoch_hil.conformance._trace_core import (
    _dataset,
    _short,
    _Trace,
)
from jfjoch_hil.conformance._trace_decode import WireArray
from jfjoch_hil.conformance.rules.stream_map import TRACE_MAP, TraceRow

_FILTER_OF = {"bslz4": (32008, 2), "bszstd": (32008, 3), "lz4": (32004, None)}


def _physical(trace: _Trace, image_id: int):
    """(dataset holding the chunk, row, label) of an image: the data file in legacy, the VDS
    source in vds, the master itself in integrated (hdf5-format.md §2)."""
    if trace.layout == "legacy":
        f, row, link = trace.data_file(image_id)
        ds = trace.files.get(f, "/entry/data/data") if f is not None else None
        return (ds if isinstance(ds, h5py.Dataset) else None), row, f"{link}:/entry/data/data"
    ds = trace.files.get(trace.files.master, "/entry/data/data")
    if not isinstance(ds, h5py.Dataset):
        return None, image_id, "/entry/data/data"
    if not ds.is_virtual:
        return ds, image_id, "/entry/data/data"
    for source in ds.virtual_sources():
        low, high = source.vspace.get_select_bounds()
        if low[0] <= image_id <= high[0]:
            try:
                src_low, _ = source.src_space.get_select_bounds()
            except ValueError:  # a source selected whole (H5S_SEL_ALL) has no bounds to ask
                src_low = (0,)
            f = (
                trace.files.open(source.file_name)
                if source.file_name != "."
                else trace.files.master
            )
            src = trace.files.get(f, source.dset_name) if f is not None else None
            row = src_low[0] + image_id - low[0]
            label = f"{source.file_name}:{source.dset_name}"
            return (src if isinstance(src, h5py.Dataset) else None), row, label
    return None, image_id, "/entry/data/data (no VDS source covers it)"


def _filter_matches(ds: h5py.Dataset, algorithm: str | None) -> bool:
    want = _FILTER_OF.get(algorithm or "")
    if want is None:
        return False
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _flags, values, _name = plist.get_filter(i)
        if code == want[0] and (want[1] is None or (len(values) > 4 and values[4] == want[1])):
            return True
    return False


@dataclass
class _ImageCounts:
    identical: int = 0
    raw_equal: int = 0
    sentinel: int = 0
    beyond: int = 0


def _image(trace: _Trace, row: TraceRow, message: dict, counts: _ImageCounts) -> None:
    image_id = message.get("image_id")
    data = message.get("data")
    if not isinstance(image_id, int) or not isinstance(data, dict) or not data:
        return
    channel, array = next(iter(data.items()))
    key = f"data.{channel}"
    ds, index, label = _physical(trace, image_id)
    if ds is None:
        trace.add(
            "TRACE-MISSING",
            label,
            f"image {image_id} was in the stream; its dataset is not in the file",
        )
        return
    if ds.ndim != 3 or index >= ds.shape[0]:
        trace.add("TRACE-ROW", label, f"no row {index} for image {image_id} (shape {ds.shape})")
        return
    trace.point(row, key, ds, index)
    trace.compared += 1
    if not isinstance(array, WireArray):
        return
    if tuple(ds.shape[1:]) != array.values.shape:
        trace.add("TRACE-SHAPE", label, f"images {ds.shape[1:]}, the stream's {array.values.shape}")
        return
    if (
        array.payload is not None
        and ds.chunks == (1, *ds.shape[1:])
        and _filter_matches(ds, array.algorithm)
    ):
        try:
            _mask, chunk = ds.id.read_direct_chunk((index, 0, 0))
        except Exception:  # noqa: BLE001 - an unallocated chunk: compare pixels below
            chunk = None
        if chunk is not None and bytes(chunk) == array.payload:
            counts.raw_equal += 1
            counts.identical += 1
            return
    stored = ds[index]
    if stored.dtype != array.values.dtype.newbyteorder("=") or not np.array_equal(
        stored, array.values
    ):
        where = f"{label}[{index}]"
        for other in (index - 1, index + 1):
            if 0 <= other < ds.shape[0] and np.array_equal(ds[other], array.values):
                trace.add("TRACE-ROW", where, f"image {image_id} is in row {other}, not {index}")
                return
        if stored.dtype != array.values.dtype.newbyteorder("="):
            trace.add(
                "TRACE-IMAGE", where, f"dtype {stored.dtype}, the stream's {array.values.dtype}"
            )
        else:
            n = int(np.count_nonzero(stored != array.values))
            trace.add(
                "TRACE-IMAGE", where, f"image {image_id}: {n} pixels differ from the stream's"
            )
        return
    counts.identical += 1


def _never_sent(trace: _Trace, missing: list[int], counts: _ImageCounts) -> None:
    """Images the stream never carried read as the fill value; per-image floats as NaN (§2, §5)."""
    float_rows = [r for r in TRACE_MAP if r.kind == "image" and r.how in ("row", "row_array")]
    for image_id in missing:
        ds, index, label = _physical(trace, image_id)
        if ds is None or ds.ndim != 3 or index >= ds.shape[0]:
            counts.beyond += 1
            continue
        fill = ds.fillvalue
        try:
            stored = ds[index]
        except Exception as exc:  # noqa: BLE001
            trace.add("TRACE-SENTINEL", f"{label}[{index}]", f"image {image_id} unreadable: {exc}")
            continue
        if not np.all(stored == fill):
            trace.add(
                "TRACE-SENTINEL",
                f"{label}[{index}]",
                f"image {image_id} was never sent but {int(np.count_nonzero(stored != fill))} "
                f"pixels differ from the fill value {fill}",
            )
            continue
        counts.sentinel += 1
        f, row_index, link = (
            trace.data_file(image_id)
            if trace.layout == "legacy"
            else (trace.files.master, image_id, "")
        )
        if f is None:
            continue
        for r in float_rows:
            if "{" in r.dest:
                continue
            d = trace.files.get(f, trace.dest_path(r))
            if (
                isinstance(d, h5py.Dataset)
                and d.dtype.kind == "f"
                and d.ndim >= 1
                and row_index < d.shape[0]
            ):
                cell = trace.files.read(d)[row_index]
                if not np.all(np.isnan(cell)):
                    trace.add(
                        "TRACE-SENTINEL",
                        f"{link + ':' if link else ''}{d.name}",
                        f"image {image_id} was never sent but row {row_index} holds {_short(cell)}, not NaN",
                    )


def _calibration(trace: _Trace, row: TraceRow, message: dict) -> None:
    name, array = message.get("name"), message.get("data")
    if not isinstance(name, str) or not isinstance(array, WireArray):
        return
    path = f"{row.dest}/{name}"
    ds, where = _dataset(trace, trace.files.master, path, f"calibration '{name}'", "")
    if ds is None:
        return
    trace.point(row, f"data[{name}]", ds)
    trace.compared += 1
    stored = ds[()]
    if stored.shape != array.values.shape:
        trace.add("TRACE-SHAPE", where, f"shape {stored.shape}, the stream's {array.values.shape}")
    elif not np.array_equal(stored, array.values, equal_nan=stored.dtype.kind == "f"):
        trace.add("TRACE-VALUE", where, f"calibration '{name}' differs from the stream's")
