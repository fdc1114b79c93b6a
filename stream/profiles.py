"""Stream profiles: what a sender puts on the wire for a DECTRIS or a Jungfraujoch consumer.

* ``jungfraujoch`` (default): every message kind of stream.md §1 (start, calibration, image, end)
  with the DECTRIS fields Jungfraujoch also sends and the Jungfraujoch extensions.
* ``dectris``: DECTRIS Stream V2 exactly (stream.md §5.1, §8.1, §10.1): only ``start``, ``image``
  and ``end`` messages (DECTRIS's C client refuses any other ``type``), every field the DECTRIS
  documentation lists and nothing else, unsigned pixel types (``image_dtype`` uint8/16/32, §5.1)
  and the compressions DECTRIS defines (``bslz4``, ``lz4``, §4.3; its clients fail on ``bszstd``).

:func:`apply_profile` turns a message into what the profile sends (or ``None``: not sent) and
raises :class:`~stream.errors.ProfileError` naming the field when the message cannot be expressed
in the profile.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from jfjoch_hil.stream.arrays import TypedArray
from jfjoch_hil.stream.errors import ProfileError
from jfjoch_hil.stream.messages import EndMessage, ImageMessage, Message, StartMessage

__all__ = [
    "DECTRIS_COMPRESSIONS",
    "DECTRIS_FIELDS",
    "DECTRIS_IMAGE_DTYPES",
    "DECTRIS_MESSAGE_TYPES",
    "JUNGFRAUJOCH_FIELDS",
    "MAGIC_NUMBER",
    "StreamProfile",
    "apply_profile",
]


class StreamProfile(StrEnum):
    """Which consumer the stream is for (scenario ``[stream] profile``)."""

    JUNGFRAUJOCH = "jungfraujoch"
    DECTRIS = "dectris"


#: Message kinds DECTRIS defines (stream.md §1).
DECTRIS_MESSAGE_TYPES: tuple[str, ...] = ("start", "image", "end")
#: Pixel types of DECTRIS ``image_dtype`` (stream.md §5.1).
DECTRIS_IMAGE_DTYPES: tuple[str, ...] = ("uint8", "uint16", "uint32")
#: Compression algorithms DECTRIS defines (stream.md §4.3).
DECTRIS_COMPRESSIONS: tuple[str, ...] = ("bslz4", "lz4")

#: Every field the DECTRIS documentation lists, per message kind (stream.md §5.1 start, §8.1
#: image, §10.1 end), without ``type``.
DECTRIS_FIELDS: dict[str, tuple[str, ...]] = {
    "start": (
        "series_id",
        "series_unique_id",
        "arm_date",
        "beam_center_x",
        "beam_center_y",
        "channels",
        "count_time",
        "countrate_correction_enabled",
        "countrate_correction_lookup_table",
        "detector_description",
        "detector_serial_number",
        "detector_translation",
        "flatfield",
        "flatfield_enabled",
        "frame_time",
        "goniometer",
        "image_dtype",
        "image_size_x",
        "image_size_y",
        "incident_energy",
        "incident_wavelength",
        "number_of_images",
        "pixel_mask",
        "pixel_mask_enabled",
        "pixel_size_x",
        "pixel_size_y",
        "saturation_value",
        "sensor_material",
        "sensor_thickness",
        "threshold_energy",
        "user_data",
        "virtual_pixel_interpolation_enabled",
    ),
    "image": (
        "series_id",
        "series_unique_id",
        "image_id",
        "real_time",
        "series_date",
        "start_time",
        "stop_time",
        "user_data",
        "data",
    ),
    "end": ("series_id", "series_unique_id"),
}

#: Confirmed fields Jungfraujoch sends (stream.md §5.2 start rows marked D/J or J with status C,
#: and the DECTRIS image timing fields of §8.1, which Jungfraujoch keeps, §8.2).
JUNGFRAUJOCH_FIELDS: dict[str, tuple[str, ...]] = {
    "start": (
        "series_id",
        "series_unique_id",
        "magic_number",
        "detector_distance",
        "detector_translation",
        "beam_center_x",
        "beam_center_y",
        "countrate_correction_enabled",
        "flatfield_enabled",
        "number_of_images",
        "image_size_x",
        "image_size_y",
        "incident_energy",
        "incident_wavelength",
        "frame_time",
        "count_time",
        "saturation_value",
        "pixel_size_x",
        "pixel_size_y",
        "sensor_thickness",
        "sensor_material",
        "arm_date",
        "pixel_mask_enabled",
        "detector_description",
        "pixel_mask",
        "threshold_energy",
        "virtual_pixel_interpolation_enabled",
    ),
    "image": (
        "series_id",
        "series_unique_id",
        "image_id",
        "real_time",
        "series_date",
        "start_time",
        "stop_time",
        "data",
    ),
    "end": ("series_id", "series_unique_id"),
}

#: The ``magic_number`` this project sends (stream.md §6: a Jungfraujoch data-interface version
#: whose value the spec does not give; consumers log a mismatch, they do not reject).
MAGIC_NUMBER = 0x4A464A48  # "JFJH"


def apply_profile(message: Message, profile: str) -> Message | None:
    """``message`` as ``profile`` sends it; ``None`` when the profile does not send its kind.

    Raises :class:`ProfileError` naming the field when the message cannot be expressed in the
    profile (a signed ``image_dtype`` or an image compressed with ``bszstd`` for DECTRIS).
    """
    profile = StreamProfile(profile)
    if profile is StreamProfile.JUNGFRAUJOCH:
        return message
    if message.TYPE not in DECTRIS_MESSAGE_TYPES:
        return None
    keep = set(DECTRIS_FIELDS[message.TYPE])
    values = {
        f.name: (getattr(message, f.name) if f.name in keep else None)
        for f in dataclasses.fields(message)
        if f.name != "extra"
    }
    if isinstance(message, StartMessage):
        dtype = message.image_dtype
        if dtype is not None and dtype not in DECTRIS_IMAGE_DTYPES:
            raise ProfileError(
                f"start.image_dtype: {dtype!r}; the dectris profile allows "
                f"{', '.join(DECTRIS_IMAGE_DTYPES)} (stream.md 5.1)"
            )
    if isinstance(message, ImageMessage):
        for channel, array in (message.data or {}).items():
            _check_array(f"image.data.{channel}", array)
    if isinstance(message, (StartMessage, ImageMessage, EndMessage)):
        return type(message)(**values)
    return None  # pragma: no cover - every DECTRIS kind is handled above


def _check_array(path: str, array: object) -> None:
    if not isinstance(array, TypedArray):
        return
    if array.compression is not None and array.compression not in DECTRIS_COMPRESSIONS:
        raise ProfileError(
            f"{path}: compression {array.compression!r}; the dectris profile allows "
            f"{', '.join(DECTRIS_COMPRESSIONS)} (stream.md 4.3)"
        )
    if array.dtype.kind not in "u":
        raise ProfileError(
            f"{path}: {array.dtype} pixels; the dectris profile allows "
            f"{', '.join(DECTRIS_IMAGE_DTYPES)} (stream.md 5.1)"
        )
