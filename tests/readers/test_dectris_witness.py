"""DECTRIS's decompressor as a witness: every image message of every shipped scenario, decoded the
way DECTRIS's documented Stream V2 client decodes it (cbor2 + ``dectris-compression``, no code
of ours), equals pixel for pixel the image the writer stored in HDF5 (read with h5py and the
HDF5 filters). Also checks the recorded messages against the reference envelope (stream.md §11.1)
and that DECTRIS's decompressor agrees with ours on the real DECTRIS recordings.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.readers.conftest import hdf5_image, hdf5_image_count, shipped_names
from tests.readers.dectris_client import decode_message, decompress, image_pixels

pytestmark = [
    pytest.mark.readers,
    pytest.mark.skipif(decompress is None, reason="dectris-compression (PyPI) not installed"),
]


def _recorded_runs(record_dir):
    """[(start message, [image messages])] of every run recorded in ``record_dir``."""
    runs = []
    for folder in sorted({p.parent for p in record_dir.rglob("*.cbor")}):
        start, images = None, []
        for path in sorted(folder.glob("*.cbor")):
            raw = path.read_bytes()
            assert raw[:3] == b"\xd9\xd9\xf7", f"{path}: no self-described CBOR tag (11.1)"
            message = decode_message(raw)
            if message["type"] == "start":
                start = message
            elif message["type"] == "image":
                images.append(message)
        assert start is not None, f"{folder}: no start message recorded"
        runs.append((start, images))
    return runs


@pytest.mark.parametrize("name", shipped_names())
def test_dectris_decompressor_reads_every_image_as_written(shipped_run, name):
    run = shipped_run(name)
    runs = _recorded_runs(run.record)
    assert runs, f"{name}: nothing recorded ({run.report})"
    compared = unstored = 0
    for start, images in runs:
        master = run.out / f"{start['file_prefix']}_master.h5"
        assert master.is_file(), f"{name}: {master.name} missing ({run.report})"
        assert images, f"{name}: no image message recorded"
        n_stored = hdf5_image_count(master)
        for message in images:
            pixels = image_pixels(message)
            assert pixels.shape == (start["image_size_y"], start["image_size_x"])
            if message["image_id"] >= n_stored:
                unstored += 1  # published but not written: the run's report must say so
                continue
            stored = hdf5_image(master, message["image_id"])
            assert stored.dtype == pixels.dtype, (name, message["image_id"])
            np.testing.assert_array_equal(pixels, stored, err_msg=f"{name} {message['image_id']}")
            compared += 1
    assert compared >= 1
    written = run.report.get("images_written")
    if unstored and written is not None:
        assert unstored <= run.report["images_sent"] - written, run.report


def test_dectris_decompressor_catches_a_changed_pixel(shipped_run):
    """Must-fail companion: one flipped byte inside the compressed payload changes the pixels
    DECTRIS's decompressor returns (or it refuses the payload), so the comparison can fail."""
    import cbor2

    run = shipped_run("quickstart")
    path = sorted(run.record.rglob("*.cbor"))
    raw = next(p.read_bytes() for p in path if decode_message(p.read_bytes())["type"] == "image")
    message = decode_message(raw)
    pixels = image_pixels(message)
    # Re-encode the compressed payload with one byte changed in the middle of its data.
    plain = cbor2.loads(raw)  # tags left as CBORTag objects
    channel = plain["data"]["default"]
    compressed = channel.value[1].value  # tag40 -> [dims, tagNN(tag56500([alg, size, bytes]))]
    algorithm, size, data = compressed.value
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    compressed = cbor2.CBORTag(56500, [algorithm, size, bytes(broken)])
    channel = cbor2.CBORTag(40, [channel.value[0], cbor2.CBORTag(channel.value[1].tag, compressed)])
    changed = dict(plain, data={"default": channel})
    try:
        other = image_pixels(decode_message(cbor2.dumps(cbor2.CBORTag(55799, changed))))
    except Exception:  # the decompressor refusing a corrupt block is a failure detected too
        return
    assert not np.array_equal(other, pixels)


def test_dectris_decompressor_agrees_on_the_dectris_recordings(reference_stream_dir):
    """DECTRIS's decompressor and ours give the same pixels on the real recordings."""
    from jfjoch_hil.stream import decode

    checked = 0
    for path in sorted(reference_stream_dir.rglob("*.cbor")):
        raw = path.read_bytes()
        message = decode_message(raw)
        if message.get("type") != "image":
            continue
        ours = decode(raw).data
        for channel in message["data"]:
            theirs = image_pixels(message, channel)
            mine = ours[channel].to_numpy()
            assert theirs.dtype == mine.dtype, (path, channel)
            np.testing.assert_array_equal(theirs, mine, err_msg=f"{path} {channel}")
            checked += 1
    if not checked:
        pytest.skip(f"no image message under {reference_stream_dir}")
