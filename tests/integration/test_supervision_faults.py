"""``jfsim faults`` under supervision: nothing of a fault run remains after a normal end, SIGTERM,
SIGINT or SIGKILL to ``jfsim``; a writer that dies or stalls in a case ends that case with a
report naming it, and the suite goes on with a fresh writer (docs/reliability.md "Supervision").

The suite's children are read from its pid file (``--pid-file``); "nothing remains" is checked
in ``/proc`` by pid and by process group with the helpers of the ``jfsim run`` tests.  Every wait
derives from the suite's own bounds (its cases, their messages, the margin).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jfjoch_hil.harness._supervise import FAULT_BOUNDS, Bounds
from jfjoch_hil.harness.writer_faults import malformed_faults, run_suite, standard_faults

from tests.integration.test_supervision import _remaining, _wait_gone

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="checks processes in Linux /proc"
)

MARGIN_S, PER_MESSAGE_S = FAULT_BOUNDS.margin_s, FAULT_BOUNDS.per_image_s
KILL_POINTS = 40  # a kill point starts a writer and runs jfcheck: the run lasts long enough to act
#: the messages of the largest case (the slow consumer: 48 images, start, end)
LARGEST_CASE = 50
#: cases of a run with KILL_POINTS: the table, the slow consumer, 2 disk rows, the kill points
#: and their last restart, the accounting
CASES = len(standard_faults()) + 1 + 2 + KILL_POINTS + 1 + 1
#: every case within its bound, each with a writer start (the margin): the whole run's bound
SUITE_BOUND_S = CASES * (2 * MARGIN_S + LARGEST_CASE * PER_MESSAGE_S)
#: a kill-point writer runs once the table, slow consumer and disk rows are through
FIRST_KILL_POINT_S = (len(standard_faults()) + 3) * (2 * MARGIN_S + LARGEST_CASE * PER_MESSAGE_S)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "faults",
            "--target-writer",
            "tcp://127.0.0.1:0",
            "--spawn-writer",
            "--dir",
            str(tmp_path / "out"),
            "--pid-file",
            str(tmp_path / "pids.json"),
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _record(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "pids.json").read_text())


def _running_kill_point(tmp_path: Path, process: subprocess.Popen) -> dict:
    """The pid file once a kill-point writer runs next to the suite's own writer (mid-run)."""
    deadline = time.monotonic() + FIRST_KILL_POINT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            record = _record(tmp_path)
        except (OSError, ValueError):
            record = {"children": {}}
        running = {n for n, c in record["children"].items() if c["status"] == "running"}
        if "jfwriter" in running and any(n.startswith("jfwriter-kill-") for n in running):
            return record
        time.sleep(0.05)
    raise AssertionError(f"no kill-point writer ran within {FIRST_KILL_POINT_S:.0f} s")


