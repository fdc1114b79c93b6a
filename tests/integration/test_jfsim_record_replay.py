"""`jfsim record` and `jfsim replay` as processes against real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from jfjoch_hil.stream import (
    EndMessage,
    ImageMessage,
    Puller,
    Pusher,
    StartMessage,
    TypedArray,
    dump_files,
    encode,
)


def messages():
    yield StartMessage(series_id=4, series_unique_id="rec")
    for i in range(5):
        yield ImageMessage(
            image_id=i,
            data={"default": TypedArray.from_numpy(np.full((8, 8), i, "u2"), compression="bslz4")},
        )
    yield EndMessage(series_id=4, series_unique_id="rec")


def test_record_a_live_stream_then_replay_it_into_a_puller(tmp_path):
    sent = [encode(m) for m in messages()]
    with Pusher() as source:
        recorder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jfjoch_hil.harness.cli",
                "record",
                source.endpoint,
                str(tmp_path / "rec"),
                "--until-end",
                "--idle-timeout",
                "20",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            for data in sent:
                source.send(data)
            out, _ = recorder.communicate(timeout=60)
        finally:
            recorder.kill()
    assert recorder.returncode == 0
    assert json.loads(out)["messages"] == len(sent)
    assert [p.read_bytes() for p in dump_files(tmp_path / "rec")] == sent

    with Puller("tcp://127.0.0.1:0", bind=True) as sink:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jfjoch_hil.harness.cli",
                "replay",
                str(tmp_path / "rec"),
                sink.endpoint,
                "--connect",
                "--rate",
                "200",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        again = [sink.receive_bytes(5000) for _ in sent]
    assert again == sent
    assert json.loads(done.stdout)["messages"] == len(sent)


def test_replay_of_a_missing_folder_fails_with_a_message(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "replay",
            str(tmp_path / "none"),
            "tcp://127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "is not a folder" in done.stderr
