"""The load tier's CPU hog (tests/hog.py): every core busy for a module's tests."""

from __future__ import annotations

import pytest

from tests.hog import start_hogs, stop_hogs


@pytest.fixture(scope="module")
def cpu_hog():
    """Every core busy for the module's tests; the hogs' pids, all of them ended afterwards."""
    hogs = start_hogs()
    try:
        yield [hog.pid for hog in hogs]
        assert all(hog.poll() is None for hog in hogs), "a hog ended early: the load was not held"
    finally:
        stop_hogs(hogs)
