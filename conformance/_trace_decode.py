"""Wire values of a recorded stream as plain Python and numpy, for the stream-to-file trace.

Decoded with cbor2 and our own reading of the tags (stream.md §3.1, §4): tag 40 = row-major
``[dims, typed array]``, tags 64-87 = RFC 8746 typed arrays (§4.1), tag 56500 = compressed byte
string ``[algorithm, modifier, bytes]`` (§4.3). Written here from the spec, not taken from our
``stream`` package, so a decoder bug there cannot agree with itself here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
import numpy as np

__all__ = ["WireArray", "decode_message", "typed_dtype", "decompress", "plain"]


@dataclass(frozen=True)
class WireArray:
    """An array as it travelled: its values, and the compressed payload when it had one."""

    values: np.ndarray
    algorithm: str | None = None  # bslz4, bszstd, lz4 or None (plain bytes)
    payload: bytes | None = None  # the tag-56500 bytes: an HDF5 filter chunk (§4.3)


def typed_dtype(tag: int) -> np.dtype:
    """The numpy dtype of an RFC 8746 typed-array tag 64..87 (stream.md §4.1); ValueError else."""
    if not 64 <= tag <= 87 or tag == 76:
        raise ValueError(f"tag {tag} is not an RFC 8746 typed-array tag")
    bits = tag - 64
    little = bool(bits & 0b100)
    size_code = bits & 0b11
    if bits & 0b10000:  # float: 16, 32, 64, 128 bit
        kind, size = "f", 2 << size_code
    else:
        kind, size = ("i" if bits & 0b1000 else "u"), 1 << size_code
        if tag == 68:  # uint8, clamped
            kind, size = "u", 1
    order = "<" if little or size == 1 else ">"
    return np.dtype(f"{order}{kind}{size}")


def decompress(algorithm: str, data: bytes, elem: int) -> bytes:
    """The bytes of a tag-56500 payload (stream.md §4.3): bslz4 / bszstd via bitshuffle, lz4 by
    walking the HDF5 LZ4-filter block framing."""
    if len(data) < 12:
        raise ValueError(f"{algorithm} payload of {len(data)} bytes has no 12-byte header")
    total = int.from_bytes(data[:8], "big")
    block = int.from_bytes(data[8:12], "big")
    if block == 0 or total % elem:
        raise ValueError(f"{algorithm} header: {total} bytes in blocks of {block}")
    if algorithm in ("bslz4", "bszstd"):
        import bitshuffle

        body = np.frombuffer(data, dtype=np.uint8, offset=12)
        fn = bitshuffle.decompress_lz4 if algorithm == "bslz4" else bitshuffle.decompress_zstd
        out = fn(body, (total // elem,), np.dtype(f"u{elem}"), block // elem)
        return out.tobytes()
    if algorithm == "lz4":
        import lz4.block

        pos, parts, produced = 12, [], 0
        while produced < total:
            size = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
            want = min(block, total - produced)
            chunk = data[pos : pos + size]
            parts.append(
                chunk if size == want else lz4.block.decompress(chunk, uncompressed_size=want)
            )
            produced += want
            pos += size
        return b"".join(parts)
    raise ValueError(f"compression algorithm '{algorithm}' unknown")


def _typed(tag: cbor2.CBORTag) -> tuple[np.ndarray, str | None, bytes | None]:
    dtype = typed_dtype(tag.tag)
    content = tag.value
    if isinstance(content, cbor2.CBORTag) and content.tag == 56500:
        algorithm, _modifier, data = content.value
        raw = decompress(algorithm, bytes(data), dtype.itemsize)
        return np.frombuffer(raw, dtype=dtype), algorithm, bytes(data)
    return np.frombuffer(bytes(content), dtype=dtype), None, None


def _convert(value):
    if isinstance(value, cbor2.CBORTag):
        if value.tag == 40:
            dims, typed = value.value
            flat, algorithm, payload = _typed(typed)
            return WireArray(flat.reshape(tuple(dims)), algorithm, payload)
        if 64 <= value.tag <= 87:
            flat, algorithm, payload = _typed(value)
            return WireArray(flat, algorithm, payload)
        return value
    if isinstance(value, Mapping):
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v) for v in value]
    return value


def decode_message(raw: bytes) -> dict:
    """One message as a dict of plain values; arrays as :class:`WireArray`. ValueError when the
    bytes are not one CBOR map with a ``type``."""
    try:
        item = cbor2.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any decode failure is the recording's fault
        raise ValueError(f"not CBOR: {type(exc).__name__}: {str(exc)[:120]}") from exc
    if not isinstance(item, Mapping) or "type" not in item:
        raise ValueError("not a map with a 'type' key")
    return _convert(item)


def plain(value):
    """A wire value as numpy-comparable data: WireArray -> its values, lists stay lists."""
    if isinstance(value, WireArray):
        return value.values
    return value
