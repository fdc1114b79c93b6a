"""Rule data of the conformance suite: the NXmx digest (JSON) and the rule table.

``nxmx-rules.json`` is a packaged copy of shared/spec/nxmx-rules.json (our own spec file), so an
installed ``jfcheck`` works without the source tree.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from jfjoch_hil.conformance.rules._table import (
    ALL_LAYOUTS,
    FILE_RULES,
    LAYOUTS,
    PROFILES,
    STREAM_PROFILES,
    STREAM_RULES,
    TRACE_RULES,
    Rule,
    rule,
)

__all__ = [
    "ALL_LAYOUTS",
    "FILE_RULES",
    "LAYOUTS",
    "PROFILES",
    "STREAM_PROFILES",
    "STREAM_RULES",
    "TRACE_RULES",
    "Rule",
    "nxmx_rules",
    "rule",
]


@lru_cache(maxsize=1)
def nxmx_rules() -> dict:
    """The parsed NXmx digest (nxmx-rules.json: ``rules``, ``constraints``, ``reader_requirements``)."""
    text = (
        resources.files("jfjoch_hil.conformance.rules")
        .joinpath("nxmx-rules.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)
