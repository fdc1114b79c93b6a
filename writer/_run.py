"""One run, start..end, written in any layout (hdf5-format.md 2; issue 3 "bad input").

:class:`RunWriter` is the writer core: fed already-decoded messages, it stores images by direct
chunk write, buffers per-image results in blocks, closes each data file when it is complete, and
at :meth:`RunWriter.finish` writes the master through the layout plan.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import materialize as mat
from ._results import Block, ResultExtractor
from .errors import FileExistsRefusedError, WriteError
from .layout import (
    Dataset,
    FileExtent,
    Group,
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

#: Why an image can be rejected (counted in :attr:`RunResult.images_rejected`).
REJECT_REASONS = (
    "duplicate image number",
    "image number outside the run",
    "image shape or type differs from the run",
    "no image data",
    "series id mismatch",
    "run failed",
    "run refused",
)


@dataclass(frozen=True)
class RunResult:
    """Summary of a finished run: the JSON line the service prints (issue 3 "service")."""

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
    """A data file (or the integrated file) being written."""

    def __init__(self, info, output: mat.Output) -> None:
        self.info = info
        self.output = output
        self.images = None
        self.rows: dict = {}
        self.max_row = -1
        self.count = 0
        self.blocks: dict[int, Block] = {}
        self.reflections: list[int] = []


class RunWriter:
    """Writes one run (hdf5-format.md 2-4) from decoded messages; the writer core.

    ``layout`` / ``images_per_file`` override the start message; ``overwrite`` allows replacing
    existing final files; ``block_images`` is the number of rows buffered per write;
    ``source_images`` (process mode) are the :class:`~writer.layout.VirtualSource` items of an
    existing run's images, see :func:`writer.reader.image_sources`.
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
        block_images: int = 256,
        source_images=None,
    ) -> None:
        self.start = start
        self.out_dir = Path(out_dir)
        self.geometry = run_geometry(start, layout=layout, images_per_file=images_per_file)
        self.layout = self.geometry.layout
        self.overwrite = overwrite
        self.block_images = max(int(block_images), 1)
        self.source_images = source_images
        self.user, self.warnings = user_items(start)
        roi_names = [d.get("name") for d in (start.roi_definitions or ()) if isinstance(d, dict)]
        self.extractor = ResultExtractor(start, [n for n in roi_names if isinstance(n, str)], self.geometry.image_number_start)
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
        self._finished = False
        self._check_existing()

    # --- checks -------------------------------------------------------------------------------
    def _check_existing(self) -> None:
        if self.overwrite:
            return
        names = [self.geometry.master_name] if self.geometry.master_name else []
        if self.layout not in ("integrated", "process"):
            count = 1
            if self.geometry.number_of_images and self.geometry.images_per_file:
                count = -(-self.geometry.number_of_images // self.geometry.images_per_file)
            names += [self.geometry.data_file(i).name for i in range(count)]
        for name in names:
            if (self.out_dir / name).exists():
                raise FileExistsRefusedError(
                    f"{self.out_dir / name}: exists; the run {self.geometry.prefix!r} is refused "
                    "(start the writer with --overwrite to replace files)"
                )

    def _reject(self, reason: str) -> str:
        self.rejected[reason] += 1
        return reason

    # --- images -------------------------------------------------------------------------------
    def put_image(self, message) -> str | None:
        """Store one image message; returns ``None`` or the reason it was rejected (counted)."""
        if self.error is not None or self._finished:
            return self._reject("run failed")
        start = self.start
        if (
            message.series_unique_id is not None
            and start.series_unique_id is not None
            and (message.series_unique_id != start.series_unique_id or message.series_id != start.series_id)
        ):
            return self._reject("series id mismatch")
        index = message.image_id
        if not self.geometry.accepts(index):
            return self._reject("image number outside the run")
        if index < len(self._written) and self._written[index]:
            return self._reject("duplicate image number")
        data = message.data.get("default") if message.data else None
        if data is None and message.data:
            data = next(iter(message.data.values()))
        if data is None and self.layout != "process":
            return self._reject("no image data")
        if data is not None and self.layout != "process":
            kind = (data.dtype.str, data.compression)
            if tuple(data.dims or ()) != self.geometry.image_shape or (
                self.image_type is not None and kind != self.image_type
            ):
                return self._reject("image shape or type differs from the run")
        try:
            self._store(index, message, data)
        except OSError as error:
            self._fail(error)
            return self._reject("run failed")
        return None

    def _store(self, index: int, message, data) -> None:
        file_index = self.geometry.file_index(index)
        handle = self._open.get(file_index) or self._open_file(file_index)
        row = index - handle.info.first_index
        if data is not None and self.layout != "process":
            if handle.images is None:
                self.image_type = (data.dtype.str, data.compression)
                rows = handle.info.capacity or 1
                handle.images = mat.create_image_stack(
                    handle.output.h5, "/entry/data/data", data.dtype, rows, self.geometry.image_shape, data.compression
                )
            mat.write_chunk(handle.images, row, data.payload)
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
                self._close_file(file_index)

    def put_calibration(self, message) -> None:
        """Keep a calibration image for ``detector/calibration/<name>`` (hdf5-format.md 4.9)."""
        self.calibration.append((message.name, message.data.to_numpy()))

    # --- files --------------------------------------------------------------------------------
    def _open_file(self, file_index: int) -> _OpenFile:
        info = self.geometry.data_file(file_index)
        output = mat.Output(self.out_dir / info.name)
        handle = self._open[file_index] = _OpenFile(info, output)
        mat.apply(output.h5, data_file_items())
        return handle

    def _flush(self, handle: _OpenFile, block: Block) -> None:
        h5 = handle.output.h5
        runs = block.runs()
        for field_, array in block.arrays.items():
            dataset = handle.rows.get(field_)
            if dataset is None:
                rows = handle.info.capacity or (block.start + block.size)
                path = per_image_path(field_, self.layout)
                mat.apply(h5, collection_groups([field_], self.layout))
                dataset = handle.rows[field_] = mat.create_rows(
                    h5, path, field_.dtype, rows, array.shape[1:], field_.fill, field_.units
                )
            for first, stop in runs:
                mat.write_rows(dataset, block.start + first, array[first:stop])
        if block.reflections:
            units = ResultExtractor.reflection_units()
            for number, columns in block.reflections:
                mat.write_reflections(h5, reflection_path(number), columns, units)
                handle.reflections.append(number)
            mat.apply(h5, [Group("/entry/reflections", "NXcollection")])

    def _finish_file(self, handle: _OpenFile) -> int:
        for block_start in sorted(handle.blocks):
            self._flush(handle, handle.blocks.pop(block_start))
        rows = handle.max_row + 1
        h5 = handle.output.h5
        if handle.images is not None:
            mat.resize_rows(handle.images, rows)
            mat.set_attrs(h5, "/entry/data/data", low_high_attrs(handle.info.first_index, rows, self.geometry.image_number_start))
        for dataset in handle.rows.values():
            mat.resize_rows(dataset, rows)
        return rows

    def _close_file(self, file_index: int) -> None:
        handle = self._open.pop(file_index)
        rows = self._finish_file(handle)
        self.bytes_written += handle.output.commit(overwrite=self.overwrite)
        self.files.append(handle.info.name)
        self.extents.append(FileExtent(handle.info.name, handle.info.first_index, rows))
        self.reflections += [(n, handle.info.name) for n in handle.reflections]

    def _fail(self, error: Exception) -> None:
        self.error = str(error) if isinstance(error, WriteError) else f"write error: {error}"
        for handle in self._open.values():
            handle.output.abandon()
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
                except (OSError, FileExistsRefusedError) as error:
                    self._fail(error)
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

    def _finalise(self, end) -> None:
        single = self.layout in ("integrated", "process")
        if not single:
            for file_index in sorted(self._open):
                self._close_file(file_index)
            if self.layout == "onlydata":
                return
            output = mat.Output(self.out_dir / self.geometry.master_name)
            self._open[-1] = _OpenFile(self.geometry.data_file(0), output)
            rows = max((e.first_index + e.rows for e in self.extents), default=0)
        else:
            handle = self._open.get(0) or self._open_file(0)
            rows = self._finish_file(handle)
            output = handle.output
            self.extents.append(FileExtent(output.final.name, 0, rows))
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
            dtype = np.dtype(self.image_type[0]).newbyteorder("<").str
            kind = np.dtype(dtype)
            fill = np.iinfo(kind).min if kind.kind == "i" else np.iinfo(kind).max if kind.kind == "u" else np.nan
        items += link_items(
            self.layout, self.extents, fields, self.reflections, dtype, fill,
            self.geometry.image_shape, self.geometry.image_number_start,
        )
        if single:
            items += collection_groups([f for f, _ in fields], self.layout)
            if self.image_type is not None:
                items.append(_attrs_of("/entry/data/data", low_high_attrs(0, rows, self.geometry.image_number_start)))
            if self.layout == "process" and self.source_images:
                items += self._process_images(rows)
        mat.apply(output.h5, items)
        self.bytes_written += output.commit(overwrite=self.overwrite)
        self._open.clear()
        self.files.append(output.final.name)

    def _process_images(self, rows: int) -> list:
        dtype, shape, sources = self.source_images
        total = max((s.dest_start + s.rows for s in sources), default=0)
        kind = np.dtype(dtype)
        fill = np.iinfo(kind).min if kind.kind == "i" else np.iinfo(kind).max if kind.kind == "u" else np.nan
        low_high = low_high_attrs(0, total, self.geometry.image_number_start)
        return [Virtual("/entry/data/data", dtype, (total, *shape), tuple(sources), fill, None, low_high)]


def _attrs_of(path: str, attrs: dict) -> Group:
    """Attributes on an existing object, as a plan item (``Group`` with no class sets attrs)."""
    return _AttrItem(path, None, attrs)


class _AttrItem(Group):
    """Marker: attributes for an existing dataset (materialised like a group's attributes)."""


__all__ += []
_ = Dataset
