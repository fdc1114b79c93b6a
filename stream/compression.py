"""Payload compression of the DECTRIS compression tag 56500 (stream.md section 4.3).

A ``bslz4`` or ``bszstd`` payload is exactly one chunk of the HDF5 bitshuffle filter (id 32008):
an 8-byte big-endian uncompressed size, a 4-byte big-endian block size in bytes, then per block a
4-byte big-endian compressed length and the compressed bit-transposed block, and finally the last
``count mod 8`` elements copied raw.  An ``lz4`` payload is one chunk of the HDF5 LZ4 filter (id
32004): the same 12-byte header, then per block a 4-byte length and an LZ4 block, stored raw when
the length equals the block's size.

The framing is walked in Python before any C code touches a payload, so a truncated or hostile
payload is refused with a :class:`~stream.errors.CompressionError` instead of being read past its
end.
"""

from __future__ import annotations

import struct

import bitshuffle
import lz4.block
import numpy as np
from jfjoch_hil.stream.errors import CompressionError

__all__ = [
    "ALGORITHMS",
    "BLOCK_SIZE_BYTES",
    "HDF5_FILTERS",
    "JUNGFRAUJOCH_ALGORITHMS",
    "compress",
    "decompress",
    "uncompressed_nbytes",
    "validate_payload",
]

#: Every algorithm string of tag 56500 our decoder accepts (stream.md 4.3).
ALGORITHMS = ("bslz4", "bszstd", "lz4")
#: Algorithms Jungfraujoch accepts; our simulator only sends these (JCBOR: no plain LZ4).
JUNGFRAUJOCH_ALGORITHMS = ("bslz4", "bszstd")
#: Block size in bytes of every payload we write; observed in all DECTRIS messages (stream.md 11.4).
BLOCK_SIZE_BYTES = 8192
#: Default Zstandard level for ``bszstd`` payloads.
ZSTD_LEVEL = 3
#: HDF5 filter id that stores each algorithm's payload unchanged as a chunk (stream.md 4.3).
HDF5_FILTERS = {"bslz4": 32008, "bszstd": 32008, "lz4": 32004}

_HEADER = struct.Struct(">QI")
_LENGTH = struct.Struct(">I")
# No allocation is made from a declared size beyond this bound (1 GiB per payload).
MAX_UNCOMPRESSED_BYTES = 1 << 30


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise CompressionError(
            f"unknown compression {algorithm!r}; allowed: {', '.join(ALGORITHMS)}"
        )


def _block_elements(itemsize: int, block_bytes: int = BLOCK_SIZE_BYTES) -> int:
    return block_bytes // itemsize


def compress(data: np.ndarray, algorithm: str, *, level: int = ZSTD_LEVEL) -> bytes:
    """Compress ``data`` (any shape, C order) into a tag-56500 payload of ``algorithm``.

    The result carries the 12-byte header, so it is also a valid HDF5 chunk for the filter named
    in :data:`HDF5_FILTERS` (stream.md 4.3).
    """
    _check_algorithm(algorithm)
    flat = np.ascontiguousarray(data).reshape(-1)
    itemsize = flat.dtype.itemsize
    header = _HEADER.pack(flat.nbytes, BLOCK_SIZE_BYTES)
    if algorithm == "lz4":
        raw = flat.view(np.uint8).tobytes()
        parts = [header]
        for start in range(0, len(raw), BLOCK_SIZE_BYTES):
            block = raw[start : start + BLOCK_SIZE_BYTES]
            packed: bytes = lz4.block.compress(block, store_size=False)
            if len(packed) >= len(block):
                packed = block  # stored raw: its length equals the block size
            parts.append(_LENGTH.pack(len(packed)))
            parts.append(packed)
        return b"".join(parts)
    if BLOCK_SIZE_BYTES % (8 * itemsize):
        raise CompressionError(
            f"bitshuffle needs an element size dividing 1024 bytes, got {itemsize}"
        )
    elements = _block_elements(itemsize)
    if algorithm == "bslz4":
        body = bitshuffle.compress_lz4(flat, elements)
    else:
        body = bitshuffle.compress_zstd(flat, elements, level)
    return header + body.tobytes()


def uncompressed_nbytes(payload: bytes | memoryview) -> int:
    """The uncompressed size in bytes a payload declares in its first 8 bytes (stream.md 4.3)."""
    if len(payload) < _HEADER.size:
        raise CompressionError(
            f"payload of {len(payload)} bytes is shorter than its 12-byte header"
        )
    return _HEADER.unpack_from(payload, 0)[0]


