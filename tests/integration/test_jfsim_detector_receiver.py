"""`jfsim detector` and `jfsim receiver` on their own, as processes (each half usable
against real equipment): the detector's packets reach the receiver, which publishes the run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from jfjoch_hil.stream import EndMessage, ImageMessage, Puller, StartMessage

from tests.integration.test_hw_emitter import needs_gso

OVERRIDES = [
    "--set",
    "run.images=4",
    "--set",
    "run.frame_rate_hz=20.0",
    "--set",
    "faults.loss_rate=0.0",
]


def _detector(*args: str) -> subprocess.CompletedProcess:
    """``jfsim detector ARGS`` as a process, its output captured."""
    command = [sys.executable, "-m", "jfjoch_hil.harness.cli", "detector", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_detector_process_feeds_receiver_process_which_publishes_the_run():
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=60_000) as writer_side:
        receiver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jfjoch_hil.harness.cli",
                "receiver",
                "--push",
                writer_side.endpoint,
                "--no-analysis",
                "--idle-timeout",
                "3",
                *OVERRIDES,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = json.loads(receiver.stdout.readline())
            assert (
                ready["event"] == "ready" and len(ready["udp"]) == 2
            )  # one module, two interfaces
            detector = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jfjoch_hil.harness.cli",
                    "detector",
                    "--to",
                    ",".join(ready["udp"]),
                    *OVERRIDES,
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert detector.returncode == 0, detector.stderr[-2000:]
            report = json.loads(detector.stdout)
            assert report["packets_sent"] == 4 * 128 and report["stopped_by"] == "complete"
            # the default bound: 4 frames x 50 ms + the 60 s margin
            assert report["bound_s"] == pytest.approx(4 / 20.0 + 60.0)
            messages = []
            while not messages or not isinstance(messages[-1], EndMessage):
                item = writer_side.receive(timeout_ms=60_000)
                assert item is not None and item.ok, "the receiver stopped publishing"
                messages.append(item.message)
            done = json.loads(receiver.stdout.readline())
            receiver.wait(timeout=60)
        finally:
            receiver.kill()
            receiver.communicate()
    assert isinstance(messages[0], StartMessage) and messages[0].file_prefix == "quickstart"
    images = [m for m in messages if isinstance(m, ImageMessage)]
    assert [m.image_id for m in images] == [0, 1, 2, 3]
    assert all(m.packets_received == m.packets_expected == 128 for m in images)
    assert done["packets_received"] == 4 * 128


def test_receiver_with_one_reader_process_per_module_publishes_the_run(tmp_path):
    overrides = [*OVERRIDES, "--set", "detector.modules=2"]
    pid_file = tmp_path / "receiver_pids.json"
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=60_000) as writer_side:
        receiver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jfjoch_hil.harness.cli",
                "receiver",
                "--push",
                writer_side.endpoint,
                "--no-analysis",
                "--readers",
                "2",
                "--pid-file",
                str(pid_file),
                *overrides,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = json.loads(receiver.stdout.readline())
            assert ready["event"] == "ready" and len(ready["udp"]) == 4
            detector = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jfjoch_hil.harness.cli",
                    "detector",
                    "--to",
                    ",".join(ready["udp"]),
                    *overrides,
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert detector.returncode == 0, detector.stderr[-2000:]
            messages = []
            while not messages or not isinstance(messages[-1], EndMessage):
                item = writer_side.receive(timeout_ms=60_000)
                assert item is not None and item.ok, "the receiver stopped publishing"
                messages.append(item.message)
            done = json.loads(receiver.stdout.readline())
            assert receiver.wait(timeout=60) == 0, receiver.stderr.read()[-2000:]
        finally:
            receiver.kill()
            receiver.communicate()
    images = [m for m in messages if isinstance(m, ImageMessage)]
    assert [m.image_id for m in images] == [0, 1, 2, 3]
    assert all(m.packets_received == m.packets_expected == 256 for m in images)
    assert done["reader_processes"] == 2 and done["packets_received"] == 4 * 256
    record = json.loads(pid_file.read_text())
    assert {name: c["status"] for name, c in record["children"].items()} == {
        "jfsim-reader-0": "exit code 0",
        "jfsim-reader-1": "exit code 0",
    }


def test_detector_refuses_a_remote_destination_unless_allowed():
    done = _detector("--to", "192.0.2.1:50000,192.0.2.1:50001", *OVERRIDES)
    assert done.returncode == 2
    assert "loopback only" in done.stderr


@pytest.mark.parametrize(
    "path, faults",
    [("emitter", "faults.loss_rate=0.0"), ("schedule", "faults.loss_rate=0.01")],
)
def test_detector_stops_at_its_deadline_and_says_so(path, faults):
    """With no margin the bound is the frames' own time (images x frame period) from the start
    of the run, which the rendering before the first frame already uses up in part: the last
    frames are due past the deadline and are not sent, on either path."""
    images, rate_hz = 50, 1000.0
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for sink in sinks:
            sink.bind(("127.0.0.1", 0))
        done = _detector(
            "--to",
            ",".join(f"{h}:{p}" for h, p in (s.getsockname() for s in sinks)),
            "--margin",
            "0",
            "--set",
            f"run.images={images}",
            "--set",
            f"run.frame_rate_hz={rate_hz}",
            "--set",
            faults,
        )
    finally:
        for sink in sinks:
            sink.close()
    assert done.returncode == 3, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["sender"] == path and report["stopped_by"] == "deadline"
    assert report["stopped_at_deadline"] is True
    assert report["bound_s"] == pytest.approx(images / rate_hz) and report["margin_s"] == 0
    assert report.get("frames_sent", report.get("frames_started")) < images
    assert "stopped at its deadline" in done.stderr and "margin 0 s" in done.stderr


def test_detector_refuses_a_negative_margin():
    done = _detector("--to", "127.0.0.1:9,127.0.0.1:9", "--margin", "-1", *OVERRIDES)
    assert done.returncode == 2 and "--margin: -1.0; allowed >= 0 seconds" in done.stderr


@needs_gso
def test_detector_gso_setting_changes_nothing_on_the_wire():
    """`--gso on` and `--gso off` send the same datagrams, in the same order per port; the
    report says how many datagrams one send carried."""
    got, reports = {}, {}
    for mode in ("off", "on"):
        sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            for sink in sinks:
                sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
                sink.bind(("127.0.0.1", 0))
            done = _detector(
                "--to",
                ",".join(f"{h}:{p}" for h, p in (s.getsockname() for s in sinks)),
                "--gso",
                mode,
                "--set",
                "run.images=2",
                *OVERRIDES[2:],
            )
            assert done.returncode == 0, done.stderr[-2000:]
            got[mode] = []
            for sink in sinks:
                sink.settimeout(5.0)
                got[mode].append([sink.recv(16384) for _ in range(2 * 64)])
        finally:
            for sink in sinks:
                sink.close()
        reports[mode] = json.loads(done.stdout)
    assert reports["off"]["gso_segments"] == 0 and reports["on"]["gso_segments"] > 1
    assert reports["off"]["packets_sent"] == reports["on"]["packets_sent"] == 2 * 128
    assert got["on"] == got["off"]
    assert [[d[:8] for d in port[::64]] for port in got["on"]] == [
        [(1).to_bytes(8, "little"), (2).to_bytes(8, "little")]
    ] * 2  # frame numbers 1 and 2 (detectors.md §2.4): each port's datagrams in frame order
