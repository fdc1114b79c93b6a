"""`jfsim receiver` against a detector whose frame numbers do not start at 1, and with no
detector at all (detectors.md §2.4: frame numbers continue across acquisitions)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from jfjoch_hil.stream import EndMessage, ImageMessage, Puller

OVERRIDES = ["--set", "run.images=4", "--set", "run.frame_rate_hz=20.0"]
CLI = [sys.executable, "-m", "jfjoch_hil.harness.cli"]


def _receive(extra: list[str], first_frame_number: int):
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=60_000) as writer_side:
        receiver = subprocess.Popen(
            [*CLI, "receiver", "--push", writer_side.endpoint, "--no-analysis"]
            + ["--idle-timeout", "3", *extra, *OVERRIDES],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = json.loads(receiver.stdout.readline())
            detector = subprocess.run(
                [*CLI, "detector", "--to", ",".join(ready["udp"])]
                + ["--first-frame-number", str(first_frame_number), *OVERRIDES],
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
            receiver.wait(timeout=60)
        finally:
            receiver.kill()
            receiver.communicate()
    return [m for m in messages if isinstance(m, ImageMessage)], done


def test_receiver_counts_image_ids_from_the_first_frame_seen():
    images, done = _receive([], 25)
    assert [m.image_id for m in images] == [0, 1, 2, 3]
    assert all(m.packets_received == m.packets_expected == 128 for m in images)
    assert done["assembler"]["frames_lost"] == 0
    assert done["frame_numbers"] == {
        "run_first": 25,
        "first_seen": 25,
        "last_seen": 28,
        "count_seen": 4,
    }
    assert done["stopped_by"] == "complete"


def test_receiver_given_start_reports_the_frames_before_as_lost():
    images, done = _receive(["--first-frame-number", "1"], 3)
    # frames 1 and 2 never came; 3 and 4 are image ids 2 and 3 of the 4-image run starting at
    # 1; 5 and 6 lie past its end and are counted, not published
    assert [m.image_id for m in images] == [2, 3]
    assert done["frames_beyond_run"] == 2
    assert done["frame_numbers"]["first_seen"] == 3
    assert done["assembler"]["lost_frame_ranges"][0] == [1, 2]


def test_receiver_without_packets_stops_at_the_first_packet_timeout():
    with Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=30_000) as writer_side:
        started = time.monotonic()
        done = subprocess.run(
            [*CLI, "receiver", "--push", writer_side.endpoint, "--no-analysis"]
            + ["--first-packet-timeout", "1", "--timeout", "300", *OVERRIDES],
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["stopped_by"] == "first_packet_timeout"
    assert report["frame_numbers"]["count_seen"] == 0 and report["images_published"] == 0
    # far below the 300 s overall limit: the first-packet limit, not the overall one, ended it
    assert elapsed < 150


def test_receiver_refuses_a_bad_first_frame_number():
    done = subprocess.run(
        [*CLI, "receiver", "--push", "tcp://127.0.0.1:1", "--first-frame-number", "zero"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "--first-frame-number: 'zero'" in done.stderr
