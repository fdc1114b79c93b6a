"""Disk full and write errors for a writer we start.

A full disk is emulated with ``RLIMIT_FSIZE`` set in the child before exec (writes past the
limit fail with EFBIG, SIGXFSZ ignored); a read-only folder with ``chattr +i`` when running as
root (root ignores mode bits) or mode 0555 otherwise.  What must hold: the run ends with an
error naming the file, files closed before stay valid, the service takes the next run.  Each
row is one case of the session (its own writer, `chattr` too, are supervised children), bounded
by the messages it sends.
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.errors import SupervisionError
from jfjoch_hil.harness.writer_faults._messages import small_run
from jfjoch_hil.harness.writer_faults._runner import FaultRow, supervision_row
from jfjoch_hil.harness.writer_faults._session import SEND_SLICE_MS, FaultSession, given_or_own
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import FileFormat, Pusher

__all__ = ["disk_faults", "disk_full_run", "file_size_limit", "read_only_directory"]

#: Messages of the disk-full run (start, 4 images, end) and of the run after each row (start,
#: 2 images, end): the size each row's bound is derived from.
DISK_FULL_MESSAGES = 6
READ_ONLY_MESSAGES = 4
AFTER_MESSAGES = 4


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the child writes at ``limit_bytes`` (EFBIG past it)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def _chattr(flag: str, path: Path, session: FaultSession | None) -> tuple[int | None, str]:
    with given_or_own(session) as own:
        code, _, error = own.run("chattr", ["chattr", flag, str(path)], own.bounds.margin_s)
    return code, error


@contextmanager
def read_only_directory(path, session: FaultSession | None = None) -> Iterator[Path]:
    """``path`` created and made unwritable for the duration (``chattr +i`` as root, else 0555);
    `chattr` runs as a supervised child of ``session`` (or of a session of its own)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    if as_root:
        code, error = _chattr("+i", path, session)
        if code != 0:
            raise OSError(
                f"chattr +i {path}: {error.strip()} (cannot make a read-only folder as root)"
            )
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if as_root:
            _chattr("-i", path, session)
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


def _after_run(writer: WriterProcess, send, prefix: str, seed: int, session: FaultSession):
    cursor = writer.cursor()[1]
    run = small_run(prefix, 2, seed=seed, file_format=FileFormat.VDS.value)
    for message in run.messages():
        send(message)
    record = writer.wait_run(prefix, session.left(), since=cursor)
    if record is None or record.images_written != 2 or record.error:
        return f"next run {prefix} not written: {record}"
    return None


def disk_faults(
    sandbox, *, seed: int = 0, session: FaultSession | None = None, bounds: Bounds | None = None
) -> list[FaultRow]:
    """The disk-full and read-only rows, each with its own `jfwriter` under ``sandbox``, each a
    case of ``session`` (default: one of its own within ``bounds``)."""
    sandbox = Path(sandbox)
    with given_or_own(session, bounds) as session:
        return [
            _disk_full(sandbox / "disk_full", seed, session),
            _read_only(sandbox / "read_only", seed, session),
        ]


def _disk_full(out: Path, seed: int, session: FaultSession) -> FaultRow:
    expected = "error names the file; closed file valid; partial *.tmp; next run written"
    session.begin("disk_full", DISK_FULL_MESSAGES + AFTER_MESSAGES)
    try:
        with WriterProcess(
            out, preexec_fn=file_size_limit(250_000), session=session, name="jfwriter-disk_full"
        ) as writer:
            pusher = Pusher(
                writer.endpoint, bind=False, linger_ms=1000, send_timeout_ms=SEND_SLICE_MS
            )
            send = session.sender(pusher, writer.name)
            try:
                run = disk_full_run("full/run", seed)
                cursor = writer.cursor()[1]
                for message in run.messages():
                    send(message)
                record = writer.wait_run("full/run", session.left(), since=cursor)
                after = _after_run(writer, send, "full/after", seed + 1, session)
            finally:
                pusher.close()
    except SupervisionError as error:
        return supervision_row("disk_full", expected, error)
    error = (record.error if record is not None else None) or ""
    first = out / "full" / "run_data_000001.h5"
    valid = first.exists() and _same_images(first, run.pixels[:2])
    tmp = sorted(p.name for p in (out / "full").glob("*.tmp"))
    passed = "full/run_data_000002.h5" in error and valid and bool(tmp) and after is None
    return FaultRow(
        "disk_full",
        expected,
        f"error {_short(error, out)!r}; data_000001 valid {valid}; tmp {tmp}; {after or 'next run written'}",
        passed,
    )


def _read_only(out: Path, seed: int, session: FaultSession) -> FaultRow:
    expected = "run fails with an error naming the file; next run written"
    session.begin("read_only_dir", READ_ONLY_MESSAGES + AFTER_MESSAGES)
    try:
        with (
            read_only_directory(out / "ro", session),
            WriterProcess(out, session=session, name="jfwriter-read_only_dir") as writer,
        ):
            pusher = Pusher(
                writer.endpoint, bind=False, linger_ms=1000, send_timeout_ms=SEND_SLICE_MS
            )
            send = session.sender(pusher, writer.name)
            try:
                cursor = writer.cursor()[1]
                for message in small_run("ro/run", 2, seed=seed + 2).messages():
                    send(message)
                record = writer.wait_run("ro/run", session.left(), since=cursor)
                after = _after_run(writer, send, "rw/after", seed + 3, session)
            finally:
                pusher.close()
            left = sorted(p.name for p in (out / "ro").iterdir())
    except SupervisionError as error:
        return supervision_row("read_only_dir", expected, error)
    error = (record.error if record is not None else None) or ""
    passed = "ro/run_data_000001.h5" in error and not left and after is None
    return FaultRow(
        "read_only_dir",
        expected,
        f"error {_short(error, out)!r}; files in ro/ {left}; {after or 'next run written'}",
        passed,
    )


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
