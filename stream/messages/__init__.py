"""One class per message kind of shared/spec/stream.md, each derived from its field table."""

from jfjoch_hil.stream.messages._base import KINDS, Field, Message, Rational, same_value
from jfjoch_hil.stream.messages.calibration import CALIBRATION_FIELDS, CalibrationMessage
from jfjoch_hil.stream.messages.end import END_FIELDS, EndMessage
from jfjoch_hil.stream.messages.image import (
    IMAGE_FIELDS,
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    SPOT_MEMBERS,
    ImageMessage,
)
from jfjoch_hil.stream.messages.metadata import METADATA_FIELDS, MetadataMessage
from jfjoch_hil.stream.messages.start import FILE_FORMATS, START_FIELDS, StartMessage

#: ``type`` value -> message class (stream.md section 1).
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (StartMessage, ImageMessage, EndMessage, CalibrationMessage, MetadataMessage)
}

__all__ = [
    "CALIBRATION_FIELDS",
    "END_FIELDS",
    "FILE_FORMATS",
    "IMAGE_FIELDS",
    "KINDS",
    "MESSAGE_TYPES",
    "METADATA_FIELDS",
    "PROFILING_KEYS",
    "REFLECTION_COLUMNS",
    "SPOT_MEMBERS",
    "START_FIELDS",
    "CalibrationMessage",
    "EndMessage",
    "Field",
    "ImageMessage",
    "Message",
    "MetadataMessage",
    "Rational",
    "StartMessage",
    "same_value",
]
