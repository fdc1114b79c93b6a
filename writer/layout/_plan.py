"""Plain-data plan items and the run geometry (hdf5-format.md 2; STYLE.md "separate the plan from the I/O").

A plan is a list of the items below; :mod:`writer.materialize` is the only module that turns them
into HDF5 objects.  Nothing here touches a file, so layouts are testable without h5py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jfjoch_hil.stream import LAYOUT_NAMES, PROCESS_LAYOUT, FileFormat
from jfjoch_hil.writer.errors import LayoutError, PrefixError

__all__ = [
    "Attributes",
    "DataFile",
    "Dataset",
    "Group",
    "Link",
    "RunGeometry",
    "Virtual",
    "VirtualSource",
    "LAYOUTS",
    "check_prefix",
    "run_geometry",
]

#: ``file_format`` values (stream start message) -> short layout names used in file plans.
LAYOUTS: dict[str, str] = {fmt.value: fmt.layout for fmt in FileFormat}


@dataclass(frozen=True)
class Group:
    """An HDF5 group with its ``NX_class`` (``None`` for none) and other attributes."""

    path: str
    nx_class: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """A dataset written in one go: ``value`` is a scalar, ``str`` or numpy array.

    ``dtype`` forces the stored type (``None``: from the value; strings are always stored as
    fixed-length NUL-terminated ASCII, third-party-readers.md 2.9).  ``contiguous`` False asks
    for a chunked, bitshuffle-compressed dataset (large maps).
    """

    path: str
    value: Any
    dtype: str | None = None
    units: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    compress: bool = False


@dataclass(frozen=True)
class Attributes:
    """Attributes set on an object that already exists (e.g. ``image_nr_low`` on a dataset)."""

    path: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A link at ``path``: ``kind`` ``hard`` / ``soft`` to ``target`` in the same file, or
    ``external`` to ``target`` in ``file`` (a name relative to the linking file's folder)."""

    path: str
    target: str
    kind: str = "hard"
    file: str | None = None


@dataclass(frozen=True)
class VirtualSource:
    """``rows`` rows of dataset ``path`` in ``file`` mapped to rows ``dest_start..`` of a VDS."""

    file: str
    path: str
    rows: int
    dest_start: int
    src_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Virtual:
    """A virtual dataset stacking per-file datasets along axis 0 (hdf5-format.md 2, NXmxVDS)."""

    path: str
    dtype: str
    shape: tuple[int, ...]
    sources: tuple[VirtualSource, ...]
    fill: Any
    units: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataFile:
    """One file holding images: its name, number (1-based) and the image indices it covers."""

    name: str
    number: int
    first_index: int
    capacity: int | None


_PLAIN_PART = re.compile(r"[A-Za-z0-9_.+\-]+")


def check_prefix(prefix: Any) -> str:
    """``prefix`` if it is a safe relative file prefix, else :class:`PrefixError`.

    Refused: empty, absolute, backslashes, ``..`` or ``.`` or empty path parts, characters other
    than letters, digits and ``_ . + -`` in a part.
    """
    if not isinstance(prefix, str) or not prefix:
        raise PrefixError(
            "start.file_prefix: empty; a relative path such as 'run1/sample' is required"
        )
    if prefix.startswith("/") or "\\" in prefix or re.match(r"^[A-Za-z]:", prefix):
        raise PrefixError(
            f"start.file_prefix: {prefix!r} is absolute; only relative prefixes allowed"
        )
    for part in prefix.split("/"):
        if part in ("", ".", ".."):
            raise PrefixError(
                f"start.file_prefix: {prefix!r} has an empty, '.' or '..' part; allowed: plain names"
            )
        if not _PLAIN_PART.fullmatch(part):
            raise PrefixError(
                f"start.file_prefix: part {part!r} of {prefix!r} has characters outside "
                "letters, digits and '_.+-'"
            )
    return prefix


@dataclass(frozen=True)
class RunGeometry:
    """What a run's files look like (hdf5-format.md 2): layout, names and image ranges.

    ``number_of_images`` is ``None`` when the start message does not say (files then grow);
    ``images_per_file`` is ``None`` for a single file holding every image.
    """

    layout: str
    prefix: str
    number_of_images: int | None
    images_per_file: int | None
    image_number_start: int
    image_shape: tuple[int, int]

    @property
    def master_name(self) -> str | None:
        """File name of the master (``None`` for NXmxOnlyData); the process layout's companion."""
        if self.layout == "onlydata":
            return None
        if self.layout == "process":
            return f"{self.prefix}_process.h5"
        return f"{self.prefix}_master.h5"

    def file_index(self, image_index: int) -> int:
        """0-based number of the file holding 0-based ``image_index``."""
        if self.layout in ("integrated", "process") or self.images_per_file is None:
            return 0
        return image_index // self.images_per_file

    def data_file(self, file_index: int) -> DataFile:
        """The file with 0-based ``file_index``: its name, first image and planned capacity."""
        if self.layout in ("integrated", "process"):
            return DataFile(self.master_name or "", 1, 0, self.number_of_images)
        per = self.images_per_file
        first = 0 if per is None else file_index * per
        capacity = per
        if self.number_of_images is not None:
            remaining = self.number_of_images - first
            capacity = remaining if per is None else min(per, remaining)
        return DataFile(
            f"{self.prefix}_data_{file_index + 1:06d}.h5", file_index + 1, first, capacity
        )

    def accepts(self, image_index: int) -> bool:
        """Whether 0-based ``image_index`` lies inside the run."""
        if image_index < 0:
            return False
        return self.number_of_images is None or image_index < self.number_of_images


def run_geometry(
    start, *, layout: str | None = None, images_per_file: int | None = None
) -> RunGeometry:
    """The :class:`RunGeometry` of start message ``start`` (hdf5-format.md 2).

    ``layout`` / ``images_per_file`` override the start message (writer settings).  Raises
    :class:`LayoutError` / :class:`PrefixError` naming the field and what is allowed.
    """
    prefix = check_prefix(start.file_prefix)
    if layout is None:
        fmt = start.file_format or FileFormat.LEGACY.value
        if fmt not in LAYOUTS:
            raise LayoutError(f"start.file_format: {fmt!r} is not one of {', '.join(LAYOUTS)}")
        layout = LAYOUTS[fmt]
    elif layout not in (*LAYOUT_NAMES, PROCESS_LAYOUT):
        raise LayoutError(
            f"layout {layout!r} is not one of {', '.join(LAYOUT_NAMES)}, {PROCESS_LAYOUT}"
        )
    if start.image_size_x is None or start.image_size_y is None:
        raise LayoutError("start.image_size_x/_y: required to lay out the image datasets")
    if start.image_size_x <= 0 or start.image_size_y <= 0:
        raise LayoutError(
            f"start.image_size_x/_y: {start.image_size_x} x {start.image_size_y}; both must be > 0"
        )
    per = start.images_per_file if images_per_file is None else images_per_file
    per = per or None
    number = start.number_of_images or None
    first = 1 if start.image_number_start is None else start.image_number_start
    return RunGeometry(layout, prefix, number, per, first, (start.image_size_y, start.image_size_x))
