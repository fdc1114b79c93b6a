"""What a writer left on disk, read with h5py only (hdf5-format.md 2).

Used for any writer: our own (with its JSON lines as well) and a real one, where the files are
all there is to observe.
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle / lz4 filters for reading images)

__all__ = [
    "count_images",
    "count_real_images",
    "files_outside",
    "master_of",
    "snapshot",
    "wait_master",
]


def master_of(out_dir: Path, prefix: str) -> Path:
    """``<out_dir>/<prefix>_master.h5`` (hdf5-format.md 2)."""
    return Path(out_dir) / f"{prefix}_master.h5"


def count_images(master: Path) -> int:
    """Images readable through ``master``: ``/entry/data/data`` or the sum of its ``data_NNNNNN``."""
    with h5py.File(master, "r") as f:
        group = f["/entry/data"]
        if "data" in group:
            return int(group["data"].shape[0])
        total = 0
        for name in sorted(group):
            if name.startswith("data_"):
                try:
                    total += int(group[name].shape[0])
                except KeyError:  # a link to a data file that is missing
                    continue
        return total


def count_real_images(master: Path) -> int:
    """Images through ``master`` that carry data: a missing image reads as one constant (the fill
    value), a sent one has noise (:func:`~simulator.faultsuite._messages.small_run`)."""
    with h5py.File(master, "r") as f:
        group = f["/entry/data"]
        names = ["data"] if "data" in group else sorted(n for n in group if n.startswith("data_"))
        real = 0
        for name in names:
            try:
                dataset = group[name]
            except KeyError:
                continue
            for index in range(dataset.shape[0]):
                frame = dataset[index]
                real += bool(frame.size) and frame.min() != frame.max()
        return real


def wait_master(out_dir: Path, prefix: str, timeout_s: float) -> Path | None:
    """The master of ``prefix`` once it exists under its final name (bounded wait), else ``None``.
    Looked for at least once, however little time is left."""
    master = master_of(out_dir, prefix)
    deadline = time.monotonic() + timeout_s
    while True:
        if master.exists():
            return master
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def snapshot(root: Path) -> set[Path]:
    """Every path under ``root`` (a sandbox folder holding the output folder)."""
    return set(Path(root).rglob("*")) if Path(root).exists() else set()


def files_outside(before: set[Path], after: set[Path], out_dir: Path) -> list[Path]:
    """Paths new in ``after`` that are not inside ``out_dir``: a write escaping the output folder."""
    out_dir = Path(out_dir).resolve()
    escaped = []
    for path in sorted(after - before):
        resolved = path.resolve()
        if resolved != out_dir and out_dir not in resolved.parents:
            escaped.append(path)
    return escaped
