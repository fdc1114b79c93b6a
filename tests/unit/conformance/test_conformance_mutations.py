"""Mutation self-test: every mutant of a valid file is reported by the rule it breaks (issue 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance import FILE_RULES, check_file
from tests.unit.conformance._files import build_dectris, build_run
from tests.unit.conformance._mutants import MUTANTS

CASES = [(m, layout) for m in MUTANTS for layout in m.layouts]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    out = {layout: build_run(root / layout, layout) for layout in ("legacy", "vds", "integrated", "process")}
    out["dectris"] = build_dectris(root / "dectris")
    return out


def _mutate(pristine: dict[str, Path], mutant, layout: str, tmp_path: Path) -> Path:
    src = pristine[layout]
    folder = tmp_path / layout
    shutil.copytree(src.parent, folder)
    master = folder / src.name
    mutant.apply(folder, master)
    return master


@pytest.mark.parametrize(("mutant", "layout"), CASES, ids=[f"{layout}-{m.name}" for m, layout in CASES])
def test_mutant_is_reported_by_its_rule(pristine, mutant, layout, tmp_path):
    master = _mutate(pristine, mutant, layout, tmp_path)
    report = check_file(master, profile=mutant.profile)
    assert mutant.rule in report.rule_ids(), report.to_text()
    severity = FILE_RULES[mutant.rule].severity
    if severity == "error":
        assert report.exit_code in (1, 2)


def test_every_rule_has_a_mutant():
    """Each file rule (but the meta rule CHECK-FAILED) is broken by at least one mutant."""
    covered = {m.rule for m in MUTANTS}
    assert set(FILE_RULES) - covered <= {"CHECK-FAILED"}


def test_share_of_mutants_caught(pristine, tmp_path, capsys):
    """Print the share of mutants reported by the right rule (the suite's closing figure)."""
    caught = 0
    for i, (mutant, layout) in enumerate(CASES):
        master = _mutate(pristine, mutant, layout, tmp_path / str(i))
        caught += mutant.rule in check_file(master, profile=mutant.profile).rule_ids()
    with capsys.disabled():
        print(f"\nmutants caught by the right rule: {caught}/{len(CASES)} = {caught / len(CASES):.1%}")
    assert caught == len(CASES)
