"""The load tier's CPU hog: one busy loop per core, started by the test and killed by pid.

Each hog is bounded twice: it stops by itself after ``HOG_LIMIT_S`` and it dies with the test
process (``PR_SET_PDEATHSIG``), so an interrupted session leaves nothing spinning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from jfjoch_hil.harness._supervise import die_with_parent

HOG_LIMIT_S = 900.0
_HOG = (
    "import time\n"
    f"end = time.monotonic() + {HOG_LIMIT_S}\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def start_hogs(count: int | None = None) -> list[subprocess.Popen]:
    """``count`` busy loops (default: one per core this process may use)."""
    count = count or len(os.sched_getaffinity(0))
    parent = os.getpid()
    return [
        subprocess.Popen(
            [sys.executable, "-c", _HOG],
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


@pytest.fixture(scope="module")
def cpu_hog():
    """Every core busy for the module's tests; the hogs' pids, all of them ended afterwards."""
    hogs = start_hogs()
    try:
        yield [hog.pid for hog in hogs]
        assert all(hog.poll() is None for hog in hogs), "a hog ended early: the load was not held"
    finally:
        stop_hogs(hogs)
