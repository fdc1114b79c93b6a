"""The rule data: the packaged NXmx digest matches shared/spec, and the rule table is well formed."""

from __future__ import annotations

import json

from jfjoch_hil.conformance import FILE_RULES, STREAM_RULES
from jfjoch_hil.conformance.checks import FILE_CHECKS
from jfjoch_hil.conformance.rules import ALL_LAYOUTS, PROFILES, nxmx_rules


def test_packaged_nxmx_rules_equal_the_spec(spec_dir):
    assert nxmx_rules() == json.loads((spec_dir / "nxmx-rules.json").read_text(encoding="utf-8"))


def test_rows_are_well_formed():
    for table in (FILE_RULES, STREAM_RULES):
        for rule_id, row in table.items():
            assert row.id == rule_id
            assert row.severity in ("error", "warning")
            assert row.section and row.title
            assert row.layouts and row.layouts <= ALL_LAYOUTS
            assert row.profiles and row.profiles <= set(PROFILES)


def test_every_rule_is_reported_by_some_check():
    reported = {r for _check, rules in FILE_CHECKS for r in rules}
    assert set(FILE_RULES) - reported == {
        "FILE-UNREADABLE",
        "CHECK-FAILED",
    }  # both raised by check_file itself
    assert reported <= set(FILE_RULES)
