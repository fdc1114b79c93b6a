"""Ground truth of a run: the written images against what the simulated detector sent, and
against the packets the receiver accepted.  Files are read back with h5py alone, in any layout
(hdf5-format.md 2), so a writer bug cannot hide behind shared code.

Two verdicts (docs/reliability.md "Accounting"): ``sent`` compares each image with the one a
correct receiver builds from what the detector sent (the fault plan's truth); ``accepted`` with
the one built from the packets the receiver actually placed, missing ones at the error value
(detectors.md 4.2).  With kernel drops only the second can hold; the run's accounting then says
whether every packet missing from the first is explained by a drop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle / LZ4 filters with HDF5)
import numpy as np

__all__ = ["compare_with_truth", "open_written_images"]


def open_written_images(
    out_dir: Path, prefix: str, stack: list
) -> Callable[[int], np.ndarray | None]:
    """A function image number (0-based) -> the written image, or ``None`` if not in the files.

    Opens the master (``/entry/data/data`` for VDS and integrated, the ``data_NNNNNN`` external
    links for legacy) or, without a master, the data files in order.  Files opened are appended
    to ``stack`` for the caller to close.
    """
    master = out_dir / f"{prefix}_master.h5"
    sources: list[tuple[int, h5py.Dataset]] = []  # (first image number, dataset)
    if master.exists():
        handle = h5py.File(master, "r")
        stack.append(handle)
        group = handle["/entry/data"]
        if "data" in group:
            sources.append((0, group["data"]))
        else:
            first = 0
            for name in sorted(k for k in group if k.startswith("data_")):
                dataset = group[name]
                low = int(dataset.attrs.get("image_nr_low", first + 1)) - 1
                sources.append((low, dataset))
                first = low + dataset.shape[0]
    else:
        first = 0
        for path in sorted(out_dir.glob(f"{prefix}_data_*.h5")):
            handle = h5py.File(path, "r")
            stack.append(handle)
            dataset = handle["/entry/data/data"]
            sources.append((first, dataset))
            first += dataset.shape[0]

    def image(number: int) -> np.ndarray | None:
        for low, dataset in sources:
            if low <= number < low + dataset.shape[0]:
                return dataset[number - low]
        return None

    return image


def compare_with_truth(
    experiment,
    out_dir: Path,
    placed: np.ndarray,
    sent_frames: Sequence[int],
    accepted: np.ndarray | None = None,
) -> dict:
    """Compare every written image with the image the simulated detector implies.

    ``placed`` (frames, ports, packets) says which packets a correct receiver places (the fault
    plan's ground truth); ``accepted`` (same shape) which ones the receiver placed (``None``:
    the same as ``placed``).  A missing packet's pixels must hold the error value.  Returns
    ``{"sent": verdict, "accepted": verdict}`` plus the ``sent`` verdict's keys at the top
    level; each verdict has ``ok``, counts and the first mismatching image numbers.  An image the
    receiver never published (no packet of it accepted) is not expected in the files for the
    ``accepted`` verdict.
    """
    sent = _compare(experiment, Path(out_dir), placed, sent_frames, require_all=True)
    if accepted is None:
        verdict = dict(sent)
    else:
        published = [i for i in sent_frames if accepted[int(i)].any()]
        verdict = _compare(experiment, Path(out_dir), accepted, published, require_all=False)
    return {**sent, "sent": sent, "accepted": verdict}


def _compare(
    experiment, out_dir: Path, placed: np.ndarray, frames: Sequence[int], *, require_all: bool
) -> dict:
    stack: list = []
    mismatched: list[int] = []
    missing: list[int] = []
    compared = differing_pixels = 0
    sent_frames = frames
    try:
        image = open_written_images(Path(out_dir), experiment.scenario.prefix, stack)
        numbers = experiment.schedule.frame_numbers
        for index in sent_frames:
            number = int(numbers[index]) - 1
            if number >= experiment.n_images:
                continue  # a frame-number jump pushed it past the run: not an image of the run
            written = image(number)
            if written is None:
                missing.append(number)
                continue
            expected = experiment.expected_image(int(index), placed[index])
            compared += 1
            if written.shape != expected.shape or not np.array_equal(written, expected):
                mismatched.append(number)
                if written.shape == expected.shape:
                    differing_pixels += int((written != expected).sum())
    except (OSError, KeyError) as error:
        return {
            "ok": False,
            "error": f"cannot read the written images: {error}",
            "images_compared": compared,
        }
    finally:
        for handle in reversed(stack):
            handle.close()
    return {
        "ok": (compared > 0 or not require_all) and not mismatched and not missing,
        "images_compared": compared,
        "images_mismatched": mismatched[:20],
        "images_missing": missing[:20],
        "pixels_differing": differing_pixels,
    }
