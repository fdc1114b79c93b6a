"""The wire contract: CBOR messages over ZeroMQ (shared/spec/stream.md). Imports nothing of ours.

- :mod:`stream.messages`: one class per message kind, derived from its field table;
- :mod:`stream.codec`: :func:`encode` / :func:`decode` with tags 40, 64-87, 56500, 55799;
- :mod:`stream.compression`: bslz4 / bszstd / lz4 payloads (the HDF5 filter chunk framing);
- :mod:`stream.transport`: ZeroMQ PUSH/PULL and PUB/SUB with statistics;
- :mod:`stream.dump`: numbered ``.cbor`` dump folders and their replay.
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
    StreamError,
    TransportError,
)
from jfjoch_hil.stream.messages import (
    FILE_FORMATS,
    MESSAGE_TYPES,
    PROFILING_KEYS,
    REFLECTION_COLUMNS,
    SPOT_MEMBERS,
    CalibrationMessage,
    EndMessage,
    Field,
    ImageMessage,
    Message,
    MetadataMessage,
    Rational,
    StartMessage,
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
