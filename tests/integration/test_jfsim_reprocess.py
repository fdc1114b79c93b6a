"""`jfsim reprocess MASTER`: the analysis rerun on an existing dataset goes through the
writer into `<prefix>_process.h5`, whose images link back to the original files."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import hdf5plugin  # noqa: F401
import numpy as np


def jfsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_reprocess_writes_a_process_file_linking_back_to_the_images(tmp_path):
    done = jfsim(
        "run",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--set",
        "run.transport='direct'",
        "--set",
        "run.images=5",
        "--set",
        "writer.images_per_file=2",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    master = tmp_path / "quickstart_master.h5"
    again = jfsim("reprocess", str(master))
    assert again.returncode == 0, again.stderr[-2000:]
    outcome = json.loads(again.stdout)
    assert outcome["images"] == 5 and outcome["writer"]["layout"] == "process"
    with h5py.File(master) as original, h5py.File(tmp_path / "quickstart_process.h5") as process:
        data = process["/entry/data/data"]
        assert data.is_virtual
        np.testing.assert_array_equal(data[...], original["/entry/data/data"][...])
        # the live receiver and the offline rerun analysed the same images: same spots
        np.testing.assert_array_equal(
            process["/entry/MX/nPeaks"][...], original["/entry/MX/nPeaks"][...]
        )
        assert process["/entry/MX/nPeaks"][...].sum() > 0
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.conformance.cli",
            str(tmp_path / "quickstart_process.h5"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout[-2000:]


def test_reprocess_refuses_a_file_that_is_not_a_master(tmp_path):
    done = jfsim("reprocess", str(tmp_path / "something.h5"))
    assert done.returncode == 2
    assert "_master.h5 file is required" in done.stderr
