"""A Stream V2 consumer built only from DECTRIS's documentation and DECTRIS's decompressor.

It decodes a message the way DECTRIS's documented Python example client does (stream.md §4,
§11.1; DEX ``client.py``): ``cbor2.loads`` with a tag hook, tag 40 = ``[dims, array]`` row-major,
tags 64-87 = typed arrays of RFC 8746 (element type from the tag), tag 56500 =
``[algorithm, element size, bytes]`` decompressed with ``dectris.compression.decompress``
(PyPI ``dectris-compression``). Nothing of ours (codec, compression) is used, so a message this
decodes into the pixels the writer stored is witnessed by DECTRIS's own decompressor.
"""

from __future__ import annotations

import cbor2
import numpy as np

try:  # DECTRIS's decompressor; tests skip without it
    from dectris.compression import decompress
except ImportError:  # pragma: no cover - depends on the environment
    decompress = None

#: RFC 8746 typed-array tags (stream.md §4.1 table): tag -> numpy dtype string. Tag bits: 0x40
#: base; bit 4 float, bit 3 signed, bit 2 little-endian, bits 1-0 size (1, 2, 4, 8 bytes).
TYPED_ARRAY_TAGS: dict[int, str] = {}
for _tag in range(64, 88):
    if _tag == 76:  # reserved
        continue
    _float = bool(_tag & 0x10)
    _signed = bool(_tag & 0x08)
    _little = bool(_tag & 0x04)
    _size_code = _tag & 0x03
    if _float:
        _size = (2, 4, 8, 16)[_size_code]
        _kind = "f"
    else:
        _size = 1 << _size_code
        _kind = "i" if _signed else "u"
    if _size == 1:
        TYPED_ARRAY_TAGS[_tag] = f"|{_kind}1"
    else:
        TYPED_ARRAY_TAGS[_tag] = f"{'<' if _little else '>'}{_kind}{_size}"
# 68 is uint8 "clamped"; 64 and 68 both uint8 regardless of the endianness bit.
TYPED_ARRAY_TAGS[68] = "|u1"


class DectrisDecodeError(ValueError):
    """A message DECTRIS's documented consumer could not decode."""


def _tag_hook(*args):
    # cbor2 >= 6 calls hook(tag, immutable); cbor2 5 calls hook(decoder, tag) (stream.md §11.1).
    tag = args[0] if hasattr(args[0], "tag") else args[1]
    value = tag.value
    if tag.tag == 56500:
        algorithm, elem_size, data = value
        if decompress is None:
            raise DectrisDecodeError("dectris-compression is not installed")
        return decompress(bytes(data), algorithm, elem_size=elem_size)
    if tag.tag in TYPED_ARRAY_TAGS:
        if not isinstance(value, bytes | bytearray):
            raise DectrisDecodeError(f"tag {tag.tag}: expected a byte string")
        return np.frombuffer(value, dtype=TYPED_ARRAY_TAGS[tag.tag])
    if tag.tag == 40:
        dims, array = value
        if not isinstance(array, np.ndarray):
            raise DectrisDecodeError("tag 40: expected a typed array")
        return array.reshape(tuple(dims))  # row-major, slowest dimension first (§4.2)
    return tag


def decode_message(raw: bytes) -> dict:
    """One Stream V2 message as DECTRIS's example client sees it."""
    return cbor2.loads(raw, tag_hook=_tag_hook)


def image_pixels(message: dict, channel: str = "default") -> np.ndarray:
    """The 2-d pixel array of an image message's channel."""
    if message.get("type") != "image":
        raise DectrisDecodeError(f"type {message.get('type')!r} is not an image message")
    pixels = message["data"][channel]
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2:
        raise DectrisDecodeError(f"data[{channel!r}]: not a 2-d array")
    return pixels
