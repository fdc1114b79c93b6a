"""Where a run's HDF5 work happens: in this process, or in a store process beside it.

:class:`~writer.RunWriter` decides *what* goes into which file (checks, block buffering, layout
plans); a store does every HDF5 call, addressed by a file key (the data file index, ``-1`` for
the master).  Two stores with one interface:

- :class:`LocalStore` calls :mod:`writer.materialize` directly (the default);
- :class:`ProcessStore` runs a :class:`LocalStore` in a forked child and feeds it commands over a
  pipe, image payloads through a shared-memory ring.  The HDF5 work of a run (direct chunk
  writes, block writes, reflection groups, the master) then runs on the other core while this
  process receives, decodes and buffers the next images (docs/writer.md "Store process").

Errors are reported, never raised past the run: a store operation that fails raises
:class:`StoreError` with a message naming the file (here, or at the next call for the process
store); the run writer then abandons the run (its files stay ``.tmp``).
"""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jfjoch_hil.writer import materialize as mat
from jfjoch_hil.writer.errors import FileExistsRefusedError, WriteError, WriterError
from jfjoch_hil.writer.layout import Group

__all__ = ["LocalStore", "ProcessStore", "StoreError", "StoreReport", "default_store"]


class StoreError(WriterError):
    """A store operation failed; the message names the file (and the operation's error)."""


@dataclass(frozen=True)
class StoreReport:
    """What a store did for the current run."""

    bytes_committed: int = 0
    chunks_written: int = 0
    committed: tuple[Path, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RowSpec:
    """How to create a per-image dataset when a file first receives it (see :func:`materialize.create_rows`)."""

    path: str
    groups: tuple = ()
    dtype: str = "f4"
    rows: int = 1
    row_shape: tuple[int, ...] = ()
    fill: object = 0
    units: str = ""
    block_rows: int = 512


@dataclass
class _File:
    output: mat.Output
    images: object = None
    image_rows: int = 0
    rows: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)


def _message(error: BaseException, where: Path) -> str:
    if isinstance(error, (WriteError, FileExistsRefusedError, StoreError)):
        return str(error)
    if isinstance(error, OSError):
        return f"{where}: write error: {error}"
    return f"{where}: {type(error).__name__}: {error}"


class _Guard:
    """See :meth:`LocalStore._guard` (a class: cheaper per image than ``contextlib``)."""

    __slots__ = ("store", "where")

    def __init__(self, store: LocalStore, where: Path) -> None:
        self.store, self.where = store, where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> None:
        if error is None or not isinstance(error, Exception):
            return
        message = _message(error, self.where)
        if self.store._error is None:
            self.store._error = message
        raise StoreError(message) from error


