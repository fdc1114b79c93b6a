"""Byte-level corruption of valid files never crashes jfcheck: exit 0, 1 or 2, no traceback. Each check runs in a child process so a crash inside the HDF5 C library would show up
as a signal exit code instead of taking the test run down."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jfjoch_hil.conformance._stream import check_messages

from tests.unit.conformance._files import build_run

_FILE_SETTINGS = dict(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    return {layout: build_run(root / layout, layout) for layout in ("legacy", "vds", "integrated")}


def _run_cli(master: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.conformance.cli", str(master), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


corruption = st.tuples(
    st.sampled_from(["legacy", "vds", "integrated"]),
    st.booleans(),  # corrupt the master (True) or a data file
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),  # relative offset
    st.one_of(st.binary(min_size=1, max_size=64), st.just(b"")),  # b"" = truncate at offset
)


def _corrupt(pristine, tmp_path: Path, case) -> Path:
    layout, in_master, rel, payload = case
    folder = tmp_path / "case"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(pristine[layout].parent, folder)
    master = folder / pristine[layout].name
    data_files = sorted(folder.glob("*_data_*.h5"))
    victim = master if in_master or not data_files else data_files[0]
    raw = bytearray(victim.read_bytes())
    offset = min(int(rel * len(raw)), len(raw) - 1)
    if payload:
        raw[offset : offset + len(payload)] = payload
    else:
        del raw[offset:]
    victim.write_bytes(bytes(raw))
    return master


@settings(**_FILE_SETTINGS)
@given(case=corruption)
def test_corrupted_files_never_crash(pristine, tmp_path, case):
    master = _corrupt(pristine, tmp_path, case)
    result = _run_cli(master)
    assert result.returncode in (0, 1, 2), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] == (result.returncode == 0)


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=corruption)
def test_corrupted_files_never_crash_thorough(pristine, tmp_path, case):
    master = _corrupt(pristine, tmp_path, case)
    result = _run_cli(master)
    assert result.returncode in (0, 1, 2), result.stderr[-2000:]


@settings(max_examples=50, deadline=None)
@given(blobs=st.lists(st.binary(max_size=200), min_size=0, max_size=6))
def test_random_stream_bytes_never_raise(blobs):
    report = check_messages([(f"{i:06d}.cbor", b) for i, b in enumerate(blobs)])
    assert report.exit_code in (1, 2)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_reference_messages_never_raise(reference_stream_dir, data):
    folder = reference_stream_dir / "r500k_bm_bslz4_8bit"
    names = sorted(p.name for p in folder.glob("*.cbor"))
    name = data.draw(st.sampled_from(names))
    raw = bytearray((folder / name).read_bytes()[:4096])  # the head holds every key and tag
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] = data.draw(st.integers(0, 255))
    report = check_messages([(name, bytes(raw))])
    assert report.exit_code in (0, 1, 2)
    assert isinstance(report.to_json(), dict)


def test_cbor_of_wrong_shapes_is_reported():
    odd = [
        cbor2.dumps(x)
        for x in (None, 3, "start", {"type": None}, {1: 2}, {"type": "image", "data": [1]})
    ]
    report = check_messages([(str(i), b) for i, b in enumerate(odd)])
    assert report.exit_code == 1
