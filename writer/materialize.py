"""The only module that writes HDF5: turns plan items into objects (STYLE.md "plan vs I/O").

Files are created as ``<final>.<random>.tmp`` with the format bounds pinned to ``("v110", "v110")`` (superblock 3, compact chunk indexes) so HDF5
1.10 readers, Neggia and Durin open them (third-party-readers.md 2.6) and renamed when
closed complete (hdf5-format.md 2).  Strings are fixed-length NUL-terminated ASCII with room for
the terminator (third-party-readers.md 2.9).  Images go in with direct chunk writes as received
(stream.md 4.3: filter 32008 with ``(0, 4, elem_size, 0, 2)`` for LZ4, ``(..., 3, level)`` Zstd).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
from jfjoch_hil.writer._native import native
from jfjoch_hil.writer.errors import FileExistsRefusedError, WriteError
from jfjoch_hil.writer.layout import Attributes, Dataset, Group, Link, Virtual

__all__ = [
    "IMAGE_FILTERS",
    "Output",
    "apply",
    "create_image_stack",
    "create_rows",
    "image_filter",
    "group_at",
    "grow_rows",
    "resize_rows",
    "set_attrs",
    "tmp_name",
    "write_chunk",
    "write_reflections",
    "write_rows",
]

LIBVER = ("v110", "v110")
ZSTD_LEVEL_ASSUMED = 3
# Made once and reused (HDF5 copies types, spaces and property lists into each object it creates):
# building them costs 5-10 us each, as much as a small write.
_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)
_TYPES: dict[str, h5py.h5t.TypeID] = {}
_ASCII_TYPES: dict[int, h5py.h5t.TypeID] = {}
_ASCII_VALUES: dict[str, np.ndarray] = {}
_ROW_DCPLS: dict[tuple, h5py.h5p.PropDCID] = {}
#: ``TypedArray.compression`` -> HDF5 filter id (stream.md 4.3); ``None`` stores raw chunks.
IMAGE_FILTERS = {"bslz4": 32008, "bszstd": 32008, "lz4": 32004, None: None}


def image_filter(compression: str | None, itemsize: int) -> tuple[int | None, tuple[int, ...]]:
    """(filter id, user cd_values) that make a stream payload of ``compression`` a valid chunk.

    The bitshuffle filter's ``set_local`` prepends its version and the element size, so the
    stored cd_values become ``(0, 4, itemsize, 0, 2)`` (LZ4) / ``(0, 4, itemsize, 0, 3, level)``
    (Zstd), as stream.md 4.3 states; ``itemsize`` is implied by the dataset type.
    """
    if compression == "bslz4":
        return 32008, (0, 2)
    if compression == "bszstd":
        return 32008, (0, 3, ZSTD_LEVEL_ASSUMED)
    if compression == "lz4":
        return 32004, (0,)
    if compression is None:
        return None, ()
    raise ValueError(f"image.data compression {compression!r}: allowed bslz4, bszstd, lz4 or none")


def tmp_name(final: Path) -> Path:
    """``<final>.<random>.tmp``: the name a file is written under until it is complete."""
    final = Path(final)
    return final.with_name(f"{final.name}.{secrets.token_hex(4)}.tmp")


class Output:
    """One HDF5 file being written under a temporary name (hdf5-format.md 2).

    ``h5`` is the open file; :meth:`commit` closes it and renames it to ``final`` (refusing to
    replace an existing file unless ``overwrite``); :meth:`abandon` closes it and leaves the
    ``.tmp`` in place.  Every failure is a :class:`WriteError` naming the file.
    """

    def __init__(self, final: Path, tmp: Path | None = None) -> None:
        self.final = Path(final)
        self.tmp = Path(tmp) if tmp is not None else tmp_name(self.final)
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.h5 = h5py.File(self.tmp, "w", libver=LIBVER)
            set_attrs(
                self.h5,
                "/",
                {"file_name": self.final.name, "HDF5_Version": h5py.version.hdf5_version},
            )
        except OSError as error:
            raise WriteError(f"{self.tmp}: cannot create: {error}") from error

    def commit(self, *, overwrite: bool = False) -> int:
        """Close, flush and rename to the final name; returns the file size in bytes."""
        try:
            self.h5.close()
            size = self.tmp.stat().st_size
            if overwrite:
                os.replace(self.tmp, self.final)
            else:
                try:
                    os.link(self.tmp, self.final)  # atomic: fails if the final name exists
                except FileExistsError:
                    raise FileExistsRefusedError(
                        f"{self.final}: exists; not overwritten (left as {self.tmp.name})"
                    ) from None
                os.unlink(self.tmp)
        except FileExistsRefusedError:
            raise
        except OSError as error:
            raise WriteError(
                f"{self.tmp}: cannot close/rename to {self.final.name}: {error}"
            ) from error
        return size

    def abandon(self) -> None:
        """Close without renaming: the file stays a ``.tmp`` (a failed run)."""
        try:
            if self.h5.id.valid:
                self.h5.close()
        except Exception:  # noqa: BLE001 - the file is already broken; the run reports the first error
            pass


def _ascii_type(size: int) -> h5py.h5t.TypeID:
    size = max(size, 1)
    tid = _ASCII_TYPES.get(size)
    if tid is None:  # one per size: HDF5 copies the type into each object it creates
        tid = h5py.h5t.C_S1.copy()
        tid.set_size(size)
        tid.set_strpad(h5py.h5t.STR_NULLTERM)
        _ASCII_TYPES[size] = tid
    return tid


def _ascii_bytes(value: Any) -> np.ndarray:
    """Fixed-length ASCII bytes (``S n+1``) of a str / list of str, non-ASCII replaced by '?'."""
    if isinstance(value, (str, bytes)):
        data = value.encode("ascii", "replace") if isinstance(value, str) else value
        return np.array(data, dtype=f"S{len(data) + 1}")
    items = [v.encode("ascii", "replace") if isinstance(v, str) else bytes(v) for v in value]
    width = max((len(v) for v in items), default=0) + 1
    return np.array(items, dtype=f"S{width}")


def _is_text(value: Any) -> bool:
    if isinstance(value, (str, bytes)):
        return True
    return (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)
    )


def set_attrs(h5: h5py.File, path: str, attrs: dict[str, Any]) -> None:
    """Set attributes of the object at ``path``; strings as NUL-terminated ASCII."""
    if attrs:
        _set_attrs(h5[path], attrs)


def _set_attrs(obj, attrs: dict[str, Any]) -> None:
    """:func:`set_attrs` on an already-open object (resolving a path costs ~50 us)."""
    if not attrs:
        return
    for name, value in attrs.items():
        if name in obj.attrs:
            del obj.attrs[name]
        if _is_text(value):
            data = _ascii_bytes(value)
            space = _SCALAR_SPACE if data.ndim == 0 else h5py.h5s.create_simple(data.shape)
            attr = h5py.h5a.create(obj.id, name.encode(), _ascii_type(data.dtype.itemsize), space)
            attr.write(data)
        else:
            obj.attrs[name] = value


def _group(h5: h5py.File, path: str, cache: dict | None = None) -> h5py.Group:
    """The group at ``path``, created with its parents if missing (link checks only: h5py's
    ``in`` resolves the object and costs ~0.2 ms per call); ``cache`` maps paths already opened."""
    path = "/" + path.strip("/")
    if cache is not None and path in cache:
        return cache[path]
    if path == "/":
        group = h5["/"]
    else:
        parent_path, _, name = path.rpartition("/")
        parent = _group(h5, parent_path, cache)
        group = parent[name] if parent.id.links.exists(name.encode()) else parent.create_group(name)
    if cache is not None:
        cache[path] = group
    return group


def _parent(h5: h5py.File, path: str, cache: dict | None = None) -> h5py.Group:
    return _group(h5, path.rstrip("/").rpartition("/")[0], cache)


def _unlink(parent: h5py.Group, name: str) -> None:
    if parent.id.links.exists(name.encode()):
        del parent[name]


def _write_dataset(h5: h5py.File, item: Dataset, cache: dict | None = None) -> None:
    parent = _parent(h5, item.path, cache)
    name = item.path.rpartition("/")[2]
    _unlink(parent, name)
    value = item.value
    if _is_text(value):
        data = _ascii_bytes(value)
        space = _SCALAR_SPACE if data.ndim == 0 else h5py.h5s.create_simple(data.shape)
        dsid = h5py.h5d.create(parent.id, name.encode(), _ascii_type(data.dtype.itemsize), space)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        dataset = h5py.Dataset(dsid)
    else:
        array = np.asarray(value, dtype=item.dtype if item.dtype else None)
        if item.compress and array.ndim >= 1 and array.size:
            dataset = parent.create_dataset(
                name, data=array, chunks=array.shape, **hdf5plugin.Bitshuffle(nelems=0, cname="lz4")
            )
        else:
            dataset = parent.create_dataset(name, data=array)
    attrs = dict(item.attrs)
    if item.units:
        attrs["units"] = item.units
    _set_attrs(dataset, attrs)


def _write_virtual(h5: h5py.File, item: Virtual, cache: dict | None = None) -> None:
    # h5py's low-level calls: the high-level VirtualLayout costs ~1 ms per dataset and a VDS
    # master has one per per-image field
    dtype = np.dtype(item.dtype)
    rest = tuple(item.shape[1:])
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    if dtype.kind != "S":
        dcpl.set_fill_value(np.array(item.fill, dtype=dtype))
    for src in item.sources:
        if src.rows <= 0:
            continue
        selection = h5py.h5s.create_simple(tuple(item.shape))
        selection.select_hyperslab((src.dest_start,) + (0,) * len(rest), (src.rows, *rest))
        source_space = h5py.h5s.create_simple((src.rows, *rest))
        dcpl.set_virtual(selection, src.file.encode(), src.path.encode(), source_space)
    parent = _parent(h5, item.path, cache)
    name = item.path.rpartition("/")[2]
    _unlink(parent, name)
    dataset_id = h5py.h5d.create(
        parent.id,
        name.encode(),
        _h5_type(dtype),
        h5py.h5s.create_simple(tuple(item.shape)),
        dcpl=dcpl,
    )
    attrs = dict(item.attrs)
    if item.units:
        attrs["units"] = item.units
    if attrs:
        _set_attrs(h5py.Dataset(dataset_id), attrs)


def apply(h5: h5py.File, items) -> None:
    """Materialise plan ``items`` (groups, datasets, links, virtual datasets) into ``h5``."""
    cache: dict[str, h5py.Group] = {}
    for item in items:
        if isinstance(item, Group):
            group = _group(h5, item.path, cache)
            attrs = dict(item.attrs)
            if item.nx_class:
                attrs["NX_class"] = item.nx_class
            _set_attrs(group, attrs)
        elif isinstance(item, Attributes):
            set_attrs(h5, item.path, dict(item.attrs))
        elif isinstance(item, Dataset):
            _write_dataset(h5, item, cache)
        elif isinstance(item, Virtual):
            _write_virtual(h5, item, cache)
        elif isinstance(item, Link):
            parent = _parent(h5, item.path, cache)
            name = item.path.rpartition("/")[2]
            _unlink(parent, name)
            if item.kind == "external":
                parent[name] = h5py.ExternalLink(item.file, item.target)
            elif item.kind == "soft":
                parent[name] = h5py.SoftLink(item.target)
            else:
                parent[name] = h5[item.target]
        else:
            raise TypeError(f"unknown plan item {item!r}")


def create_image_stack(
    h5: h5py.File,
    path: str,
    dtype: np.dtype,
    rows: int,
    image_shape: tuple[int, int],
    compression: str | None,
) -> h5py.Dataset:
    """The ``[rows, y, x]`` image dataset, one image per chunk, growable along axis 0.

    Fill value ``INTx_MIN`` for signed, ``UINTx_MAX`` for unsigned pixels (hdf5-format.md 2).
    """
    dtype = np.dtype(dtype)
    fill = (
        np.iinfo(dtype).min
        if dtype.kind == "i"
        else np.iinfo(dtype).max
        if dtype.kind == "u"
        else np.nan
    )
    filter_id, options = image_filter(compression, dtype.itemsize)
    kwargs: dict[str, Any] = {}
    if filter_id is not None:
        kwargs = {"compression": filter_id, "compression_opts": options}
    return _parent(h5, path).create_dataset(
        path.rpartition("/")[2],
        shape=(rows, *image_shape),
        maxshape=(None, *image_shape),
        chunks=(1, *image_shape),
        dtype=dtype,  # byte order as sent: the payload bytes are stored unchanged
        fillvalue=fill,
        **kwargs,
    )


def write_chunk(dataset: h5py.Dataset, index: int, payload: bytes) -> None:
    """Store one image payload as received into row ``index`` (< the dataset's rows: see
    :func:`grow_rows`); the hot path, so nothing else happens here.  Through
    :mod:`writer._native` when it loaded: the same call, without the GIL."""
    bindings = native()
    if bindings is not None:
        bindings.write_chunk(dataset.id.id, index, payload)
    else:
        dataset.id.write_direct_chunk((index, 0, 0), payload)


def grow_rows(dataset: h5py.Dataset, rows: int) -> int:
    """Grow axis 0 to at least ``rows`` (doubling, to keep resizes rare); returns the new size."""
    new = max(rows, 2 * dataset.shape[0])
    dataset.resize(new, axis=0)
    return new


def create_rows(
    h5: h5py.File,
    path: str,
    dtype: Any,
    rows: int,
    row_shape: tuple[int, ...],
    fill: Any,
    units: str = "",
    block_rows: int = 1024,
    parent: h5py.Group | None = None,
) -> h5py.Dataset:
    """A per-image dataset ``[rows, *row_shape]`` filled with the sentinel ``fill`` (hdf5-format.md 4).

    Created with h5py's low-level calls (a run creates ~80 of them per data file); ``parent`` is
    the already-open parent group, if the caller has it.
    """
    dtype = np.dtype(dtype)
    row_bytes = max(int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize, 1)
    # chunks of whole write blocks (no read-modify-write), at most ~1 MiB (the chunk cache size)
    chunk_rows = max(1, min(max(rows, 1), block_rows, (1 << 20) // row_bytes))
    fill_value = None if dtype.kind == "S" else np.array(fill, dtype=dtype)
    key = (chunk_rows, *row_shape, dtype.str, None if fill_value is None else fill_value.tobytes())
    dcpl = _ROW_DCPLS.get(key)
    if dcpl is None:  # HDF5 copies the property list into each dataset: one per kind is enough
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((chunk_rows, *row_shape))
        if fill_value is not None:
            dcpl.set_fill_value(fill_value)
        _ROW_DCPLS[key] = dcpl
    space = h5py.h5s.create_simple((rows, *row_shape), (h5py.h5s.UNLIMITED, *row_shape))
    group = parent if parent is not None else _parent(h5, path)
    dataset_id = h5py.h5d.create(
        group.id, path.rpartition("/")[2].encode(), _h5_type(dtype), space, dcpl=dcpl
    )
    if units:
        _ascii_attr(dataset_id, b"units", units)
    return h5py.Dataset(dataset_id)


def _h5_type(dtype: np.dtype) -> h5py.h5t.TypeID:
    """HDF5 type of ``dtype``, made once per dtype (HDF5 copies it into each dataset)."""
    tid = _TYPES.get(dtype.str)
    if tid is None:
        tid = _TYPES[dtype.str] = h5py.h5t.py_create(dtype)
    return tid


def group_at(h5: h5py.File, path: str, cache: dict | None = None) -> h5py.Group:
    """The group at ``path``, created with its parents when missing; ``cache`` maps paths
    already opened (reused and filled)."""
    return _group(h5, path, cache)


def write_rows(dataset: h5py.Dataset, start: int, array: np.ndarray) -> None:
    """Write ``array`` (leading axis = images) at rows ``start..`` (one block write, h5py's
    low-level calls: the high-level selection machinery costs more than small writes)."""
    dataset_id = dataset.id
    file_space = dataset_id.get_space()
    shape = file_space.shape
    stop = start + array.shape[0]
    if stop > shape[0]:
        dataset_id.set_extent((stop, *shape[1:]))
        file_space = dataset_id.get_space()
    array = np.ascontiguousarray(array)
    file_space.select_hyperslab((start,) + (0,) * (len(shape) - 1), array.shape)
    # the memory type given: h5py would otherwise build it from the dtype on every call
    dataset_id.write(
        h5py.h5s.create_simple(array.shape), file_space, array, mtype=_h5_type(array.dtype)
    )


def resize_rows(dataset: h5py.Dataset, rows: int) -> None:
    """Set the number of rows (images) of a per-image or image dataset."""
    if dataset.shape[0] != rows:
        dataset.resize(rows, axis=0)


def _ascii_value(text: str) -> tuple[int, np.ndarray]:
    """(HDF5 type id, value) of a short attribute string, kept for reuse (units, class names)."""
    data = _ASCII_VALUES.get(text)
    if data is None:
        data = _ascii_bytes(text)
        if len(_ASCII_VALUES) < 256:  # units and class names: a handful
            _ASCII_VALUES[text] = data
    return _ascii_type(data.dtype.itemsize).id, data


def _ascii_attr(object_id, name: bytes, text: str) -> None:
    _, data = _ascii_value(text)
    attr = h5py.h5a.create(object_id, name, _ascii_type(data.dtype.itemsize), _SCALAR_SPACE)
    attr.write(data)


def write_reflections(
    h5: h5py.File,
    path: str,
    columns: dict[str, np.ndarray],
    units: dict[str, str],
    cache: dict | None = None,
) -> None:
    """One ``NXreflections`` group of an image's integrated reflections (hdf5-format.md 4.2).

    One group and 17 small datasets per image are the most expensive part of the writer (see
    benchmarks/bench_writer.py): made through :mod:`writer._native` when it loaded (compact
    storage, ~0.8 ms), else with h5py's low-level calls (~1.35 ms).  ``cache`` maps group paths
    already opened (see :func:`group_at`) for a series of calls.
    """
    parent, _, name = path.rpartition("/")
    parent_group = _group(h5, parent, cache)
    prepared: list[tuple[bytes, Any, Any, Any, Any]] = []  # (name, values, HDF5 type, space, units)
    spaces: dict[tuple[int, ...], h5py.h5s.SpaceID] = {}
    for column, values in columns.items():
        values = np.ascontiguousarray(values)
        space = spaces.get(values.shape)
        if space is None:
            space = spaces[values.shape] = h5py.h5s.create_simple(values.shape)
        prepared.append((column.encode(), values, _h5_type(values.dtype), space, units.get(column)))
    bindings = native()
    if bindings is not None:
        bindings.reflections_group(
            parent_group.id.id,
            name.encode(),
            _ascii_value("NXreflections"),
            [
                (column, values, kind.id, space.id, _ascii_value(unit) if unit else None)
                for column, values, kind, space, unit in prepared
            ],
            _SCALAR_SPACE.id,
        )
        return
    group_id = h5py.h5g.create(parent_group.id, name.encode())
    _ascii_attr(group_id, b"NX_class", "NXreflections")
    for key, values, kind, space, unit in prepared:
        dataset_id = h5py.h5d.create(group_id, key, kind, space)
        dataset_id.write(h5py.h5s.ALL, h5py.h5s.ALL, values, mtype=kind)
        if unit:
            _ascii_attr(dataset_id, b"units", unit)
