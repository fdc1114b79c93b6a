"""Stills index to the simulated cell: a serial-crystallography stills run (the shipped
``jf-xfel-storage-cells`` scenario, every image a hit) goes through ``dials.import``,
``dials.find_spots`` and ``dials.index`` with the stills indexer, each still indexed on its own and
without being told the cell; the crystals found must have the scenario's cell in whatever setting DIALS chose: their median
cell lengths within 1.5 % and monoclinic angle within 1.5 degrees, and at least three quarters of
them individually within 4 % and 3.5 degrees.

``indexing.stills.refine_all_candidates=False`` and ``indexing.refinement_protocol.mode=None``:
Debian's DIALS lacks the compiled extension (``xfel_mono_sim_ext``) that its stills refinement
imports (the Nave mosaicity model), and fails every still without it; so the cells checked are
the indexing solutions before stills refinement, hence the tolerances.
"""

from __future__ import annotations

import json
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
        + ["joint_indexing=False", "indexing.stills.refine_all_candidates=False"]
        + ["indexing.refinement_protocol.mode=None"],
    ]
    for args in steps:
        child = dials(args, tmp_path, timeout=900)
        assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    crystals = json.loads((tmp_path / "indexed.expt").read_text())["crystal"]
    assert len(crystals) >= IMAGES // 2, f"only {len(crystals)} of {IMAGES} stills indexed"

    cell = load_scenario(SCENARIO).crystal.cell
    want_lengths = sorted(cell[:3])
    want_oblique = max(abs(x - 90.0) for x in cell[3:])  # the monoclinic beta, off 90
    found = []
    for crystal in crystals:
        lengths, angles = _cell_parameters(crystal)
        # one angle far from 90, named as DIALS' setting puts it (beta or 180 - beta)
        found.append((sorted(lengths), max(abs(x - 90.0) for x in angles), (lengths, angles)))
    # Unrefined solutions scatter; their median is the cell, and most lie close to it.
    median_lengths = np.median([f[0] for f in found], axis=0)
    median_oblique = float(np.median([f[1] for f in found]))
    assert median_lengths.tolist() == pytest.approx(want_lengths, rel=0.015), found
    assert median_oblique == pytest.approx(want_oblique, abs=1.5), found
    close = [
        f
        for f in found
        if f[0] == pytest.approx(want_lengths, rel=0.04)
        and f[1] == pytest.approx(want_oblique, abs=3.5)
    ]
    assert len(close) >= 0.75 * len(found), found
