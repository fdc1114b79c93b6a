"""Stream profiles: what a DECTRIS and a Jungfraujoch consumer are sent (stream.md §1, §5, §8)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from jfjoch_hil.conformance import _stream as checker
from jfjoch_hil.stream import (
    DECTRIS_FIELDS,
    JUNGFRAUJOCH_FIELDS,
    MESSAGE_TYPES,
    CalibrationMessage,
    EndMessage,
    ImageMessage,
    MetadataMessage,
    ProfileError,
    Rational,
    StartMessage,
    TypedArray,
    apply_profile,
)


def _image(dtype=np.uint16, compression="bslz4") -> ImageMessage:
    return ImageMessage(
        series_id=1,
        series_unique_id="S",
        image_id=0,
        real_time=Rational(9, 10),
        series_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        start_time=Rational(0, 10),
        stop_time=Rational(9, 10),
        user_data={},
        data={"default": TypedArray.from_numpy(np.zeros((4, 6), dtype), compression=compression)},
        spots=({"x": 1.0, "y": 2.0, "I": 3.0},),
        packets_received=2,
    )


def test_the_profile_field_lists_are_rows_of_the_message_tables():
    for kind, keys in DECTRIS_FIELDS.items():
        rows = {f.key: f for f in MESSAGE_TYPES[kind].FIELDS}
        for key in keys:
            assert "D" in rows[key].std, (kind, key)  # DECTRIS fields: std D or D/J
    for kind, keys in JUNGFRAUJOCH_FIELDS.items():
        rows = {f.key: f for f in MESSAGE_TYPES[kind].FIELDS}
        assert set(keys) <= set(rows), (kind, set(keys) - set(rows))


def test_the_checker_lists_written_from_the_spec_agree_with_the_senders():
    """conformance declares its own lists from stream.md; both sides must name the same fields."""
    for kind, keys in DECTRIS_FIELDS.items():
        assert set(checker.DECTRIS_FIELDS[kind]) == set(keys), kind
    for kind, keys in JUNGFRAUJOCH_FIELDS.items():
        wanted = set(checker.JUNGFRAUJOCH_FIELDS[kind]) - {"series_id", "series_unique_id"}
        assert wanted <= set(keys), kind


def test_jungfraujoch_profile_sends_everything_unchanged():
    image = _image(np.int16, "bszstd")
    assert apply_profile(image, "jungfraujoch") is image
    calibration = CalibrationMessage(name="p", data=TypedArray.from_numpy(np.zeros((2, 2))))
    assert apply_profile(calibration, "jungfraujoch") is calibration


def test_dectris_profile_sends_start_image_end_only_with_dectris_fields():
    calibration = CalibrationMessage(name="p", data=TypedArray.from_numpy(np.zeros((2, 2))))
    assert apply_profile(calibration, "dectris") is None
    assert apply_profile(MetadataMessage(images=()), "dectris") is None
    shaped = apply_profile(_image(), "dectris")
    assert isinstance(shaped, ImageMessage)
    sent = shaped.to_wire()
    assert list(sent) == ["type", *DECTRIS_FIELDS["image"]]  # spots, packets_received dropped
    start = apply_profile(
        StartMessage(
            series_id=1, image_dtype="uint32", magic_number=7, file_prefix="a", extra={"x": 1}
        ),
        "dectris",
    )
    assert start is not None and start.to_wire() == {
        "type": "start",
        "series_id": 1,
        "image_dtype": "uint32",
    }
    end = apply_profile(EndMessage(series_id=1, images_collected=3), "dectris")
    assert end is not None and end.to_wire() == {"type": "end", "series_id": 1}


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (StartMessage(image_dtype="int16"), "start.image_dtype: 'int16'"),
        (_image(np.int32), "image.data.default: int32 pixels"),
        (_image(np.uint16, "bszstd"), "image.data.default: compression 'bszstd'"),
    ],
)
def test_dectris_profile_refuses_what_it_cannot_express_naming_the_field(message, named):
    with pytest.raises(ProfileError, match=named):
        apply_profile(message, "dectris")


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="'dectris2'"):
        apply_profile(_image(), "dectris2")
