"""Conformance checks of NXmx HDF5 files and CBOR streams against the specs (issue 4).

Never imports :mod:`writer` or :mod:`simulator`: rules come from shared/spec, so a writer bug
cannot hide by agreeing with itself. Entry points: :func:`check_file`, :func:`check_stream_dir`,
:func:`check_messages`, :func:`make_manifest`, :func:`diff_manifests`; the ``jfcheck`` CLI and
the pytest plugin are thin wrappers.
"""

from __future__ import annotations

from conformance._api import check_file
from conformance._report import Finding, Report
from conformance.errors import ConformanceError, ManifestError, UnreadableFileError, UsageError
from conformance.rules import FILE_RULES, STREAM_RULES, Rule

__all__ = [
    "FILE_RULES",
    "STREAM_RULES",
    "ConformanceError",
    "Finding",
    "ManifestError",
    "Report",
    "Rule",
    "UnreadableFileError",
    "UsageError",
    "check_file",
]
