"""Mutation self-test: every mutant of a valid file is reported by the rule it breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jfjoch_hil.conformance import FILE_RULES, check_file

from tests.unit.conformance._files import build_dectris, build_run
from tests.unit.conformance._mutants import MUTANTS

CASES = [(m, layout) for m in MUTANTS for layout in m.layouts]
# Default run: one layout per mutant, rotating so every layout is exercised; the full matrix is slow.
FAST = [(m, m.layouts[i % len(m.layouts)]) for i, m in enumerate(MUTANTS)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    out = {
        layout: build_run(root / layout, layout)
        for layout in ("legacy", "vds", "integrated", "process")
    }
    out["dectris"] = build_dectris(root / "dectris")
    return out


def _mutate(pristine: dict[str, Path], mutant, layout: str, tmp_path: Path) -> Path:
    src = pristine[layout]
    folder = tmp_path / layout
    shutil.copytree(src.parent, folder)
    master = folder / src.name
    mutant.apply(folder, master)
    return master


def _assert_caught(pristine, mutant, layout, tmp_path):
    master = _mutate(pristine, mutant, layout, tmp_path)
    report = check_file(master, profile=mutant.profile)
    assert mutant.rule in report.rule_ids(), report.to_text()
    if FILE_RULES[mutant.rule].severity == "error":
        assert report.exit_code in (1, 2)


@pytest.mark.parametrize(
    ("mutant", "layout"), FAST, ids=[f"{layout}-{m.name}" for m, layout in FAST]
)
def test_mutant_is_reported_by_its_rule(pristine, mutant, layout, tmp_path):
    _assert_caught(pristine, mutant, layout, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mutant", "layout"), CASES, ids=[f"{layout}-{m.name}" for m, layout in CASES]
)
def test_mutant_matrix_every_layout(pristine, mutant, layout, tmp_path):
    _assert_caught(pristine, mutant, layout, tmp_path)


def test_every_rule_has_a_mutant():
    """Each file rule (but the meta rule CHECK-FAILED) is broken by at least one mutant."""
    covered = {m.rule for m in MUTANTS}
    assert set(FILE_RULES) - covered <= {"CHECK-FAILED"}
