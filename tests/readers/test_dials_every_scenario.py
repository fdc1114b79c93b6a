"""DIALS reads every shipped scenario: ``dials.import`` and ``dials.find_spots`` on each run's
master file, whatever the scan kind (rotation, stills, grid); the import must see the scan kind
the scenario ran (a sweep for rotation, stills for stills and grid scans).

DIALS is Debian's ``dials`` package; the tests skip without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import hdf5plugin
import pytest
from jfjoch_hil.harness.scenario import load_scenario

from tests.readers.conftest import shipped_names

pytestmark = [
    pytest.mark.readers,
    pytest.mark.skipif(
        shutil.which("dials.import") is None or shutil.which("dials.find_spots") is None,
        reason="DIALS (Debian package dials: dials.import, dials.find_spots) not installed",
    ),
]


def dials(args: list[str], cwd, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a DIALS command with the HDF5 filters on its plugin path (only DIALS gets it)."""
    env = {**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def _import_summary(stdout: str) -> dict[str, int]:
    """num images / sweeps / still sequences / stills from dials.import's summary."""
    found = {}
    for key, pattern in (
        ("images", r"num images:\s*(\d+)"),
        ("still_sequences", r"still:\s*(\d+)"),
        ("sweeps", r"sweep:\s*(\d+)"),
        ("stills", r"num stills:\s*(\d+)"),
    ):
        match = re.search(pattern, stdout)
        found[key] = int(match[1]) if match else -1
    return found


@pytest.mark.parametrize("name", shipped_names())
def test_dials_imports_and_finds_spots_on_every_scenario(shipped_run, name, tmp_path):
    run = shipped_run(name)
    assert run.masters, f"{name}: no master file written ({run.report})"
    kind = load_scenario(name).run.kind
    for index, master in enumerate(run.masters):
        work = tmp_path / f"m{index}"
        work.mkdir()
        imported = dials(["dials.import", str(master)], work)
        assert imported.returncode == 0, imported.stdout[-3000:] + imported.stderr[-3000:]
        summary = _import_summary(imported.stdout)
        assert summary["images"] >= 1, summary
        if kind == "rotation":
            assert summary["sweeps"] == 1, (name, summary)
        else:  # stills and grid scans: no rotation, a set of still images
            assert summary["sweeps"] == 0, (name, summary)
        spots = dials(["dials.find_spots", "imported.expt", "nproc=1"], work)
        assert spots.returncode == 0, spots.stdout[-3000:] + spots.stderr[-3000:]
        assert (work / "strong.refl").is_file()
        saved = re.search(r"Saved (\d+) reflections", spots.stdout)
        assert saved is not None, spots.stdout[-2000:]
        if kind == "rotation":  # every rotation image diffracts; stills and grids may all miss
            assert int(saved[1]) > 0, f"{name}: no spot found"
