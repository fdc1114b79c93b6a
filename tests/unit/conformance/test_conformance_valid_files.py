"""Valid files of every layout pass with 0 errors; the CLI's exit codes, JSON and JUnit output."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import h5py
import numpy as np
import pytest
from jfjoch_hil.conformance import FILE_RULES, UsageError, check_file
from jfjoch_hil.conformance.cli import main

from tests.unit.conformance._files import LAYOUTS, RunSpec, build_dectris, build_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("valid")
    out = {layout: build_run(root / layout, layout) for layout in LAYOUTS}
    out["dectris"] = build_dectris(root / "dectris")
    return out


class LayoutContract:
    """The shared contract every layout satisfies (STYLE.md: one test class, one subclass per layout)."""

    layout = "integrated"

    def test_passes_with_zero_errors(self, runs):
        report = check_file(runs[self.layout])
        assert report.errors == (), report.to_text()
        assert report.exit_code == 0
        assert report.layout == self.layout
        stats = report.statistics()
        assert stats.errors == 0 and stats.warnings == len(report.findings)
        assert stats.rules_checked == len(report.rules_run) > 20

    def test_deep_check_passes(self, runs):
        assert check_file(runs[self.layout], deep=True).errors == ()

    def test_forced_own_layout_passes(self, runs):
        assert check_file(runs[self.layout], layout=self.layout).errors == ()

    def test_nxmx_profile_passes_and_runs_no_extension_rule(self, runs):
        report = check_file(runs[self.layout], profile="nxmx")
        assert report.errors == ()
        jf_only = {r.id for r in FILE_RULES.values() if "nxmx" not in r.profiles}
        assert not (set(report.rules_run) & jf_only)


class TestLegacy(LayoutContract):
    layout = "legacy"


class TestVds(LayoutContract):
    layout = "vds"


class TestIntegrated(LayoutContract):
    layout = "integrated"


class TestProcess(LayoutContract):
    layout = "process"


def test_dectris_file_passes_nxmx_profile(runs):
    report = check_file(runs["dectris"], profile="nxmx")
    assert report.errors == (), report.to_text()


def test_dectris_file_is_not_a_jungfraujoch_file(runs):
    """Under the default profile the DECTRIS-style file fails only extension / reader rules
    (e.g. uint32 images without the UINT32_MAX fill value), never an NXmx rule."""
    report = check_file(runs["dectris"])
    assert report.exit_code == 1
    nxmx_rules = {r.id for r in FILE_RULES.values() if "nxmx" in r.profiles}
    assert not (report.rule_ids("error") & nxmx_rules), report.to_text()
    assert "JF-IMAGE-DATASET" in report.rule_ids("error")


def test_wrong_layout_requested_is_reported(runs):
    report = check_file(runs["integrated"], layout="legacy")
    assert "JF-LAYOUT" in report.rule_ids()


def test_unknown_profile_is_a_usage_error(runs):
    with pytest.raises(UsageError, match="profile"):
        check_file(runs["legacy"], profile="cbf")


def test_larger_run_passes(tmp_path):
    spec = RunSpec(n_images=120, images_per_file=50, max_spots=8, seed=3)
    for layout in ("legacy", "vds"):
        report = check_file(build_run(tmp_path / layout, layout, spec))
        assert report.errors == (), report.to_text()


def test_external_link_outside_folder_not_followed(runs, tmp_path):
    """A link out of the run folder is a finding unless allowed, and is never opened."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["legacy"].parent, run)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    data2 = next(run.glob("*_data_000002.h5"))
    moved = outside / data2.name
    data2.rename(moved)
    master = run / runs["legacy"].name
    with h5py.File(master, "r+") as f:
        del f["/entry/data/data_000002"]
        f["/entry/data/data_000002"] = h5py.ExternalLink(str(moved), "/entry/data/data")
    refused = check_file(master)
    assert "JF-DATA-FILE" in refused.rule_ids()
    assert any("outside" in f.message for f in refused.findings)
    assert check_file(master, allow_outside=True).errors == ()


def test_soft_link_loop_does_not_hang(runs, tmp_path):
    import shutil

    shutil.copytree(runs["integrated"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["integrated"].name
    with h5py.File(master, "r+") as f:
        f["/entry/loop_a"] = h5py.SoftLink("/entry/loop_b")
        f["/entry/loop_b"] = h5py.SoftLink("/entry/loop_a")
        del f["/entry/instrument/detector/depends_on"]
        f["/entry/instrument/detector/depends_on"] = h5py.SoftLink("/entry/loop_a")
    report = check_file(master)
    assert report.exit_code in (1, 2)


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, b"not hdf5 at all"])
def test_unreadable_inputs_exit_2(tmp_path, content):
    p = tmp_path / "bad.h5"
    p.write_bytes(content)
    report = check_file(p)
    assert report.unreadable and report.exit_code == 2
    assert main([str(p)]) == 2


