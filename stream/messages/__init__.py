"""One class per message kind of shared/spec/stream.md, each derived from its field table."""

from jfjoch_hil.stream.messages._base import (
    KIND_TYPES,
    KINDS,
    Field,
    Message,
    Rational,
    same_value,
)
from jfjoch_hil.stream.messages.calibration import CALIBRATION_FIELDS, CalibrationMessage
from jfjoch_hil.stream.messages.end import END_FIELDS, EndMessage
from jfjoch_hil.stream.messages.image import (
    IMAGE_FIELDS,
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    REFLECTION_DTYPES,
    REFLECTION_TABLE,
    SPOT_MEMBERS,
    ImageMessage,
    ReflectionColumn,
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
    "KIND_TYPES",
    "MESSAGE_TYPES",
    "METADATA_FIELDS",
    "PROFILING_KEYS",
    "REFLECTION_COLUMNS",
    "REFLECTION_DTYPES",
    "REFLECTION_TABLE",
    "SPOT_MEMBERS",
    "START_FIELDS",
    "CalibrationMessage",
    "EndMessage",
    "Field",
    "ImageMessage",
    "Message",
    "MetadataMessage",
    "Rational",
    "ReflectionColumn",
    "StartMessage",
    "same_value",
]
