"""The run group's rules with real child processes (tiny Python one-liners): an early exit is
named with its status and last figures, a normal end is not an error, a stall is named, the pid
file lists the children, ``end`` reaps everything, and a child dies with its parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.harness._supervise import Bounds, RunGroup, exit_status
from jfjoch_hil.harness.errors import SupervisionError

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


def _exits(code: int) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.exit({code})"]


def _wait(predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return state[state.rindex(")") + 2] == "Z"


@given(
    margin=st.floats(0, 1e4),
    per_image=st.floats(0, 10),
    images=st.integers(0, 10**6),
    period=st.floats(0, 10),
)
def test_run_bound_grows_with_images_and_period(margin, per_image, images, period):
    bounds = Bounds(margin_s=margin, per_image_s=per_image)
    bound = bounds.run_s(images, period)
    assert bound >= margin
    assert bounds.run_s(images + 1, period) >= bound
    assert bounds.run_s(images, period + 1.0) >= bound


@pytest.mark.parametrize(
    "field, value", [("margin_s", -1.0), ("per_image_s", float("nan")), ("stall_s", 0.0)]
)
def test_bad_bounds_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"bounds.{field}"):
        Bounds(**{field: value})


def test_early_exit_named_with_status_and_figures(tmp_path):
    with RunGroup(Bounds(stall_s=60), tmp_path / "pids.json") as group:
        group.popen("worker", _exits(3))
        group.progress("worker", frames=7)
        assert group.wait("worker", 30) == 3
        with pytest.raises(SupervisionError) as raised:
            group.check(what="testing")
    message = str(raised.value)
    assert "'worker'" in message and "exit code 3" in message and "frames 7" in message
    assert "while testing" in message


def test_a_child_that_ends_itself_with_status_0_is_no_error(tmp_path):
    with RunGroup() as group:
        group.popen("sender", _exits(0), ends_itself=True)
        group.wait("sender", 30)
        group.check()
        group.popen("other", _exits(0))
        group.wait("other", 30)
        with pytest.raises(SupervisionError, match="'other'"):
            group.check()


def test_stall_is_named(tmp_path):
    with RunGroup(Bounds(stall_s=0.2)) as group:
        group.popen("sleeper", SLEEP)
        group.progress("sleeper", images=1)
        time.sleep(0.3)
        with pytest.raises(SupervisionError, match="'sleeper'.*no progress for 0.2 s.*running"):
            group.check()
        group.quiet("sleeper")
        group.check()  # a quiet child is only watched for its exit


def test_a_child_watched_again_stalls_from_then_on():
    with RunGroup(Bounds(stall_s=0.2)) as group:
        group.popen("starter", SLEEP, watch_stall=False)
        time.sleep(0.3)
        group.check()  # a start-up without figures is only watched for its exit
        group.watch("starter")
        group.check()  # its stall clock starts now, not at its start
        time.sleep(0.3)
        with pytest.raises(SupervisionError, match="'starter'.*no progress for 0.2 s"):
            group.check()


def test_pid_file_and_end_reap_every_child_in_one_group(tmp_path):
    pid_file = tmp_path / "pids.json"
    group = RunGroup(pid_file=pid_file)
    first = group.popen("a", SLEEP)
    second = group.popen("b", SLEEP)
    record = json.loads(pid_file.read_text())
    assert record["parent"] == os.getpid()
    assert {name: c["pid"] for name, c in record["children"].items()} == {
        "a": first.pid,
        "b": second.pid,
    }
    assert os.getpgid(first.pid) == os.getpgid(second.pid) == record["pgids"][0]
    assert os.getpgid(first.pid) != os.getpgrp()
    statuses = group.end(grace_s=5.0)
    assert statuses == {"a": "killed by SIGTERM", "b": "killed by SIGTERM"}
    assert first.poll() is not None and second.poll() is not None
    after = json.loads(pid_file.read_text())
    assert {c["status"] for c in after["children"].values()} == {"killed by SIGTERM"}


def test_child_dies_with_its_parent(tmp_path):
    """A parent SIGKILLed cannot clean up: its supervised child is killed by the kernel."""
    pid_file = tmp_path / "pids.json"
    parent_code = (
        "import sys, time\n"
        "from jfjoch_hil.harness._supervise import RunGroup\n"
        f"group = RunGroup(pid_file={str(pid_file)!r})\n"
        f"group.popen('child', {SLEEP!r})\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        assert _wait(
            lambda: (
                pid_file.exists()
                and "child" in json.loads(pid_file.read_text() or "{}").get("children", {})
            )
        )
        child = json.loads(pid_file.read_text())["children"]["child"]["pid"]
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        assert _wait(lambda: _gone(child)), f"pid {child} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)


def test_exit_status_words():
    assert exit_status(None) == "running"
    assert exit_status(0) == "exit code 0"
    assert exit_status(-9) == "killed by SIGKILL"


def test_spawned_child_joins_the_run_group_and_never_ours():
    """A spawn-context child joins the run's process group only after its exec: until then the
    group it joins is recorded, never the parent's own (ending the run signals every group)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with RunGroup() as group:
        child = group.start("spawned", context.Process(target=time.sleep, args=(120,)))
        assert os.getpgrp() not in group.pgids
        assert _wait(lambda: os.getpgid(child.pid) in group.pgids)
        statuses = group.end(grace_s=5.0)
    assert statuses == {"spawned": "killed by SIGTERM"}
