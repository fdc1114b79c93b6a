"""Per-image results buffered in blocks of rows (one h5py write per field per block).

Per image only references are kept (a tuple of scalars, the spot list, the profile lists): that
costs a few microseconds.  When a block is flushed, :meth:`ResultExtractor.columns` converts each
field for all rows at once into an array ``[rows, *row_shape]`` filled with the field's sentinel,
and the run writer stores it with one call per field.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
from jfjoch_hil.stream import REFLECTION_COLUMNS, REFLECTION_DTYPES, REFLECTION_TABLE
from jfjoch_hil.writer.layout import (
    IMAGE_FIELDS,
    ROI_FIELDS,
    SPOT_FIELDS,
    PerImageField,
)

__all__ = ["DEFAULT_MAX_EXTRA_LATTICES", "DEFAULT_MAX_SPOTS", "Block", "ResultExtractor"]

#: Room per image when the start message has no ``max_spot_count`` (docs/writer.md).
DEFAULT_MAX_SPOTS = 250
#: Room in ``latticeIndexedExtra`` when the start message has no ``max_extra_lattices``.
DEFAULT_MAX_EXTRA_LATTICES = 3

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BY_NAME = {f.name: f for f in IMAGE_FIELDS}
_SIMPLE = tuple(
    f
    for f in IMAGE_FIELDS
    if f.row == "" and "." not in f.key and f.key not in ("nPeaks", "number")
)
_SIMPLE_GET = attrgetter(*(f.key for f in _SIMPLE))
_PROFILING = tuple(f for f in IMAGE_FIELDS if f.key.startswith("profiling."))
_PROFILING_NAMES = frozenset(f.name for f in _PROFILING)
_AZINT = tuple(f for f in IMAGE_FIELDS if f.row == "azint")
_AZINT_GET = attrgetter(*(f.key for f in _AZINT))
_SPOT_MEMBERS = tuple(f.key.partition(".")[2] for f in SPOT_FIELDS)
_SPOT_GET = itemgetter(*_SPOT_MEMBERS)
_SPOT_SET = frozenset(_SPOT_MEMBERS)
_ROI_MEMBERS = tuple(member for member, _, _ in ROI_FIELDS)
_ROI_GET = itemgetter(*_ROI_MEMBERS)
_INDEXED_AT = [f.key for f in _SIMPLE].index("indexing_result")
#: Spot members meaningful only for an indexed image (hdf5-format.md 4.1, "Indexing only").
_INDEXING_ONLY = frozenset({"h", "k", "l", "dist_ewald", "indexed", "lattice"})
_REFLECTION_UNITS = {c.name: c.unit for c in REFLECTION_TABLE if c.unit}


def _spot_table(spots: list) -> np.ndarray:
    """``[len(spots), len(_SPOT_MEMBERS)]`` float64 of every spot's members; raises KeyError,
    TypeError or ValueError when a spot lacks a member or holds a non-number.

    Decoded spots are ``cbor2.frozendict``, whose ``[]`` costs ~160 ns (a dict's ~45 ns): when
    every spot has the same keys in the same order (one check over all keys) the values are read
    in that order instead and the columns picked afterwards; same numbers, 2-3 x faster.
    """
    first = spots[0]
    if type(first) is not dict:
        try:
            order = tuple(first)
            if (
                len(order) == len(set(order))
                and _SPOT_SET <= set(order)
                and tuple(chain.from_iterable(spots)) == order * len(spots)
            ):
                flat = np.fromiter(
                    chain.from_iterable([s.values() for s in spots]),
                    np.float64,
                    len(spots) * len(order),
                )
                return flat.reshape(-1, len(order))[:, [order.index(m) for m in _SPOT_MEMBERS]]
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
            pass  # the general path below finds (and reports) what is wrong
    width = len(_SPOT_MEMBERS)
    return np.fromiter(
        chain.from_iterable(map(_SPOT_GET, spots)), np.float64, len(spots) * width
    ).reshape(-1, width)


@dataclass
class Block:
    """Rows ``start .. start + size - 1`` (0-based, within one file) of every per-image field."""

    start: int
    size: int
    filled: np.ndarray = None  # type: ignore[assignment]
    count: int = 0
    rows: list = field(default_factory=list)
    reflections: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.filled = np.zeros(self.size, dtype=bool)
        self.rows = [None] * self.size

    def runs(self) -> list[tuple[int, int]]:
        """Contiguous (first, stop) row ranges holding an image, relative to ``start``."""
        if self.count == self.size:
            return [(0, self.size)]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], self.filled.view(np.int8), [0]))))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class ResultExtractor:
    """Turns image messages into per-image columns (hdf5-format.md 4.1-4.8; stream.md 9).

    ``problems`` counts values that could not be stored, by field path (never silently lost);
    ``seen`` maps every field that received a value in this run to its row shape.
    """

    def __init__(self, start, roi_names=(), number_start: int = 1) -> None:
        self.max_spots = (
            DEFAULT_MAX_SPOTS if start.max_spot_count is None else int(start.max_spot_count)
        )
        self.max_extra = (
            DEFAULT_MAX_EXTRA_LATTICES
            if start.max_extra_lattices is None
            else int(start.max_extra_lattices)
        )
        self.phi_bins = int(start.az_int_phi_bins or 1)
        self.q_bins = int(start.az_int_q_bins) if start.az_int_q_bins else None
        self.number_start = number_start
        self.problems: Counter[str] = Counter()
        self.seen: dict[PerImageField, tuple[int, ...]] = {}
        self.roi_fields: dict[str, tuple[PerImageField, ...]] = {}
        for name in roi_names:
            self._roi(name)

    def _roi(self, name) -> tuple[PerImageField, ...] | None:
        fields_ = self.roi_fields.get(name)
        if fields_ is None:
            if not isinstance(name, str) or not _PLAIN.fullmatch(name):
                return None
            fields_ = tuple(
                PerImageField(
                    f"roi/{name}", member, f"roi.{name}.{member}", dtype, fill, "", "", "4.4"
                )
                for member, dtype, fill in ROI_FIELDS
            )
            self.roi_fields[name] = fields_
        return fields_

    def row_shape(self, field_: PerImageField) -> tuple[int, ...]:
        """Shape of one image's row of ``field_``."""
        return {
            "": (),
            "spots": (self.max_spots,),
            "lattice": (9,),
            "extra": (self.max_extra, 9),
            "azint": (self.phi_bins, self.q_bins or 1),
        }[field_.row]

    # --- per image: keep references only ----------------------------------------------------------
    def extract(self, block: Block, row: int, message, image_number: int) -> None:
        """Remember the results of ``message`` for ``block`` row ``row`` (converted at flush)."""
        number = message.original_image_number
        block.rows[row] = (
            _SIMPLE_GET(message),
            image_number if number is None else number,
            message.spots,
            message.indexing_lattice,
            message.indexing_lattice_extra,
            message.profiling,
            _AZINT_GET(message),
            message.roi_integrals,
        )
        reflections = message.reflections
        if reflections:
            self._reflections(block, reflections, image_number)

    # --- per block: convert every field at once ----------------------------------------------------
    def columns(self, block: Block) -> dict[PerImageField, np.ndarray]:
        """Every field with at least one value in ``block``: ``[size, *row_shape]`` arrays."""
        size = block.size
        if block.count == size:
            rows = list(enumerate(block.rows))
        else:
            rows = [(i, r) for i, r in enumerate(block.rows) if r is not None]
        out: dict[PerImageField, np.ndarray] = {}
        if not rows:
            return out
        index = [i for i, _ in rows]
        every = slice(None) if len(index) == size else index  # rows ascending: all rows = a slice
        for field_, column in zip(_SIMPLE, zip(*(r[0] for _, r in rows), strict=True), strict=True):
            if None in column:
                self._column(out, size, field_, index, column)
                continue
            array = out[field_] = self._new(field_, size)
            try:
                array[every] = column
            except (ValueError, TypeError, OverflowError, UnicodeEncodeError):
                del out[field_]
                self._column(out, size, field_, index, column)
        self._column(out, size, _BY_NAME["number"], index, [r[1] for _, r in rows])
        indexed = {i for i, r in rows if r[0][_INDEXED_AT] is True}
        self._spots(out, size, [(i, r[2]) for i, r in rows if r[2] is not None], indexed)
        lattice = [
            (i, r[3])
            for i, r in rows
            if r[3] is not None and self._indexed(i, indexed, "indexing_lattice")
        ]
        if lattice:
            self._column(
                out,
                size,
                _BY_NAME["latticeIndexed"],
                [i for i, _ in lattice],
                [v[:9] if isinstance(v, (list, tuple)) and len(v) >= 9 else v for _, v in lattice],
            )
        self._extra(
            out,
            size,
            [
                (i, r[4])
                for i, r in rows
                if r[4] and self._indexed(i, indexed, "indexing_lattice_extra")
            ],
        )
        profiling = [(i, r[5]) for i, r in rows if r[5]]
        if profiling:
            index_p = [i for i, _ in profiling]
            for field_ in _PROFILING:
                name = field_.name
                self._column(out, size, field_, index_p, [p.get(name) for _, p in profiling])
            for _, p in profiling:
                if not p.keys() <= _PROFILING_NAMES:
                    for key in p.keys() - _PROFILING_NAMES:
                        self.problems[f"image.profiling.{key} (unknown stage)"] += 1
        for j, field_ in enumerate(_AZINT):
            self._azint(out, size, field_, [(i, r[6][j]) for i, r in rows if r[6][j] is not None])
        self._rois(out, size, [(i, r[7]) for i, r in rows if r[7]])
        for field_, array in out.items():
            self.seen.setdefault(field_, array.shape[1:])
        return out

    def _indexed(self, row: int, indexed: set[int], what: str) -> bool:
        if row in indexed:
            return True
        self.problems[f"image.{what} of an image not indexed (sentinel written, 4.1)"] += 1
        return False

    def _new(self, field_: PerImageField, size: int) -> np.ndarray:
        return np.full((size, *self.row_shape(field_)), field_.fill, dtype=field_.dtype)

    def _column(self, out, size, field_, index, values) -> None:
        try:
            missing = None in values
        except (ValueError, TypeError):  # an array value: compare by identity below
            missing = True
        if missing:
            present = [(i, v) for i, v in zip(index, values, strict=True) if v is not None]
            if not present:
                return
            index = [i for i, _ in present]
            values = [v for _, v in present]
        array = out.get(field_)
        if array is None:
            array = out[field_] = self._new(field_, size)
        try:
            # ``index`` is ascending and unique: as many rows as the block means every row
            array[slice(None) if len(index) == size else index] = values
        except (ValueError, TypeError, OverflowError, UnicodeEncodeError):
            for i, v in zip(index, values, strict=True):  # find the bad values, store the good ones
                try:
                    array[i] = v
                except (ValueError, TypeError, OverflowError, UnicodeEncodeError):
                    self.problems[f"image.{field_.key}"] += 1

    def _spots(self, out, size, rows, indexed) -> None:
        if not rows:
            return
        limit = self.max_spots
        index = [i for i, _ in rows]
        counts = [len(spots) for _, spots in rows]
        if max(counts) > limit:
            self.problems["image.spots (beyond max_spot_count, truncated)"] += sum(
                n - limit for n in counts if n > limit
            )
            lists = [spots[:limit] if len(spots) > limit else spots for _, spots in rows]
            counts = [len(spots) for spots in lists]
            kept = list(chain.from_iterable(lists))
        else:
            kept = list(chain.from_iterable(spots for _, spots in rows))
        self._column(out, size, _BY_NAME["nPeaks"], index, counts)
        if not kept:
            # spot lists came, all empty: the CXI peak arrays still exist, all sentinels (4.1)
            for field_ in SPOT_FIELDS:
                out[field_] = self._new(field_, size)
            return
        # slots holding a spot, in row-major order = the order of ``kept`` (rows ascending)
        per_row = np.zeros(size, np.intp)
        per_row[index] = counts
        occupied = np.arange(limit) < per_row[:, None]
        try:
            table = _spot_table(kept)
            columns = {m: table[:, j] for j, m in enumerate(_SPOT_MEMBERS)}
        except (KeyError, TypeError, ValueError):
            columns = {}
            for member in _SPOT_MEMBERS:
                given = [spot.get(member) for spot in kept]
                if all(v is None for v in given):
                    continue
                try:
                    columns[member] = np.array(
                        [np.nan if v is None else v for v in given], dtype=np.float64
                    )
                except (TypeError, ValueError):
                    self.problems[f"image.spots.{member}"] += 1
        unindexed = None
        if len(indexed) < len(rows):
            unindexed = ~np.isin(np.repeat(index, counts), list(indexed))
        for member, field_ in zip(_SPOT_MEMBERS, SPOT_FIELDS, strict=True):
            values = columns.get(member)
            if values is None:
                continue
            if unindexed is not None and member in _INDEXING_ONLY:
                # hdf5-format.md 4.1 "indexing only": sentinels unless the image was indexed
                values = np.where(
                    unindexed, np.nan if field_.fill != field_.fill else field_.fill, values
                )
            array = out[field_] = self._new(field_, size)
            if array.dtype.kind in "iu":
                bad = ~np.isfinite(values)
                if bad.any():
                    self.problems[f"image.spots.{member} (missing or not a number)"] += int(
                        bad.sum()
                    )
                    values = np.where(bad, field_.fill, values)
            array[occupied] = values

    def _extra(self, out, size, rows) -> None:
        if not rows:
            return
        if self.max_extra <= 0:
            self.problems["image.indexing_lattice_extra (no room: max_extra_lattices = 0)"] += len(
                rows
            )
            return
        field_ = _BY_NAME["latticeIndexedExtra"]
        array = out[field_] = self._new(field_, size)
        for i, extra in rows:
            try:
                lattices = np.asarray(extra, "f4").reshape(-1, 9)
            except (ValueError, TypeError):
                self.problems["image.indexing_lattice_extra"] += 1
                continue
            if len(lattices) > self.max_extra:
                self.problems[
                    "image.indexing_lattice_extra (beyond max_extra_lattices, truncated)"
                ] += 1
                lattices = lattices[: self.max_extra]
            array[i, : len(lattices)] = lattices

    def _azint(self, out, size, field_, rows) -> None:
        if not rows:
            return
        if self.q_bins is None:
            self.q_bins = max(len(rows[0][1]) // self.phi_bins, 1)
        width = self.phi_bins * self.q_bins
        good = [(i, v) for i, v in rows if len(v) == width]
        if len(good) < len(rows):
            self.problems[f"image.{field_.key} (length != phi x q bins)"] += len(rows) - len(good)
        if not good:
            return
        try:
            values = np.fromiter(chain.from_iterable(v for _, v in good), "f4", len(good) * width)
        except (TypeError, ValueError):  # a non-number somewhere: find the bad rows
            kept = []
            for i, v in good:
                try:
                    kept.append((i, np.fromiter(v, "f4", width)))
                except (TypeError, ValueError):
                    self.problems[f"image.{field_.key}"] += 1
            if not kept:
                return
            good, values = kept, np.concatenate([v for _, v in kept])
        array = out[field_] = self._new(field_, size)
        array[[i for i, _ in good]] = values.reshape(-1, self.phi_bins, self.q_bins)

    def _rois(self, out, size, rows) -> None:
        by_name: dict[str, list] = {}
        for i, rois in rows:
            for name, result in rois.items():
                by_name.setdefault(name, []).append((i, result))
        for name, results in by_name.items():
            fields_ = self._roi(name)
            if fields_ is None:
                self.problems["image.roi_integrals (ROI name not a plain name)"] += len(results)
                continue
            index = [i for i, _ in results]
            columns: list[Any]
            try:  # every member present (the usual case): one lookup per result
                columns = list(zip(*map(_ROI_GET, [r for _, r in results]), strict=True))
            except (KeyError, TypeError):
                columns = [[r.get(member) for _, r in results] for member in _ROI_MEMBERS]
            for field_, column in zip(fields_, columns, strict=True):
                self._column(out, size, field_, index, column)

    def _reflections(self, block: Block, reflections, image_number: int) -> None:
        columns: dict[str, np.ndarray] = {}
        for name, array in reflections.items():
            if name not in REFLECTION_COLUMNS:
                self.problems[f"image.reflections.{name} (unknown column)"] += 1
                continue
            try:
                values = array.to_numpy().reshape(-1)
            except ValueError:
                self.problems[f"image.reflections.{name}"] += 1
                continue
            columns[name] = values.astype(REFLECTION_DTYPES[name])
        if len({len(v) for v in columns.values()}) > 1:
            self.problems["image.reflections (columns of different lengths)"] += 1
            return
        if columns:
            block.reflections.append((image_number, columns))

    @staticmethod
    def reflection_units() -> dict[str, str]:
        """Units of the reflection columns (hdf5-format.md 4.2)."""
        return dict(_REFLECTION_UNITS)
