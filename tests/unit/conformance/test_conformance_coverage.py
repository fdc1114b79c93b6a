"""The spec coverage table: every field row of hdf5-format.md §3-§4 is in it, and every row is
checked by a rule or carries a written reason (`jfcheck rules --coverage`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jfjoch_hil.conformance.cli import coverage_text, main
from jfjoch_hil.conformance.rules import FILE_RULES
from jfjoch_hil.conformance.rules._coverage import COVERAGE, SpecRow, row_rules

SPEC = Path("/work/shared/spec/hdf5-format.md")
_CANDIDATES = (SPEC, Path(__file__).resolve().parents[3].parent / "shared/spec/hdf5-format.md")


def _spec_text() -> str:
    for p in _CANDIDATES:
        if p.is_file():
            return p.read_text(encoding="utf-8")
    pytest.skip(f"spec absent: none of {[str(p) for p in _CANDIDATES]}")


def spec_fields(text: str) -> list[tuple[str, str]]:
    """(section, field name) for every field row of the tables in §3-§4 (and the names listed in
    the Content cells of §4.9). Section: ``§3`` for NXmx content, ``§4.N`` for extensions."""
    out: list[tuple[str, str]] = []
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            m = re.match(r"## (\d+)\.", line)
            section = f"§{m.group(1)}" if m and m.group(1) in ("3", "4") else None
            continue
        if section is None:
            continue
        m = re.match(r"### (\d+\.\d+(?:\.\d+)?) ", line)
        if m:
            section = f"§{m.group(1)}"
            continue
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|?$", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("Field", "Dataset", "Axis", "Path", "Format", "Value"):
            continue  # a header row
        names = re.findall(r"`([^`]+)`", cells[0])
        if section == "§4.9" and len(cells) > 2:
            listed = [n for n in re.findall(r"`([^`]+)`", cells[2]) if "." not in n]
            names += [f"{cells[0].strip('`')}/{n}" for n in listed]
        for name in names:
            if name.startswith("/entry/") and section != "§4.9":
                continue
            out.append((section, name))
    return out


def _row_matches(row: SpecRow, section: str, name: str) -> bool:
    if row.section.split()[0] != section.split()[0] and not (
        section.startswith("§4.4") and row.section.startswith(section)
    ):
        return False
    if row.is_sentence:  # a table row stated as a sentence (§4.11)
        return re.search(rf"\b{re.escape(name)}\b", row.path) is not None
    path = "/entry/" + row.path
    name = name.rstrip("/")
    if name.startswith("/entry/"):
        return path == name
    return path == name or path.endswith("/" + name)


def missing_rows(text: str, coverage: tuple[SpecRow, ...]) -> list[tuple[str, str]]:
    """Spec field rows that no coverage row names."""
    return [
        (sec, name)
        for sec, name in spec_fields(text)
        if not any(_row_matches(r, sec, name) for r in coverage)
    ]


def test_every_spec_field_row_is_in_the_table():
    text = _spec_text()
    fields = spec_fields(text)
    assert len(fields) > 150  # the parser found the tables (about 190 field names)
    assert missing_rows(text, COVERAGE) == []


def test_a_dropped_row_is_found_missing():
    text = _spec_text()
    without = tuple(r for r in COVERAGE if r.path != "instrument/detector/distance")
    assert ("§3", "distance") in missing_rows(text, without)
    without = tuple(r for r in COVERAGE if r.path != "MX/bravaisLattice")
    assert ("§4.1", "bravaisLattice") in missing_rows(text, without)


def test_every_row_has_a_rule_or_a_reason():
    bare = [r for r in COVERAGE if not row_rules(r) and not r.reason]
    assert bare == []


def test_rules_named_by_the_table_exist():
    named = {rid for r in COVERAGE for rid in row_rules(r)}
    assert named - set(FILE_RULES) == set()


def test_coverage_listing_names_every_row_and_ends_with_totals(capsys):
    assert main(["rules", "--coverage"]) == 0
    out = capsys.readouterr().out.splitlines()
    total = out[-1]
    m = re.match(
        r"totals: (\d+) rows, (\d+) covered by rules, (\d+) reasoned, 0 with neither", total
    )
    assert m, total
    assert int(m.group(1)) == len(COVERAGE)
    assert int(m.group(2)) + int(m.group(3)) == len(COVERAGE)
    body = "\n".join(out)
    for row in COVERAGE:
        assert (row.path or "(entry)") in body
    assert coverage_text().splitlines()[-1] == total
