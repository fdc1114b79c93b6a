"""jfcheck --profile nxmx on NXmx files written by nexgen (Diamond's writer): zero errors on valid
files, the right error on a copy with a required field removed (no false alarms on other writers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
from jfjoch_hil.conformance import check_file

from tests.readers._nexgen_files import SCENARIOS, build

nexgen = pytest.importorskip("nexgen", reason="nexgen (test extra) is not installed")
pytestmark = pytest.mark.readers

# What nexgen writes for each scenario, as our layout detection must see it (hdf5-format.md §2
# names: legacy = data_NNNNNN links only; vds = /entry/data/data virtual over other files).
EXPECTED_LAYOUT = {
    "eiger-links": "legacy",
    "eiger-vds": "vds",
    "grid-scan": "vds",
    "stills": "vds",
    "jungfrau-1m-vds": "vds",
    "jungfrau-small": "legacy",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nexgen")
    return {s: build(root / s, s) for s in SCENARIOS}


def _copy(master: Path, tmp_path: Path) -> Path:
    folder = tmp_path / master.parent.name
    shutil.copytree(master.parent, folder)
    return folder / master.name


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_valid_nexgen_file_has_no_error_under_nxmx(runs, scenario):
    report = check_file(runs[scenario], profile="nxmx")
    assert report.errors == (), report.to_text()
    assert report.layout == EXPECTED_LAYOUT[scenario]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nexgen_file_without_wavelength_is_an_error(runs, scenario, tmp_path):
    master = _copy(runs[scenario], tmp_path)
    with h5py.File(master, "r+") as f:
        del f["/entry/instrument/beam/incident_wavelength"]
    report = check_file(master, profile="nxmx")
    assert "NX-REQUIRED" in report.rule_ids("error"), report.to_text()
    assert any(f.path == "/entry/instrument/beam/incident_wavelength" for f in report.errors), (
        report.to_text()
    )


@pytest.mark.parametrize("scenario", ["eiger-links", "eiger-vds", "jungfrau-1m-vds"])
def test_nexgen_run_with_a_data_file_gone_is_an_error(runs, scenario, tmp_path):
    master = _copy(runs[scenario], tmp_path)
    victim = sorted(p for p in master.parent.glob("*_00000*.h5"))[-1]
    victim.unlink()
    report = check_file(master, profile="nxmx")
    assert "JF-DATA-FILE" in report.rule_ids("error"), report.to_text()


def test_nexgen_sample_depends_on_removed_is_an_error(runs, tmp_path):
    master = _copy(runs["grid-scan"], tmp_path)
    with h5py.File(master, "r+") as f:
        del f["/entry/sample/depends_on"]
    report = check_file(master, profile="nxmx")
    assert "NX-REQUIRED" in report.rule_ids("error"), report.to_text()


def test_group_without_nx_class_is_a_warning_under_nxmx_only(runs):
    nxmx = check_file(runs["eiger-links"], profile="nxmx")
    assert "NX-CLASS" in nxmx.rule_ids("warning") and "NX-CLASS" not in nxmx.rule_ids("error")
    ours = check_file(runs["eiger-links"], profile="jungfraujoch")
    assert "NX-CLASS" in ours.rule_ids("error")


def test_missing_image_nr_is_a_warning_under_nxmx_only(runs):
    nxmx = check_file(runs["jungfrau-small"], profile="nxmx")
    assert "JF-LEGACY-LINKS" in nxmx.rule_ids("warning")
    assert "JF-LEGACY-LINKS" not in nxmx.rule_ids("error")
    ours = check_file(runs["jungfrau-small"], profile="jungfraujoch")
    assert "JF-LEGACY-LINKS" in ours.rule_ids("error")