class LocalStore:
    """Every HDF5 operation of a run, done in this process (raises :class:`StoreError`)."""

    def __init__(self) -> None:
        self._files: dict[int, _File] = {}
        self.begin_run()

    # --- run ----------------------------------------------------------------------------------
    def begin_run(self) -> None:
        """Forget the previous run's counters (its files are closed or abandoned)."""
        self._bytes = 0
        self._chunks = 0
        self._committed: list[Path] = []
        self._error: str | None = None

    def report(self) -> StoreReport:
        """Bytes committed, image chunks written, files committed and the first error, this run."""
        return StoreReport(self._bytes, self._chunks, tuple(self._committed), self._error)

    def close(self) -> None:
        """Abandon anything still open."""
        self.abandon_all()

    # --- files --------------------------------------------------------------------------------
    def _guard(self, where: Path) -> _Guard:
        """Context of one operation on ``where``: any exception leaves it as a :class:`StoreError`
        naming the file (the run's first one is kept for :meth:`report`)."""
        return _Guard(self, where)

    def open(self, key: int, final: Path, items=(), tmp: Path | None = None) -> None:
        """Create ``final`` as ``tmp`` (default: a new ``.tmp`` name) and write the plan ``items``."""
        with self._guard(Path(final)):
            output = mat.Output(Path(final), tmp)
            self._files[key] = _File(output)
            if items:
                mat.apply(output.h5, items)

    def stack(self, key: int, path: str, dtype: str, rows: int, image_shape, compression) -> None:
        """Create the image dataset of file ``key`` (if missing) with ``rows`` rows."""
        handle = self._files[key]
        with self._guard(handle.output.tmp):
            if handle.images is None:
                handle.images = mat.create_image_stack(
                    handle.output.h5, path, np.dtype(dtype), rows, tuple(image_shape), compression
                )
                handle.image_rows = rows

    def chunk(self, key: int, row: int, payload) -> None:
        """Store one image payload as received at ``row`` (after :meth:`stack`)."""
        handle = self._files[key]
        with self._guard(handle.output.tmp):
            if row >= handle.image_rows:
                handle.image_rows = mat.grow_rows(handle.images, row + 1)
            mat.write_chunk(handle.images, row, payload)
        self._chunks += 1

    def _dataset(self, handle: _File, spec: RowSpec):
        dataset = handle.rows.get(spec.path)
        if dataset is None:
            parent_path = spec.path.rpartition("/")[0]
            parent = handle.groups.get(parent_path)
            if parent is None:
                mat.apply(handle.output.h5, spec.groups)
                parent = handle.groups[parent_path] = mat.group_at(handle.output.h5, parent_path)
            dataset = handle.rows[spec.path] = mat.create_rows(
                handle.output.h5,
                spec.path,
                spec.dtype,
                spec.rows,
                spec.row_shape,
                spec.fill,
                spec.units,
                spec.block_rows,
                parent,
            )
        return dataset

    def rows(self, key: int, entries, reflections=(), units=None) -> None:
        """Write a block: ``entries`` are ``(RowSpec, start, runs, array)`` (``runs`` = (first,
        stop) row ranges of ``array`` holding images); ``reflections`` are ``(path, columns)``."""
        handle = self._files[key]
        with self._guard(handle.output.tmp):
            for spec, start, runs, array in entries:
                dataset = self._dataset(handle, spec)
                for first, stop in runs:
                    mat.write_rows(dataset, start + first, array[first:stop])
            if reflections:
                h5 = handle.output.h5
                groups: dict = {}
                for path, columns in reflections:
                    mat.write_reflections(h5, path, columns, units or {}, groups)
                mat.apply(h5, [Group("/entry/reflections", "NXcollection")])

    def finish(self, key: int, rows: int, image_attrs=None, missing=()) -> None:
        """Size file ``key`` to ``rows`` images: create the ``missing`` :class:`RowSpec` datasets
        (sentinel-filled), cut or extend the image and per-image datasets, set ``image_attrs``."""
        handle = self._files[key]
        with self._guard(handle.output.tmp):
            for spec in missing:
                self._dataset(handle, spec)
            if handle.images is not None:
                mat.resize_rows(handle.images, rows)
                if image_attrs:
                    mat.set_attrs(handle.output.h5, "/entry/data/data", image_attrs)
            for dataset in handle.rows.values():
                mat.resize_rows(dataset, rows)

    def apply(self, key: int, items) -> None:
        """Write plan ``items`` into file ``key``."""
        handle = self._files[key]
        with self._guard(handle.output.tmp):
            mat.apply(handle.output.h5, items)

    def commit(self, key: int, overwrite: bool = False) -> None:
        """Close file ``key`` and rename it to its final name (a failed one stays ``.tmp``)."""
        handle = self._files.pop(key)
        try:
            with self._guard(handle.output.tmp):
                self._bytes += handle.output.commit(overwrite=overwrite)
        except StoreError:
            handle.output.abandon()
            raise
        self._committed.append(handle.output.final)

    def abandon_all(self) -> None:
        """Close every open file without renaming (they stay ``.tmp``)."""
        for handle in self._files.values():
            handle.output.abandon()
        self._files.clear()


