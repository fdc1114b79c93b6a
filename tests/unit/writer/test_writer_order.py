"""Any arrival order, duplicates and out-of-range numbers: every valid image stored once, exactly
where it belongs, and every rejection counted (hdf5-format.md 2)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.stream import ImageMessage, TypedArray
from jfjoch_hil.writer import RunWriter

from tests.unit.writer.writer_messages import make_start

N_IMAGES = 9


def pixels(index: int) -> np.ndarray:
    return np.full((16, 24), index * 10 + 1, np.uint16)


@settings(max_examples=25, deadline=None)
@given(
    arrivals=st.lists(st.integers(min_value=0, max_value=N_IMAGES + 2), min_size=1, max_size=25),
    file_format=st.sampled_from(["NXmxLegacy", "NXmxVDS", "NXmxIntegrated"]),
    images_per_file=st.integers(min_value=1, max_value=N_IMAGES),
)
def test_arrival_order_never_loses_or_misplaces(arrivals, file_format, images_per_file):
    start = make_start(
        N_IMAGES, file_format=file_format, images_per_file=images_per_file, prefix="p/run"
    )
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(start, tmp)
        for copy, index in enumerate(arrivals):
            # a later copy of an image carries different pixels: the first one must win
            array = pixels(index) + (copy if index in arrivals[:copy] else 0)
            message = ImageMessage(
                image_id=index,
                data={"default": TypedArray.from_numpy(array, compression="bslz4")},
                strong_pixel_count=index,
            )
            writer.put_image(message)
        result = writer.finish(None)
        assert result.error is None
        valid = sorted({i for i in arrivals if i < N_IMAGES})
        rejected = dict(result.images_rejected)
        assert result.images_written == len(valid)
        assert rejected.get("image number outside the run", 0) == sum(
            i >= N_IMAGES for i in arrivals
        )
        assert rejected.get("duplicate image number", 0) == sum(
            i < N_IMAGES for i in arrivals
        ) - len(valid)
        master = Path(tmp) / "p" / "run_master.h5"
        if not valid:  # nothing to store: a master without image data
            with h5py.File(master, "r") as f:
                assert "data" not in f["/entry/data"] and not list(f["/entry/data"])
            return
        with h5py.File(master, "r") as f:
            if file_format == "NXmxLegacy":
                links = [f["/entry/data"][n] for n in sorted(f["/entry/data"])]
                stack = np.concatenate([d[()] for d in links])
                strong = np.concatenate(
                    [
                        h5py.File(
                            master.parent / f["/entry/data"].get(n, getlink=True).filename, "r"
                        )["/entry/MX/strongPixels"][()]
                        for n in sorted(f["/entry/data"])
                    ]
                )
            else:
                stack = f["/entry/data/data"][()]
                strong = f["/entry/MX/strongPixels"][()]
        assert stack.shape[0] >= max(valid) + 1
        for index in range(stack.shape[0]):
            if index in valid:
                assert np.array_equal(stack[index], pixels(index)), index
                assert strong[index] == index
            else:
                assert (stack[index] == 0xFFFF).all(), index
                assert strong[index] == -1
