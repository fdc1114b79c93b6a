"""The writer service over real ZeroMQ on loopback: every bad-input case of .

Each test asserts the error (counted, with its reason) and that nothing else was lost (every
valid image read back pixel-exact with h5py).
"""

from __future__ import annotations

import dataclasses
import threading
import time

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from jfjoch_hil.stream import EndMessage, Pusher, encode
from jfjoch_hil.writer import WriterService

from tests.unit.writer.writer_messages import make_image, make_run, make_start

WAIT_S = 20.0


@pytest.fixture
def service(tmp_path):
    """A WriterService bound to a free loopback port in a thread, and a connected Pusher."""
    lines: list[str] = []
    svc = WriterService(
        "tcp://127.0.0.1:0", tmp_path / "out", bind=True, idle_timeout_s=0.6, log=lines.append
    )
    thread = threading.Thread(target=svc.serve, kwargs={"max_seconds": 120}, daemon=True)
    thread.start()
    pusher = Pusher(svc.endpoint, bind=False, linger_ms=1000)
    svc.lines = lines
    try:
        yield svc, pusher
    finally:
        pusher.close()
        svc.stop()
        thread.join(10)
        svc.close()
        assert not thread.is_alive()


def wait_for(predicate, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def send_run(pusher, run, *, images=None, end=True):
    pusher.send(run.start)
    for message in run.images if images is None else images:
        pusher.send(message)
    if end and run.end is not None:
        pusher.send(run.end)


def read_images(master):
    with h5py.File(master, "r") as f:
        return f["/entry/data/data"][()]


def test_normal_run_and_json_summary(service, tmp_path):
    svc, pusher = service
    run = make_run(12, file_format="NXmxIntegrated", prefix="a/run")
    send_run(pusher, run)
    assert wait_for(lambda: len(svc.results) == 1)
    result = svc.results[0]
    assert result.images_written == 12 and result.error is None and result.end_received
    summary = result.as_json()
    assert (
        summary["prefix"] == "a/run" and summary["layout"] == "integrated" and summary["bytes"] > 0
    )
    stack = read_images(tmp_path / "out" / "a" / "run_master.h5")
    assert all(np.array_equal(stack[i], run.pixels[i]) for i in range(12))


def test_malformed_message_counted_and_skipped(service, tmp_path):
    svc, pusher = service
    run = make_run(8, file_format="NXmxIntegrated")
    pusher.send(run.start)
    for index, message in enumerate(run.images):
        if index == 4:
            pusher.send(b"\xa1\x64type\x65image")  # CBOR map without image_id / data
            pusher.send(b"not cbor at all")
        pusher.send(message)
    pusher.send(run.end)
    assert wait_for(lambda: len(svc.results) == 1)
    assert svc.statistics().decode_errors == 2
    assert any("malformed" in line for line in svc.lines)
    assert svc.results[0].images_written == 8
    stack = read_images(tmp_path / "out" / "run1" / "sample_master.h5")
    assert all(np.array_equal(stack[i], run.pixels[i]) for i in range(8))


def test_duplicates_first_kept_outside_rejected_out_of_order_in_place(service, tmp_path):
    svc, pusher = service
    order = [3, 0, 2, 1, 5, 4, 7, 6]
    run = make_run(8, file_format="NXmxVDS", images_per_file=4, order=order)
    duplicate, _ = make_image(run.start, 9)  # different pixels, then renumbered as image 2
    duplicate = type(duplicate)(**{**duplicate.__dict__, "image_id": 2})
    outside, _ = make_image(run.start, 8)  # image_id 8 of an 8-image run
    images = [*run.images[:4], duplicate, outside, *run.images[4:]]
    send_run(pusher, run, images=images)
    assert wait_for(lambda: len(svc.results) == 1)
    result = svc.results[0]
    assert dict(result.images_rejected) == {
        "duplicate image number": 1,
        "image number outside the run": 1,
    }
    assert result.images_written == 8
    assert any("image 2: duplicate image number" in line for line in svc.lines)
    stack = read_images(tmp_path / "out" / "run1" / "sample_master.h5")
    for index in range(8):
        assert np.array_equal(stack[index], run.pixels[index]), index


def test_series_mismatch_rejected(service, tmp_path):
    svc, pusher = service
    run = make_run(4, file_format="NXmxIntegrated")
    stranger, _ = make_image(run.start, 1)
    stranger = type(stranger)(**{**stranger.__dict__, "series_unique_id": "OTHER"})
    send_run(pusher, run, images=[run.images[0], stranger, *run.images[1:]])
    assert wait_for(lambda: len(svc.results) == 1)
    assert dict(svc.results[0].images_rejected) == {"series id mismatch": 1}
    assert np.array_equal(
        read_images(tmp_path / "out" / "run1" / "sample_master.h5")[1], run.pixels[1]
    )


def test_new_start_finalises_previous_run_without_end(service, tmp_path):
    svc, pusher = service
    first = make_run(10, file_format="NXmxLegacy", images_per_file=4, prefix="r/first")
    second = make_run(3, file_format="NXmxIntegrated", prefix="r/second")
    send_run(pusher, first, images=first.images[:6], end=False)
    send_run(pusher, second)
    assert wait_for(lambda: len(svc.results) == 2)
    partial = svc.results[0]
    assert not partial.end_received and partial.images_written == 6
    with h5py.File(tmp_path / "out" / "r" / "first_master.h5", "r") as f:
        assert "end_time" not in f["/entry"]
        assert "end_time_estimated" in f["/entry"]
        assert f["/entry/instrument/detector/detectorSpecific/nimages_written"][()] == 6
        assert sorted(f["/entry/data"]) == ["data_000001", "data_000002"]
        assert f["/entry/data/data_000002"].shape[0] == 2
        assert np.array_equal(f["/entry/data/data_000002"][1], first.pixels[5])
    assert svc.results[1].images_written == 3
    assert svc.statistics().runs_without_end == 1


def test_stream_stops_run_finalised_after_idle_timeout(service, tmp_path):
    svc, pusher = service
    run = make_run(6, file_format="NXmxVDS", images_per_file=4)
    send_run(pusher, run, images=run.images[:5], end=False)
    assert wait_for(lambda: len(svc.results) == 1)
    assert svc.results[0].images_written == 5 and not svc.results[0].end_received
    with h5py.File(tmp_path / "out" / "run1" / "sample_master.h5", "r") as f:
        assert "end_time" not in f["/entry"]
        assert f["/entry/data/data"].shape[0] == 5
        assert f["/entry/instrument/detector/detectorSpecific/nimages_written"][()] == 5
        assert np.array_equal(f["/entry/data/data"][4], run.pixels[4])


@pytest.mark.parametrize("prefix", ["/abs/run", "a/../b", "a//b", "", "./x", "a/b/"])
def test_bad_prefix_refused_nothing_written(service, tmp_path, prefix):
    svc, pusher = service
    bad = make_run(3, file_format="NXmxIntegrated", prefix=prefix)
    good = make_run(2, file_format="NXmxIntegrated", prefix="ok")
    send_run(pusher, bad)
    send_run(pusher, good)
    assert wait_for(lambda: len(svc.results) == 1)
    stats = svc.statistics()
    assert stats.runs_refused == 1
    assert dict(stats.images_rejected) == {"run refused": 3}
    assert any("file_prefix" in line for line in svc.lines)
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
    assert written == ["ok_master.h5"]
    assert not (tmp_path / "abs").exists()


def test_existing_final_file_never_overwritten(service, tmp_path):
    svc, pusher = service
    target = tmp_path / "out" / "run1" / "sample_master.h5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"precious")
    send_run(pusher, make_run(2, file_format="NXmxIntegrated"))
    assert wait_for(lambda: svc.statistics().runs_refused == 1 and svc.statistics().images_rejected)
    assert target.read_bytes() == b"precious"
    assert any("exists" in line for line in svc.lines)
    assert [p.name for p in target.parent.iterdir()] == ["sample_master.h5"]


def test_header_appendix_bad_keys_skipped_with_warning(service, tmp_path):
    svc, pusher = service
    user = {
        "user": {
            "hdf5": {"ok_key": "yes", "n": 3.5, "a/b": "x", "..": 1, "lst": [1, 2], "flag": True}
        }
    }
    run = make_run(2, file_format="NXmxIntegrated", user_data=user)
    send_run(pusher, run)
    assert wait_for(lambda: len(svc.results) == 1)
    with h5py.File(tmp_path / "out" / "run1" / "sample_master.h5", "r") as f:
        assert sorted(f["/entry/user"]) == ["n", "ok_key"]
        assert "a" not in f["/entry/user"] and "a" not in f["/entry"]
    warnings = [
        line for line in svc.lines if line.startswith("warning") and "user_data.user.hdf5" in line
    ]
    assert len(warnings) == 4
    assert svc.statistics().warnings == 4


def test_messages_without_run_counted(service):
    svc, pusher = service
    start = make_start(2)
    image, _ = make_image(start, 0)
    pusher.send(image)
    pusher.send(EndMessage(series_id=1))
    pusher.send(encode(image))
    assert wait_for(lambda: svc.statistics().messages_received == 3)
    stats = svc.statistics()
    assert dict(stats.images_rejected) == {"image without a run": 2}
    assert dict(stats.messages_ignored) == {"end without a run": 1}


def test_process_mode_through_the_service(service, tmp_path):
    svc, pusher = service
    run = make_run(5, file_format="NXmxLegacy", images_per_file=2)
    send_run(pusher, run)
    assert wait_for(lambda: len(svc.results) == 1)
    start = dataclasses.replace(run.start, process_source_master="run1/sample_master.h5")
    pusher.send(start)
    for message in run.images:
        pusher.send(type(message)(image_id=message.image_id, data={}, spots=message.spots[:2]))
    pusher.send(run.end)
    assert wait_for(lambda: len(svc.results) == 2)
    assert svc.results[1].layout == "process" and svc.results[1].error is None
    with h5py.File(tmp_path / "out" / "run1" / "sample_process.h5", "r") as f:
        assert np.array_equal(f["/entry/data/data"][4], run.pixels[4])
        assert list(f["/entry/MX/nPeaks"][()]) == [min(len(m.spots), 2) for m in run.images]


def test_missing_images_keep_middle_files_full_size(service, tmp_path):
    """Only the last data file may be shorter (Neggia); a hole reads as the fill value."""
    svc, pusher = service
    run = make_run(10, file_format="NXmxLegacy", images_per_file=4)
    kept = [m for m in run.images if m.image_id not in (3, 9)]  # last of file 1, last of the run
    send_run(pusher, run, images=kept)
    assert wait_for(lambda: len(svc.results) == 1)
    assert svc.results[0].images_written == 8
    with h5py.File(tmp_path / "out" / "run1" / "sample_master.h5", "r") as f:
        data = f["/entry/data"]
        assert [data[n].shape[0] for n in sorted(data)] == [4, 4, 1]
        assert (data["data_000001"][3] == 0xFFFF).all()
        for index in (0, 1, 2, 4, 5, 6, 7):
            assert np.array_equal(data[f"data_{index // 4 + 1:06d}"][index % 4], run.pixels[index])
        assert [int(data[n].attrs["image_nr_high"]) for n in sorted(data)] == [4, 8, 9]
        assert np.array_equal(data["data_000003"][0], run.pixels[8])
        assert f["/entry/instrument/detector/detectorSpecific/nimages_written"][()] == 8


def test_data_file_without_any_image_is_written_empty(service, tmp_path):
    svc, pusher = service
    run = make_run(10, file_format="NXmxLegacy", images_per_file=3)
    kept = [m for m in run.images if m.image_id not in (3, 4, 5)]  # the whole second file is lost
    send_run(pusher, run, images=kept)
    assert wait_for(lambda: len(svc.results) == 1)
    with h5py.File(tmp_path / "out" / "run1" / "sample_master.h5", "r") as f:
        data = f["/entry/data"]
        assert sorted(data) == ["data_000001", "data_000002", "data_000003", "data_000004"]
        assert data["data_000002"].shape[0] == 3 and (data["data_000002"][()] == 0xFFFF).all()
        assert np.array_equal(data["data_000003"][0], run.pixels[6])
        assert f["/entry/instrument/detector/detectorSpecific/nimages_written"][()] == 7
