"""File formats: the start message's ``file_format`` values and the layout names users type.

The writer lays a run out in one of the HDF5 layouts of hdf5-format.md §2; the start message names
it in ``file_format`` (stream.md §5.2, a Jungfraujoch quantity whose CBOR name is this project's
choice), and ``jfsim --format`` / scenario ``[writer] format`` / ``jfwriter --layout`` /
``jfcheck --layout`` use the short layout names.  Both spellings are declared here once.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FILE_FORMATS", "LAYOUT_NAMES", "PROCESS_LAYOUT", "FileFormat"]


class FileFormat(StrEnum):
    """A ``file_format`` value (hdf5-format.md §2); the member's value is the wire spelling."""

    LEGACY = "NXmxLegacy"
    VDS = "NXmxVDS"
    INTEGRATED = "NXmxIntegrated"
    ONLY_DATA = "NXmxOnlyData"

    @property
    def layout(self) -> str:
        """The short layout name users type (``legacy``, ``vds``, ``integrated``, ``onlydata``)."""
        return _LAYOUT_OF[self]

    @property
    def has_master(self) -> bool:
        """Whether the layout writes a master file (every layout but data files only)."""
        return self is not FileFormat.ONLY_DATA

    @classmethod
    def from_layout(cls, name: str) -> FileFormat:
        """The format of a short layout name; raises ValueError naming the allowed names."""
        for member, layout in _LAYOUT_OF.items():
            if layout == name:
                return member
        raise ValueError(f"layout {name!r}: allowed {', '.join(LAYOUT_NAMES)}")

    @classmethod
    def parse(cls, text: str) -> FileFormat:
        """A wire value or a layout name; raises ValueError naming both spellings."""
        try:
            return cls(text)
        except ValueError:
            pass
        try:
            return cls.from_layout(text)
        except ValueError:
            raise ValueError(
                f"file format {text!r}: allowed {', '.join(FILE_FORMATS)} "
                f"(or {', '.join(LAYOUT_NAMES)})"
            ) from None


_LAYOUT_OF = {
    FileFormat.LEGACY: "legacy",
    FileFormat.VDS: "vds",
    FileFormat.INTEGRATED: "integrated",
    FileFormat.ONLY_DATA: "onlydata",
}

#: The wire spellings, in declaration order.
FILE_FORMATS: tuple[str, ...] = tuple(member.value for member in FileFormat)
#: The short layout names, in the same order.
LAYOUT_NAMES: tuple[str, ...] = tuple(member.layout for member in FileFormat)
#: Layout name of the reprocessing companion ``<prefix>_process.h5`` (hdf5-format.md §2): results
#: with a virtual view of another run's images; asked for by the start field
#: ``process_source_master``, never by ``file_format``.
PROCESS_LAYOUT = "process"