# --- the store process ----------------------------------------------------------------------------
_HEADER = 64  # the ring's first bytes: uint64 [0] bytes the child consumed, [1] 1 once it failed
_BATCH = 16  # image commands sent to the child per pipe write (fewer wake-ups)
_LOCAL_OPS = frozenset({"open", "stack", "rows", "finish", "apply", "commit"})


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux), so a killed writer
    leaves no store process writing behind it; elsewhere, the pipe's end stops it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def _serve(commands, replies, ring: mmap.mmap, parent: int) -> None:
    """The store process: run commands until the pipe closes or ``quit``."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent finalises on SIGINT/SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    header = np.frombuffer(ring, np.uint64, 2, 0)
    view = memoryview(ring)
    store = LocalStore()
    failed = False
    while True:
        try:
            command = commands.recv()
        except (EOFError, OSError):
            store.abandon_all()
            os._exit(0)
        op = command[0]
        try:
            if op == "chunks":
                for key, row, offset, length, release in command[1]:
                    if not failed:
                        try:
                            store.chunk(key, row, view[offset : offset + length])
                        finally:
                            header[0] = release
                    else:
                        header[0] = release
            elif op == "inline":
                _, key, row, payload, release = command
                if not failed:
                    store.chunk(key, row, payload)
                header[0] = release
            elif op in _LOCAL_OPS:
                if not failed:
                    getattr(store, op)(*command[1:])
            elif op == "abandon":
                store.abandon_all()
            elif op == "begin":
                store.abandon_all()
                store.begin_run()
                failed = False
                header[1] = 0
                replies.send(("ready",))
            elif op == "report":
                replies.send(("report", store.report()))
            elif op == "quit":
                store.abandon_all()
                replies.send(("bye",))
                os._exit(0)
        except Exception as error:  # noqa: BLE001 - a bad command never kills the store process
            if not failed:
                failed = True
                store.abandon_all()
                header[1] = 1
                text = (
                    str(error)
                    if isinstance(error, StoreError)
                    else f"store process: {op}: {type(error).__name__}: {error}"
                )
                replies.send(("error", text))
            if op == "chunks":  # release the ring space of the images after the failing one
                header[0] = command[1][-1][4]


class ProcessStore:
    """A :class:`LocalStore` in a forked child process, fed through a pipe and a payload ring.

    Create it before the process opens any HDF5 file or ZeroMQ socket (it forks).  Calls return
    at once; a failure in the child is raised as :class:`StoreError` by a later call (and by
    :meth:`report`).  ``ring_bytes`` bounds the image bytes in flight: when the child is that
    far behind, :meth:`chunk` waits (at most ``stall_timeout_s``).
    """

    def __init__(self, ring_bytes: int = 64 << 20, stall_timeout_s: float = 120.0) -> None:
        if not hasattr(os, "fork"):
            raise StoreError("a store process needs fork (use LocalStore on this platform)")
        self.ring_bytes = int(ring_bytes)
        self.stall_timeout_s = stall_timeout_s
        flags = (
            mmap.MAP_SHARED
            | getattr(mmap, "MAP_ANONYMOUS", 0x20)
            | getattr(mmap, "MAP_POPULATE", 0)
        )
        self._ring = mmap.mmap(
            -1, _HEADER + self.ring_bytes, flags=flags
        )  # populated: no page faults in the run
        self._view = memoryview(self._ring)
        self._header = np.frombuffer(self._ring, np.uint64, 2, 0)
        self._pending: list = []
        context = mp.get_context("fork")
        child_commands, self._commands = context.Pipe(duplex=False)
        self._replies, child_replies = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(child_commands, child_replies, self._ring, os.getpid()),
            name="jfwriter-store",
            daemon=True,
        )
        self._process.start()
        child_commands.close()
        child_replies.close()
        self._produced = 0  # bytes handed to the ring, wasted tails included
        self.images_piped = 0  # images too large for the ring, sent through the pipe
        self._error: str | None = None
        self._closed = False

    @property
    def alive(self) -> bool:
        """Whether the store process runs (and was not closed)."""
        return not self._closed and self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The store process's exit code once it ended."""
        return self._process.exitcode

    # --- plumbing -----------------------------------------------------------------------------
    def _check(self) -> None:
        if self._error is None and not self._header[1]:  # the child raises the flag before replying
            return
        while self._error is None and self._replies.poll(1.0):
            reply = self._replies.recv()
            if reply[0] == "error":
                self._error = reply[1]
        if self._error is not None:
            raise StoreError(self._error)

    def _send(self, command, *, check: bool = True) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._send(("chunks", pending), check=check)
        if check:
            self._check()
        if self._closed or not self._process.is_alive():
            raise StoreError(f"store process ended (exit code {self._process.exitcode})")
        try:
            self._commands.send(command)
        except OSError as error:
            raise StoreError(f"store process unreachable: {error}") from error

    def _wait(self, kind: str, timeout_s: float = 600.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._replies.poll(0.05):
                reply = self._replies.recv()
                if reply[0] == "error":
                    if self._error is None:
                        self._error = reply[1]
                    continue
                if reply[0] == kind:
                    return reply
            elif not self._process.is_alive():
                raise StoreError(f"store process ended (exit code {self._process.exitcode})")
        raise StoreError(f"store process did not answer {kind!r} within {timeout_s:.0f} s")

    def _room(self, length: int) -> int:
        """Ring offset (after the header) for ``length`` bytes, waiting while the child is behind."""
        offset = self._produced % self.ring_bytes
        skip = (
            self.ring_bytes - offset if offset + length > self.ring_bytes else 0
        )  # no record wraps
        need = skip + length
        deadline = None
        while self.ring_bytes - (self._produced - int(self._header[0])) < need:
            if self._pending:  # the child cannot free what it has not been told about
                pending, self._pending = self._pending, []
                self._send(("chunks", pending))
            self._check()
            if not self._process.is_alive():
                raise StoreError(f"store process ended (exit code {self._process.exitcode})")
            if deadline is None:
                deadline = time.monotonic() + self.stall_timeout_s
            elif time.monotonic() > deadline:
                raise StoreError(
                    f"store process stalled: no image written for {self.stall_timeout_s:.0f} s"
                )
            self._replies.poll(0.0005)
        self._produced += skip
        return 0 if skip else offset

    # --- the store interface ------------------------------------------------------------------
    def begin_run(self) -> None:
        self._error = None
        self._pending.clear()
        self._send(("begin",), check=False)
        self._wait("ready", 60.0)
        self._error = None  # an error reply of an earlier run read while waiting

    def report(self) -> StoreReport:
        try:
            self._send(("report",), check=False)
            reply = self._wait("report")[1]
        except StoreError as error:
            return StoreReport(error=self._error or str(error))
        if reply.error is None and self._error is not None:
            reply = StoreReport(
                reply.bytes_committed, reply.chunks_written, reply.committed, self._error
            )
        return reply

    def open(self, key, final, items=(), tmp=None) -> None:
        self._send(("open", key, Path(final), list(items), tmp))

    def stack(self, key, path, dtype, rows, image_shape, compression) -> None:
        self._send(("stack", key, path, dtype, rows, tuple(image_shape), compression))

    def chunk(self, key: int, row: int, payload) -> None:
        length = (
            len(payload) if isinstance(payload, (bytes, bytearray)) else memoryview(payload).nbytes
        )
        if length > self.ring_bytes // 2:  # an outsize image: through the pipe
            self.images_piped += 1
            self._send(("inline", key, row, bytes(payload), self._produced))
            return
        self._check()
        offset = self._room(length)
        start = _HEADER + offset
        self._view[start : start + length] = (
            payload if isinstance(payload, (bytes, bytearray)) else memoryview(payload).cast("B")
        )
        self._produced += length
        self._pending.append((key, row, start, length, self._produced))
        if len(self._pending) >= _BATCH:
            pending, self._pending = self._pending, []
            self._send(("chunks", pending))

    def rows(self, key, entries, reflections=(), units=None) -> None:
        self._send(("rows", key, list(entries), list(reflections), units))

    def finish(self, key, rows, image_attrs=None, missing=()) -> None:
        self._send(("finish", key, rows, image_attrs, list(missing)))

    def apply(self, key, items) -> None:
        self._send(("apply", key, list(items)))

    def commit(self, key, overwrite: bool = False) -> None:
        self._send(("commit", key, overwrite))

    def abandon_all(self) -> None:
        try:
            self._send(("abandon",), check=False)
        except StoreError:
            pass  # the child abandons by itself after an error, and on exit

    def close(self) -> None:
        """Stop the child (its open files are abandoned)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._commands.send(("quit",))
            self._wait("bye", 30.0)
        except (OSError, StoreError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)
        self._commands.close()
        self._replies.close()

    def __enter__(self) -> ProcessStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_store():
    """The store a :class:`~writer.RunWriter` uses when given none: in process."""
    return LocalStore()
