"""Shipped scenarios run once per test session, with their stream recorded, for the readers tests
(DECTRIS's decompressor and DIALS on every scenario)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle / LZ4 HDF5 filters)
import numpy as np
import pytest
from jfjoch_hil.harness.scenario import list_scenarios, load_scenario

#: Images per scenario run: enough for every scan kind to show its structure (two grid rows,
#: storage-cell bursts), small enough for the whole set to run in minutes. A scenario that
#: aborts after N images keeps N + 3 so the abort happens.
IMAGES = 6


def shipped_names() -> list[str]:
    return sorted(list_scenarios())


def _images_for(name: str) -> int:
    scenario = load_scenario(name)
    n = IMAGES
    if scenario.run.abort_after_images:
        n = max(n, scenario.run.abort_after_images + 3)
    cells = max((scenario.detector.storage_cells, *scenario.detector.storage_cells_per_run))
    return max(n, cells)  # one whole storage-cell burst at least


@dataclass
class ShippedRun:
    """One shipped scenario's run: its output folder, recorded stream and report."""

    name: str
    out: Path
    record: Path
    returncode: int
    report: dict
    masters: list[Path] = field(default_factory=list)


class _Runs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[str, ShippedRun] = {}

    def __call__(self, name: str) -> ShippedRun:
        if name not in self._done:
            out, record = self.root / name / "out", self.root / name / "record"
            done = subprocess.run(
                [sys.executable, "-m", "jfjoch_hil.harness.cli", "run", name]
                + ["--out", str(out), "--record", str(record), "--json", "--no-progress"]
                + ["--images", str(_images_for(name)), "--set", "run.transport='direct'"],
                capture_output=True,
                text=True,
                timeout=900,
            )
            try:
                report = json.loads(done.stdout)
            except json.JSONDecodeError:
                report = {"stdout": done.stdout[-2000:], "stderr": done.stderr[-2000:]}
            masters = sorted(out.glob("*_master.h5"))
            self._done[name] = ShippedRun(name, out, record, done.returncode, report, masters)
        return self._done[name]


@pytest.fixture(scope="session")
def shipped_run(tmp_path_factory):
    """``shipped_run(name)``: the scenario run once per session (cached)."""
    return _Runs(tmp_path_factory.mktemp("shipped"))


def hdf5_image(master: Path, index: int) -> np.ndarray:
    """Image ``index`` of a master file in any layout: ``/entry/data/data`` (VDS, integrated) or
    the ``data_NNNNNN`` links in order (legacy), via h5py and the HDF5 filters."""
    with h5py.File(master, "r") as f:
        group = f["/entry/data"]
        if "data" in group:
            return group["data"][index]
        for name in sorted(n for n in group if n.startswith("data_")):
            stack = group[name]
            if index < stack.shape[0]:
                return stack[index]
            index -= stack.shape[0]
    raise IndexError(f"{master}: no image {index}")


def hdf5_image_count(master: Path) -> int:
    """Images a master file holds, in any layout."""
    with h5py.File(master, "r") as f:
        group = f["/entry/data"]
        if "data" in group:
            return int(group["data"].shape[0])
        return sum(int(group[n].shape[0]) for n in group if n.startswith("data_"))
