"""The one step where the layouts differ: how the master reaches images and per-image arrays.

hdf5-format.md 2: NXmxLegacy links each data file's ``/entry/data/data`` as
``/entry/data/data_NNNNNN`` (per-image arrays stay in the data files, 4.4); NXmxVDS stacks images
and every per-image array (ROI results included) into virtual datasets at the same paths and links
reflections externally; NXmxIntegrated holds everything in place; the ``_process.h5`` companion is
integrated with a virtual ``/entry/data/data`` over an existing run's images.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._fields import PerImageField
from ._plan import Group, Link, Virtual, VirtualSource

__all__ = [
    "FileExtent",
    "collection_groups",
    "data_file_items",
    "link_items",
    "low_high_attrs",
    "per_image_path",
    "reflection_path",
]

_SPEC = "/entry/instrument/detector/detectorSpecific"


@dataclass(frozen=True)
class FileExtent:
    """A closed file holding images ``first_index .. first_index + rows - 1`` (0-based)."""

    name: str
    first_index: int
    rows: int


def per_image_path(field: PerImageField, layout: str) -> str:
    """Absolute path of a per-image dataset in a data file / the integrated file (4.7: in the
    integrated layout ``/entry/detector`` moves to ``detectorSpecific``)."""
    if field.group == "detector" and layout in ("integrated", "process"):
        return f"{_SPEC}/{field.name}"
    return f"/entry/{field.path}"


def reflection_path(image_number: int) -> str:
    """``/entry/reflections/image_NNNNNN`` of a 1-based image number (hdf5-format.md 4.2)."""
    return f"/entry/reflections/image_{image_number:06d}"


def data_file_items() -> list:
    """Groups every data file (and the integrated file) starts with."""
    return [
        Group("/entry", "NXentry"),
        Group("/entry/data", "NXdata"),
    ]


def collection_groups(fields, layout: str) -> list:
    """``NXcollection`` groups holding the given per-image fields (hdf5-format.md 4)."""
    paths: dict[str, None] = {}
    for field in fields:
        parent = per_image_path(field, layout).rpartition("/")[0]
        if parent.startswith("/entry/roi/"):
            paths.setdefault("/entry/roi")
        if parent == _SPEC:
            paths.setdefault("/entry/instrument")
            paths.setdefault("/entry/instrument/detector")
        paths.setdefault(parent)
    classes = {"/entry/instrument": "NXinstrument", "/entry/instrument/detector": "NXdetector"}
    return [Group(path, classes.get(path, "NXcollection")) for path in paths]


def link_items(layout: str, files, fields, reflections, image_dtype, image_fill, image_shape, number_start):
    """Master items reaching the images and per-image arrays in ``files`` (hdf5-format.md 2).

    ``files`` are :class:`FileExtent` in order; ``fields`` pairs (:class:`PerImageField`, row
    shape); ``reflections`` pairs (1-based image number, file name); ``image_dtype`` is ``None``
    when no image was written.
    """
    n_images = max((f.first_index + f.rows for f in files), default=0)
    items: list = []
    if layout == "legacy":
        items.append(Group("/entry/data", "NXdata"))
        for number, extent in enumerate(files, start=1):
            items.append(Link(f"/entry/data/data_{number:06d}", "/entry/data/data", "external", extent.name))
        return items
    items.append(Group("/entry/data", "NXdata", {"signal": "data"}))
    low_high = {"image_nr_low": number_start, "image_nr_high": number_start + n_images - 1}
    if layout == "vds":
        if image_dtype is not None:
            sources = tuple(
                VirtualSource(f.name, "/entry/data/data", f.rows, f.first_index) for f in files
            )
            items.append(
                Virtual("/entry/data/data", image_dtype, (n_images, *image_shape), sources, image_fill, None, low_high)
            )
        items += collection_groups([field for field, _ in fields], layout)
        for field, row_shape in fields:
            path = per_image_path(field, layout)
            sources = tuple(VirtualSource(f.name, path, f.rows, f.first_index) for f in files)
            items.append(Virtual(path, field.dtype, (n_images, *row_shape), sources, field.fill, field.units or None))
        if reflections:
            items.append(Group("/entry/reflections", "NXcollection"))
        for number, name in reflections:
            items.append(Link(reflection_path(number), reflection_path(number), "external", name))
    return items


def low_high_attrs(first_index: int, rows: int, number_start: int) -> dict[str, int]:
    """``image_nr_low`` / ``image_nr_high`` (1-based, inclusive) of a file's images (2.8 of the readers note)."""
    return {"image_nr_low": number_start + first_index, "image_nr_high": number_start + first_index + rows - 1}
