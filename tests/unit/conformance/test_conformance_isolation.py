"""A crash of the HDF5 C library on a corrupt file becomes an ``unreadable`` report (exit 2) when the
check runs isolated (the CLI default), found by the fuzz test (tests/property/test_conformance_fuzz.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jfjoch_hil.conformance import check_file, check_file_isolated
from jfjoch_hil.conformance._isolate import call_isolated
from jfjoch_hil.conformance._manifest import load_manifest
from jfjoch_hil.conformance.cli import main
from jfjoch_hil.conformance.errors import ManifestError, UnreadableFileError

from tests.unit.conformance._files import RunSpec, build_run

# A corruption the thorough fuzz run found to crash HDF5 2.0.0 with SIGSEGV inside H5Oopen.
_OFFSET, _PAYLOAD = 0.6502805530662351, b"\x00\x00\x00\x00\x00\x00\xa8"


@pytest.fixture(scope="module")
def crashing(tmp_path_factory):
    # the run the fuzz test corrupted: without reflection groups (the offset is relative to its size)
    master = build_run(
        tmp_path_factory.mktemp("segv") / "vds", "vds", RunSpec(reflection_images=())
    )
    raw = bytearray(master.read_bytes())
    offset = min(int(_OFFSET * len(raw)), len(raw) - 1)
    raw[offset : offset + len(_PAYLOAD)] = _PAYLOAD
    master.write_bytes(bytes(raw))
    return master


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("ok") / "legacy", "legacy")


def test_isolated_report_equals_in_process_report(valid):
    assert check_file_isolated(valid) == check_file(valid)


def test_library_crash_is_reported_unreadable(crashing):
    in_process = subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.conformance.cli", "--in-process", str(crashing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
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


def _segfault():
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def _sleep(seconds):
    import time

    time.sleep(seconds)
    return "woke"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_call_isolated_turns_a_crash_and_a_timeout_into_unreadable_errors(method):
    with pytest.raises(
        UnreadableFileError, match=r"x\.h5: the HDF5 library crashed \(signal SIGSEGV\)"
    ):
        call_isolated(_segfault, what="x.h5", method=method)
    # a fresh interpreter needs its start-up before it can sleep; the bound only has to cut it
    with pytest.raises(UnreadableFileError, match="did not finish within 0.2 s"):
        call_isolated(_sleep, 30, timeout_s=0.2, method=method)
    assert call_isolated(_sleep, 0, method=method) == "woke"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_call_isolated_raises_the_childs_own_error(tmp_path, method):
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(ManifestError, match="format"):
        call_isolated(load_manifest, bad, method=method)


def test_call_isolated_refuses_an_unknown_start_method():
    with pytest.raises(ValueError, match="'thread'"):
        call_isolated(_sleep, 0, method="thread")


def test_manifest_and_diff_survive_a_library_crash(crashing, valid, capsys):
    """`jfcheck manifest` / `diff` read the file in a child too: a crash is exit 2 naming the file."""
    in_process = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from jfjoch_hil.conformance._manifest import make_manifest; make_manifest({str(crashing)!r})",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    capsys.readouterr()
    code = main(["manifest", str(crashing)])
    err = capsys.readouterr().err
    if in_process.returncode < 0:  # this HDF5 build does crash on the sample
        assert code == 2 and str(crashing) in err and "crashed" in err
        assert main(["diff", str(valid), str(crashing)]) == 2
    else:
        assert code in (0, 2)
    assert main(["manifest", str(valid)]) == 0