def _cleanup(process: subprocess.Popen, tmp_path: Path) -> None:
    """Whatever a failing test left: killed by pid (never by name)."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=60)
    try:
        record = _record(tmp_path)
    except (OSError, ValueError):
        return
    for child in record["children"].values():
        if child["pid"] and Path(f"/proc/{child['pid']}").exists():
            try:
                os.kill(child["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_normal_end_leaves_nothing(tmp_path):
    process = _start(tmp_path, "--kill-points", "1")
    try:
        stdout, stderr = process.communicate(timeout=SUITE_BOUND_S)
        assert process.returncode == 0, (stdout[-3000:], stderr[-3000:])
        record = _record(tmp_path)
        assert record["parent"] == process.pid
        names = set(record["children"])
        assert {
            "jfwriter",
            "jfwriter-disk_full",
            "jfwriter-read_only_dir",
            "jfwriter-kill-000",
            "jfwriter-kill-after_last",
            "jfcheck",
        } <= names, names
        statuses = {name: c["status"] for name, c in record["children"].items()}
        assert statuses["jfwriter-kill-000"] == "killed by SIGKILL", statuses
        assert all(
            status == "exit code 0"
            for name, status in statuses.items()
            if name != "jfwriter-kill-000"
        ), statuses
        assert len(record["pgids"]) == 1  # the suite's writer lives throughout: one group
        assert _remaining(record) == []
    finally:
        _cleanup(process, tmp_path)


def test_default_pid_file_is_in_the_output_folder(tmp_path):
    """Without --pid-file the children are listed in DIR/faults_pids.json."""
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "faults",
            "--target-writer",
            "tcp://127.0.0.1:0",
            "--spawn-writer",
            "--dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=SUITE_BOUND_S,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    record = json.loads((out / "faults_pids.json").read_text())
    assert record["children"]["jfwriter"]["status"] == "exit code 0"
    assert _remaining(record) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_jfsim_faults_signalled_mid_run_ends_its_children(tmp_path, signum):
    process = _start(tmp_path, "--kill-points", str(KILL_POINTS))
    try:
        record = _running_kill_point(tmp_path, process)
        assert _remaining(record)  # the check below can fail: children run now
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=SUITE_BOUND_S)
        assert process.returncode == (130 if signum == signal.SIGINT else 128 + signum), stderr
        assert "children ended" in stderr
        after = _record(tmp_path)
        assert set(record["children"]) <= set(after["children"])
        assert all(c["status"] != "running" for c in after["children"].values()), after
        assert _wait_gone(after, MARGIN_S) == []
    finally:
        _cleanup(process, tmp_path)


def test_jfsim_faults_killed_mid_run_leaves_nothing(tmp_path):
    """SIGKILL gives jfsim no chance to clean up: its children die with it (PR_SET_PDEATHSIG)."""
    process = _start(tmp_path, "--kill-points", str(KILL_POINTS))
    try:
        record = _running_kill_point(tmp_path, process)
        assert _remaining(record)
        process.kill()
        process.communicate(timeout=60)
        after = _record(tmp_path)  # every child started before the kill is listed
        assert _wait_gone(after, MARGIN_S) == []
    finally:
        _cleanup(process, tmp_path)


def _acting_on_the_writer(fault, pid_file: Path, signum: int):
    """``fault`` whose building first sends ``signum`` to the suite's writer (pid from the pid
    file): the writer dies (SIGKILL) or stops (SIGSTOP) just before the case is sent."""

    def build(out_dir, seed):
        pid = json.loads(pid_file.read_text())["children"]["jfwriter"]["pid"]
        os.kill(pid, signum)
        return fault.build(out_dir, seed)

    return dataclasses.replace(fault, build=build)


@pytest.mark.parametrize(
    "signum, problem",
    [(signal.SIGKILL, "exited early"), (signal.SIGSTOP, "made no progress for")],
)
def test_a_writer_lost_in_a_case_fails_that_case_and_the_suite_goes_on(tmp_path, signum, problem):
    before, victim, after = malformed_faults()[:3]
    pid_file = tmp_path / "pids.json"
    stall_s = 10.0  # well above any silence of a working writer in a case
    rows = run_suite(
        "tcp://127.0.0.1:0",
        tmp_path / "out",
        spawn=True,
        faults=[before, _acting_on_the_writer(victim, pid_file, signum), after],
        bounds=Bounds(margin_s=MARGIN_S, per_image_s=PER_MESSAGE_S, stall_s=stall_s),
        pid_file=pid_file,
    )
    by_name = {row.fault: row for row in rows}
    assert [row.fault for row in rows][:3] == [before.name, victim.name, after.name]
    lost = by_name[victim.name]
    assert not lost.passed
    assert lost.observed.startswith("SUPERVISION: process 'jfwriter' (pid "), lost.observed
    assert problem in lost.observed
    status = "killed by SIGKILL" if signum == signal.SIGKILL else "(running)"
    assert status in lost.observed and "last progress: " in lost.observed
    assert "messages_taken" in lost.observed and f"case {victim.name}" in lost.observed
    # the suite went on with a fresh writer: every other row passes, the accounting over the
    # cases that writer saw
    assert [row for row in rows if row.fault != victim.name and not row.passed] == []
    assert f"writer replaced after case {victim.name}" in by_name["accounting"].observed
    record = json.loads(pid_file.read_text())
    assert record["children"]["jfwriter-2"]["status"] == "exit code 0"
    assert record["children"]["jfwriter"]["status"] != "running"
    assert _remaining(record) == []
