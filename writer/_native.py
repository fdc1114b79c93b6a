"""The writer's hot HDF5 calls made through ctypes, on the library h5py itself loaded.

Why (docs/writer.md "Native calls"):

- A direct chunk write of a JUNGFRAU module image (~200 kB copied into the page cache, ~85 us)
  costs ~5 % less than through h5py, and runs without the GIL (:data:`ctypes.CDLL`).
- A reflections group (hdf5-format.md 4.2: a group and 17 small datasets, 9 with units) is ~80
  library calls.  Through h5py's low-level API it cost ~1.7 ms; made here, with compact storage,
  no object time stamps and the group's links kept compact, ~0.6 ms.  These short calls go
  through :data:`ctypes.PyDLL`, which keeps the GIL: handing the GIL back and forth 80 times
  would cost more than the calls.

Every call holds h5py's own lock (``phil``), so no h5py call of another thread runs inside the
library at the same time (the library is not built thread-safe).  A failed call raises
:class:`HDF5CallError` with the library's innermost error description, or :class:`OSError` when
that description carries an ``errno`` (a full disk, a file size limit).

Only the identifiers of objects h5py opened cross this boundary; nothing here opens or closes
files.  :func:`native` returns ``None`` where the library cannot be found or is older than 1.10
(64-bit identifiers); callers then use h5py.
"""

from __future__ import annotations

import ctypes
import os
import re
from functools import cache
from pathlib import Path

import h5py
import numpy as np
from h5py._objects import phil

__all__ = ["HDF5CallError", "Native", "native"]

_HID = ctypes.c_int64
_HERR = ctypes.c_int
_H5P_DEFAULT = 0
_H5S_ALL = 0
_H5E_DEFAULT = 0
_H5D_COMPACT = 0
_H5D_CONTIGUOUS = 1
_H5D_FILL_TIME_NEVER = 2
#: Compact storage keeps a dataset's values in its object header (at most 64 KiB there).
COMPACT_MAX_BYTES = 32 << 10
#: Links a reflections group keeps in its object header before it would switch to dense
#: storage (fractal heap + B-tree); 17 columns are more than HDF5's default of 8.
_LINKS_COMPACT = 32
_ERRNO = re.compile(r"errno = (\d+)")


class HDF5CallError(RuntimeError):
    """An HDF5 library call failed; the message is the call and the library's description."""


class _ErrorRecord(ctypes.Structure):
    # H5E_error2_t
    _fields_ = [
        ("cls_id", _HID),
        ("maj_num", _HID),
        ("min_num", _HID),
        ("line", ctypes.c_uint),
        ("func_name", ctypes.c_char_p),
        ("file_name", ctypes.c_char_p),
        ("desc", ctypes.c_char_p),
    ]


_WALK = ctypes.CFUNCTYPE(_HERR, ctypes.c_uint, ctypes.POINTER(_ErrorRecord), ctypes.c_void_p)


