"""Disk full and write errors for a writer we start.

A full disk is emulated with ``RLIMIT_FSIZE`` set in the child before exec (writes past the
limit fail with EFBIG, SIGXFSZ ignored); a read-only folder with ``chattr +i`` when running as
root (root ignores mode bits) or mode 0555 otherwise.  What must hold: the run ends with an
error naming the file, files closed before stay valid, the service takes the next run.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.harness.writer_faults._messages import small_run
from jfjoch_hil.harness.writer_faults._runner import FaultRow
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import FileFormat, Pusher

__all__ = ["disk_faults", "disk_full_run", "file_size_limit", "read_only_directory"]


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the child writes at ``limit_bytes`` (EFBIG past it)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@contextmanager
def read_only_directory(path) -> Iterator[Path]:
    """``path`` created and made unwritable for the duration (``chattr +i`` as root, else 0555)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    if as_root:
        done = subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise OSError(
                f"chattr +i {path}: {done.stderr.strip()} (cannot make a read-only folder as root)"
            )
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, timeout=30)
        else:
            path.chmod(0o755)


def disk_full_run(prefix: str, seed: int = 0):
    """4 images of 256 x 256: two that compress to a few kB, then two that do not (about 130 kB
    each), 2 per file: with a 250 kB file limit the second data file hits the limit."""
    small = small_run(prefix, 4, seed=seed, shape=(256, 256), noise_max=2, images_per_file=2)
    noisy = small_run(prefix, 4, seed=seed, shape=(256, 256), noise_max=65535, images_per_file=2)
    small.images[2:] = noisy.images[2:]
    small.pixels[2:] = noisy.pixels[2:]
    return small


def _send(pusher: Pusher, run) -> None:
    for message in run.messages():
        pusher.send(message)


def _after_run(
    writer: WriterProcess, pusher: Pusher, prefix: str, seed: int, timeout_s: float
) -> str | None:
    cursor = writer.cursor()[1]
    run = small_run(prefix, 2, seed=seed, file_format=FileFormat.VDS.value)
    _send(pusher, run)
    record = writer.wait_run(prefix, timeout_s, since=cursor)
    if record is None or record.images_written != 2 or record.error:
        return f"next run {prefix} not written: {record}"
    return None


def disk_faults(sandbox, *, timeout_s: float = 30.0, seed: int = 0) -> list[FaultRow]:
    """The disk-full and read-only rows, each with its own `jfwriter` under ``sandbox``."""
    sandbox = Path(sandbox)
    rows = []
    out = sandbox / "disk_full"
    with WriterProcess(out, preexec_fn=file_size_limit(250_000), timeout_s=timeout_s) as writer:
        pusher = Pusher(
            writer.endpoint, bind=False, linger_ms=1000, send_timeout_ms=int(timeout_s * 1000)
        )
        try:
            run = disk_full_run("full/run", seed)
            cursor = writer.cursor()[1]
            _send(pusher, run)
            record = writer.wait_run("full/run", timeout_s, since=cursor)
            after = _after_run(writer, pusher, "full/after", seed + 1, timeout_s)
        finally:
            pusher.close()
    error = (record.error if record is not None else None) or ""
    first = out / "full" / "run_data_000001.h5"
    valid = first.exists() and _same_images(first, run.pixels[:2])
    tmp = sorted(p.name for p in (out / "full").glob("*.tmp"))
    passed = "full/run_data_000002.h5" in error and valid and bool(tmp) and after is None
    rows.append(
        FaultRow(
            "disk_full",
            "error names the file; closed file valid; partial *.tmp; next run written",
            f"error {_short(error, out)!r}; data_000001 valid {valid}; tmp {tmp}; {after or 'next run written'}",
            passed,
        )
    )
    out = sandbox / "read_only"
    with read_only_directory(out / "ro"), WriterProcess(out, timeout_s=timeout_s) as writer:
        pusher = Pusher(
            writer.endpoint, bind=False, linger_ms=1000, send_timeout_ms=int(timeout_s * 1000)
        )
        try:
            cursor = writer.cursor()[1]
            _send(pusher, small_run("ro/run", 2, seed=seed + 2))
            record = writer.wait_run("ro/run", timeout_s, since=cursor)
            after = _after_run(writer, pusher, "rw/after", seed + 3, timeout_s)
        finally:
            pusher.close()
        left = sorted(p.name for p in (out / "ro").iterdir())
    error = (record.error if record is not None else None) or ""
    passed = "ro/run_data_000001.h5" in error and not left and after is None
    rows.append(
        FaultRow(
            "read_only_dir",
            "run fails with an error naming the file; next run written",
            f"error {_short(error, out)!r}; files in ro/ {left}; {after or 'next run written'}",
            passed,
        )
    )
    return rows


def _same_images(path: Path, pixels) -> bool:
    with h5py.File(path, "r") as f:
        data = f["/entry/data/data"]
        return data.shape[0] == len(pixels) and all(
            np.array_equal(data[i], p) for i, p in enumerate(pixels)
        )


def _short(error: str, folder) -> str:
    """The writer's error with the output folder written as DIR, so the file name it names stays
    in the table however deep the folder is."""
    return error.replace(str(folder), "DIR")[:160]
