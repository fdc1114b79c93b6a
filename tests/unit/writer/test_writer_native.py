"""HDF5 calls through ctypes (writer/_native.py): same files as through h5py, errors that say why.

The native path is the writer's default where the library is found; these tests compare it with
the h5py path (``writer.materialize.native`` patched to give none) object by object, and check
that a failed call raises an error naming the call and, for a full disk, the errno.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import textwrap

import h5py
import hdf5plugin  # noqa: F401
import jfjoch_hil.writer.materialize as mat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jfjoch_hil.writer._native import COMPACT_MAX_BYTES, HDF5CallError, native
from jfjoch_hil.writer._store import LocalStore

from tests.unit.writer.test_writer_store import assert_same_files, write

pytestmark = pytest.mark.skipif(native() is None, reason="the HDF5 library h5py uses was not found")


@pytest.mark.parametrize("file_format", ["NXmxLegacy", "NXmxVDS", "NXmxIntegrated"])
def test_native_calls_write_the_same_files_as_h5py(tmp_path, file_format, monkeypatch):
    run, fast = write(tmp_path / "native", file_format, LocalStore())
    assert any(m.reflections for m in run.images), "the test run must carry reflection groups"
    monkeypatch.setattr(mat, "native", lambda: None)
    _, plain = write(tmp_path / "h5py", file_format, LocalStore())
    assert fast.error is None and plain.error is None
    assert fast.files == plain.files
    assert_same_files(tmp_path / "h5py", tmp_path / "native", plain.files)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    length=st.sampled_from([0, 1, 7, COMPACT_MAX_BYTES // 4, COMPACT_MAX_BYTES // 4 + 1, 20000]),
    seed=st.integers(0, 2**16),
)
def test_reflection_groups_hold_the_values_and_units_whatever_their_length(
    tmp_path_factory, length, seed
):
    # at and beyond the compact storage limit the datasets are contiguous: both must read back
    rng = np.random.default_rng(seed)
    columns = {
        "h": rng.integers(-50, 50, length).astype("i4"),
        "d": rng.random(length, dtype="f4"),
        "int_sum": rng.normal(size=length).astype("f4"),
    }
    units = {"d": "Angstrom", "int_sum": "photons"}
    path = tmp_path_factory.mktemp("refl") / "r.h5"
    with h5py.File(path, "w", libver=mat.LIBVER) as f:
        mat.write_reflections(f, "/entry/reflections/image_000001", columns, units)
    with h5py.File(path, "r") as f:
        group = f["/entry/reflections/image_000001"]
        assert group.attrs["NX_class"] == b"NXreflections"
        assert sorted(group) == sorted(columns)
        for name, values in columns.items():
            assert group[name].dtype == values.dtype
            assert np.array_equal(group[name][()], values)
            assert group[name].attrs.get("units") == (
                units[name].encode() if name in units else None
            )


def test_chunk_write_takes_bytes_and_buffers(tmp_path):
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    raw = pixels.tobytes()
    with h5py.File(tmp_path / "c.h5", "w", libver=mat.LIBVER) as f:
        images = mat.create_image_stack(f, "/entry/data/data", np.uint16, 3, (64, 64), None)
        native().write_chunk(images.id.id, 0, raw)
        native().write_chunk(images.id.id, 1, memoryview(raw))
        native().write_chunk(images.id.id, 2, bytearray(raw[::-1]))
    with h5py.File(tmp_path / "c.h5", "r") as f:
        data = f["/entry/data/data"]
        assert np.array_equal(data[0], pixels) and np.array_equal(data[1], pixels)
        assert np.array_equal(data[2], np.frombuffer(raw[::-1], np.uint16).reshape(64, 64))


def test_a_failed_call_names_the_call_and_the_library_reason(tmp_path):
    with h5py.File(tmp_path / "c.h5", "w", libver=mat.LIBVER) as f:
        group = f.create_group("g")
        with pytest.raises(HDF5CallError, match=r"H5Dwrite_chunk \(row 3\) failed: .*dataset"):
            native().write_chunk(group.id.id, 3, b"1234")  # a group is not a dataset
        mat.write_reflections(f, "/entry/reflections/image_000001", {"h": np.zeros(2, "i4")}, {})
        with pytest.raises(HDF5CallError, match="H5Gcreate2"):  # the name exists
            mat.write_reflections(
                f, "/entry/reflections/image_000001", {"h": np.zeros(2, "i4")}, {}
            )
        assert list(f["/entry/reflections/image_000001"]) == ["h"]  # the first group is intact


def test_a_file_size_limit_gives_an_os_error_with_its_errno(tmp_path):
    # RLIMIT_FSIZE makes the write fail like a full disk (row 1: two 131 kB chunks pass 150 kB);
    # in a child, which the limit would hurt
    script = textwrap.dedent(f"""
        import resource, signal, h5py, hdf5plugin, numpy as np
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
        import jfjoch_hil.writer.materialize as mat
        from jfjoch_hil.writer._native import native
        f = h5py.File({str(tmp_path / "full.h5")!r}, "w", libver=mat.LIBVER)
        images = mat.create_image_stack(f, "/d", np.uint16, 4, (256, 256), None)
        payload = np.random.default_rng(1).integers(0, 60000, (256, 256), dtype=np.uint16).tobytes()
        try:
            for row in range(4):
                native().write_chunk(images.id.id, row, payload)
        except OSError as error:
            print("errno", error.errno, error)
        import os
        os._exit(0)  # closing a file the limit broke is not what this checks
    """)
    assert resource.RLIMIT_FSIZE and signal.SIGXFSZ
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("errno 27 "), done.stdout + done.stderr
    assert "File too large (H5Dwrite_chunk (row 1))" in done.stdout
