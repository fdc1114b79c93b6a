"""A bounded CPU hog: one busy loop per core, started and killed by pid.

Each loop is bounded twice: it stops by itself after its time limit and it dies with the process
that started it (``PR_SET_PDEATHSIG``), so an interrupted session leaves nothing spinning.  Used by
the load tier (``tests/load``) and by ``pytest --cpu-hog``, which keeps every core busy for a whole
session (docs/reliability.md "A suite that holds under load").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from jfjoch_hil.harness._supervise import die_with_parent

__all__ = ["HOG_LIMIT_S", "start_hogs", "stop_hogs"]

HOG_LIMIT_S = 900.0


def _loop(limit_s: float) -> str:
    return (
        "import time\n"
        f"end = time.monotonic() + {float(limit_s)}\n"
        "while time.monotonic() < end:\n"
        "    pass\n"
    )


def start_hogs(count: int | None = None, limit_s: float = HOG_LIMIT_S) -> list[subprocess.Popen]:
    """``count`` busy loops (default: one per core this process may use), each ending by itself
    after ``limit_s``."""
    count = count or len(os.sched_getaffinity(0))
    parent = os.getpid()
    return [
        subprocess.Popen(
            [sys.executable, "-c", _loop(limit_s)],
            preexec_fn=lambda: die_with_parent(parent),  # noqa: PLW1509
        )
        for _ in range(count)
    ]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    """Kill each hog by its pid and reap it."""
    for hog in hogs:
        if hog.poll() is None:
            os.kill(hog.pid, signal.SIGKILL)
    for hog in hogs:
        hog.wait(30)
