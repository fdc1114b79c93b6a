"""Errors of the conformance suite (STYLE.md "Errors").

Each subclasses the builtin a caller would catch; the message names the path and what was allowed.
"""

from __future__ import annotations

__all__ = ["ConformanceError", "UnreadableFileError", "UsageError", "ManifestError"]


class ConformanceError(ValueError):
    """Base of the suite's errors: a file or message does not conform (used by ``assert_ok``)."""


class UnreadableFileError(OSError):
    """The input cannot be opened as HDF5 / CBOR at all (``jfcheck`` exit code 2)."""


class UsageError(ValueError):
    """A caller asked for something the suite does not offer, e.g. an unknown profile or layout."""


class ManifestError(ValueError):
    """A manifest document is malformed: the message names the JSON path and what was allowed."""
