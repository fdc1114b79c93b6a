"""Errors of the writer (STYLE.md "Errors"; hdf5-format.md).

Each error subclasses the builtin a caller would catch and its message names the field path or
file and what was allowed.
"""

from __future__ import annotations

__all__ = [
    "FileExistsRefusedError",
    "LayoutError",
    "PrefixError",
    "ReaderError",
    "RunInputError",
    "WriteError",
    "WriterError",
]


class WriterError(Exception):
    """Base of every writer error."""


class LayoutError(WriterError, ValueError):
    """A start message cannot be turned into a layout plan (names the field and what is allowed)."""


class PrefixError(LayoutError):
    """``start.file_prefix`` is empty, absolute, or holds ``..`` / empty parts: the run is refused."""


class RunInputError(WriterError, ValueError):
    """An image or message cannot be accepted into the current run (counted, never fatal)."""


class FileExistsRefusedError(WriterError, FileExistsError):
    """A final output file already exists and overwriting was not allowed."""


class WriteError(WriterError, OSError):
    """Writing a file failed (disk full, permission); the message names the file."""


class ReaderError(WriterError, ValueError):
    """A file does not have the layout :mod:`writer.reader` expects (names file and path)."""
