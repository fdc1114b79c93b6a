"""The one step where the layouts differ: how the master reaches images and per-image arrays.

hdf5-format.md 2: NXmxLegacy links each data file's ``/entry/data/data`` as
``/entry/data/data_NNNNNN`` (per-image arrays stay in the data files, 4.4); NXmxVDS stacks images
and every per-image array (ROI results included) into virtual datasets at the same paths and links
reflections externally; NXmxIntegrated holds everything in place; the ``_process.h5`` companion is
integrated with a virtual ``/entry/data/data`` over an existing run's images.
"""

from __future__ import annotations

from dataclasses import dataclass

from jfjoch_hil.writer.layout._fields import PerImageField
from jfjoch_hil.writer.layout._plan import Group, Link, Virtual, VirtualSource

__all__ = [
    "DIALS_STACK_GROUP",
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
    """A closed file holding images ``first_index .. first_index + rows - 1`` (0-based); ``number``
    is its 1-based data-file number (``_data_NNNNNN``; 0 = its position among the files);
    ``datasets`` the per-image dataset paths it holds (``None``: assume every one)."""

    name: str
    first_index: int
    rows: int
    number: int = 0
    datasets: frozenset[str] | None = None


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


#: Extra NXdata group of a legacy master holding a virtual stack for DIALS (docs/writer.md).
DIALS_STACK_GROUP = "/entry/all_images"


def link_items(
    layout: str,
    files,
    fields,
    reflections,
    image_dtype,
    image_fill,
    image_shape,
    number_start,
    *,
    dials_stack: bool = True,
):
    """Master items reaching the images and per-image arrays in ``files`` (hdf5-format.md 2).

    ``files`` are :class:`FileExtent` in order; ``fields`` pairs (:class:`PerImageField`, row
    shape); ``reflections`` pairs (1-based image number, file name); ``image_dtype`` is ``None``
    when no image was written.

    ``dials_stack`` (legacy only): DIALS 3.12 (dxtbx ``FormatNXmx``) reads frames from the first
    member of the *first* NXdata group only, i.e. ``data_000001``, and fails past its last frame.
    A second NXdata group :data:`DIALS_STACK_GROUP` (sorted before ``data``, so nxmx/dxtbx pick it;
    Durin takes the *last* NXdata, Neggia and fabio read ``/entry/data`` by path) holds a virtual
    stack over the same data files.  ``/entry/data`` itself keeps only the external links.
    """
    files = sorted(files, key=lambda f: f.first_index)  # files close in any order
    n_images = max((f.first_index + f.rows for f in files), default=0)
    items: list = []
    low_high = {"image_nr_low": number_start, "image_nr_high": number_start + n_images - 1}
    if layout == "legacy":
        items.append(Group("/entry/data", "NXdata"))
        for position, extent in enumerate(files, start=1):
            number = extent.number or position
            items.append(
                Link(f"/entry/data/data_{number:06d}", "/entry/data/data", "external", extent.name)
            )
        if dials_stack and image_dtype is not None and len(files) > 1:
            sources = tuple(
                VirtualSource(f.name, "/entry/data/data", f.rows, f.first_index) for f in files
            )
            items += [
                Group(DIALS_STACK_GROUP, "NXdata", {"signal": "data"}),
                Virtual(
                    f"{DIALS_STACK_GROUP}/data",
                    image_dtype,
                    (n_images, *image_shape),
                    sources,
                    image_fill,
                    None,
                    low_high,
                ),
            ]
        return items
    items.append(Group("/entry/data", "NXdata", {"signal": "data"}))
    if layout == "vds":
        if image_dtype is not None:
            sources = tuple(
                VirtualSource(f.name, "/entry/data/data", f.rows, f.first_index) for f in files
            )
            items.append(
                Virtual(
                    "/entry/data/data",
                    image_dtype,
                    (n_images, *image_shape),
                    sources,
                    image_fill,
                    None,
                    low_high,
                )
            )
        items += collection_groups([field for field, _ in fields], layout)
        for field, row_shape in fields:
            path = per_image_path(field, layout)
            # map only files that hold the dataset; the rest reads as the VDS fill (the sentinel)
            sources = tuple(
                VirtualSource(f.name, path, f.rows, f.first_index)
                for f in files
                if f.datasets is None or path in f.datasets
            )
            items.append(
                Virtual(
                    path,
                    field.dtype,
                    (n_images, *row_shape),
                    sources,
                    field.fill,
                    field.units or None,
                )
            )
        if reflections:
            items.append(Group("/entry/reflections", "NXcollection"))
        for number, name in reflections:
            items.append(Link(reflection_path(number), reflection_path(number), "external", name))
    return items


def low_high_attrs(first_index: int, rows: int, number_start: int) -> dict[str, int]:
    """``image_nr_low`` / ``image_nr_high`` (1-based, inclusive) of a file's images (2.8 of the readers note)."""
    return {
        "image_nr_low": number_start + first_index,
        "image_nr_high": number_start + first_index + rows - 1,
    }
