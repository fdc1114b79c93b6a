"""The recorded DECTRIS Stream V2 messages decode (stream.md section 11).

Read in place from shared/reference-data and skipped when absent; never copied into the repo.
Every channel is checked against the raw tags (read with plain cbor2, no tag handling of ours)
and against an independent decompression through HDF5's own filter.
"""

from __future__ import annotations

import cbor2
import numpy as np
import pytest
from jfjoch_hil.stream import EndMessage, ImageMessage, decode
from jfjoch_hil.stream.dump import dump_files

from tests.h5chunks import read_through_hdf5

# stream.md table 4.1 / 11.2: typed-array tag -> element type seen in the recording
SPEC_TAG_DTYPES = {64: np.dtype("u1"), 69: np.dtype("<u2"), 70: np.dtype("<u4")}


def _raw_channels(raw: bytes):
    item = cbor2.loads(raw)  # cbor2 strips 55799; tags 40/6x/56500 stay CBORTag objects
    for name, channel in item["data"].items():
        assert channel.tag == 40
        dims, typed = channel.value
        compressed = typed.value
        assert compressed.tag == 56500
        algorithm, modifier, payload = compressed.value
        yield name, tuple(dims), typed.tag, algorithm, modifier, payload


def test_every_reference_message_decodes(reference_stream_dir):
    folders = sorted(p for p in reference_stream_dir.iterdir() if p.is_dir())
    assert folders, "no series folders"
    images = ends = 0
    for folder in folders:
        series_ids = set()
        for path in dump_files(folder):
            message = decode(path.read_bytes())
            series_ids.add(message.series_unique_id)
            if isinstance(message, ImageMessage):
                images += 1
                assert list(message.data) == ["threshold_1", "threshold_2", "difference"]
                assert message.real_time.denominator == 50_000_000
                assert message.series_date.tzinfo is not None
            else:
                assert isinstance(message, EndMessage)
                ends += 1
        assert len(series_ids) == 1, f"{folder.name}: images and end disagree on the series"
    assert images >= 1 and ends >= 1


def _image_files(reference_stream_dir):
    files = []
    for folder in sorted(p for p in reference_stream_dir.iterdir() if p.is_dir()):
        files += [p for p in dump_files(folder) if p.name != "000011.cbor"][:3]
    return files


def test_reference_pixels_equal_independent_decompression(reference_stream_dir):
    files = _image_files(reference_stream_dir)
    if not files:
        pytest.skip("no image messages in the reference folder")
    checked = 0
    for path in files:
        raw = path.read_bytes()
        message = decode(raw)
        for name, dims, tag, algorithm, modifier, payload in _raw_channels(raw):
            channel = message.data[name]
            assert channel.dims == dims
            assert channel.dtype == SPEC_TAG_DTYPES[tag]
            assert channel.compression == algorithm and channel.modifier == modifier
            ours = channel.to_numpy()
            assert ours.shape == dims and ours.dtype == SPEC_TAG_DTYPES[tag]
            theirs = read_through_hdf5(payload, algorithm, SPEC_TAG_DTYPES[tag], dims)
            np.testing.assert_array_equal(ours, theirs)
            checked += 1
    assert checked == 3 * len(files)


def test_difference_channel_matches_its_definition(reference_stream_dir):
    # stream.md 11.2: difference = threshold_1 - threshold_2 where >= 0, else the all-ones value
    files = _image_files(reference_stream_dir)
    if not files:
        pytest.skip("no image messages in the reference folder")
    message = decode(files[0].read_bytes())
    t1, t2, diff = (
        message.data[k].to_numpy().astype(np.int64)
        for k in ("threshold_1", "threshold_2", "difference")
    )
    all_ones = np.iinfo(message.data["difference"].dtype).max
    expected = np.where(t1 - t2 >= 0, t1 - t2, all_ones)
    np.testing.assert_array_equal(diff, expected)
