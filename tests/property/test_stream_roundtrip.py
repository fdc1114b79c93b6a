"""Round trip of every message kind, pixel type and compression.

decode(encode(m)) == m for messages drawn from each class's field table; images pixel-exact,
checked against the numpy array the message was built from (not against the codec's own output).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.stream import MESSAGE_TYPES, ImageMessage, TypedArray, decode, encode

from tests.strategies import ALL_DTYPES, COMPRESSIONS, arrays, messages


@pytest.mark.parametrize("kind", sorted(MESSAGE_TYPES))
@given(data=st.data())
def test_every_message_kind_round_trips(kind, data):
    message = data.draw(messages(MESSAGE_TYPES[kind]))
    decoded = decode(encode(message))
    assert type(decoded) is type(message)
    assert decoded == message
    assert decoded.extra.keys() == message.extra.keys()


@given(arrays(), st.booleans())
def test_image_pixels_are_exact_for_every_pixel_type_and_compression(pair, self_describe):
    pixels, compression = pair
    message = ImageMessage(
        image_id=7, data={"default": TypedArray.from_numpy(pixels, compression=compression)}
    )
    decoded = decode(encode(message, self_describe=self_describe))
    channel = decoded.data["default"]
    assert channel.compression == compression
    assert channel.dims == pixels.shape
    out = channel.to_numpy()
    assert out.dtype == pixels.dtype
    np.testing.assert_array_equal(out, pixels)


@given(arrays(dtypes=ALL_DTYPES, min_dims=1, max_dims=3, compressions=COMPRESSIONS))
def test_typed_array_from_numpy_is_lossless(pair):
    values, compression = pair
    typed = TypedArray.from_numpy(values, compression=compression)
    assert typed.check() is None
    np.testing.assert_array_equal(typed.to_numpy(), values)


def test_round_trip_keeps_message_order_type_first():
    message = ImageMessage(
        image_id=1, data={"default": TypedArray.from_numpy(np.zeros((2, 2), "u2"))}
    )
    raw = encode(message)
    # 55799 marker, then a map whose first key is "type" (stream.md 3)
    assert raw[:3] == b"\xd9\xd9\xf7"
    assert raw[4:9] == b"\x64type"
