"""Conformance checks of NXmx HDF5 files and CBOR streams against the specs.

Never imports :mod:`writer` or :mod:`simulator`: rules come from shared/spec, so a writer bug
cannot hide by agreeing with itself. Entry points: :func:`check_file`, :func:`check_stream_dir`,
:func:`check_stream_connect`, :func:`check_messages`, :func:`make_manifest`,
:func:`diff_manifests`, :func:`trace_file` / :func:`trace_dir` (stream-to-file trace); the ``jfcheck`` CLI and the pytest plugin are thin wrappers.

Names are resolved lazily (PEP 562) so that the pytest plugin, loaded in every pytest run, does
not pull in h5py.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "FILE_RULES",
    "STREAM_RULES",
    "TRACE_RULES",
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
    "trace_dir",
    "trace_dir_isolated",
    "trace_file",
]

_HOME = {
    "FILE_RULES": "jfjoch_hil.conformance.rules",
    "STREAM_RULES": "jfjoch_hil.conformance.rules",
    "TRACE_RULES": "jfjoch_hil.conformance.rules",
    "trace_dir": "jfjoch_hil.conformance._trace",
    "trace_file": "jfjoch_hil.conformance._trace",
    "Rule": "jfjoch_hil.conformance.rules",
    "Change": "jfjoch_hil.conformance._manifest",
    "diff_manifests": "jfjoch_hil.conformance._manifest",
    "make_manifest": "jfjoch_hil.conformance._manifest",
    "ConformanceError": "jfjoch_hil.conformance.errors",
    "ManifestError": "jfjoch_hil.conformance.errors",
    "UnreadableFileError": "jfjoch_hil.conformance.errors",
    "UsageError": "jfjoch_hil.conformance.errors",
    "Finding": "jfjoch_hil.conformance._report",
    "Report": "jfjoch_hil.conformance._report",
    "ReportStatistics": "jfjoch_hil.conformance._report",
    "check_file": "jfjoch_hil.conformance._api",
    "check_file_isolated": "jfjoch_hil.conformance._isolate",
    "trace_dir_isolated": "jfjoch_hil.conformance._isolate",
    "check_messages": "jfjoch_hil.conformance._stream",
    "check_stream_connect": "jfjoch_hil.conformance._stream",
    "check_stream_dir": "jfjoch_hil.conformance._stream",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
