"""Per-module sender groups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.harness.senders import module_groups


@given(st.integers(1, 64), st.integers(1, 16))
def test_groups_cover_every_module_once_in_order(n_modules, processes):
    groups = module_groups(n_modules, processes)
    assert [m for group in groups for m in group] == list(range(n_modules))
    assert len(groups) == min(n_modules, processes)
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1
