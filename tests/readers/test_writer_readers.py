"""Third-party readers on the writer's files (third-party-readers.md 2.4-2.7, 6 tests).

DIALS' ``nxmx`` loads each master and its geometry must match the start message; fabio reads every
frame; h5dump and DIALS run when installed (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import h5py
import hdf5plugin
import numpy as np
import pytest
from jfjoch_hil.stream import decode, encode
from jfjoch_hil.writer import RunWriter

from tests.unit.writer.writer_messages import make_run

pytestmark = pytest.mark.readers
LAYOUTS = ("NXmxLegacy", "NXmxVDS", "NXmxIntegrated")
N_IMAGES = 10


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same stream written in every layout: {file_format: (master path, SentRun)}."""
    out = {}
    for file_format in LAYOUTS:
        folder = tmp_path_factory.mktemp(file_format)
        run = make_run(N_IMAGES, file_format=file_format, images_per_file=4, spotty=True)
        writer = RunWriter(decode(encode(run.start)), folder)  # as received over the stream
        for message in run.images:
            assert writer.put_image(decode(encode(message))) is None
        assert writer.finish(decode(encode(run.end))).error is None
        out[file_format] = (folder / "run1" / "sample_master.h5", run)
    return out


@pytest.mark.parametrize("file_format", LAYOUTS)
def test_nxmx_geometry_matches_start(runs, file_format):
    nxmx = pytest.importorskip("nxmx", reason="DIALS' nxmx package not installed")
    master, run = runs[file_format]
    start = run.start
    with h5py.File(master, "r") as f:
        entries = nxmx.NXmx(f).entries
        assert len(entries) == 1
        entry = entries[0]
        detector = entry.instruments[0].detectors[0]
        chain = nxmx.get_dependency_chain(detector.depends_on)
        assert [a.path.rpartition("/")[2] for a in chain] == ["rot3", "rot2", "rot1", "translation"]
        detector_t = nxmx.get_cumulative_transformation(chain)[0]
        assert detector_t[2, 3] == pytest.approx(start.detector_distance * 1000)
        module = detector.modules[0]
        assert list(module.data_size) == [start.image_size_y, start.image_size_x]
        fast, slow = module.fast_pixel_direction, module.slow_pixel_direction
        assert fast[()].to("m").magnitude == pytest.approx(start.pixel_size_x)
        assert slow[()].to("m").magnitude == pytest.approx(start.pixel_size_y)
        assert list(fast.vector) == [-1.0, 0.0, 0.0] and list(slow.vector) == [0.0, -1.0, 0.0]
        module_t = nxmx.get_cumulative_transformation(
            nxmx.get_dependency_chain(module.module_offset)
        )[0]
        origin_mm = module_t[:3, 3]
        f_lab = module_t[:3, :3] @ np.asarray(fast.vector)
        s_lab = module_t[:3, :3] @ np.asarray(slow.vector)
        # where the beam (0, 0, 1) meets the module plane, in pixels: must be the beam centre
        a, b, _ = np.linalg.solve(np.column_stack([f_lab, s_lab, [0.0, 0.0, -1.0]]), -origin_mm)
        assert a / (start.pixel_size_x * 1000) == pytest.approx(start.beam_center_x, abs=1e-6)
        assert b / (start.pixel_size_y * 1000) == pytest.approx(start.beam_center_y, abs=1e-6)
        beam = entry.instruments[0].beams[0]
        assert beam.incident_wavelength.to("angstrom").magnitude == pytest.approx(
            start.incident_wavelength
        )
        assert detector.sensor_material == "Si"
        assert detector.sensor_thickness.to("m").magnitude == pytest.approx(start.sensor_thickness)
        sample = entry.samples[0]
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(sample.depends_on))
        assert list(axes.names) == ["omega"] and bool(axes.is_scan_axis[0])
        scan = f["/entry/sample/transformations/omega"][()]
        assert scan.shape == (N_IMAGES,)
        data = entry.data[0]
        stacks = [data[name] for name in sorted(data.keys()) if name.startswith("data")]
        frames = np.concatenate([s[()] for s in stacks])
        assert frames.shape[0] == N_IMAGES
        for index in range(N_IMAGES):
            assert np.array_equal(frames[index], run.pixels[index])


def test_nxmx_detects_a_broken_chain(runs, tmp_path):
    """Must-fail companion: removing rot1 breaks the detector chain for nxmx."""
    nxmx = pytest.importorskip("nxmx", reason="DIALS' nxmx package not installed")
    master, _ = runs["NXmxIntegrated"]
    broken = tmp_path / "broken.h5"
    shutil.copy(master, broken)
    with h5py.File(broken, "a") as f:
        del f["/entry/instrument/detector/transformations/rot1"]
    with h5py.File(broken, "r") as f, pytest.raises(KeyError):
        detector = nxmx.NXmx(f).entries[0].instruments[0].detectors[0]
        nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(detector.depends_on))


FABIO_CHILD = """
import hashlib, json, sys
import hdf5plugin, fabio
img = fabio.open(sys.argv[1])
out = {"nframes": img.nframes, "frames": []}
for i in range(img.nframes):
    frame = img.getframe(i).data
    out["frames"].append([str(frame.dtype), list(frame.shape), hashlib.sha256(frame.tobytes()).hexdigest()])
print(json.dumps(out))
"""


@pytest.mark.parametrize("file_format", LAYOUTS)
def test_fabio_reads_every_frame(runs, file_format):
    pytest.importorskip("fabio", reason="fabio not installed")
    import hashlib

    master, run = runs[file_format]
    child = subprocess.run(
        [sys.executable, "-c", FABIO_CHILD, str(master)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["nframes"] == N_IMAGES
    for index, (dtype, shape, digest) in enumerate(result["frames"]):
        pixels = run.pixels[index]
        assert (dtype, tuple(shape)) == (str(pixels.dtype), pixels.shape)
        assert digest == hashlib.sha256(pixels.tobytes()).hexdigest(), index
    with h5py.File(master, "r") as f:  # fabio takes every /entry/data member named data*
        assert all(name == "data" or name.startswith("data_0") for name in f["/entry/data"])


@pytest.mark.parametrize("file_format", LAYOUTS)
def test_h5dump_reads_master(runs, file_format):
    if shutil.which("h5dump") is None:
        pytest.skip("h5dump (Debian hdf5-tools) not installed")
    master, _ = runs[file_format]
    env = {**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH}
    names = ["data_000001", "data_000003"] if file_format == "NXmxLegacy" else ["data"]
    for name in names:
        child = subprocess.run(
            ["h5dump", "-d", f"/entry/data/{name}", "-s", "0,0,0", "-c", "1,1,3", str(master)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=master.parent,
            env=env,
        )
        assert child.returncode == 0, child.stderr


@pytest.mark.parametrize("file_format", LAYOUTS)
def test_dials_import_and_find_spots(runs, file_format, tmp_path):
    if shutil.which("dials.import") is None or shutil.which("dials.find_spots") is None:
        pytest.skip("DIALS (dials.import / dials.find_spots) not installed")
    master, _ = runs[file_format]
    env = {**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH}
    child = subprocess.run(
        ["dials.import", str(master)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    child = subprocess.run(
        ["dials.find_spots", "imported.expt", "nproc=1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    assert (tmp_path / "strong.refl").is_file()
    assert "Saved 0 reflections" not in child.stdout
