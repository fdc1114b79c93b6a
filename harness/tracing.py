"""The stream-to-file trace of every ``jfsim run``: record the stream beside the files, then run
``jfcheck FILE --stream DIR --trace-only`` on the result (a separate process, as the file check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    has no master file to trace into (data files only)."""
    if not master.exists():
        return None, {"skipped": f"no master file {master.name}"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.conformance.cli",
            str(master),
            "--stream",
            str(folder),
            "--trace-only",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError:
        return False, {"exit_code": done.returncode, "error": done.stderr.strip()[-500:]}
    return done.returncode == 0, {
        "exit_code": done.returncode,
        "stream": str(folder),
        "statistics": doc.get("statistics"),
        "errors": [v for v in doc.get("violations", []) if v.get("severity") == "error"][:20],
    }
