"""Third-party witnesses on valid files (third-party-readers.md §6): nexusformat, punx, nxmx (DIALS),
fabio, h5dump. Each skips when its tool is absent; each has a must-fail case so it can fail.

The files come from tests/unit/conformance/_files.py (written from the spec with h5py), not from
our writer, so a witness and jfcheck judge the same independent input.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from jfjoch_hil.conformance import check_file
from jfjoch_hil.writer import RunWriter

from tests.unit.conformance._files import RunSpec, build_run
from tests.unit.writer.writer_messages import make_run

pytestmark = pytest.mark.readers

LAYOUTS = ("legacy", "vds", "integrated")


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("readers")
    return {layout: build_run(root / layout, layout) for layout in LAYOUTS}


_FORMATS = {"legacy": "NXmxLegacy", "vds": "NXmxVDS", "integrated": "NXmxIntegrated"}


@pytest.fixture(scope="module")
def writer_runs(tmp_path_factory) -> dict[str, Path]:
    """Our writer's output (witnesses judge the writer's files)."""
    out = {}
    for layout, fmt in _FORMATS.items():
        folder = tmp_path_factory.mktemp(f"writer_{layout}")
        run = make_run(8, file_format=fmt, images_per_file=4)
        writer = RunWriter(run.start, folder)
        for message in run.images:
            writer.put_image(message)
        result = writer.finish(run.end)
        assert result.error is None, result.error
        out[layout] = next(folder.rglob("*_master.h5"))
    return out


def _drop(run: Path, tmp_path: Path, item: str) -> Path:
    shutil.copytree(run.parent, tmp_path / "drop")
    master = tmp_path / "drop" / run.name
    with h5py.File(master, "r+") as f:
        del f[item]
    return master


def _child(code: str, *args: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_NEXUSFORMAT = r"""
import json, logging, sys
import hdf5plugin
from nexusformat.nexus.validate import logger, validate_application
recs = []
class H(logging.Handler):
    def emit(self, r): recs.append([r.levelname, r.getMessage()])
