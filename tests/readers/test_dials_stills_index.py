"""Stills index to the simulated cell: a serial-crystallography stills run (the shipped
``jf-xfel-storage-cells`` scenario, every image a hit) goes through ``dials.import``,
``dials.find_spots`` and ``dials.index`` with the stills indexer, each still indexed on its own and
without being told the cell; every crystal found must have the scenario's cell (lengths within
3 %, the monoclinic angle within 2 degrees, volume within 5 %), in whatever setting DIALS chose.

``indexing.stills.refine_all_candidates=False``: Debian's DIALS lacks the compiled extension
(``xfel_mono_sim_ext``) its stills candidate refinement imports, and fails every candidate
without it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from jfjoch_hil.harness.scenario import load_scenario

from tests.readers.test_dials_every_scenario import dials

pytestmark = [
    pytest.mark.readers,
    pytest.mark.skipif(
        shutil.which("dials.index") is None, reason="DIALS (Debian package dials) not installed"
    ),
]

SCENARIO = "jf-xfel-storage-cells"
IMAGES = 6


def _cell_parameters(crystal: dict) -> tuple[list[float], list[float]]:
    a, b, c = (np.array(crystal[f"real_space_{v}"]) for v in "abc")

    def angle(u, v):
        return float(np.degrees(np.arccos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))))

    return [float(np.linalg.norm(v)) for v in (a, b, c)], [angle(b, c), angle(a, c), angle(a, b)]


def _volume(lengths, angles) -> float:
    ca, cb, cg = (math.cos(math.radians(x)) for x in angles)
    return (
        lengths[0]
        * lengths[1]
        * lengths[2]
        * math.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)
    )


def test_dials_stills_indexer_finds_the_simulated_cell(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.harness.cli", "run", SCENARIO, "--out", str(out)]
        + ["--no-progress", "--images", str(IMAGES), "--set", "run.transport='direct'"]
        + ["--set", "crystal.hit_rate=1.0", "--set", "run.pedestal_frames=0"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    master = out / f"{SCENARIO}_master.h5"
    steps = [
        ["dials.import", str(master)],
        ["dials.find_spots", "imported.expt", "nproc=1"],
        ["dials.index", "imported.expt", "strong.refl", "stills.indexer=stills"]
        + ["joint_indexing=False", "indexing.stills.refine_all_candidates=False"],
    ]
    for args in steps:
        child = dials(args, tmp_path, timeout=900)
        assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    crystals = json.loads((tmp_path / "indexed.expt").read_text())["crystal"]
    assert len(crystals) >= IMAGES // 2, f"only {len(crystals)} of {IMAGES} stills indexed"

    cell = load_scenario(SCENARIO).crystal.cell
    want_lengths = sorted(cell[:3])
    want_oblique = max(abs(x - 90.0) for x in cell[3:])
    want_volume = _volume(cell[:3], cell[3:])
    for crystal in crystals:
        lengths, angles = _cell_parameters(crystal)
        assert sorted(lengths) == pytest.approx(want_lengths, rel=0.03), (lengths, angles)
        # one angle far from 90 (the monoclinic beta, named as DIALS' setting puts it)
        oblique = max(abs(x - 90.0) for x in angles)
        assert oblique == pytest.approx(want_oblique, abs=2.0), (lengths, angles)
        assert _volume(lengths, angles) == pytest.approx(want_volume, rel=0.05)
