"""The wire contract: CBOR messages over ZeroMQ (shared/spec/stream.md). Imports nothing of ours.

- :mod:`stream.messages`: one class per message kind, derived from its field table;
- :mod:`stream.codec`: :func:`encode` / :func:`decode` with tags 40, 64-87, 56500, 55799;
- :mod:`stream.compression`: bslz4 / bszstd / lz4 payloads (the HDF5 filter chunk framing);
- :mod:`stream.transport`: ZeroMQ PUSH/PULL and PUB/SUB with statistics;
- :mod:`stream.dump`: numbered ``.cbor`` dump folders and their replay;
- :mod:`stream.formats`: the ``file_format`` values and layout names;
- :mod:`stream.writer_events`: the writer's event lines as typed records;
- :mod:`stream.profiles`: what a DECTRIS or a Jungfraujoch consumer is sent.
"""

from jfjoch_hil.stream.arrays import TypedArray, dtype_for_tag, tag_for_dtype
from jfjoch_hil.stream.codec import decode, decode_map, encode, encode_map
from jfjoch_hil.stream.dump import (
    DumpWriter,
    ReplayStatistics,
    dump_files,
    read_dump,
    record,
    replay,
)
from jfjoch_hil.stream.errors import (
    CompressionError,
    DecodeError,
    DumpError,
    EncodeError,
    EventError,
    ProfileError,
    StreamError,
    TransportError,
)
from jfjoch_hil.stream.formats import FILE_FORMATS, LAYOUT_NAMES, PROCESS_LAYOUT, FileFormat
from jfjoch_hil.stream.messages import (
    MESSAGE_TYPES,
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    REFLECTION_DTYPES,
    REFLECTION_TABLE,
    SPOT_MEMBERS,
    CalibrationMessage,
    EndMessage,
    Field,
    ImageMessage,
    Message,
    MetadataMessage,
    Rational,
    ReflectionColumn,
    StartMessage,
)
from jfjoch_hil.stream.profiles import (
    DECTRIS_COMPRESSIONS,
    DECTRIS_FIELDS,
    DECTRIS_IMAGE_DTYPES,
    DECTRIS_MESSAGE_TYPES,
    JUNGFRAUJOCH_FIELDS,
    MAGIC_NUMBER,
    StreamProfile,
    apply_profile,
)
from jfjoch_hil.stream.transport import (
    DEFAULT_ENDPOINT,
    Publisher,
    Puller,
    Pusher,
    Received,
    ReceiverStatistics,
    SenderStatistics,
    Subscriber,
    shutdown,
)
from jfjoch_hil.stream.writer_events import (
    RejectReason,
    RunFinished,
    WriterEvent,
    WriterExit,
    WriterReady,
    WriterStatistics,
    event_json,
    event_line,
    parse_event,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DumpWriter",
    "Publisher",
    "Puller",
    "Pusher",
    "Received",
    "ReceiverStatistics",
    "ReplayStatistics",
    "SenderStatistics",
    "Subscriber",
    "dump_files",
    "read_dump",
    "record",
    "replay",
    "shutdown",
    "FILE_FORMATS",
    "DECTRIS_COMPRESSIONS",
    "DECTRIS_FIELDS",
    "DECTRIS_IMAGE_DTYPES",
    "DECTRIS_MESSAGE_TYPES",
    "JUNGFRAUJOCH_FIELDS",
    "MAGIC_NUMBER",
    "ProfileError",
    "StreamProfile",
    "apply_profile",
    "LAYOUT_NAMES",
    "PROCESS_LAYOUT",
    "FileFormat",
    "EventError",
    "RejectReason",
    "RunFinished",
    "WriterEvent",
    "WriterExit",
    "WriterReady",
    "WriterStatistics",
    "event_json",
    "event_line",
    "parse_event",
    "REFLECTION_DTYPES",
    "REFLECTION_TABLE",
    "ReflectionColumn",
    "MESSAGE_TYPES",
    "PROFILING_KEYS",
    "REFLECTION_COLUMNS",
    "SPOT_MEMBERS",
    "CalibrationMessage",
    "CompressionError",
    "DecodeError",
    "DumpError",
    "EncodeError",
    "EndMessage",
    "Field",
    "ImageMessage",
    "Message",
    "MetadataMessage",
    "Rational",
    "StartMessage",
    "StreamError",
    "TransportError",
    "TypedArray",
    "decode",
    "decode_map",
    "dtype_for_tag",
    "encode",
    "encode_map",
    "tag_for_dtype",
]
