"""`jfcheck manifest` and `jfcheck diff`: layout snapshots and breaking-change classification."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from jfjoch_hil.conformance._manifest import diff_manifests, load_manifest, make_manifest
from jfjoch_hil.conformance.cli import main
from jfjoch_hil.conformance.errors import ManifestError

from tests.unit.conformance._files import RunSpec, build_run


@pytest.fixture(scope="module")
def vds_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("m") / "vds", "vds")


def _copy(run, tmp_path):
    shutil.copytree(run.parent, tmp_path / "copy")
    return tmp_path / "copy" / run.name


def test_manifest_is_symbolic_in_image_count(tmp_path):
    a = make_manifest(build_run(tmp_path / "a", "vds", RunSpec(n_images=6)))
    b = make_manifest(build_run(tmp_path / "b", "vds", RunSpec(n_images=9, images_per_file=4)))
    assert a["entries"]["/entry/data/data"]["shape"] == ["n", 16, 24]
    assert diff_manifests(a, b) == []


def test_legacy_manifest_collapses_numbered_links(tmp_path):
    doc = make_manifest(build_run(tmp_path / "legacy", "legacy"))
    assert doc["layout"] == "legacy"
    assert doc["entries"]["/entry/data/data_NNNNNN"] == {
        "kind": "external_link",
        "target": "/entry/data/data",
    }
    assert not any("data_000001" in p for p in doc["entries"])


def test_identical_files_have_no_changes(vds_run):
    assert diff_manifests(make_manifest(vds_run), make_manifest(vds_run)) == []


@pytest.mark.parametrize(
    ("edit", "path", "breaking"),
    [
        (
            lambda f: f.__delitem__("/entry/instrument/detector/sensor_material"),
            "/entry/instrument/detector/sensor_material",
            True,
        ),
        (lambda f: f["/entry"].create_dataset("new_field", data=1.0), "/entry/new_field", False),
        (
            lambda f: f["/entry/instrument/detector/distance"].attrs.__setitem__("units", b"mm"),
            "/entry/instrument/detector/distance@units",
            True,
        ),
        (
            lambda f: (
                f.__delitem__("/entry/instrument/detector/distance"),
                f.create_dataset("/entry/instrument/detector/distance", data=np.float32(0.1)),
            ),
            "/entry/instrument/detector/distance",
            True,
        ),
        (
            lambda f: (
                f.__delitem__("/entry/instrument/detector/bit_depth_readout"),
                f.create_dataset("/entry/instrument/detector/bit_depth_readout", data=np.int64(16)),
            ),
            "/entry/instrument/detector/bit_depth_readout",
            False,
        ),
        (
            lambda f: f["/entry/MX"].attrs.__setitem__("NX_class", b"NXdata"),
            "/entry/MX@NX_class",
            True,
        ),
    ],
)
def test_change_classification(vds_run, tmp_path, edit, path, breaking):
    copy = _copy(vds_run, tmp_path)
    with h5py.File(copy, "r+") as f:
        edit(f)
    changes = diff_manifests(make_manifest(vds_run), make_manifest(copy))
    hits = [c for c in changes if c.path == path]
    assert hits, changes
    assert any(c.breaking == breaking for c in hits)


def test_cli_manifest_and_diff(vds_run, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["manifest", str(vds_run), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["layout"] == "vds"
    assert main(["diff", str(out), str(vds_run)]) == 0
    copy = _copy(vds_run, tmp_path)
    with h5py.File(copy, "r+") as f:
        del f["/entry/sample/name"]
    capsys.readouterr()
    assert main(["diff", str(out), str(copy), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {
        "kind": "removed",
        "path": "/entry/sample/name",
        "detail": "dataset removed",
        "breaking": True,
    } in doc


def test_bad_manifest_is_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"format": "other"}')
    with pytest.raises(ManifestError, match="format"):
        load_manifest(p)
    assert main(["diff", str(p), str(p)]) == 2
