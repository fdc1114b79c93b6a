"""The stream-to-file trace of every ``jfsim run``: record the stream beside the files, then trace
the recording into the master file with the conformance library (``trace_dir`` in a forked
child, as the file check, so that a crash inside the HDF5 library cannot end the run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jfjoch_hil.conformance import UnreadableFileError, trace_dir_isolated

__all__ = ["stream_folder", "trace_run"]


def stream_folder(out_dir: Path, prefix: str, record_dir=None) -> Path:
    """Where the run's stream is recorded: ``record_dir`` when given, else ``<out>/<prefix>_stream``
    (emptied of an earlier run's messages, since a dump never overwrites)."""
    if record_dir is not None:
        return Path(record_dir)
    folder = Path(out_dir) / f"{prefix}_stream"
    if folder.is_dir():
        for old in folder.glob("*.cbor"):
            old.unlink()
    return folder


def trace_run(master: Path, folder: Path, timeout_s: float = 600.0) -> tuple[bool | None, dict]:
    """(stream_traced_ok, summary) of tracing ``folder`` into ``master``; ``None`` when the run
    has no master file to trace into (data files only).

    The summary holds the trace's statistics and its first 20 error findings; a trace that could
    not run (the recording or the file unreadable, the child crashed or overran ``timeout_s``)
    is ``False`` with the reason under ``error``.
    """
    if not master.exists():
        return None, {"skipped": f"no master file {master.name}"}
    try:
        trace = trace_dir_isolated(master, folder, timeout_s=timeout_s)
    except (UnreadableFileError, OSError, ValueError) as error:
        return False, {"stream": str(folder), "error": f"{type(error).__name__}: {error}"}
    return trace.ok, {
        "stream": str(folder),
        "statistics": dataclasses.asdict(trace.statistics),
        "errors": [f.as_dict() for f in trace.report.errors][:20],
    }
