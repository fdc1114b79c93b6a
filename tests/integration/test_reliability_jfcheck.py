"""`jfcheck` on hostile files: links and virtual sources pointing outside the file's folder.

The conformance suite already fuzzes corrupt and truncated files and checks a data link moved
out of the folder; what is added here is the proof that nothing outside the folder is even
*opened*: inotify watches the outside folder while the check runs (the HDF5 library follows
external links and virtual sources by itself, so a report alone would not show it).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from jfjoch_hil.conformance import check_file

from tests.unit.conformance._files import RunSpec, build_run

IN_ACCESS, IN_OPEN = 0x1, 0x20


class OpenWatch:
    """inotify on a folder: :meth:`opened` tells whether any file in it was opened or read."""

    def __init__(self, folder: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            pytest.skip(f"inotify unavailable: errno {ctypes.get_errno()}")
        if self.libc.inotify_add_watch(self.fd, str(folder).encode(), IN_OPEN | IN_ACCESS) < 0:
            os.close(self.fd)
            pytest.skip(f"inotify_add_watch failed: errno {ctypes.get_errno()}")

    def opened(self) -> bool:
        try:
            return len(os.read(self.fd, 65536)) > 0
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def outside(tmp_path):
    """A folder next to the run, holding a valid HDF5 file with an image stack and a mask."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    target = folder / "target.h5"
    with h5py.File(target, "w") as f:
        f["/entry/data/data"] = np.zeros((6, 16, 24), np.uint16)
        f["/mask"] = np.zeros((16, 24), np.uint32)
    return target


def _hostile_master(tmp_path: Path, layout: str, kind: str, target: Path) -> Path:
    master = build_run(tmp_path / "run", layout, RunSpec(n_images=6, images_per_file=4))
    with h5py.File(master, "r+") as f:
        if kind == "data_link_absolute":
            del f["/entry/data/data_000002"]
            f["/entry/data/data_000002"] = h5py.ExternalLink(str(target), "/entry/data/data")
        elif kind == "data_link_relative":
            del f["/entry/data/data_000002"]
            f["/entry/data/data_000002"] = h5py.ExternalLink(
                f"../{target.parent.name}/{target.name}", "/entry/data/data"
            )
        elif kind == "mask_link":
            path = "/entry/instrument/detector/pixel_mask"
            if path in f:
                del f[path]
            f[path] = h5py.ExternalLink(str(target), "/mask")
        elif kind == "extra_link":
            f["/entry/sample/hostile"] = h5py.ExternalLink(str(target), "/mask")
        elif kind == "vds_source":
            del f["/entry/data/data"]
            layout_ = h5py.VirtualLayout((6, 16, 24), np.uint16)
            layout_[:] = h5py.VirtualSource(str(target), "/entry/data/data", shape=(6, 16, 24))
            f.create_virtual_dataset("/entry/data/data", layout_, fillvalue=0)
    return master


CASES = [
    ("legacy", "data_link_absolute"),
    ("legacy", "data_link_relative"),
    ("legacy", "mask_link"),
    ("vds", "extra_link"),
    ("vds", "vds_source"),
    ("integrated", "mask_link"),
]


@pytest.mark.parametrize(("layout", "kind"), CASES)
def test_link_outside_folder_is_a_finding_and_never_opened(tmp_path, outside, layout, kind):
    master = _hostile_master(tmp_path, layout, kind, outside)
    watch = OpenWatch(outside.parent)
    try:
        report = check_file(master, deep=True)
        opened = watch.opened()
    finally:
        watch.close()
    assert not opened, f"{kind}: jfcheck opened a file outside {master.parent}"
    assert report.exit_code in (1, 2)
    assert any("outside" in f.message for f in report.findings), [
        f.as_dict() for f in report.findings
    ]
    # asked to follow, the same check does open the outside file: the link is real, the watch works
    watch = OpenWatch(outside.parent)
    try:
        check_file(master, deep=True, allow_outside=True)
        assert watch.opened()
    finally:
        watch.close()


def test_the_watch_sees_an_open(tmp_path, outside):
    """The inotify watch itself works (the test above can fail)."""
    watch = OpenWatch(outside.parent)
    try:
        with h5py.File(outside, "r"):
            pass
        assert watch.opened()
    finally:
        watch.close()


def test_jfcheck_cli_exit_1_and_no_open_outside(tmp_path, outside):
    master = _hostile_master(tmp_path, "legacy", "data_link_absolute", outside)
    watch = OpenWatch(outside.parent)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jfjoch_hil.conformance.cli", str(master), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        opened = watch.opened()
    finally:
        watch.close()
    assert done.returncode == 1, done.stderr
    assert not opened
    assert "outside" in done.stdout
    shutil.rmtree(tmp_path / "run")
