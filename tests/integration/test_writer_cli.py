"""`jfwriter` as a process: JSON lines, SIGTERM finalisation, write errors."""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
from jfjoch_hil.stream import ImageMessage, Pusher, TypedArray

from tests.unit.writer.writer_messages import make_run, make_start

TIMEOUT_S = 30.0


class Lines:
    """Bounded-time reader of a child's stdout JSON lines."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)

    def next(self, timeout_s: float = TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.selector.select(0.1):
                line = self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"jfwriter exited: {self.process.stderr.read()}")
                return json.loads(line)
        raise AssertionError("no JSON line from jfwriter in time")


@contextmanager
def jfwriter(out_dir, *extra, preexec_fn=None):
    """Start `jfwriter --bind` on a free loopback port; always stop it."""
    command = [
        sys.executable,
        "-m",
        "jfjoch_hil.writer.cli",
        "--listen",
        "tcp://127.0.0.1:0",
        "--bind",
        "--dir",
        str(out_dir),
        "--idle-timeout",
        "5",
        *extra,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn
    )
    try:
        lines = Lines(process)
        ready = lines.next()
        assert ready["event"] == "ready"
        pusher = Pusher(ready["endpoint"], bind=False, linger_ms=2000)
        try:
            yield process, lines, pusher
        finally:
            pusher.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        process.stdout.close()
        process.stderr.close()


def test_json_line_per_run_and_sigterm_finalises(tmp_path):
    run = make_run(6, file_format="NXmxVDS", images_per_file=4, prefix="cli/first")
    second = make_run(5, file_format="NXmxLegacy", images_per_file=2, prefix="cli/second")
    with jfwriter(tmp_path) as (process, lines, pusher):
        for message in (run.start, *run.images, run.end):
            pusher.send(message)
        record = lines.next()
        assert record["event"] == "run" and record["prefix"] == "cli/first"
        assert record["images_written"] == 6 and record["images_rejected"] == {}
        assert record["layout"] == "vds" and record["bytes"] > 0 and record["mb_per_s"] >= 0
        for message in (second.start, *second.images[:3]):
            pusher.send(message)
        deadline = time.monotonic() + TIMEOUT_S
        while (
            not (tmp_path / "cli" / "second_data_000001.h5").exists()
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        record = lines.next()
        assert record["event"] == "run" and record["prefix"] == "cli/second"
        assert record["images_written"] == 3 and record["end_received"] is False
        exit_record = lines.next()
        assert exit_record["event"] == "exit"
        assert exit_record["statistics"]["runs_finished"] == 2
        assert process.wait(TIMEOUT_S) == 0
    with h5py.File(tmp_path / "cli" / "second_master.h5", "r") as f:
        assert "end_time" not in f["/entry"]
        assert sorted(f["/entry/data"]) == ["data_000001", "data_000002"]
        assert np.array_equal(f["/entry/data/data_000002"][0], second.pixels[2])
    assert not list(tmp_path.rglob("*.tmp"))


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (250_000, 250_000))


def test_disk_full_run_ends_with_error_closed_files_stay_valid(tmp_path):
    """RLIMIT_FSIZE makes writes past 250 kB fail like a full disk (EFBIG)."""
    ny = nx = 256
    start = make_start(
        4,
        file_format="NXmxLegacy",
        images_per_file=2,
        prefix="full/run",
        image_size_x=nx,
        image_size_y=ny,
        pixel_mask=None,
        roi_map=None,
        az_int_map=None,
    )
    rng = np.random.default_rng(5)
    pixels = [np.zeros((ny, nx), np.uint16), np.ones((ny, nx), np.uint16)]
    pixels += [rng.integers(0, 65000, (ny, nx), dtype=np.uint16) for _ in range(2)]
    images = [
        ImageMessage(
            series_id=start.series_id,
            series_unique_id=start.series_unique_id,
            image_id=i,
            data={"default": TypedArray.from_numpy(p, compression="bslz4")},
        )
        for i, p in enumerate(pixels)
    ]
    later = make_run(2, file_format="NXmxIntegrated", prefix="later")
    with jfwriter(tmp_path, preexec_fn=_limit_file_size) as (process, lines, pusher):
        for message in (start, *images):
            pusher.send(message)
        pusher.send(later.start)  # the failed run ends; the service keeps going
        for message in (*later.images, later.end):
            pusher.send(message)
        record = lines.next()
        assert record["prefix"] == "full/run"
        assert record["error"] and "full/run_data_000002.h5" in record["error"]
        assert record["files"] == ["full/run_data_000001.h5"]
        assert record["images_rejected"].get("run failed", 0) >= 1 or record["images_written"] == 4
        record = lines.next()
        assert (
            record["prefix"] == "later"
            and record["error"] is None
            and record["images_written"] == 2
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT_S) == 0
        stderr = process.stderr.read()
    assert "full/run_data_000002.h5" in stderr
    with h5py.File(tmp_path / "full" / "run_data_000001.h5", "r") as f:
        assert np.array_equal(f["/entry/data/data"][1], pixels[1])
    assert len(list((tmp_path / "full").glob("run_data_000002.h5.*.tmp"))) == 1
    assert not (tmp_path / "full" / "run_master.h5").exists()
    assert os.path.getsize(tmp_path / "later_master.h5") > 0