def _library_path() -> str | None:
    """The libhdf5 this process loaded for h5py (not the high-level ``_hl`` one)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").partition("/")[2]
                name = Path("/" + path).name if path else ""
                if name.startswith("libhdf5") and not name.startswith("libhdf5_") and ".so" in name:
                    return "/" + path
    except OSError:
        pass
    folder = Path(h5py.__file__).parent.parent / "h5py.libs"  # wheels bundle it here
    found = sorted(p for p in folder.glob("libhdf5-*.so*") if not p.name.startswith("libhdf5_"))
    return str(found[0]) if found else None


class Native:
    """ctypes bindings to the HDF5 library at ``path`` (the one h5py uses)."""

    def __init__(self, path: str) -> None:
        self.path = path
        free = ctypes.CDLL(path, use_errno=True)  # releases the GIL during a call
        held = ctypes.PyDLL(path, use_errno=True)  # keeps it (short calls)
        self._write_chunk = free.H5Dwrite_chunk
        self._write_chunk.argtypes = [
            _HID,
            _HID,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
        ]
        self._write_chunk.restype = _HERR
        signatures = {
            "H5Gcreate2": ([_HID, ctypes.c_char_p, _HID, _HID, _HID], _HID),
            "H5Gclose": ([_HID], _HERR),
            "H5Dcreate2": ([_HID, ctypes.c_char_p, _HID, _HID, _HID, _HID, _HID], _HID),
            "H5Dwrite": ([_HID, _HID, _HID, _HID, _HID, ctypes.c_void_p], _HERR),
            "H5Dclose": ([_HID], _HERR),
            "H5Acreate2": ([_HID, ctypes.c_char_p, _HID, _HID, _HID, _HID], _HID),
            "H5Awrite": ([_HID, _HID, ctypes.c_void_p], _HERR),
            "H5Aclose": ([_HID], _HERR),
            "H5Sclose": ([_HID], _HERR),
            "H5Pclose": ([_HID], _HERR),
            "H5Pcreate": ([_HID], _HID),
            "H5Pcopy": ([_HID], _HID),
            "H5Pset_layout": ([_HID, ctypes.c_int], _HERR),
            "H5Pset_fill_time": ([_HID, ctypes.c_int], _HERR),
            "H5Pset_obj_track_times": ([_HID, ctypes.c_uint], _HERR),
            "H5Pset_link_phase_change": ([_HID, ctypes.c_uint, ctypes.c_uint], _HERR),
            "H5Ewalk2": ([_HID, ctypes.c_int, _WALK, ctypes.c_void_p], _HERR),
            "H5Eclear2": ([_HID], _HERR),
        }
        self._call = {}
        for name, (arguments, result) in signatures.items():
            function = getattr(held, name)
            function.argtypes, function.restype = arguments, result
            self._call[name] = function
        # property lists made once (HDF5 copies them into each object); h5py owns their ids
        group = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        group.set_obj_track_times(False)
        self._checked("H5Pset_link_phase_change", group.id, _LINKS_COMPACT, _LINKS_COMPACT - 8)
        compact = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        compact.set_obj_track_times(False)
        compact.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        contiguous = compact.copy()
        compact.set_layout(h5py.h5d.COMPACT)
        self._plists = (group, compact, contiguous)  # kept alive: their ids are used below
        self._group_plist, self._compact, self._contiguous = group.id, compact.id, contiguous.id
        self._offset = (ctypes.c_uint64 * 3)()
        self._walk = _WALK(self._collect)
        self._described: list[str] = []

    # --- errors -------------------------------------------------------------------------------
    def _collect(self, n, record, _data) -> int:
        desc = record.contents.desc
        function = record.contents.func_name
        self._described.append(
            f"{function.decode(errors='replace') if function else '?'}: {desc.decode(errors='replace') if desc else '?'}"
        )
        return 0

    def _failed(self, call: str) -> Exception:
        """The error of the call that just failed (the library's error stack is read and cleared)."""
        self._described = []
        try:
            self._call["H5Ewalk2"](_H5E_DEFAULT, 0, self._walk, None)  # innermost first
            self._call["H5Eclear2"](_H5E_DEFAULT)
        except (ctypes.ArgumentError, OSError):
            pass
        described = [
            " ".join(d.split()) for d in self._described
        ]  # the library's texts hold newlines
        found = next((m for m in map(_ERRNO.search, described) if m), None)
        if found:
            number = int(found.group(1))
            return OSError(number, f"{os.strerror(number)} ({call})")
        text = "; ".join(described[:1] + described[-1:]) if described else "no description"
        return HDF5CallError(f"{call} failed: {text}")

    def _checked(self, name: str, *arguments) -> int:
        result = self._call[name](*arguments)
        if result < 0:
            raise self._failed(name)
        return result

    # --- calls --------------------------------------------------------------------------------
    def write_chunk(self, dataset_id: int, row: int, payload) -> None:
        """``H5Dwrite_chunk`` of ``payload`` (bytes-like, already compressed) as chunk ``(row, 0, 0)``
        of the 3-D image dataset ``dataset_id``, filters applied (mask 0), without the GIL."""
        pointer: bytes | int
        if isinstance(payload, bytes):
            pointer, length = payload, len(payload)
        else:
            array = np.frombuffer(payload, np.uint8)
            pointer, length = array.ctypes.data, array.nbytes
        with phil:
            self._offset[0] = row
            if self._write_chunk(dataset_id, _H5P_DEFAULT, 0, self._offset, length, pointer) < 0:
                raise self._failed(f"H5Dwrite_chunk (row {row})")

    def reflections_group(
        self, parent_id: int, name: bytes, nx_class, columns, scalar_space_id: int
    ) -> None:
        """Create group ``name`` under ``parent_id`` holding one 1-D dataset per column.

        ``nx_class`` and each column's units are ``(string type id, value array)`` for a scalar
        attribute (or ``None``); ``columns`` are ``(name, contiguous array, type id, space id,
        units)``.  All ids are h5py's (this only creates, writes and closes what it made).
        """
        call = self._call
        with phil:
            group = self._checked(
                "H5Gcreate2", parent_id, name, _H5P_DEFAULT, self._group_plist, _H5P_DEFAULT
            )
            try:
                self._attribute(group, b"NX_class", nx_class, scalar_space_id)
                for column, values, type_id, space_id, units in columns:
                    plist = (
                        self._compact if values.nbytes <= COMPACT_MAX_BYTES else self._contiguous
                    )
                    dataset = call["H5Dcreate2"](
                        group, column, type_id, space_id, _H5P_DEFAULT, plist, _H5P_DEFAULT
                    )
                    if dataset < 0:
                        raise self._failed(f"H5Dcreate2 ({column.decode(errors='replace')})")
                    try:
                        if (
                            call["H5Dwrite"](
                                dataset,
                                type_id,
                                _H5S_ALL,
                                _H5S_ALL,
                                _H5P_DEFAULT,
                                values.ctypes.data,
                            )
                            < 0
                        ):
                            raise self._failed(f"H5Dwrite ({column.decode(errors='replace')})")
                        if units is not None:
                            self._attribute(dataset, b"units", units, scalar_space_id)
                    finally:
                        call["H5Dclose"](dataset)
            finally:
                call["H5Gclose"](group)

    def _attribute(self, object_id: int, name: bytes, value, space_id: int) -> None:
        type_id, data = value
        call = self._call
        attribute = call["H5Acreate2"](
            object_id, name, type_id, space_id, _H5P_DEFAULT, _H5P_DEFAULT
        )
        if attribute < 0:
            raise self._failed(f"H5Acreate2 ({name.decode()})")
        try:
            if call["H5Awrite"](attribute, type_id, data.ctypes.data) < 0:
                raise self._failed(f"H5Awrite ({name.decode()})")
        finally:
            call["H5Aclose"](attribute)


@cache
def native() -> Native | None:
    """The bindings, or ``None`` (no library found, HDF5 < 1.10, or ``JFWRITER_NATIVE=0``)."""
    if os.environ.get("JFWRITER_NATIVE", "1") == "0":
        return None
    if h5py.version.hdf5_version_tuple < (1, 10, 0):  # 32-bit hid_t before 1.10
        return None
    path = _library_path()
    if path is None:
        return None
    try:
        return Native(path)
    except (OSError, AttributeError, ValueError):
        return None
