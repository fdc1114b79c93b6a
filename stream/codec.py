"""CBOR encode/decode of stream messages (stream.md sections 3 and 4).

:func:`encode` writes one definite-length map, ``type`` first, wrapped in the self-described tag
55799 as DECTRIS does; arrays go out as tag 40 + RFC 8746 typed arrays (little-endian unless the
array says otherwise), compressed payloads inside tag 56500.  :func:`decode` accepts messages with
and without tag 55799, typed arrays of both byte orders, and raises one exception type,
:class:`~stream.errors.DecodeError`, naming the message kind, field path and problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cbor2
import numpy as np
from jfjoch_hil.stream.arrays import COMPRESSION_TAG, MULTIDIM_TAG, TypedArray, tag_for_dtype
from jfjoch_hil.stream.errors import DecodeError, EncodeError
from jfjoch_hil.stream.messages import KINDS, MESSAGE_TYPES, Message

__all__ = [
    "SELF_DESCRIBED_TAG",
    "decode",
    "decode_map",
    "encode",
    "encode_map",
    "message_type",
    "wire_map",
]

#: Self-described CBOR marker wrapping every DECTRIS message (stream.md 3, 11.1).
SELF_DESCRIBED_TAG = 55799
DATETIME_TAG = 0


def decode_map(data: bytes | bytearray | memoryview) -> Mapping[str, Any]:
    """Decode one CBOR message into its map, with arrays as :class:`TypedArray` (stream.md 3, 4).

    Raises :class:`DecodeError` for anything that is not a CBOR map.  Bytes after the first CBOR
    item are not looked at (finding them costs a copy of every image; ``jfcheck stream`` reports
    them): see docs/stream.md.
    """
    try:
        # No tag hook: cbor2 builds the tag objects in C and each field's check converts its
        # arrays in one call (stream.arrays.array_from_tag).
        item = cbor2.loads(data)
    except RecursionError:
        raise DecodeError("message", "", "nesting too deep") from None
    except Exception as error:  # cbor2 raises CBORDecodeError and friends for malformed input
        raise DecodeError("message", "", f"not valid CBOR: {error}") from None
    if isinstance(item, cbor2.CBORTag) and item.tag == SELF_DESCRIBED_TAG:
        item = item.value
    if not isinstance(item, Mapping):
        raise DecodeError("message", "", f"expected a CBOR map, got {type(item).__name__}")
    return item


def message_type(mapping: Mapping[str, Any]) -> str:
    """The ``type`` of a decoded message map; :class:`DecodeError` when absent or unknown."""
    kind = mapping.get("type")
    if kind is None:
        raise DecodeError("message", "type", "required field is missing")
    if not isinstance(kind, str):
        raise DecodeError("message", "type", f"expected a text string, got {kind!r:.40}")
    if kind not in MESSAGE_TYPES:
        allowed = ", ".join(MESSAGE_TYPES)
        raise DecodeError(kind, "type", f"unknown message type {kind!r}; allowed: {allowed}")
    return kind


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Decode one message into its class (:class:`~stream.messages.StartMessage`, ...).

    Unknown keys are kept in ``extra``.  Raises :class:`DecodeError` naming the kind, field path
    and problem, e.g. ``image.data.default: dims (512, 1024) do not match 524288 bytes of uint16``.
    """
    mapping = decode_map(data)
    cls = MESSAGE_TYPES[message_type(mapping)]
    return cls.from_wire(mapping)


def _array_item(value: TypedArray) -> cbor2.CBORTag:
    if value.compression is None:
        content: Any = bytes(value.payload)
    else:
        content = cbor2.CBORTag(
            COMPRESSION_TAG, [value.compression, value.modifier, bytes(value.payload)]
        )
    typed = cbor2.CBORTag(tag_for_dtype(value.dtype), content)
    if value.dims is None:
        return typed
    return cbor2.CBORTag(MULTIDIM_TAG, [list(value.dims), typed])


def _default(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if isinstance(value, TypedArray):
        encoder.encode(_array_item(value))
    elif isinstance(value, np.ndarray):
        encoder.encode(_array_item(TypedArray.from_numpy(value)))
    elif isinstance(value, np.generic):
        encoder.encode(value.item())
    else:
        raise EncodeError(f"cannot encode a value of type {type(value).__name__}")


def _wire_value(kind: str, key: str, value: Any, type_value: str) -> Any:
    # Strict writer: every field is checked by the same table the decoder uses, so what we send
    # is what we would accept; Float fields always go out as CBOR floats (DEX rejects integers).
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise EncodeError(f"{type_value}.{key}: expected a float, got {value!r:.40}")
        return float(value)
    if kind == "datetime":
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise EncodeError(f"{type_value}.{key}: expected a timezone-aware datetime")
        return cbor2.CBORTag(DATETIME_TAG, value.isoformat())
    if kind in ("uint", "int") and isinstance(value, np.integer):
        value = int(value)
    elif kind == "floats" and isinstance(value, np.ndarray):
        return [float(v) for v in value.astype(np.float64).reshape(-1)]
    try:
        checked = KINDS[kind](value, type_value, key)
    except DecodeError as error:
        raise EncodeError(str(error)) from None
    if kind == "floats":
        return list(checked)
    if kind == "channel_arrays":
        # tag trees built here, so the C encoder needs no call back into Python per array
        return {channel: _array_item(array) for channel, array in checked.items()}
    if kind == "multidim" or kind == "typed_array":
        return _array_item(checked)
    return checked


def encode_map(mapping: Mapping[str, Any], *, self_describe: bool = True) -> bytes:
    """Encode a plain message map as it stands (no field checks; for tests and fault injection)."""
    item: Any = dict(mapping)
    if self_describe:
        item = cbor2.CBORTag(SELF_DESCRIBED_TAG, item)
    try:
        return cbor2.dumps(item, default=_default)
    except EncodeError:
        raise
    except Exception as error:
        raise EncodeError(f"cannot encode message: {error}") from error


def encode(message: Message, *, self_describe: bool = True) -> bytes:
    """Encode ``message`` as one CBOR item (stream.md 3): ``type`` first, tag 55799 unless told."""
    return encode_map(wire_map(message), self_describe=self_describe)


def wire_map(message: Message) -> dict[str, Any]:
    """The checked map :func:`encode` hands to cbor2: every field validated by its table row,
    arrays already as tag trees (tag 40 / typed array / 56500), dates as tag 0."""
    wire = message.to_wire()
    by_key, exact = message._BY_KEY, message._EXACT
    for key, value in wire.items():
        wanted = exact.get(key)
        if wanted is not None and type(value) is wanted[0] and (wanted[1] or value >= 0):
            continue  # already exactly what the check accepts
        spec = by_key.get(key)
        if spec is not None:
            wire[key] = _wire_value(spec.kind, key, value, message.TYPE)
    return wire
