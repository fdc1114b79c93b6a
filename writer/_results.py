"""Per-image results buffered in blocks of rows (issue 3 "speed": one h5py write per field per block).

A :class:`ResultExtractor` knows the run's row shapes (from the start message) and copies the
results of one image message into a :class:`Block`; blocks are handed to the run writer, which
writes each field's filled rows with one call.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from stream import REFLECTION_COLUMNS

from .layout import IMAGE_FIELDS, REFLECTION_INT_COLUMNS, ROI_FIELDS, SPOT_FIELDS, PerImageField

__all__ = ["DEFAULT_MAX_EXTRA_LATTICES", "DEFAULT_MAX_SPOTS", "Block", "ResultExtractor"]

#: Room per image when the start message has no ``max_spot_count`` (docs/writer.md).
DEFAULT_MAX_SPOTS = 250
#: Room in ``latticeIndexedExtra`` when the start message has no ``max_extra_lattices``.
DEFAULT_MAX_EXTRA_LATTICES = 3

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPOT_MEMBERS = tuple((f, f.key.partition(".")[2]) for f in SPOT_FIELDS)
_SIMPLE = tuple(f for f in IMAGE_FIELDS if f.row == "" and "." not in f.key and f.key not in ("nPeaks", "number"))
_PROFILING = tuple(f for f in IMAGE_FIELDS if f.key.startswith("profiling."))
_AZINT = tuple(f for f in IMAGE_FIELDS if f.row == "azint")
_BY_NAME = {f.name: f for f in IMAGE_FIELDS}
_REFLECTION_UNITS = {
    "d": "Angstrom", "int_sum": "photons", "int_err": "photons", "background_mean": "photons",
    "predicted_x": "pixel", "predicted_y": "pixel", "observed_x": "pixel", "observed_y": "pixel",
    "delta_phi": "deg",
}


@dataclass
class Block:
    """Rows ``start .. start + size - 1`` (0-based, within one file) of every per-image field."""

    start: int
    size: int
    arrays: dict[PerImageField, np.ndarray] = field(default_factory=dict)
    filled: np.ndarray = None  # type: ignore[assignment]
    count: int = 0
    reflections: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.filled = np.zeros(self.size, dtype=bool)

    def runs(self) -> list[tuple[int, int]]:
        """Contiguous (first, stop) row ranges holding an image, relative to ``start``."""
        if self.count == self.size:
            return [(0, self.size)]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], self.filled.view(np.int8), [0]))))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class ResultExtractor:
    """Copies one image's results into a block (hdf5-format.md 4.1-4.8; stream.md 9).

    ``problems`` counts values that could not be stored, by field path (never silently lost);
    ``seen`` holds every field that received a value in this run.
    """

    def __init__(self, start, roi_names=(), number_start: int = 1) -> None:
        self.max_spots = DEFAULT_MAX_SPOTS if start.max_spot_count is None else int(start.max_spot_count)
        self.max_extra = (
            DEFAULT_MAX_EXTRA_LATTICES if start.max_extra_lattices is None else int(start.max_extra_lattices)
        )
        self.phi_bins = int(start.az_int_phi_bins or 1)
        self.q_bins = int(start.az_int_q_bins) if start.az_int_q_bins else None
        self.number_start = number_start
        self.problems: Counter[str] = Counter()
        self.seen: dict[PerImageField, tuple[int, ...]] = {}
        self.roi_fields: dict[str, tuple[PerImageField, ...]] = {}
        for name in roi_names:
            self._roi(name)

    def _roi(self, name: str) -> tuple[PerImageField, ...] | None:
        fields_ = self.roi_fields.get(name)
        if fields_ is None:
            if not isinstance(name, str) or not _PLAIN.fullmatch(name):
                return None
            fields_ = tuple(
                PerImageField(f"roi/{name}", member, f"roi.{name}.{member}", dtype, fill, "", "", "4.4")
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

    def _array(self, block: Block, field_: PerImageField) -> np.ndarray:
        array = block.arrays.get(field_)
        if array is None:
            shape = self.row_shape(field_)
            self.seen.setdefault(field_, shape)
            array = np.full((block.size, *shape), field_.fill, dtype=field_.dtype)
            block.arrays[field_] = array
        return array

    def _put(self, block: Block, field_: PerImageField, row: int, value) -> None:
        try:
            self._array(block, field_)[row] = value
        except (ValueError, TypeError, OverflowError, UnicodeEncodeError):
            self.problems[f"image.{field_.key}"] += 1

    def extract(self, block: Block, row: int, message, image_number: int) -> None:
        """Copy every per-image result of ``message`` into ``block`` row ``row``."""
        getter = message.__getattribute__
        for field_ in _SIMPLE:
            value = getter(field_.key)
            if value is not None:
                self._put(block, field_, row, value)
        self._put(block, _BY_NAME["number"], row, message.original_image_number if message.original_image_number is not None else image_number)
        spots = message.spots
        if spots is not None:
            self._spots(block, row, spots)
        if message.indexing_lattice is not None:
            self._put(block, _BY_NAME["latticeIndexed"], row, np.asarray(message.indexing_lattice, "f4")[:9])
        extra = message.indexing_lattice_extra
        if extra and self.max_extra > 0:
            self._extra(block, row, extra)
        elif extra:
            self.problems["image.indexing_lattice_extra (no room: max_extra_lattices = 0)"] += 1
        profiling = message.profiling
        if profiling:
            for field_ in _PROFILING:
                value = profiling.get(field_.name)
                if value is not None:
                    self._put(block, field_, row, value)
            unknown = profiling.keys() - {f.name for f in _PROFILING}
            for key in unknown:
                self.problems[f"image.profiling.{key} (unknown stage)"] += 1
        for field_ in _AZINT:
            value = getter(field_.key)
            if value is not None:
                self._azint(block, field_, row, value)
        rois = message.roi_integrals
        if rois:
            self._rois(block, row, rois)
        reflections = message.reflections
        if reflections:
            self._reflections(block, reflections, image_number)

    def _spots(self, block: Block, row: int, spots) -> None:
        kept = spots[: self.max_spots]
        if len(spots) > self.max_spots:
            self.problems["image.spots (beyond max_spot_count, truncated)"] += len(spots) - self.max_spots
        self._put(block, _BY_NAME["nPeaks"], row, len(kept))
        if not kept:
            return
        n = len(kept)
        for field_, member in _SPOT_MEMBERS:
            values = [spot.get(member) for spot in kept]
            if all(v is None for v in values):
                continue
            array = self._array(block, field_)
            try:
                array[row, :n] = [field_.fill if v is None else v for v in values]
            except (ValueError, TypeError, OverflowError):
                self.problems[f"image.spots.{member}"] += 1

    def _extra(self, block: Block, row: int, extra) -> None:
        try:
            lattices = np.asarray(extra, "f4").reshape(-1, 9)
        except (ValueError, TypeError):
            self.problems["image.indexing_lattice_extra"] += 1
            return
        if len(lattices) > self.max_extra:
            self.problems["image.indexing_lattice_extra (beyond max_extra_lattices, truncated)"] += 1
            lattices = lattices[: self.max_extra]
        self._array(block, _BY_NAME["latticeIndexedExtra"])[row, : len(lattices)] = lattices

    def _azint(self, block: Block, field_: PerImageField, row: int, values) -> None:
        if self.q_bins is None:
            self.q_bins = max(len(values) // self.phi_bins, 1)
        if len(values) != self.phi_bins * self.q_bins:
            self.problems[f"image.{field_.key} (length {len(values)} != phi x q bins)"] += 1
            return
        self._put(block, field_, row, np.asarray(values, "f4").reshape(self.phi_bins, self.q_bins))

    def _rois(self, block: Block, row: int, rois) -> None:
        for name, result in rois.items():
            fields_ = self._roi(name)
            if fields_ is None:
                self.problems["image.roi_integrals (ROI name not a plain name)"] += 1
                continue
            for field_ in fields_:
                value = result.get(field_.name)
                if value is not None:
                    self._put(block, field_, row, value)

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
            dtype = "i4" if name in REFLECTION_INT_COLUMNS else "f4"
            columns[name] = values.astype(dtype)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            self.problems["image.reflections (columns of different lengths)"] += 1
            return
        if columns:
            block.reflections.append((image_number, columns))

    @staticmethod
    def reflection_units() -> dict[str, str]:
        """Units of the reflection columns (hdf5-format.md 4.2)."""
        return dict(_REFLECTION_UNITS)
