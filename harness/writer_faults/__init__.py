"""Reusable fault pieces and the fault table runner (docs/reliability.md).

- :mod:`._messages`: small valid runs, the material faults override;
- :mod:`._faults`: the fault catalogue (malformed streams, hostile names and metadata);
- :mod:`._runner`: send faults through any ``send(bytes)``, probe, judge, print the table;
- :mod:`._session`: the session's run group (every child supervised) and each case's bound;
- :mod:`._writer`: `jfwriter` as a child process, observed through its JSON and log lines;
- :mod:`._files`: what a writer left on disk, read with h5py;
- :mod:`._kill`: kill points (SIGKILL at seeded moments of a run) and their verdicts;
- :mod:`._disk`: disk full (RLIMIT_FSIZE) and read-only folders for a writer we start;
- :mod:`._suite`: the whole ``jfsim faults`` session.
"""

from __future__ import annotations

from jfjoch_hil.harness.writer_faults._disk import (
    disk_faults,
    disk_full_run,
    file_size_limit,
    read_only_directory,
)
from jfjoch_hil.harness.writer_faults._faults import (
    MANY_ORPHANS,
    Fault,
    FaultPlan,
    hostile_faults,
    malformed_faults,
    standard_faults,
)
from jfjoch_hil.harness.writer_faults._files import (
    count_images,
    files_outside,
    master_of,
    snapshot,
    wait_master,
)
from jfjoch_hil.harness.writer_faults._kill import (
    KillPoint,
    check_with_jfcheck,
    kill_point_campaign,
    kill_points_row,
    verify_run_files,
)
from jfjoch_hil.harness.writer_faults._messages import IMAGE_SHAPE, SmallRun, encoded_run, small_run
from jfjoch_hil.harness.writer_faults._runner import (
    FaultRow,
    accounting_row,
    format_table,
    run_fault_table,
    slow_consumer,
    supervision_row,
)
from jfjoch_hil.harness.writer_faults._session import FaultSession
from jfjoch_hil.harness.writer_faults._suite import run_suite
from jfjoch_hil.harness.writer_faults._writer import WriterProcess

__all__ = [
    "IMAGE_SHAPE",
    "MANY_ORPHANS",
    "Fault",
    "FaultPlan",
    "FaultRow",
    "FaultSession",
    "KillPoint",
    "SmallRun",
    "WriterProcess",
    "accounting_row",
    "check_with_jfcheck",
    "count_images",
    "disk_faults",
    "disk_full_run",
    "encoded_run",
    "file_size_limit",
    "files_outside",
    "format_table",
    "hostile_faults",
    "kill_point_campaign",
    "kill_points_row",
    "malformed_faults",
    "master_of",
    "read_only_directory",
    "run_fault_table",
    "run_suite",
    "slow_consumer",
    "small_run",
    "snapshot",
    "standard_faults",
    "supervision_row",
    "verify_run_files",
    "wait_master",
]
