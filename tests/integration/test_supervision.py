"""``jfsim run`` under supervision: nothing of a run remains after a normal end, a writer killed
mid-run, ``jfsim`` terminated and ``jfsim`` killed; a writer that stops making progress ends the
run naming it (docs/reliability.md "Supervision").

The run's children are read from its pid file (``<prefix>_pids.json``); "nothing remains" is
checked in ``/proc`` by pid and by process group.  A zombie counts as ended: it runs nothing
and only waits for its new parent (PID 1 here) to collect its status.  Every wait derives
from the run's own bound (images x frame period plus the margins given on the command line).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="checks processes in Linux /proc"
)

IMAGES, RATE_HZ = 200, 20.0  # a 10 s run: long enough to act on it mid-run
MARGIN_S, PER_IMAGE_S = 60.0, 5.0  # jfsim's default bounds
BOUND_S = MARGIN_S + IMAGES * (1 / RATE_HZ + PER_IMAGE_S) + 5.0 + PER_IMAGE_S


def _state(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) of ``pid``, or ``None`` when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def _remaining(record: dict) -> list[str]:
    """Processes of the run still running: its children by pid, anything in its groups."""
    left = []
    for name, child in record["children"].items():
        state = _state(child["pid"])
        if state is not None and state[0] != "Z":
            left.append(f"{name} (pid {child['pid']}, state {state[0]})")
    groups = set(record["pgids"])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            state = _state(int(entry))
            if state is not None and state[0] != "Z" and state[1] in groups:
                left.append(f"pid {entry} in the run's group {state[1]}")
    return left


def _wait_gone(record: dict, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := _remaining(record)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


#: ``jfsim`` as this interpreter runs it.
JFSIM = [sys.executable, "-m", "jfjoch_hil.harness.cli"]


def _jfsim(*args: str) -> subprocess.Popen:
    """``jfsim ARGS`` started, its output piped."""
    return subprocess.Popen(
        [*JFSIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _start(out: Path, *extra: str) -> subprocess.Popen:
    return _jfsim(
        "run",
        "quickstart",
        "--out",
        str(out),
        "--images",
        str(IMAGES),
        "--set",
        f"run.frame_rate_hz={RATE_HZ}",
        "--no-progress",
        *extra,
    )


def _pid_record(out: Path, process: subprocess.Popen, *, until_child: str) -> dict:
    """The pid file once ``until_child`` runs (the run is under way), within the margin."""
    path = out / "quickstart_pids.json"
    deadline = time.monotonic() + MARGIN_S * 2
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {"children": {}}
        child = record["children"].get(until_child)
        if child is not None and child["status"] == "running":
            return record
        time.sleep(0.05)
    raise AssertionError(f"{until_child} did not start within {MARGIN_S * 2} s")


def _cleanup(process: subprocess.Popen, out: Path) -> None:
    """Whatever a failing test left: killed by pid (never by name)."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=60)
    try:
        record = json.loads((out / "quickstart_pids.json").read_text())
    except (OSError, ValueError):
        return
    for child in record["children"].values():
        if _state(child["pid"]) is not None:
            try:
                os.kill(child["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def test_normal_end_leaves_nothing(out):
    process = _start(out, "--images", "20")
    try:
        stdout, stderr = process.communicate(timeout=BOUND_S * 2)
        assert process.returncode == 0, stderr[-3000:]
        record = json.loads((out / "quickstart_pids.json").read_text())
        assert set(record["children"]) == {"jfwriter", "jfsim-receiver", "jfsim-detector-0"}
        assert all(c["status"] == "exit code 0" for c in record["children"].values()), record
        assert _remaining(record) == []
    finally:
        _cleanup(process, out)


def test_writer_killed_mid_run_ends_the_run_naming_it(out):
    process = _start(out)
    try:
        record = _pid_record(out, process, until_child="jfsim-detector-0")
        os.kill(record["children"]["jfwriter"]["pid"], signal.SIGKILL)
        _, stderr = process.communicate(timeout=BOUND_S * 2)
        assert process.returncode == 3, stderr[-3000:]
        assert "'jfwriter'" in stderr and "killed by SIGKILL" in stderr, stderr[-3000:]
        assert "last progress: messages_taken" in stderr
        report = json.loads((out / "quickstart_report.json").read_text())
        assert report["ok"] is False and "jfwriter" in report["supervision_error"]
        assert _wait_gone(record, MARGIN_S) == []
    finally:
        _cleanup(process, out)


def test_stalled_writer_ends_the_run_naming_it(out):
    """A writer stopped (SIGSTOP) takes nothing: the run ends within its bound, naming it."""
    margin_s, per_image_s = 30.0, 0.05  # small bounds: the run's deadline comes soon
    process = _start(
        out, "--images", "100", "--margin", str(margin_s), "--per-image", str(per_image_s)
    )
    try:
        record = _pid_record(out, process, until_child="jfsim-detector-0")
        os.kill(record["children"]["jfwriter"]["pid"], signal.SIGSTOP)
        bound_s = margin_s + 100 * (1 / RATE_HZ + per_image_s) + 5.0 + per_image_s
        _, stderr = process.communicate(timeout=bound_s * 2 + 60)
        assert process.returncode == 3, stderr[-3000:]
        assert "'jfwriter'" in stderr and "(running)" in stderr, stderr[-3000:]
        assert _wait_gone(record, MARGIN_S) == []
    finally:
        _cleanup(process, out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_jfsim_signalled_mid_run_ends_its_children(out, signum):
    process = _start(out)
    try:
        record = _pid_record(out, process, until_child="jfsim-detector-0")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=BOUND_S)
        assert process.returncode == (130 if signum == signal.SIGINT else 128 + signum), stderr
        assert "children ended" in stderr
        assert _wait_gone(record, MARGIN_S) == []
        after = json.loads((out / "quickstart_pids.json").read_text())
        assert all(c["status"] != "running" for c in after["children"].values()), after
    finally:
        _cleanup(process, out)


def test_jfsim_killed_mid_run_leaves_nothing(out):
    """SIGKILL gives jfsim no chance to clean up: its children die with it (PR_SET_PDEATHSIG)."""
    process = _start(out)
    try:
        record = _pid_record(out, process, until_child="jfsim-detector-0")
        process.kill()
        process.communicate(timeout=60)
        assert _wait_gone(record, MARGIN_S) == []
    finally:
        _cleanup(process, out)


# --- jfsim receiver --readers: the reader processes are supervised children too ----------------

READER_OVERRIDES = [
    "--set",
    "detector.modules=2",
    "--set",
    "run.images=4",
    "--set",
    f"run.frame_rate_hz={RATE_HZ}",
    "--set",
    "faults.loss_rate=0.0",
]


def _start_receiver(endpoint: str, pid_file: Path) -> subprocess.Popen:
    return _jfsim(
        "receiver",
        "--push",
        endpoint,
        "--no-analysis",
        "--readers",
        "2",
        "--pid-file",
        str(pid_file),
        "--margin",
        str(MARGIN_S),
        *READER_OVERRIDES,
    )


def _ready_readers(receiver: subprocess.Popen, pid_file: Path) -> dict:
    """The receiver's ready line read (its readers then run); its pid file."""
    line = receiver.stdout.readline()
    assert line, receiver.communicate(timeout=MARGIN_S)[1][-3000:]
    assert json.loads(line)["event"] == "ready"
    record = json.loads(pid_file.read_text())
    assert set(record["children"]) == {"jfsim-reader-0", "jfsim-reader-1"}
    assert all(c["status"] == "running" for c in record["children"].values()), record
    return record


def _cleanup_receiver(receiver: subprocess.Popen, pid_file: Path) -> None:
    if receiver.poll() is None:
        receiver.kill()
    receiver.communicate(timeout=60)
    try:
        record = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return
    for child in record["children"].values():
        if _state(child["pid"]) is not None:
            try:
                os.kill(child["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_reader_killed_ends_the_receiver_naming_it(tmp_path):
    from jfjoch_hil.stream import Puller

    pid_file = tmp_path / "receiver_pids.json"
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=1000) as writer_side:
        receiver = _start_receiver(writer_side.endpoint, pid_file)
        try:
            record = _ready_readers(receiver, pid_file)
            os.kill(record["children"]["jfsim-reader-1"]["pid"], signal.SIGKILL)
            _, stderr = receiver.communicate(timeout=MARGIN_S * 2)
            assert receiver.returncode == 3, stderr[-3000:]
            assert "'jfsim-reader-1'" in stderr and "killed by SIGKILL" in stderr, stderr[-3000:]
            assert "last progress: datagrams 0" in stderr, stderr[-3000:]
            assert _wait_gone(record, MARGIN_S) == []
        finally:
            _cleanup_receiver(receiver, pid_file)


def test_receiver_killed_leaves_no_reader(tmp_path):
    """SIGKILL gives the receiver no chance to stop its readers: they die with it."""
    from jfjoch_hil.stream import Puller

    pid_file = tmp_path / "receiver_pids.json"
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=1000) as writer_side:
        receiver = _start_receiver(writer_side.endpoint, pid_file)
        try:
            record = _ready_readers(receiver, pid_file)
            receiver.kill()
            receiver.communicate(timeout=60)
            assert _wait_gone(record, MARGIN_S) == []
        finally:
            _cleanup_receiver(receiver, pid_file)


# --- jfsim reprocess: its writer is a supervised child too --------------------------------------


def _reprocess_source(tmp_path: Path) -> Path:
    """A finished 100-image run to reprocess (direct transport: no sockets to wait for)."""
    source = tmp_path / "source"
    done = subprocess.run(
        [
            *JFSIM,
            "run",
            "quickstart",
            "--out",
            str(source),
            "--no-progress",
            "--images",
            "100",
            "--set",
            "run.transport=direct",
        ],
        capture_output=True,
        text=True,
        timeout=MARGIN_S + 100 * PER_IMAGE_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return source


def _start_reprocess(source: Path) -> subprocess.Popen:
    return _jfsim("reprocess", str(source / "quickstart_master.h5"))


def test_reprocess_ends_and_when_killed_leaves_nothing(tmp_path):
    """Normal end: the pid file says every child ended and nothing of them remains. SIGKILL
    while the writer runs: the writer dies with jfsim (PR_SET_PDEATHSIG)."""
    source = _reprocess_source(tmp_path)
    pids = source / "quickstart_process_pids.json"
    bound_s = MARGIN_S + 100 * PER_IMAGE_S
    process = _start_reprocess(source)
    try:
        process.communicate(timeout=bound_s)
        assert process.returncode == 0
        record = json.loads(pids.read_text())
        assert record["children"] and _wait_gone(record, MARGIN_S) == []
        (source / "quickstart_process.h5").unlink()
        pids.unlink()
        process = _start_reprocess(source)
        deadline = time.monotonic() + MARGIN_S
        record = {"children": {}}
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1][-2000:]
            try:
                record = json.loads(pids.read_text())
            except (OSError, ValueError):
                record = {"children": {}}
            if any(c["status"] == "running" for c in record["children"].values()):
                break
            time.sleep(0.02)
        assert record["children"], f"no child of reprocess listed within {MARGIN_S} s"
        process.kill()
        process.communicate(timeout=60)
        assert _wait_gone(record, MARGIN_S) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)
