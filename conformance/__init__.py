"""Conformance checks of NXmx HDF5 files and CBOR streams against the specs (issue 4).

Never imports :mod:`writer` or :mod:`simulator`: rules come from shared/spec, so a writer bug
cannot hide by agreeing with itself. Entry points: :func:`check_file`, :func:`check_stream_dir`,
:func:`check_stream_connect`, :func:`check_messages`, :func:`make_manifest`,
:func:`diff_manifests`; the ``jfcheck`` CLI and the pytest plugin are thin wrappers.

Names are resolved lazily (PEP 562) so that the pytest plugin, loaded in every pytest run, does
not pull in h5py.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "FILE_RULES",
    "STREAM_RULES",
    "Change",
    "ConformanceError",
    "Finding",
    "ManifestError",
    "Report",
    "ReportStatistics",
    "Rule",
    "UnreadableFileError",
    "UsageError",
    "check_file",
    "check_file_isolated",
    "check_messages",
    "check_stream_connect",
    "check_stream_dir",
    "diff_manifests",
    "make_manifest",
]

_HOME = {
    "FILE_RULES": "conformance.rules",
    "STREAM_RULES": "conformance.rules",
    "Rule": "conformance.rules",
    "Change": "conformance._manifest",
    "diff_manifests": "conformance._manifest",
    "make_manifest": "conformance._manifest",
    "ConformanceError": "conformance.errors",
    "ManifestError": "conformance.errors",
    "UnreadableFileError": "conformance.errors",
    "UsageError": "conformance.errors",
    "Finding": "conformance._report",
    "Report": "conformance._report",
    "ReportStatistics": "conformance._report",
    "check_file": "conformance._api",
    "check_file_isolated": "conformance._isolate",
    "check_messages": "conformance._stream",
    "check_stream_connect": "conformance._stream",
    "check_stream_dir": "conformance._stream",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
