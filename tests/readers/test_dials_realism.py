"""Realism: a simulated rotation scan written by our writer goes through DIALS'
dials.import, dials.find_spots and dials.index, and the indexed cell matches the simulated one
(lengths within 1 %, angles within 1 degree), for a JUNGFRAU and an EIGER geometry.

DIALS is Debian's `dials` package (installed by .ci/run); the test skips without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import hdf5plugin
import numpy as np
import pytest

pytestmark = pytest.mark.readers

CELL = (79.1, 79.1, 38.0, 90.0, 90.0, 90.0)


def cell_of(expt_path) -> tuple[list[float], list[float]]:
    """Cell lengths and angles of the first crystal of a DIALS experiment list (JSON)."""
    crystal = json.loads(expt_path.read_text())["crystal"][0]
    a, b, c = (np.array(crystal[f"real_space_{v}"]) for v in "abc")
    lengths = [float(np.linalg.norm(v)) for v in (a, b, c)]

    def angle(u, v):
        return float(np.degrees(np.arccos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))))

    return lengths, [angle(b, c), angle(a, c), angle(a, b)]


@pytest.mark.skipif(
    shutil.which("dials.index") is None, reason="DIALS (Debian package dials) not installed"
)
@pytest.mark.parametrize(
    ("detector", "modules"),
    [("jungfrau", 2), ("eiger", 2)],
)
def test_dials_indexes_the_simulated_cell(tmp_path, detector, modules):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "run",
            "--out",
            str(out),
            "--no-progress",
            "--json",
            "--set",
            "run.transport='direct'",
            "--set",
            "run.images=24",
            "--set",
            f"detector.type='{detector}'",
            "--set",
            f"detector.modules={modules}",
            "--set",
            "crystal.oscillation_deg=0.5",
            "--set",
            "geometry.distance_mm=100.0",
            "--set",
            f"crystal.cell={list(CELL)}",
            "--set",
            "writer.format='vds'",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    env = {**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH}
    steps = (
        ["dials.import", str(out / "quickstart_master.h5")],
        ["dials.find_spots", "imported.expt", "nproc=1"],
        ["dials.index", "imported.expt", "strong.refl"],
    )
    for command in steps:
        step = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert step.returncode == 0, f"{command[0]}: {step.stdout[-1500:]}{step.stderr[-1500:]}"
    lengths, angles = cell_of(tmp_path / "indexed.expt")
    # DIALS reports the reduced P1 cell: compare the sorted lengths; every angle is 90 here
    for found, simulated in zip(sorted(lengths), sorted(CELL[:3]), strict=True):
        assert abs(found - simulated) <= 0.01 * simulated, (lengths, CELL)
    for found in angles:
        assert abs(found - 90.0) <= 1.0, (angles, CELL)
