"""The store process (writer/_store.py): the HDF5 work of a run in a second process.

A run written through a :class:`ProcessStore` must give the same files as one written in process
(every dataset and attribute compared, whatever the ring size: images through the ring with
wrap-around and waiting, or through the pipe when an image is too large for it), and every failure
in the child must reach the run's result naming the file, with nothing already committed lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from jfjoch_hil.stream import decode, encode
from jfjoch_hil.writer import RunWriter
from jfjoch_hil.writer._store import LocalStore, ProcessStore

from tests.unit.writer.writer_messages import make_run

N_IMAGES = 24
# Attributes and datasets that hold the time a file was finalised (differ between two runs).
TIME_NAMES = ("file_time", "finalised", "HDF5_Version")


def wire(message):
    return decode(encode(message))


def write(out, file_format, store, **overrides):
    run = make_run(N_IMAGES, file_format=file_format, images_per_file=10, **overrides)
    writer = RunWriter(wire(run.start), out, store=store)
    for message in run.calibration:
        writer.put_calibration(wire(message))
    for message in run.images:
        assert writer.put_image(wire(message)) is None
    return run, writer.finish(wire(run.end))


def tree(path):
    """{object path: (kind, value or None, {attr: value})} of one file, links not followed."""
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, link):
            attrs = {}
            if isinstance(link, h5py.HardLink):
                obj = f[name]
                attrs = {k: obj.attrs[k] for k in obj.attrs if k not in TIME_NAMES}
                if isinstance(obj, h5py.Dataset):
                    if obj.is_virtual:
                        value = [(s.file_name, s.dset_name) for s in obj.virtual_sources()]
                    elif obj.dtype.kind in "SO" or obj.shape == ():
                        value = obj[()]
                    else:
                        value = obj[()]
                    out[name] = ("dataset", value, attrs)
                else:
                    out[name] = ("group", None, attrs)
            else:
                out[name] = (type(link).__name__, getattr(link, "path", None), attrs)

        f.visititems_links(visit)
    return out


def equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "f":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    return a == b


def assert_same_files(local_out, process_out, files):
    for name in files:
        first, second = tree(local_out / name), tree(process_out / name)
        assert first.keys() == second.keys(), f"{name}: objects differ: {set(first) ^ set(second)}"
        for path, (kind, value, attrs) in first.items():
            kind2, value2, attrs2 = second[path]
            assert kind == kind2, f"{name}:{path}"
            if "time" in path.rsplit("/", 1)[-1]:
                continue
            assert equal(value, value2), f"{name}:{path}: {value!r} != {value2!r}"
            assert attrs.keys() == attrs2.keys(), f"{name}:{path} attributes"
            for key in attrs:
                assert equal(attrs[key], attrs2[key]), f"{name}:{path}@{key}"


@pytest.fixture(scope="module")
def payload_bytes():
    run = make_run(2)
    return len(run.images[0].data["default"].payload)


@pytest.mark.parametrize("file_format", ["NXmxLegacy", "NXmxVDS", "NXmxIntegrated"])
@pytest.mark.parametrize("ring", ["wraps", "pipe"])
def test_process_store_writes_the_same_files(tmp_path, file_format, ring, payload_bytes):
    # "wraps": room for ~3 images, so the ring wraps and the writer waits for the child;
    # "pipe": images larger than half the ring go through the pipe instead
    ring_bytes = 3 * payload_bytes + 7 if ring == "wraps" else payload_bytes
    _, local = write(tmp_path / "local", file_format, LocalStore())
    with ProcessStore(ring_bytes=ring_bytes) as store:
        _, remote = write(tmp_path / "process", file_format, store)
        assert store.images_piped == (N_IMAGES if ring == "pipe" else 0)
    assert local.error is None and remote.error is None, (local.error, remote.error)
    assert remote.files == local.files and remote.images_written == local.images_written == N_IMAGES
    assert remote.bytes_written == local.bytes_written > 0
    assert not list((tmp_path / "process").rglob("*.tmp"))
    assert_same_files(tmp_path / "local", tmp_path / "process", local.files)


def test_one_store_process_serves_runs_one_after_another(tmp_path):
    with ProcessStore() as store:
        pid = store._process.pid
        for k in range(3):
            run, result = write(tmp_path / str(k), "NXmxVDS", store)
            assert result.error is None and result.images_written == N_IMAGES
            with h5py.File(tmp_path / str(k) / result.files[-1], "r") as f:
                images = f["/entry/data/data"][()]
            for index, pixels in run.pixels.items():
                np.testing.assert_array_equal(images[index], pixels)
        assert store._process.pid == pid and store.alive


def test_commit_refused_in_the_child_names_the_file_and_keeps_committed_files(
    tmp_path, payload_bytes
):
    """A data file's final name taken while the run is written: the child's commit fails, the run
    reports the file, the file stays .tmp, the earlier data file stays committed and readable."""
    run = make_run(N_IMAGES, file_format="NXmxLegacy", images_per_file=10)
    out = tmp_path / "out"
    with ProcessStore() as store:
        writer = RunWriter(wire(run.start), out, store=store)
        for message in run.images[:10]:  # file 1 complete -> committed
            assert writer.put_image(wire(message)) is None
        squatter = out / "run1" / "sample_data_000002.h5"
        squatter.write_bytes(b"someone else's file")
        for message in run.images[10:]:
            writer.put_image(wire(message))
        result = writer.finish(wire(run.end))
        assert (
            result.error is not None
            and "sample_data_000002.h5" in result.error
            and "exists" in result.error
        )
        assert squatter.read_bytes() == b"someone else's file"
        assert list((out / "run1").glob("sample_data_000002.h5.*.tmp"))
        assert result.files == ("run1/sample_data_000001.h5",)
        with h5py.File(out / "run1" / "sample_data_000001.h5", "r") as f:
            images = f["/entry/data/data"][()]
        for index in range(10):
            np.testing.assert_array_equal(images[index], run.pixels[index])
        # the images of the failed file are not claimed as written
        assert result.images_written + dict(result.images_rejected).get("run failed", 0) == N_IMAGES
        assert result.images_written < N_IMAGES
        # and the same store process writes the next run
        _, again = write(tmp_path / "again", "NXmxLegacy", store)
        assert again.error is None and again.images_written == N_IMAGES


def test_store_process_killed_mid_run_fails_the_run_not_the_caller(tmp_path):
    run = make_run(N_IMAGES, file_format="NXmxVDS", images_per_file=10)
    store = ProcessStore()
    try:
        writer = RunWriter(wire(run.start), tmp_path, store=store)
        for message in run.images[:5]:
            assert writer.put_image(wire(message)) is None
        os.kill(store._process.pid, signal.SIGKILL)
        store._process.join(10)
        reasons = [writer.put_image(wire(message)) for message in run.images[5:]]
        assert "run failed" in reasons
        result = writer.finish(wire(run.end))
        assert result.error is not None and "store process ended" in result.error
        assert not store.alive
    finally:
        store.close()


def test_store_process_dies_with_its_parent(tmp_path):
    """A writer killed with SIGKILL leaves no store process writing behind it."""
    code = (
        "import sys, time\n"
        "from jfjoch_hil.writer._store import ProcessStore\n"
        "store = ProcessStore(ring_bytes=1 << 20)\n"
        "print(store._process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # running
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            try:  # reap it if it became our zombie (it is not our child: init reaps it)
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        else:
            pytest.fail(f"store process {child} outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        parent.stdout.close()
