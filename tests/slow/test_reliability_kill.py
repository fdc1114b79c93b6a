"""More kill points and fault-table seeds than the default tests (run with ``-m slow``)."""

from __future__ import annotations

import pytest
from jfjoch_hil.harness.writer_faults._kill import kill_point_campaign
from jfjoch_hil.harness.writer_faults._suite import run_suite

from tests.integration.test_reliability_kill import conformance_verdicts

pytestmark = pytest.mark.slow


def test_hundred_seeded_kill_points(tmp_path):
    points = kill_point_campaign(tmp_path / "out", 100, seed=2026, check=conformance_verdicts)
    survived = sum(p.survived for p in points)
    print(
        f"kill points: {survived}/{len(points)} survived, images checked "
        f"{sum(p.images_checked for p in points)}, bytes checked {sum(p.bytes_checked for p in points)}, "
        f"bytes lost {sum(p.bytes_lost for p in points)}"
    )
    assert [p for p in points if not p.survived] == []
    assert sum(p.bytes_lost for p in points) == 0


@pytest.mark.parametrize("seed", range(5))
def test_fault_table_seeds(tmp_path, seed):
    rows = run_suite("tcp://127.0.0.1:0", tmp_path / "out", spawn=True, seed=seed)
    assert all(row.passed for row in rows), [row for row in rows if not row.passed]
