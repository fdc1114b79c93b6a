"""Errors of the stream package (shared/spec/stream.md).

Every decoding problem is a :class:`DecodeError` that names the message kind, the field path and
what was wrong, e.g. ``image.data.default: dims (512, 1024) do not match 524288 bytes of uint16``.
"""

from __future__ import annotations

__all__ = [
    "CompressionError",
    "DecodeError",
    "DumpError",
    "EncodeError",
    "EventError",
    "ProfileError",
    "StreamError",
    "TransportError",
]


class StreamError(Exception):
    """Base of every error raised by :mod:`stream`."""


class DecodeError(StreamError, ValueError):
    """A received message could not be decoded (stream.md sections 3-10).

    ``kind`` is the message ``type`` (or ``"message"`` when it is not known yet), ``path`` the
    dotted field path inside it (empty for the message as a whole) and ``reason`` what was wrong.
    """

    def __init__(self, kind: str, path: str, reason: str) -> None:
        self.kind = kind
        self.path = path
        self.reason = reason
        where = f"{kind}.{path}" if path else kind
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep the three parts across pickling (xdist, multiprocessing)
        return (type(self), (self.kind, self.path, self.reason))


class EncodeError(StreamError, ValueError):
    """A message could not be encoded: a field holds a value its type does not allow."""


class CompressionError(StreamError, ValueError):
    """A compressed payload (tag 56500, stream.md section 4.3) is malformed or of an unknown kind."""


class TransportError(StreamError, OSError):
    """A ZeroMQ endpoint could not be bound or connected, or a send timed out (stream.md 2)."""


class DumpError(StreamError, OSError):
    """A dump folder could not be written or read (numbered ``.cbor`` files)."""


class EventError(StreamError, ValueError):
    """A writer event line (stream.writer_events) that is not one of the declared records."""


class ProfileError(StreamError, ValueError):
    """A message that the chosen stream profile (stream.profiles) cannot express."""
