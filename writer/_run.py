"""One run, start..end, written in any layout (hdf5-format.md 2).

:class:`RunWriter` is the writer core: fed already-decoded messages, it stores images by direct
chunk write, buffers per-image results in blocks, closes each data file when it is complete, and
at :meth:`RunWriter.finish` writes the master through the layout plan.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from jfjoch_hil.stream import RejectReason
from jfjoch_hil.writer import materialize as mat
from jfjoch_hil.writer._results import Block, ResultExtractor
from jfjoch_hil.writer._store import LocalStore, RowSpec, StoreError
from jfjoch_hil.writer.errors import FileExistsRefusedError, LayoutError, WriteError
from jfjoch_hil.writer.layout import (
    Attributes,
    FileExtent,
    RunFacts,
    Virtual,
    collection_groups,
    data_file_items,
    link_items,
    low_high_attrs,
    metadata_items,
    per_image_path,
    reflection_path,
    run_geometry,
    user_items,
)

__all__ = ["REJECT_REASONS", "RunResult", "RunWriter"]

#: Why an image can be rejected (counted in :attr:`RunResult.images_rejected`; declared in
#: :class:`stream.RejectReason`, the writer event records).
REJECT_REASONS: tuple[str, ...] = tuple(
    reason.value for reason in RejectReason if reason is not RejectReason.WITHOUT_RUN
)


@dataclass(frozen=True)
class RunResult:
    """Summary of a finished run: the JSON line the service prints."""

    prefix: str
    layout: str
    files: tuple[str, ...]
    images_written: int
    images_rejected: tuple[tuple[str, int], ...]
    bytes_written: int
    seconds: float
    end_received: bool
    error: str | None = None
    warnings: tuple[str, ...] = ()
    values_not_stored: tuple[tuple[str, int], ...] = ()

    @property
    def mb_per_s(self) -> float:
        """Bytes written per second of the run, in MB/s (10^6 bytes)."""
        return self.bytes_written / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict:
        """The run summary as a JSON-ready map."""
        return {
            "prefix": self.prefix,
            "layout": self.layout,
            "files": list(self.files),
            "images_written": self.images_written,
            "images_rejected": dict(self.images_rejected),
            "bytes": self.bytes_written,
            "seconds": round(self.seconds, 6),
            "mb_per_s": round(self.mb_per_s, 3),
            "end_received": self.end_received,
            "error": self.error,
            "warnings": list(self.warnings),
            "values_not_stored": dict(self.values_not_stored),
        }


class _OpenFile:
    """A data file (or the integrated file, or the master: key -1) being written by the store."""

    def __init__(self, key: int, info, final: Path) -> None:
        self.key = key
        self.info = info
        self.final = final
        self.tmp = mat.tmp_name(final)
        self.has_images = False
        self.fields: dict = {}  # PerImageField -> RowSpec, the per-image datasets the file has
        self.max_row = -1
        self.count = 0
        self.blocks: dict[int, Block] = {}
        self.reflections: list[int] = []


class RunWriter:
    """Writes one run (hdf5-format.md 2-4) from decoded messages; the writer core.

    ``layout`` / ``images_per_file`` override the start message; ``overwrite`` allows replacing
    existing final files; ``block_images`` is the number of rows buffered per write;
    ``source_images`` (process mode) are the :class:`~writer.layout.VirtualSource` items of an
    existing run's images, see :func:`writer.reader.image_sources`; ``legacy_dials_stack`` adds
    the virtual ``/entry/all_images`` NXdata to a multi-file legacy master (DIALS, docs/writer.md);
    ``store`` does the HDF5 work (default: a :class:`~writer._store.LocalStore` in this process;
    a :class:`~writer._store.ProcessStore` moves it to a second process).
    Raises :class:`~writer.errors.LayoutError` / :class:`~writer.errors.PrefixError` /
    :class:`~writer.errors.FileExistsRefusedError` when the run is refused (nothing written).
    """

    def __init__(
        self,
        start,
        out_dir,
        *,
        layout: str | None = None,
        images_per_file: int | None = None,
        overwrite: bool = False,
        block_images: int = 512,
        source_images=None,
        legacy_dials_stack: bool = True,
        store=None,
    ) -> None:
        self.start = start
        self.out_dir = Path(out_dir)
        self.geometry = run_geometry(start, layout=layout, images_per_file=images_per_file)
        self.layout = self.geometry.layout
        self.overwrite = overwrite
        self.block_images = max(int(block_images), 1)
        self.source_images = source_images
        self.legacy_dials_stack = legacy_dials_stack
        self.user, self.warnings = user_items(start)
        try:  # refuse a start message whose metadata cannot be laid out, before writing anything
            metadata_items(start, None, RunFacts(1, 0, datetime.now(UTC)))
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise LayoutError(f"start message cannot be laid out: {error}") from error
        roi_names = [d.get("name") for d in (start.roi_definitions or ()) if hasattr(d, "get")]
        self.extractor = ResultExtractor(
            start, [n for n in roi_names if isinstance(n, str)], self.geometry.image_number_start
        )
        self.rejected: Counter[str] = Counter()
        self.images_written = 0
        self.bytes_written = 0
        self.error: str | None = None
        self.files: list[str] = []
        self.extents: list[FileExtent] = []
        self.reflections: list[tuple[int, str]] = []
        self.calibration: list[tuple[str, np.ndarray]] = []
        self.image_type: tuple | None = None
        self._open: dict[int, _OpenFile] = {}
        self._written = bytearray()
        self._t0 = time.perf_counter()
        self._current: Path = self.out_dir
        self._finished = False
        self._check_existing()
        self.store = store if store is not None else LocalStore()
        self.store.begin_run()

    # --- checks -------------------------------------------------------------------------------
    def _check_existing(self) -> None:
        """Refuse the run if one of its final files exists (one listing of the folder: a run may
        plan 10^5 data files, and a ``stat`` of each cost seconds)."""
        if self.overwrite:
            return
        first = self.geometry.data_file(0).name
        names = [self.geometry.master_name] if self.geometry.master_name else []
        names.append(first)
        # a stat of each (raises for a name the file system refuses, e.g. too long)
        taken = [name for name in dict.fromkeys(names) if (self.out_dir / name).exists()]
        if self.layout not in ("integrated", "process") and not taken:
            count = 1
            if self.geometry.number_of_images and self.geometry.images_per_file:
                count = -(-self.geometry.number_of_images // self.geometry.images_per_file)
            try:
                existing = (
                    [entry.name for entry in os.scandir((self.out_dir / first).parent)]
                    if count > 1
                    else []
                )
            except (FileNotFoundError, NotADirectoryError):
                existing = []
            pattern = re.compile(
                re.escape(Path(self.geometry.prefix).name + "_data_") + r"(\d{6,})\.h5\Z"
            )
            numbers = sorted(int(m.group(1)) for m in map(pattern.match, existing) if m)
            taken += [self.geometry.data_file(n - 1).name for n in numbers if 1 <= n <= count][:1]
        if taken:
            raise FileExistsRefusedError(
                f"{self.out_dir / taken[0]}: exists; the run {self.geometry.prefix!r} is refused "
                "(start the writer with --overwrite to replace files)"
            )

    def _reject(self, reason: RejectReason) -> str:
        self.rejected[reason.value] += 1
        return reason.value

    # --- images -------------------------------------------------------------------------------
    def put_image(self, message) -> str | None:
        """Store one image message; returns ``None`` or the reason it was rejected (counted)."""
        if self.error is not None or self._finished:
            return self._reject(RejectReason.RUN_FAILED)
        start = self.start
        if (
            message.series_unique_id is not None
            and start.series_unique_id is not None
            and (
                message.series_unique_id != start.series_unique_id
                or message.series_id != start.series_id
            )
        ):
            return self._reject(RejectReason.SERIES_MISMATCH)
        index = message.image_id
        if not self.geometry.accepts(index):
            return self._reject(RejectReason.OUTSIDE_RUN)
        if index < len(self._written) and self._written[index]:
            return self._reject(RejectReason.DUPLICATE)
        data = message.data.get("default") if message.data else None
        if data is None and message.data:
            data = next(iter(message.data.values()))
        if data is None and self.layout != "process":
            return self._reject(RejectReason.NO_DATA)
        if data is not None and self.layout != "process":
            kind = (data.dtype.str, data.compression)
            if tuple(data.dims or ()) != self.geometry.image_shape or (
                self.image_type is not None and kind != self.image_type
            ):
                return self._reject(RejectReason.SHAPE_OR_TYPE)
        try:
            self._store(index, message, data)
        except Exception as error:  # noqa: BLE001 - any failure ends this run, never the service
            self._fail(error)
            return self._reject(RejectReason.RUN_FAILED)
        return None

    def _store(self, index: int, message, data) -> None:
        file_index = self.geometry.file_index(index)
        handle = self._open.get(file_index) or self._open_file(file_index)
        self._current = handle.tmp
        row = index - handle.info.first_index
        if data is not None and self.layout != "process":
            if not handle.has_images:
                self.image_type = (data.dtype.str, data.compression)
                self.store.stack(
                    file_index,
                    "/entry/data/data",
                    data.dtype.str,
                    self._initial_rows(handle, row + 1),
                    self.geometry.image_shape,
                    data.compression,
                )
                handle.has_images = True
            self.store.chunk(file_index, row, data.payload)
        block_start = row - row % self.block_images
        block = handle.blocks.get(block_start)
        if block is None:
            size = self.block_images
            if handle.info.capacity is not None:
                size = min(size, handle.info.capacity - block_start)
            block = handle.blocks[block_start] = Block(block_start, size)
        number = self.geometry.image_number_start + index
        self.extractor.extract(block, row - block_start, message, number)
        block.filled[row - block_start] = True
        block.count += 1
        if index >= len(self._written):
            self._written.extend(bytes(max(index + 1 - len(self._written), 1024)))
        self._written[index] = 1
        self.images_written += 1
        handle.count += 1
        handle.max_row = max(handle.max_row, row)
        if block.count == block.size:
            self._flush(handle, handle.blocks.pop(block_start))
        if handle.info.capacity is not None and handle.count == handle.info.capacity:
            if self.layout not in ("integrated", "process"):
                # Images arrive out of order across files: flush what the other open files hold,
                # so every field received so far is known ("seen") and written into this file too.
                for other in self._open.values():
                    if other is not handle:
                        for start in sorted(other.blocks):
                            self._flush(other, other.blocks.pop(start))
                self._close_file(file_index)

    def put_calibration(self, message) -> None:
        """Keep a calibration image for ``detector/calibration/<name>`` (hdf5-format.md 4.9)."""
        self.calibration.append((message.name, message.data.to_numpy()))

    # --- files --------------------------------------------------------------------------------
    def _open_file(self, file_index: int) -> _OpenFile:
        info = self.geometry.data_file(file_index)
        self._current = self.out_dir / info.name
        handle = self._open[file_index] = _OpenFile(file_index, info, self.out_dir / info.name)
        self.store.open(file_index, handle.final, data_file_items(), handle.tmp)
        return handle

    def _flush(self, handle: _OpenFile, block: Block) -> None:
        runs = block.runs()
        entries = []
        for field_, array in self.extractor.columns(block).items():
            spec = handle.fields.get(field_)
            if spec is None:
                rows = self._initial_rows(handle, block.start + block.size)
                spec = self._row_spec(handle, field_, rows, array.shape[1:])
            entries.append((spec, block.start, runs, array))
        reflections = [(reflection_path(number), columns) for number, columns in block.reflections]
        handle.reflections += [number for number, _ in block.reflections]
        self.store.rows(
            handle.key,
            entries,
            reflections,
            ResultExtractor.reflection_units() if reflections else None,
        )

    def _initial_rows(self, handle: _OpenFile, needed: int) -> int:
        """Rows a file's image or per-image dataset is created with: what the images so far need
        (at least one block), never more than the file's planned capacity.  Datasets grow as images
        arrive (doubling) and are sized at the end: created at a declared size of 10^8 images and cut
        to the few that came, 78 datasets cost 3.4 s in HDF5, which walks every cut chunk."""
        rows = max(needed, self.block_images)
        capacity = handle.info.capacity
        return rows if capacity is None else max(1, min(rows, capacity))

    def _row_spec(
        self, handle: _OpenFile, field_, rows: int, row_shape: tuple[int, ...]
    ) -> RowSpec:
        """How the store creates ``field_`` in ``handle``'s file (noted as present there)."""
        spec = handle.fields[field_] = RowSpec(
            per_image_path(field_, self.layout),
            tuple(collection_groups([field_], self.layout)),
            field_.dtype,
            rows,
            tuple(row_shape),
            field_.fill,
            field_.units,
            self.block_images,
        )
        return spec

    def _finish_file(self, handle: _OpenFile, *, trim: bool = True) -> int:
        """Flush and size a file: the last file of a run is cut after its highest image; any other
        keeps its planned size (Neggia computes the file of frame n from the first file's length,
        so only the last file may be shorter; missing images read as the fill value)."""
        for block_start in sorted(handle.blocks):
            self._flush(handle, handle.blocks.pop(block_start))
        rows = handle.max_row + 1
        if not trim and handle.info.capacity is not None:
            rows = handle.info.capacity
        # every field the run carried so far exists in every data file (sentinel-filled where this
        # file's images had none), so a VDS row never maps to a missing source
        missing = [
            self._row_spec(handle, field_, max(rows, 1), row_shape)
            for field_, row_shape in self.extractor.seen.items()
            if field_ not in handle.fields
        ]
        image_attrs = None
        if handle.has_images:
            image_attrs = low_high_attrs(
                handle.info.first_index, rows, self.geometry.image_number_start
            )
        self.store.finish(handle.key, rows, image_attrs, missing)
        return rows

    def _close_file(self, file_index: int, *, trim: bool = True) -> None:
        handle = self._open.pop(file_index)
        self._current = handle.tmp
        rows = self._finish_file(handle, trim=trim)
        self.store.commit(file_index, self.overwrite)
        base = Path(handle.info.name).name
        present = frozenset(per_image_path(f, self.layout) for f in handle.fields)
        self.extents.append(
            FileExtent(base, handle.info.first_index, rows, handle.info.number, present)
        )
        self.reflections += [(n, base) for n in handle.reflections]

    def _fail(self, error: Exception) -> None:
        if isinstance(error, (WriteError, FileExistsRefusedError, StoreError)):
            self.error = str(error)
        elif isinstance(error, OSError):
            self.error = f"{self._current}: write error: {error}"
        else:
            self.error = f"{self._current}: {type(error).__name__}: {error}"
        self.store.abandon_all()
        self._open.clear()

    # --- end of run ---------------------------------------------------------------------------
    def finish(self, end=None) -> RunResult:
        """Close every file and write the master; ``end`` is ``None`` when no end message came
        (then ``/entry/end_time`` is omitted).  Never raises for write errors: they are in the
        result."""
        if not self._finished:
            self._finished = True
            if self.error is None:
                try:
                    self._finalise(end)
                except Exception as error:  # noqa: BLE001 - reported in the result, never raised
                    self._fail(error)
            self._settle(self.store.report())
        seconds = time.perf_counter() - self._t0
        return RunResult(
            prefix=self.geometry.prefix,
            layout=self.layout,
            files=tuple(self.files),
            images_written=self.images_written,
            images_rejected=tuple(sorted(self.rejected.items())),
            bytes_written=self.bytes_written,
            seconds=seconds,
            end_received=end is not None,
            error=self.error,
            warnings=tuple(self.warnings),
            values_not_stored=tuple(sorted(self.extractor.problems.items())),
        )

    def _settle(self, report) -> None:
        """Take what the store did: the files it committed and their bytes, and an error it met
        after the call that caused it had returned (a store process).  Images handed to a store
        that failed before writing them are counted as rejected ("run failed"), not written."""
        if report.error is not None and self.error is None:
            self.error = report.error
            self.store.abandon_all()
        self.bytes_written = report.bytes_committed
        self.files = [self._relative(path) for path in report.committed]
        if (
            self.error is not None
            and self.layout != "process"
            and report.chunks_written < self.images_written
        ):
            self.rejected[RejectReason.RUN_FAILED.value] += (
                self.images_written - report.chunks_written
            )
            self.images_written = report.chunks_written

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.out_dir).as_posix()
        except ValueError:
            return str(path)

    def _finalise(self, end) -> None:
        single = self.layout in ("integrated", "process")
        if not single:
            for handle in self._open.values():  # every block first, so `seen` knows all fields
                for block_start in sorted(handle.blocks):
                    self._flush(handle, handle.blocks.pop(block_start))
            closed = {e.number - 1 for e in self.extents}
            last = max([*self._open, *closed], default=-1)
            if self.image_type is not None:
                # a data file that received no image at all: written empty (fill value) so that the
                # data_NNNNNN links stay contiguous (Neggia, fabio, Durin stop at a gap)
                for file_index in range(last):
                    if file_index not in closed and file_index not in self._open:
                        handle = self._open_file(file_index)
                        dtype, compression = self.image_type
                        self.store.stack(
                            file_index,
                            "/entry/data/data",
                            dtype,
                            handle.info.capacity or 1,
                            self.geometry.image_shape,
                            compression,
                        )
                        handle.has_images = True
                        handle.max_row = (handle.info.capacity or 1) - 1
            for file_index in sorted(self._open):
                self._close_file(file_index, trim=file_index == last)
            if self.layout == "onlydata":
                return
            handle = _OpenFile(
                -1, self.geometry.data_file(0), self.out_dir / self.geometry.master_name
            )
            self._current = handle.tmp
            self.store.open(-1, handle.final, (), handle.tmp)
            self._open[-1] = handle
            rows = max((e.first_index + e.rows for e in self.extents), default=0)
        else:
            handle = self._open.get(0) or self._open_file(0)
            self._current = handle.tmp
            rows = self._finish_file(handle)
            self.extents.append(FileExtent(handle.final.name, 0, rows))
            self._open = {-1: handle}
        fields = [(f, shape) for f, shape in self.extractor.seen.items()]
        facts = RunFacts(
            n_images=rows,
            images_written=self.images_written,
            finalised_at=datetime.now(UTC),
            calibration=tuple(self.calibration),
            user=tuple(self.user),
        )
        items = metadata_items(self.start, end, facts)
        dtype = None
        fill = None
        if self.image_type is not None:
            dtype = self.image_type[0]
            kind = np.dtype(dtype)
            fill = (
                np.iinfo(kind).min
                if kind.kind == "i"
                else np.iinfo(kind).max
                if kind.kind == "u"
                else np.nan
            )
        items += link_items(
            self.layout,
            self.extents,
            fields,
            self.reflections,
            dtype,
            fill,
            self.geometry.image_shape,
            self.geometry.image_number_start,
            dials_stack=self.legacy_dials_stack,
        )
        if single:
            items += collection_groups([f for f, _ in fields], self.layout)
            if self.image_type is not None:
                items.append(
                    Attributes(
                        "/entry/data/data",
                        low_high_attrs(0, rows, self.geometry.image_number_start),
                    )
                )
            if self.layout == "process" and self.source_images:
                items += self._process_images(rows)
        self.store.apply(handle.key, items)
        self.store.commit(handle.key, self.overwrite)
        self._open.clear()

    def _process_images(self, rows: int) -> list:
        dtype, shape, sources = self.source_images
        total = max((s.dest_start + s.rows for s in sources), default=0)
        kind = np.dtype(dtype)
        fill = (
            np.iinfo(kind).min
            if kind.kind == "i"
            else np.iinfo(kind).max
            if kind.kind == "u"
            else np.nan
        )
        low_high = low_high_attrs(0, total, self.geometry.image_number_start)
        return [
            Virtual(
                "/entry/data/data", dtype, (total, *shape), tuple(sources), fill, None, low_high
            )
        ]
