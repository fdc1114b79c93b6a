"""Shared pytest set-up: hypothesis profiles and the paths tests read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The shared folder beside the checkout (specs, reference data); JFJOCH_HIL_SHARED points
#: elsewhere, e.g. from a second working tree.
SHARED = Path(os.environ.get("JFJOCH_HIL_SHARED") or PROJECT_ROOT.parent / "shared")
REFERENCE_STREAM = SHARED / "reference-data" / "dectris-stream-v2"
SPEC = SHARED / "spec"

settings.register_profile("default", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-hog",
        action="store_true",
        help="keep one busy loop per core running for the whole session (tests/hog.py), to check "
        "that the suite holds on a busy machine",
    )
    parser.addoption(
        "--cpu-hog-limit",
        type=float,
        default=3600.0,
        help="seconds after which each --cpu-hog loop ends by itself (default 3600)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # the controller starts the hog once; xdist workers (which have `workerinput`) do not
    if config.getoption("--cpu-hog") and not hasattr(config, "workerinput"):
        from tests.hog import start_hogs

        config._cpu_hogs = start_hogs(limit_s=config.getoption("--cpu-hog-limit"))  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    hogs = getattr(config, "_cpu_hogs", None)
    if hogs:
        from tests.hog import stop_hogs

        stop_hogs(hogs)


def pytest_report_header(config: pytest.Config) -> str | None:
    hogs = getattr(config, "_cpu_hogs", None)
    return f"cpu hog: {len(hogs)} busy loops, pids {[h.pid for h in hogs]}" if hogs else None


@pytest.fixture(scope="session")
def reference_stream_dir() -> Path:
    """The recorded DECTRIS Stream V2 messages, read in place (never copied into the repo)."""
    if not REFERENCE_STREAM.is_dir():
        pytest.skip(f"reference data absent: {REFERENCE_STREAM}")
    return REFERENCE_STREAM


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    """shared/spec, the contract documents."""
    if not SPEC.is_dir():
        pytest.skip(f"spec folder absent: {SPEC}")
    return SPEC
