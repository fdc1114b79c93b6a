"""`jfsim detector` and `jfsim receiver` on their own, as processes (each half usable
against real equipment): the detector's packets reach the receiver, which publishes the run."""

from __future__ import annotations

import json
import subprocess
import sys

from jfjoch_hil.stream import EndMessage, ImageMessage, Puller, StartMessage

OVERRIDES = [
    "--set",
    "run.images=4",
    "--set",
    "run.frame_rate_hz=20.0",
    "--set",
    "faults.loss_rate=0.0",
]


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
            assert json.loads(detector.stdout)["packets_sent"] == 4 * 128
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
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "detector",
            "--to",
            "192.0.2.1:50000,192.0.2.1:50001",
            *OVERRIDES,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "loopback only" in done.stderr