logger.handlers[:] = [H()]; logger.setLevel(logging.WARNING)
res = validate_application(sys.argv[1]) or (None, None)
print(json.dumps({"warnings": res[0], "errors": res[1], "records": recs}))
"""

# Known false positives of the nexusformat validator on valid NXmx (third-party-readers.md §2.1).
# "Units of NX_UNITLESS not specified": disagreement, jfcheck is right: nxmx-rules.md C10 says
# NX_UNITLESS / NX_DIMENSIONLESS fields need no units (nexusformat still asks for one).
_NEXUSFORMAT_ALLOWED = (
    "recommended field is not in the NeXus file",
    "recommended group is not in the NeXus file",
    "not a valid NX_DATE_TIME",
    "are not unique",
    "Units of NX_UNITLESS not specified",
)


@pytest.mark.parametrize("source", ["spec", "writer"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nexusformat_reports_no_errors(request, layout, source):
    _need("nexusformat")
    files = request.getfixturevalue("runs" if source == "spec" else "writer_runs")
    doc = _child(_NEXUSFORMAT, str(files[layout]))
    assert doc["errors"] == 0, doc["records"]
    warnings = [m for level, m in doc["records"] if level == "WARNING"]
    unexpected = [m for m in warnings if not any(a in m for a in _NEXUSFORMAT_ALLOWED)]
    assert unexpected == []


def test_nexusformat_and_jfcheck_agree_on_missing_sensor_material(runs, tmp_path):
    _need("nexusformat")
    master = _drop(runs["vds"], tmp_path, "/entry/instrument/detector/sensor_material")
    doc = _child(_NEXUSFORMAT, str(master))
    assert doc["errors"] >= 1
    assert "NX-REQUIRED" in check_file(master).rule_ids("error")


def test_nexusformat_misses_a_missing_data_file_jfcheck_does_not(runs, tmp_path):
    """Disagreement, jfcheck is right: nexusformat does not follow the external link (§2.1 "does not
    catch ... a data file missing behind an external link"), but the run has lost images."""
    _need("nexusformat")
    shutil.copytree(runs["legacy"].parent, tmp_path / "r")
    next((tmp_path / "r").glob("*_data_000002.h5")).unlink()
    master = tmp_path / "r" / runs["legacy"].name
    assert _child(_NEXUSFORMAT, str(master))["errors"] == 0
    assert "JF-DATA-FILE" in check_file(master).rule_ids("error")


_PUNX = r"""
import json, sys
from punx import validate
v = validate.Data_File_Validator("v2018.5")
v.validate(sys.argv[1])
out = [(str(f.status), str(f.h5_address), str(f.test_name), str(f.comment)) for f in v.validations]
v.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("source", ["spec", pytest.param("writer", marks=pytest.mark.slow)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_punx_reports_no_errors(request, layout, source, tmp_path):
    _need("punx")
    files = request.getfixturevalue("runs" if source == "spec" else "writer_runs")
    findings = _child(
        _PUNX,
        str(files[layout]),
        env={"XDG_CONFIG_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )
    errors = [f for f in findings if f[0].startswith("ERROR") or "ERROR" == f[0]]
    assert errors == []


def test_punx_reports_missing_start_time(runs, tmp_path):
    _need("punx")
    master = _drop(runs["integrated"], tmp_path, "/entry/start_time")
    findings = _child(
        _PUNX, str(master), env={"XDG_CONFIG_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    )
    assert any("ERROR" in f[0] and "start_time" in f[3] + f[2] for f in findings), findings
    assert "NX-REQUIRED" in check_file(master).rule_ids("error")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nxmx_reads_geometry_and_images(runs, layout):
    _need("nxmx")
    import hdf5plugin  # noqa: F401
    import nxmx

    spec = RunSpec()
    with h5py.File(runs[layout], "r") as f:
        entries = nxmx.NXmx(f).entries
        assert len(entries) == 1
        entry = entries[0]
        det = entry.instruments[0].detectors[0]
        t_det = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(det.depends_on))
        module = det.modules[0]
        t_mod = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(module.module_offset))
        origin_mm = t_mod[0, :3, 3]
        fast = np.asarray(module.fast_pixel_direction.vector, dtype=float)
        slow = np.asarray(module.slow_pixel_direction.vector, dtype=float)
        pitch_mm = 0.075
        # beam along +z meets the detector plane z = distance; solve origin + a*fast + b*slow = (0, 0, z)
        a, b = np.linalg.lstsq(np.stack([fast, slow], axis=1)[:2], -origin_mm[:2], rcond=None)[0]
        assert a / pitch_mm == pytest.approx(12.0, abs=1e-6)
        assert b / pitch_mm == pytest.approx(8.0, abs=1e-6)
        assert t_det.shape[-2:] == (4, 4)
        sample = entry.samples[0]
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(sample.depends_on))
        assert list(axes.names) == ["omega"] and bool(axes.is_scan_axis[0])
        assert sample.transformations[0]["omega"][()].shape == (spec.n_images,)
        assert entry.instruments[0].beams[0].incident_wavelength.to(
            "angstrom"
        ).magnitude == pytest.approx(1.0)


def test_nxmx_fails_without_rot1_and_jfcheck_agrees(runs, tmp_path):
    _need("nxmx")
    import nxmx

    master = _drop(runs["vds"], tmp_path, "/entry/instrument/detector/transformations/rot1")
    with h5py.File(master, "r") as f, pytest.raises(KeyError):
        det = nxmx.NXmx(f).entries[0].instruments[0].detectors[0]
        nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(det.depends_on))
    assert "NX-DEPENDS-ON" in check_file(master).rule_ids("error")


_FABIO = r"""
import json, sys, hashlib
import hdf5plugin, fabio
img = fabio.open(sys.argv[1])
out = {"nframes": img.nframes, "sums": [int(img.getframe(i).data.astype("int64").sum()) for i in range(img.nframes)]}
img.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fabio_reads_every_frame(runs, layout):
    _need("fabio")
    doc = _child(_FABIO, str(runs[layout]))
    spec = RunSpec()
    rng = np.random.default_rng(spec.seed)
    images = rng.integers(0, 50, size=(spec.n_images, spec.ny, spec.nx), dtype=np.uint16)
    assert doc["nframes"] == spec.n_images
    assert doc["sums"] == [int(x) for x in images.sum(axis=(1, 2), dtype=np.int64)]


def test_fabio_silently_truncates_where_jfcheck_reports(runs, tmp_path):
    """Disagreement, jfcheck is right: fabio returns 4 of 6 frames without complaint when data file 2
    is missing (§2.5); the run is incomplete."""
    _need("fabio")
    shutil.copytree(runs["legacy"].parent, tmp_path / "r")
    next((tmp_path / "r").glob("*_data_000002.h5")).unlink()
    master = tmp_path / "r" / runs["legacy"].name
    assert _child(_FABIO, str(master))["nframes"] < RunSpec().n_images
    assert check_file(master).exit_code == 1


@pytest.mark.parametrize("layout", ("legacy", "integrated"))
def test_h5dump_reads_first_and_last_frame(runs, layout):
    if shutil.which("h5dump") is None:
        pytest.skip("h5dump (hdf5-tools) is not installed")
    import hdf5plugin

    master = runs[layout]
    target = "/entry/data/data_000001" if layout == "legacy" else "/entry/data/data"
    n = 4 if layout == "legacy" else RunSpec().n_images
    for frame in (0, n - 1):
        out = subprocess.run(
            ["h5dump", "-d", target, "-s", f"{frame},0,0", "-c", "1,1,1", str(master)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=master.parent,
            env={**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH},
        )
        assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dials_import_succeeds_on_writer_output(writer_runs, layout, tmp_path):
    if shutil.which("dials.import") is None:
        pytest.skip("dials.import (Debian package dials) is not installed")
    import hdf5plugin

    out = subprocess.run(
        ["dials.import", str(writer_runs[layout])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    expt = json.loads((tmp_path / "imported.expt").read_text())
    assert expt["scan"][0]["image_range"][1] - expt["scan"][0]["image_range"][0] + 1 == 8


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nxmx_and_fabio_read_writer_output(writer_runs, layout):
    _need("nxmx")
    _need("fabio")
    import hdf5plugin  # noqa: F401
    import nxmx

    with h5py.File(writer_runs[layout], "r") as f:
        entry = nxmx.NXmx(f).entries[0]
        det = entry.instruments[0].detectors[0]
        nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(det.depends_on))
        for module in det.modules:
            nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(module.module_offset))
    assert _child(_FABIO, str(writer_runs[layout]))["nframes"] == 8


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param("legacy", marks=pytest.mark.slow),
        "vds",
        pytest.param("integrated", marks=pytest.mark.slow),
    ],
)
def test_dials_import_succeeds(runs, layout, tmp_path):
    """Debian's DIALS (dials.import, dxtbx) imports the run as one sweep with the right geometry."""
    if shutil.which("dials.import") is None:
        pytest.skip("dials.import (Debian package dials) is not installed")
    import hdf5plugin

    out = subprocess.run(
        ["dials.import", str(runs[layout])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "HDF5_PLUGIN_PATH": hdf5plugin.PLUGIN_PATH},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    expt = json.loads((tmp_path / "imported.expt").read_text())
    spec = RunSpec()
    assert expt["scan"][0]["image_range"] == [1, spec.n_images]
    assert expt["beam"][0]["wavelength"] == pytest.approx(1.0)
    panel = expt["detector"][0]["panels"][0]
    assert panel["image_size"] == [spec.nx, spec.ny]
    assert panel["pixel_size"] == pytest.approx([0.075, 0.075])


def test_dials_import_fails_without_fast_pixel_direction_jfcheck_agrees(runs, tmp_path):
    if shutil.which("dials.import") is None:
        pytest.skip("dials.import (Debian package dials) is not installed")
    shutil.copytree(runs["vds"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["vds"].name
    with h5py.File(master, "r+") as f:
        del f["/entry/instrument/detector/module/fast_pixel_direction"]
    out = subprocess.run(
        ["dials.import", str(master)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode != 0 or not (tmp_path / "imported.expt").exists()
    assert "NX-REQUIRED" in check_file(master).rule_ids("error")
