"""The pytest plugin: ``jfcheck`` fixture and ``pytest --jfcheck PATH``."""

from __future__ import annotations

import subprocess
import sys

import h5py
import pytest

from tests.unit.conformance._files import build_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("plugin") / "integrated", "integrated")


def test_fixture_assert_ok_passes(jfcheck, run):
    assert jfcheck.assert_ok(run).ok


def test_fixture_assert_ok_fails_with_grouped_findings(jfcheck, run, tmp_path):
    import shutil

    shutil.copytree(run.parent, tmp_path / "r")
    bad = tmp_path / "r" / run.name
    with h5py.File(bad, "r+") as f:
        del f["/entry/instrument/detector/sensor_material"]
    with pytest.raises(AssertionError, match="NX-REQUIRED"):
        jfcheck.assert_ok(bad)


def test_plugin_import_is_cheap():
    code = "import sys, jfjoch_hil.conformance.pytest_plugin; print(int('h5py' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "0"


def test_pytest_jfcheck_option(run, tmp_path):
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            "--jfcheck",
            str(run),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 passed" in ok.stdout
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"junk")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            "--jfcheck",
            str(broken),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert bad.returncode == 1
    assert "FILE-UNREADABLE" in bad.stdout