def test_group_where_dataset_expected(runs, tmp_path):
    import shutil

    shutil.copytree(runs["integrated"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["integrated"].name
    with h5py.File(master, "r+") as f:
        del f["/entry/instrument/beam/incident_wavelength"]
        f["/entry/instrument/beam"].create_group("incident_wavelength")
        del f["/entry/data/data"]
        f["/entry/data"].create_group("data")
        del f["/entry/instrument/detector/module"]
        f["/entry/instrument/detector"].create_dataset("module", data=np.arange(3))
        f["/entry/instrument/detector/module"].attrs["NX_class"] = np.bytes_(b"NXdetector_module")
    report = check_file(master)
    assert report.exit_code == 1
    assert {"NX-DTYPE", "NX-MODULE"} <= report.rule_ids()


def test_huge_declared_shapes_are_not_read(runs, tmp_path):
    """A hostile file declaring 10^9 images and a 10^6 x 10^6 mask is judged, not loaded."""
    import shutil

    shutil.copytree(runs["integrated"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["integrated"].name
    with h5py.File(master, "r+") as f:
        del f["/entry/data/data"]
        f.create_dataset(
            "/entry/data/data",
            shape=(10**9, 16, 24),
            chunks=(1, 16, 24),
            dtype=np.uint16,
            fillvalue=65535,
        )
        del f["/entry/MX/nPeaks"]
        f.create_dataset("/entry/MX/nPeaks", shape=(10**12,), chunks=(1024,), dtype=np.int32)
        del f["/entry/instrument/detector/pixel_mask"]
        f.create_dataset(
            "/entry/instrument/detector/pixel_mask",
            shape=(10**6, 10**6),
            chunks=(64, 64),
            dtype=np.uint32,
        )
    report = check_file(master)
    assert report.exit_code == 1
    assert {"JF-IMAGE-COUNT", "NX-SHAPE"} <= report.rule_ids()


def test_cli_exit_codes_and_json(runs, tmp_path, capsys):
    assert main([str(runs["legacy"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["checked"] > 20
    assert all(v["severity"] == "warning" for v in doc["violations"])
    assert set(doc["violations"][0]) >= {"rule", "severity", "path", "message", "section"}
    import shutil

    shutil.copytree(runs["integrated"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["integrated"].name
    with h5py.File(master, "r+") as f:
        f["/entry/instrument/detector/count_time"][()] = np.float64(1.0)
    junit = tmp_path / "out.xml"
    assert main([str(master), "--junit", str(junit)]) == 1
    text = capsys.readouterr().out
    assert "JF-PLAUSIBLE" in text and "/entry/instrument/detector/count_time" in text
    tree = ElementTree.parse(junit)
    failures = [c.get("name") for c in tree.iter("testcase") if c.find("failure") is not None]
    assert failures == ["JF-PLAUSIBLE"]


def test_cli_usage_error_exit_2(capsys):
    assert main(["--profile", "nonsense", "x.h5"]) == 2
    assert main([]) == 2


def test_process_file_under_another_name(runs, tmp_path):
    """A process file is recognised by name; renamed it reads as VDS, and --layout process accepts it."""
    import shutil

    shutil.copytree(runs["process"].parent, tmp_path / "r")
    renamed = tmp_path / "r" / "analysis.h5"
    (tmp_path / "r" / runs["process"].name).rename(renamed)
    assert check_file(renamed).layout == "vds"
    forced = check_file(renamed, layout="process")
    assert forced.layout == "process" and forced.errors == ()
    assert "JF-LAYOUT" in check_file(renamed, layout="integrated").rule_ids()


def test_an_empty_collection_passes_an_emptied_base_class_group_does_not(runs, tmp_path):
    """hdf5-format.md §3-§4: a field listed under a group is required whenever the group exists.
    An NXcollection that holds nothing yet (a run stopped before its first block of results) is
    exempt; an NXattenuator left without its transmission is not."""
    import shutil

    shutil.copytree(runs["integrated"].parent, tmp_path / "r")
    master = tmp_path / "r" / runs["integrated"].name
    with h5py.File(master, "r+") as f:
        image = f["/entry/image"]
        assert image.attrs["NX_class"] in (b"NXcollection", "NXcollection") and len(image)
        for name in list(image):
            del image[name]
    assert check_file(master).errors == ()
    with h5py.File(master, "r+") as f:
        del f["/entry/instrument/attenuator/attenuator_transmission"]
    missing = [f for f in check_file(master).errors if f.rule == "SPEC-PRESENT"]
    assert [f.path for f in missing] == ["/entry/instrument/attenuator/attenuator_transmission"]
