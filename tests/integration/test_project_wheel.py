"""The project as a stranger installs it: a wheel built from this checkout, installed (not editable)
in a fresh virtual environment, used from a folder outside the checkout; and beside it two PyPI
distributions whose top-level names we used to install too (``stream-python`` installs ``stream``,
``writer`` installs ``writer``), neither overwritten nor damaged by ours, nor ours by them."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: pip, a build and a run each get this long at most (a cold pip cache downloads numpy and scipy)
STEP_TIMEOUT_S = 900


def _run(*command: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ROOT, cwd=base
    )
    (wheel,) = (base / "dist").glob("jfjoch_hil-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=base)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=base)
    return venv


def _clean_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _record(venv: Path, distribution: str) -> dict[Path, str]:
    """Installed files of ``distribution`` -> their RECORD hash (files without a hash left out)."""
    (site,) = (venv / "lib").glob("python3*/site-packages")
    name = distribution.replace("-", "_")
    (info,) = [p for p in site.glob("*.dist-info") if p.name.lower().startswith(f"{name.lower()}-")]
    rows = list(csv.reader((info / "RECORD").read_text().splitlines()))
    return {(site / path).resolve(): digest for path, digest, *_ in rows if digest}


def _damaged(files: dict[Path, str]) -> list[str]:
    damaged = []
    for path, digest in files.items():
        algorithm, _, expected = digest.partition("=")
        if not path.is_file():
            damaged.append(f"{path} missing")
            continue
        actual = base64.urlsafe_b64encode(hashlib.new(algorithm, path.read_bytes()).digest())
        if actual.rstrip(b"=").decode() != expected:
            damaged.append(f"{path} changed")
    return damaged


def test_wheel_ships_every_scenario_and_runs_the_main_job(wheel_venv, tmp_path):
    env = _clean_env(wheel_venv)
    where = _run(
        wheel_venv / "bin" / "python",
        "-c",
        "import jfjoch_hil.harness, jfjoch_hil.fixtures; print(jfjoch_hil.harness.__file__)",
        cwd=tmp_path,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(wheel_venv), "not imported from the wheel"

    listed = _run(wheel_venv / "bin" / "jfsim", "scenarios", cwd=tmp_path, env=env).stdout
    shipped = sorted(p.stem for p in (ROOT / "fixtures" / "scenarios").glob("*.toml"))
    assert len(shipped) > 1
    for name in shipped:
        assert name in listed, f"scenario {name} not shipped in the wheel"

    out = tmp_path / "out"
    run = _run(
        wheel_venv / "bin" / "jfsim",
        "run",
        "--out",
        out,
        "--no-progress",
        "--json",
        "--set",
        "run.images=4",
        cwd=tmp_path,
        env=env,
    )
    report = json.loads(run.stdout)
    assert report["conformance_ok"] and report["truth_ok"], report
    masters = sorted(out.rglob("*_master.h5"))
    assert masters
    checked = _run(wheel_venv / "bin" / "jfcheck", *masters, cwd=tmp_path, env=env)
    assert checked.returncode == 0


def test_pypi_projects_with_our_old_top_level_names_coexist(wheel_venv, tmp_path):
    pip = [wheel_venv / "bin" / "python", "-m", "pip"]
    ours_before = _record(wheel_venv, "jfjoch-hil")
    assert {p.name for p in ours_before} >= {"cli.py"}
    _run(*pip, "install", "-q", "--no-deps", "stream-python", "writer", cwd=tmp_path)
    theirs = {**_record(wheel_venv, "stream-python"), **_record(wheel_venv, "writer")}
    assert not set(theirs) & set(ours_before), "a file is claimed by two distributions"
    assert _damaged(ours_before) == []
    assert _damaged(theirs) == []
    env = _clean_env(wheel_venv)
    imported = _run(
        wheel_venv / "bin" / "python",
        "-c",
        # located, not executed: they were installed without their own dependencies
        "import importlib.util, jfjoch_hil.stream, jfjoch_hil.writer;"
        "print(importlib.util.find_spec('stream').origin);"
        "print(importlib.util.find_spec('writer').origin)",
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    site = next((wheel_venv / "lib").glob("python3*/site-packages"))
    assert [Path(p).parent.name for p in imported] == ["stream", "writer"]
    assert all(Path(p).is_relative_to(site) for p in imported)
    _run(*pip, "uninstall", "-q", "-y", "stream-python", "writer", cwd=tmp_path)
    assert _damaged(ours_before) == []
    _run(wheel_venv / "bin" / "jfsim", "scenarios", cwd=tmp_path, env=env)