def validate_payload(payload: bytes | memoryview, algorithm: str, itemsize: int) -> int:
    """Walk the block framing of ``payload``; return its uncompressed size in bytes.

    Raises :class:`CompressionError` naming the first inconsistency: a header shorter than 12
    bytes, a size that is not a whole number of elements, a block size that is not a multiple of
    8 elements, a block length running past the end, or bytes left over at the end.
    """
    _check_algorithm(algorithm)
    total, block_bytes = _HEADER.unpack_from(payload, 0) if len(payload) >= 12 else (None, None)
    if total is None:
        raise CompressionError(
            f"payload of {len(payload)} bytes is shorter than its 12-byte header"
        )
    if total > MAX_UNCOMPRESSED_BYTES:
        raise CompressionError(
            f"declared size {total} bytes exceeds the bound {MAX_UNCOMPRESSED_BYTES}"
        )
    if total % itemsize:
        raise CompressionError(
            f"declared size {total} bytes is not a whole number of {itemsize}-byte elements"
        )
    if block_bytes == 0 or block_bytes % itemsize:
        raise CompressionError(
            f"block size {block_bytes} bytes is not a positive multiple of {itemsize}"
        )
    end = len(payload)
    position = _HEADER.size
    if algorithm == "lz4":
        blocks = -(-total // block_bytes)
        tail = 0
    else:
        block_elements = block_bytes // itemsize
        if block_elements % 8:
            raise CompressionError(
                f"bitshuffle block of {block_elements} elements is not a multiple of 8"
            )
        count = total // itemsize
        leftover = count % block_elements
        blocks = count // block_elements + (1 if leftover - leftover % 8 else 0)
        tail = (count % 8) * itemsize
    for index in range(blocks):
        if position + 4 > end - tail:
            raise CompressionError(
                f"block {index} of {blocks}: length word past the end ({end} bytes)"
            )
        (length,) = _LENGTH.unpack_from(payload, position)
        position += 4 + length
        if position > end - tail:
            raise CompressionError(
                f"block {index} of {blocks}: {length} bytes run past the end ({end} bytes)"
            )
    if position + tail != end:
        raise CompressionError(f"{end - position - tail} unexpected bytes after the last block")
    return total


def decompress(payload: bytes | memoryview, algorithm: str, dtype: np.dtype) -> np.ndarray:
    """Decompress a tag-56500 payload into a flat array of ``dtype`` (stream.md 4.3)."""
    dtype = np.dtype(dtype)
    total = validate_payload(payload, algorithm, dtype.itemsize)
    count = total // dtype.itemsize
    if count == 0:
        return np.empty(0, dtype)
    body = np.frombuffer(payload, np.uint8, offset=_HEADER.size)
    block_bytes = _HEADER.unpack_from(payload, 0)[1]
    try:
        if algorithm == "lz4":
            return _decompress_lz4(payload, total, block_bytes).view(dtype)
        block = block_bytes // dtype.itemsize
        if algorithm == "bslz4":
            out = bitshuffle.decompress_lz4(body, (count,), dtype, block)
        else:
            out = bitshuffle.decompress_zstd(body, (count,), dtype, block)
    except CompressionError:
        raise
    except Exception as error:  # the C decoders raise assorted types for corrupt blocks
        raise CompressionError(f"{algorithm} payload is corrupt: {error}") from error
    return out


def _decompress_lz4(payload: bytes | memoryview, total: int, block_bytes: int) -> np.ndarray:
    out = np.empty(total, np.uint8)
    view = memoryview(payload)
    position = _HEADER.size
    for start in range(0, total, block_bytes):
        size = min(block_bytes, total - start)
        (length,) = _LENGTH.unpack_from(payload, position)
        block = view[position + 4 : position + 4 + length]
        position += 4 + length
        if length == size:
            out[start : start + size] = np.frombuffer(block, np.uint8)
            continue
        try:
            raw = lz4.block.decompress(block, uncompressed_size=size)
        except lz4.block.LZ4BlockError as error:
            raise CompressionError(f"lz4 block at byte {start}: {error}") from error
        if len(raw) != size:
            raise CompressionError(
                f"lz4 block at byte {start} gave {len(raw)} bytes, expected {size}"
            )
        out[start : start + size] = np.frombuffer(raw, np.uint8)
    return out
