"""Compression payloads (stream.md 4.3): framing, HDF5 compatibility, refused corruption."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.stream import CompressionError, TypedArray
from jfjoch_hil.stream.compression import ALGORITHMS, compress, decompress, validate_payload

from tests.h5chunks import read_through_hdf5
from tests.strategies import arrays

NONEMPTY = st.sampled_from(ALGORITHMS)


@given(arrays(min_dims=2, max_dims=2, max_side=70, compressions=ALGORITHMS))
def test_payload_is_a_valid_hdf5_chunk_of_its_filter(pair):
    pixels, algorithm = pair
    if pixels.size == 0:
        return  # HDF5 has no chunk for an empty dataset
    pixels = pixels.astype(pixels.dtype.newbyteorder("<"))  # HDF5 filters see native order data
    payload = compress(pixels, algorithm)
    np.testing.assert_array_equal(
        read_through_hdf5(payload, algorithm, pixels.dtype, pixels.shape), pixels
    )


def test_header_holds_size_and_block_size_big_endian():
    pixels = np.arange(5000, dtype="<u2")
    payload = compress(pixels, "bslz4")
    total, block = struct.unpack(">QI", payload[:12])
    assert total == pixels.nbytes
    assert block == 8192


def test_tail_elements_are_copied_raw():
    # 13 elements: 8 go into a compressed block, the last 5 are stored uncompressed (stream.md 4.3)
    pixels = np.array([101, 102, 103, 104, 105, 106, 107, 108, 9, 10, 11, 12, 13], dtype="<u4")
    payload = compress(pixels, "bslz4")
    assert payload[-20:] == pixels[8:].tobytes()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_truncated_payload_is_refused_by_name(algorithm):
    pixels = (np.arange(20000) % 251).astype("<u2")
    payload = compress(pixels, algorithm)
    for cut in (0, 5, 11, 12, 15, len(payload) // 2, len(payload) - 1):
        with pytest.raises(CompressionError):
            decompress(payload[:cut], algorithm, pixels.dtype)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trailing_bytes_are_refused(algorithm):
    payload = compress(np.arange(3000, dtype="<u2"), algorithm)
    with pytest.raises(CompressionError, match="unexpected bytes"):
        validate_payload(payload + b"\0", algorithm, 2)


def test_declared_size_above_bound_is_refused_without_allocating():
    payload = struct.pack(">QI", 1 << 50, 8192)
    with pytest.raises(CompressionError, match="exceeds the bound"):
        decompress(payload, "bslz4", np.dtype("u2"))


def test_unknown_algorithm_is_named():
    with pytest.raises(CompressionError, match="unknown compression 'zip'"):
        compress(np.zeros(4, "u1"), "zip")


@given(arrays(max_side=30, compressions=ALGORITHMS), st.data())
def test_corrupted_payload_never_escapes_as_another_error(pair, data):
    pixels, algorithm = pair
    if pixels.size == 0:
        return
    payload = bytearray(compress(pixels, algorithm))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    typed = TypedArray(pixels.dtype, bytes(payload), pixels.shape, algorithm, pixels.dtype.itemsize)
    try:
        out = typed.to_numpy()
    except (CompressionError, ValueError):
        return
    assert out.shape == pixels.shape
