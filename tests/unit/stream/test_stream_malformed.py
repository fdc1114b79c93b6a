"""Malformed input gives the named DecodeError, and the next good message still decodes."""

from __future__ import annotations

import cbor2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.stream import (
    DecodeError,
    ImageMessage,
    StartMessage,
    TypedArray,
    decode,
    encode,
    encode_map,
)


def good_image(image_id: int = 0) -> bytes:
    pixels = np.arange(64 * 32, dtype="<u2").reshape(32, 64)
    return encode(
        ImageMessage(
            image_id=image_id, data={"default": TypedArray.from_numpy(pixels, compression="bslz4")}
        )
    )


def image_with_channel(channel) -> bytes:
    return encode_map({"type": "image", "image_id": 3, "data": {"default": channel}})


def test_truncated_cbor_is_named_and_next_message_decodes():
    raw = good_image(1)
    for cut in (1, 3, 10, len(raw) // 2, len(raw) - 1):
        with pytest.raises(DecodeError, match=r"^message: not valid CBOR"):
            decode(raw[:cut])
        assert decode(good_image(2)).image_id == 2


def test_wrong_tag_payload_names_the_field_path():
    bad = cbor2.CBORTag(40, [[2, 2], cbor2.CBORTag(69, "not bytes")])
    with pytest.raises(DecodeError) as caught:
        decode(image_with_channel(bad))
    assert caught.value.kind == "image"
    assert caught.value.path == "data.default"
    assert "must hold a byte string" in caught.value.reason


def test_wrong_dims_reports_dims_and_byte_count():
    pixels = np.zeros(524288 // 2 + 8, "<u2")  # not 512 x 1024 elements
    bad = cbor2.CBORTag(40, [[512, 1024], cbor2.CBORTag(69, pixels.tobytes())])
    with pytest.raises(
        DecodeError,
        match=r"^image\.data\.default: dims \(512, 1024\) do not match 524304 bytes of uint16$",
    ):
        decode(image_with_channel(bad))


def test_wrong_dims_of_a_compressed_channel_is_found_without_decompressing():
    typed = TypedArray.from_numpy(np.zeros((4, 4), "<u2"), compression="bslz4")
    bad = cbor2.CBORTag(
        40, [[4, 5], cbor2.CBORTag(69, cbor2.CBORTag(56500, ["bslz4", 2, typed.payload]))]
    )
    with pytest.raises(DecodeError, match=r"dims \(4, 5\) do not match 32 bytes of uint16"):
        decode(image_with_channel(bad))


def test_unknown_compression_is_named():
    bad = cbor2.CBORTag(
        40, [[2, 2], cbor2.CBORTag(69, cbor2.CBORTag(56500, ["zip", 2, b"\0" * 8]))]
    )
    with pytest.raises(DecodeError, match=r"image\.data\.default: unknown compression 'zip'"):
        decode(image_with_channel(bad))


def test_modifier_disagreeing_with_element_size_is_named():
    typed = TypedArray.from_numpy(np.zeros((4, 4), "<u2"), compression="bslz4")
    bad = cbor2.CBORTag(
        40, [[4, 4], cbor2.CBORTag(69, cbor2.CBORTag(56500, ["bslz4", 4, typed.payload]))]
    )
    with pytest.raises(DecodeError, match="modifier 4 is not the element size 2"):
        decode(image_with_channel(bad))


def test_missing_required_field_is_named():
    with pytest.raises(DecodeError, match=r"^image\.image_id: required field is missing$"):
        decode(encode_map({"type": "image", "data": {}}))


def test_wrong_type_of_a_field_is_named():
    with pytest.raises(
        DecodeError, match=r"^start\.number_of_images: expected an unsigned integer"
    ):
        decode(encode_map({"type": "start", "number_of_images": "ten"}))
    with pytest.raises(DecodeError, match=r"^start\.arm_date: expected an RFC 3339 date/time"):
        decode(encode_map({"type": "start", "arm_date": "yesterday"}))


def test_unknown_message_type_and_non_map_are_reported():
    with pytest.raises(DecodeError, match="unknown message type 'status'"):
        decode(encode_map({"type": "status"}))
    with pytest.raises(DecodeError, match="expected a CBOR map, got list"):
        decode(cbor2.dumps([1, 2]))
    with pytest.raises(DecodeError, match=r"^message\.type: required field is missing"):
        decode(cbor2.dumps({"image_id": 1}))


def test_huge_declared_sizes_fail_fast():
    huge_bytes = b"\x5b" + (1 << 62).to_bytes(8, "big") + b"abc"
    huge_array = b"\x9b" + (1 << 62).to_bytes(8, "big")
    for raw in (huge_bytes, huge_array):
        with pytest.raises(DecodeError):
            decode(raw)


def test_integer_for_a_float_is_accepted_on_decode_but_written_as_float():
    decoded = decode(encode_map({"type": "start", "count_time": 1}))
    assert decoded.count_time == 1.0 and isinstance(decoded.count_time, float)
    raw = encode(StartMessage(count_time=1))
    assert cbor2.loads(raw)["count_time"].__class__ is float


@given(st.binary(max_size=200))
def test_random_bytes_give_decode_error_or_a_message(data):
    try:
        decode(data)
    except DecodeError as error:
        assert str(error)


@given(st.data())
def test_random_corruption_of_a_good_message_never_escapes(data):
    raw = bytearray(good_image(5))
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        message = decode(bytes(raw))
    except DecodeError:
        return
    for channel in (message.data or {}).values() if isinstance(message, ImageMessage) else ():
        try:
            channel.to_numpy()
        except ValueError:
            pass


def test_encoder_refuses_what_the_decoder_would_refuse():
    from jfjoch_hil.stream import EncodeError

    mask = TypedArray.from_numpy(np.zeros((4, 4), "<u4"))
    with pytest.raises(EncodeError, match=r"^start\.pixel_mask: expected a map"):
        encode(StartMessage(pixel_mask=mask))
    with pytest.raises(EncodeError, match=r"^image\.image_id: expected an unsigned integer"):
        encode(ImageMessage(image_id=-1, data={}))
    with pytest.raises(EncodeError, match=r"^start\.arm_date: expected a timezone-aware datetime"):
        from datetime import datetime

        encode(StartMessage(arm_date=datetime(2026, 1, 1)))


def test_numpy_arrays_are_sent_as_typed_arrays():
    start = StartMessage(
        roi_map=np.arange(6, dtype=np.uint16).reshape(2, 3), az_int_bin_to_q=np.array([0.5, 1.5])
    )
    decoded = decode(encode(start))
    np.testing.assert_array_equal(decoded.roi_map.to_numpy(), np.arange(6).reshape(2, 3))
    assert decoded.roi_map.dims == (2, 3)
    assert decoded.az_int_bin_to_q == (0.5, 1.5)


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        ([1.0, True], r"az_int_profile\[1\]: expected a float"),
        ([1.0, "x"], r"az_int_profile\[1\]: expected a float"),
        ("text", "az_int_profile: expected an array of floats"),
        ([1.0, None], r"az_int_profile\[1\]: expected a float"),
    ],
)
def test_float_arrays_are_checked_element_by_element_when_not_all_floats(profile, reason):
    with pytest.raises(DecodeError, match=rf"^image\.{reason}"):
        decode(encode_map({"type": "image", "image_id": 0, "data": {}, "az_int_profile": profile}))


def test_fast_paths_give_the_same_values_as_the_checks():
    spots = [{"x": 1.0, "y": 2.0, "I": 3.0, "indexed": False}]
    decoded = decode(
        encode_map(
            {
                "type": "image",
                "image_id": 3,
                "data": {},
                "az_int_profile": [1, 2.5],
                "spots": spots,
                "pixel_sum": -4,
                "storage_cell": 2,
            }
        )
    )
    assert decoded.az_int_profile == (1.0, 2.5) and all(
        type(v) is float for v in decoded.az_int_profile
    )
    assert decoded.spots == tuple(spots)
    assert decoded.pixel_sum == -4 and decoded.storage_cell == 2
    with pytest.raises(DecodeError, match=r"image\.storage_cell: expected an unsigned integer"):
        decode(encode_map({"type": "image", "image_id": 3, "data": {}, "storage_cell": -2}))
    with pytest.raises(DecodeError, match=r"image\.spots\[0\]: map keys must be text strings"):
        decode(encode_map({"type": "image", "image_id": 3, "data": {}, "spots": [{1: 2.0}]}))
