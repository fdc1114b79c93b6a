"""The spec-made self-test: mutants come from the coverage table (not from the rules) and the
checker catches them. Files: the spec-built test runs of _files.py (the CLI takes jfsim output)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jfjoch_hil.conformance._selftest import RELATIONS, make_mutants, run_selftest
from jfjoch_hil.conformance.cli import main

from tests.unit.conformance._files import build_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("selftest")
    return {layout: build_run(root / layout, layout) for layout in ("legacy", "vds", "integrated")}


def test_mutants_cover_every_row_kind_present(runs):
    master = runs["vds"]
    mutants, equivalent = make_mutants(master.parent, master)
    kinds = {m.kind for m in mutants}
    assert kinds >= {"delete", "move", "units", "dtype", "shape", "class", "relation"}
    sections = {m.section for m in mutants}
    # every section with a field row present in a full run has mutants
    for sec in ("§3 /entry/instrument/detector", "§4.1 /entry/MX", "§4.3 /entry/azint"):
        assert sec in sections
    # optional rows are not deleted (no fault by the table) but listed as equivalent
    assert equivalent and all("optional" in why or "§4.7" in why for _, why in equivalent)
    # mutants are made per table row: a row path appears in some mutant id
    paths = {m.path for m in mutants}
    assert "/entry/instrument/detector/distance" in paths
    assert "/entry/MX/bravaisLattice" in paths


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param("legacy", marks=pytest.mark.slow),
        pytest.param("vds", marks=pytest.mark.slow),
        "integrated",
    ],
)
def test_detector_and_extension_mutants_are_all_caught(runs, layout, tmp_path):
    result = run_selftest(
        [runs[layout].parent],
        work=str(tmp_path),
        sections=("§3 /entry/instrument/detector/transformations", "§4.10", "§4.4.1"),
    )
    assert result.baseline_errors[runs[layout].parent.name] == []
    assert result.total > 20
    assert result.survivors == [], result.to_text(survivors=True)


def test_relations_are_all_caught(runs, tmp_path):
    folders = [runs[layout].parent for layout in ("vds", "integrated")]
    master = runs["vds"]
    relation_ids = {m.id for m in make_mutants(master.parent, master)[0] if m.kind == "relation"}
    assert len(relation_ids) >= len(RELATIONS) - 2  # nearly every relation applies to a VDS run
    result = run_selftest(folders, work=str(tmp_path), kinds=("relation",))
    assert result.total >= len(relation_ids)
    assert result.caught == result.total, result.to_text(survivors=True)


def test_selftest_cli_reports_sections_and_exit_code(runs, capsys, tmp_path):
    code = main(
        ["selftest", str(runs["integrated"].parent), "--section", "§4.10", "--work", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "§4.10 detector extensions" in out and "total:" in out
