"""`mpirun -n 2 jfsim detector --mpi`: two ranks, one module each, against loopback sockets and
against our receiver. The datagrams must equal, port by port and in order, those of a
single-process `jfsim detector` run of the same scenario and seed; our receiver must assemble
every frame. Skips with a reason without mpirun or mpi4py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from jfjoch_hil.simulator.detector import Detector, jungfrau_module
from jfjoch_hil.simulator.receiver import Assembler, RingUdpReceiver

MPIRUN = shutil.which("mpirun")
pytestmark = [
    pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (Debian: openmpi-bin)"),
    pytest.mark.skipif(
        importlib.util.find_spec("mpi4py") is None,
        reason="mpi4py not installed (pip install '.[mpi]')",
    ),
]

IMAGES = 12
OVERRIDES = [
    "--set",
    f"run.images={IMAGES}",
    "--set",
    "run.frame_rate_hz=20.0",
    "--set",
    "faults.loss_rate=0.0",
    "--set",
    "detector.modules=2",
]
PACKETS_PER_PORT = 64  # JUNGFRAU, two interfaces per module (detectors.md §2.3)


def _detector_command(destinations, mpi: bool, extra: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "jfjoch_hil.harness.cli", "detector"]
    command += ["--to", ",".join(f"{h}:{p}" for h, p in destinations), *OVERRIDES, *extra]
    if not mpi:
        return command
    # As root (CI containers) Open MPI needs --allow-run-as-root; 2 ranks on 2 cores or fewer
    # need --oversubscribe.
    launcher = [MPIRUN, "-n", "2", "--oversubscribe"]
    if os.geteuid() == 0:
        launcher.append("--allow-run-as-root")
    return [*launcher, *command, "--mpi"]


def _run(command) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


class _Catcher(threading.Thread):
    def __init__(self, expected: int | None):
        """Collects until ``expected`` datagrams came, or (None) until :meth:`result` is
        called and the sockets have been quiet for half a second."""
        super().__init__(daemon=True)
        self.ended = threading.Event()
        self.socks = []
        for _ in range(4):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            sock.bind(("127.0.0.1", 0))
            self.socks.append(sock)
        self.expected = expected
        self.got = [[] for _ in self.socks]

    @property
    def destinations(self):
        return [s.getsockname() for s in self.socks]

    def run(self) -> None:
        total = 0
        waits = 0  # an unbounded catch waits in half seconds, at most 10 minutes in all
        while self.expected is None or total < self.expected:
            ready, _, _ = select.select(self.socks, [], [], 120 if self.expected else 0.5)
            if not ready:
                waits += 1
                if self.expected is None and not self.ended.is_set() and waits < 1200:
                    continue
                return
            for sock in ready:
                self.got[self.socks.index(sock)].append(sock.recv(16384))
                total += 1

    def result(self):
        self.ended.set()
        self.join(timeout=300)
        for sock in self.socks:
            sock.close()
        return self.got


def _capture(mpi: bool):
    catcher = _Catcher(IMAGES * 4 * PACKETS_PER_PORT)
    catcher.start()
    report = _run(_detector_command(catcher.destinations, mpi))
    return report, catcher.result()


def test_mpi_ranks_send_the_packets_of_a_single_process_run():
    single_report, single = _capture(mpi=False)
    mpi_report, ranked = _capture(mpi=True)
    assert single_report["sender"] == "emitter"
    assert mpi_report["sender"] == "mpi-emitter" and mpi_report["ranks"] == 2
    per_rank = {r["rank"]: r for r in mpi_report["per_rank"]}
    assert per_rank[0]["modules"] == [0] and per_rank[1]["modules"] == [1]
    assert per_rank[0]["ports"] == [0, 1] and per_rank[1]["ports"] == [2, 3]
    # each rank made only its own module's frames
    assert per_rank[0]["rendered_modules"] == [0] and per_rank[1]["rendered_modules"] == [1]
    assert mpi_report["packets_sent"] == IMAGES * 4 * PACKETS_PER_PORT
    for port in range(4):
        assert len(single[port]) == IMAGES * PACKETS_PER_PORT
        assert ranked[port] == single[port], f"port {port}"


def test_mpi_ranks_send_the_planned_faulty_schedule_of_a_single_process_run():
    """With packet faults (loss, reordering, duplicates) each rank sends its modules' part of
    the planned schedule: per port, the same datagrams in the same order as one process."""
    faults = (
        "--set",
        "faults.loss_rate=0.05",
        "--set",
        "faults.reorder_window_packets=8",
        "--set",
        "faults.duplicate_rate=0.02",
    )
    captured = {}
    for mpi in (False, True):
        catcher = _Catcher(None)
        catcher.start()
        report = _run(_detector_command(catcher.destinations, mpi, faults))
        captured[mpi] = (report, catcher.result())
    (single_report, single), (mpi_report, ranked) = captured[False], captured[True]
    assert single_report["sender"] == "schedule" and mpi_report["sender"] == "mpi-schedule"
    assert {r["rank"]: r["rendered_modules"] for r in mpi_report["per_rank"]} == {0: [0], 1: [1]}
    total = sum(len(port) for port in single)
    assert total == single_report["packets_sent"] == mpi_report["packets_sent"]
    assert total != IMAGES * 4 * PACKETS_PER_PORT, "the faults should change the packet count"
    for port in range(4):
        assert ranked[port] == single[port], f"port {port}"


def test_mpi_ranks_feed_our_receiver_with_one_reader_process_per_module():
    detector = Detector("JF", jungfrau_module(2), 2)
    assembler = Assembler(detector, 2)
    frames = 0
    with RingUdpReceiver(assembler, readers=2) as receiver:
        assert len(set(receiver.reader_pids)) == 2
        launcher = subprocess.Popen(
            _detector_command(receiver.addresses, mpi=True),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            got = 0
            while got < IMAGES * detector.packets_per_frame and launcher.poll() is None:
                got += receiver.poll(0.1)
                for frame in assembler.pop_frames():
                    frames += 1
                    assembler.release(frame)
            while receiver.poll(0.5):
                pass
            out, err = launcher.communicate(timeout=300)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.communicate()
        assert launcher.returncode == 0, err[-3000:]
    assembler.flush(IMAGES)
    for frame in assembler.pop_frames():
        frames += 1
        assembler.release(frame)
    stats = assembler.statistics()
    assert stats.packets_accepted == IMAGES * detector.packets_per_frame
    assert frames == IMAGES and stats.frames_lost == 0
    assert json.loads(out.strip().splitlines()[-1])["ranks"] == 2


def test_mpi_ranks_stop_at_the_deadline_rank_0_broadcast():
    """``--margin 0``: the bound is the frames' own time from rank 0's start, which rendering,
    the barrier and the common start (a second later) use up: no rank sends past it, and the
    gathered report says so."""
    catcher = _Catcher(0)  # sockets to send to; nothing is expected
    command = _detector_command(catcher.destinations, mpi=True) + ["--margin", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    for sock in catcher.socks:
        sock.close()
    assert result.returncode == 3, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["stopped_by"] == "deadline" and report["margin_s"] == 0
    assert report["bound_s"] == pytest.approx(IMAGES / 20.0)
    assert all(r["stopped_at_deadline"] for r in report["per_rank"])
    assert report["packets_sent"] < IMAGES * 4 * PACKETS_PER_PORT


def _rank_pids(launcher_pid: int) -> dict[int, int]:
    """{MPI rank: pid} of the launcher's descendants that run jfsim detector --mpi."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(parent, []).append(int(entry))
    ranks, todo = {}, [launcher_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/environ", "rb") as env:
                variables = dict(
                    item.split(b"=", 1) for item in env.read().split(b"\0") if b"=" in item
                )
            with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                command = cmd.read()
        except OSError:
            continue
        if b"--mpi" in command and b"OMPI_COMM_WORLD_RANK" in variables:
            ranks[int(variables[b"OMPI_COMM_WORLD_RANK"])] = pid
    return ranks


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_rank_that_never_arrives_makes_the_others_abort_the_job():
    """Rank 1 is stopped (SIGSTOP) once it says it is rendering: rank 0 must not wait for it
    forever at a collective step.  Past the run's bound + ``--mpi-wait`` it aborts the job,
    naming the step; the launcher exits non-zero and no rank is left."""
    import queue
    import signal
    import time

    catcher = _Catcher(0)
    wait_s = 2.0
    command = _detector_command(catcher.destinations, mpi=True)
    command += ["--margin", "1", "--mpi-wait", str(wait_s)]
    began = time.monotonic()
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []

    def read_stderr() -> None:
        for line in launcher.stderr:
            errors.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    ranks: dict[int, int] = {}
    try:
        while True:  # ends with the launcher's stderr at the latest
            line = lines.get(timeout=300)
            if line is None:
                break
            if "rank 1 of 2" in line and "rendering" in line:
                ranks = _rank_pids(launcher.pid)
                os.kill(ranks[1], signal.SIGSTOP)
                break
        assert ranks, "rank 1 never said it was rendering: " + "".join(errors)[-3000:]
        # The bound: the frames' time + margin + wait from rank 0's start, plus the launcher's
        # own ending; what it took to reach rank 1 is the machine's start-up cost, allowed again.
        startup = time.monotonic() - began
        bound = IMAGES / 20.0 + 1 + wait_s
        launcher.wait(timeout=bound + 4 * startup + 60)
    finally:
        for pid in ranks.values():
            if _alive(pid):
                os.kill(pid, signal.SIGCONT)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
            for pid in ranks.values():  # the killed launcher cannot end them any more
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        reader.join(timeout=30)
        launcher.stdout.close()
        launcher.stderr.close()
        for sock in catcher.socks:
            sock.close()
    err = "".join(errors)
    assert launcher.returncode != 0
    assert "not every rank reached" in err, err[-3000:]
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in ranks.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in ranks.values() if _alive(pid)], "a rank outlived the job"
