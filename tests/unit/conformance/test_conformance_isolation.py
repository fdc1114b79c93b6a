"""A crash of the HDF5 C library on a corrupt file becomes an ``unreadable`` report (exit 2) when the
check runs isolated (the CLI default), found by the fuzz test (tests/property/test_conformance_fuzz.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance import check_file, check_file_isolated
from conformance.cli import main
from tests.unit.conformance._files import build_run

# A corruption the thorough fuzz run found to crash HDF5 2.0.0 with SIGSEGV inside H5Oopen.
_OFFSET, _PAYLOAD = 0.6502805530662351, b"\x00\x00\x00\x00\x00\x00\xa8"


@pytest.fixture(scope="module")
def crashing(tmp_path_factory):
    master = build_run(tmp_path_factory.mktemp("segv") / "vds", "vds")
    raw = bytearray(master.read_bytes())
    offset = min(int(_OFFSET * len(raw)), len(raw) - 1)
    raw[offset:offset + len(_PAYLOAD)] = _PAYLOAD
    master.write_bytes(bytes(raw))
    return master


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("ok") / "legacy", "legacy")


def test_isolated_report_equals_in_process_report(valid):
    assert check_file_isolated(valid) == check_file(valid)


def test_library_crash_is_reported_unreadable(crashing):
    in_process = subprocess.run([sys.executable, "-m", "conformance.cli", "--in-process", str(crashing)],
                                capture_output=True, text=True, timeout=120)
    report = check_file_isolated(crashing)
    assert report.exit_code in (1, 2)
    if in_process.returncode < 0:  # this HDF5 build does crash on the sample
        assert report.unreadable and "crashed" in report.findings[0].message
    else:
        assert in_process.returncode in (1, 2)


def test_timeout_kills_the_check(valid):
    report = check_file_isolated(valid, timeout_s=0.0)
    assert report.unreadable and "did not finish" in report.findings[0].message


def test_cli_isolates_by_default(crashing, capsys):
    assert main([str(crashing)]) in (1, 2)
