"""Decompression of tag-56500 payloads for ``jfcheck stream --deep`` (stream.md §4.3): bslz4 and
bszstd through bitshuffle, lz4 by walking the HDF5 LZ4-filter block framing with python-lz4.

Each function returns the decompressed byte count or raises ValueError naming what was wrong.
Optional dependencies: without bitshuffle / lz4 the payload cannot be verified (reported as such).
"""

from __future__ import annotations

import numpy as np

__all__ = ["decompressed_size"]

_INT_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bitshuffle(data: bytes, elem: int, algorithm: str) -> int:
    import bitshuffle

    total = int.from_bytes(data[:8], "big")
    block_bytes = int.from_bytes(data[8:12], "big")
    if total % elem or block_bytes % elem or block_bytes == 0:
        raise ValueError(
            f"header: total {total} / block {block_bytes} bytes not multiples of {elem}"
        )
    body = np.frombuffer(data, dtype=np.uint8, offset=12)
    fn = bitshuffle.decompress_lz4 if algorithm == "bslz4" else bitshuffle.decompress_zstd
    out = fn(body, (total // elem,), np.dtype(_INT_DTYPES[elem]), block_bytes // elem)
    return int(out.nbytes)


def _lz4_blocks(data: bytes) -> int:
    import lz4.block

    total = int.from_bytes(data[:8], "big")
    block = int.from_bytes(data[8:12], "big")
    if block == 0:
        raise ValueError("block size 0")
    pos, produced = 12, 0
    while produced < total:
        if pos + 4 > len(data):
            raise ValueError(f"payload ends after {produced} of {total} bytes")
        size = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        want = min(block, total - produced)
        chunk = data[pos : pos + size]
        if len(chunk) != size:
            raise ValueError(f"block of {size} bytes truncated to {len(chunk)}")
        raw = chunk if size == want else lz4.block.decompress(chunk, uncompressed_size=want)
        if len(raw) != want:
            raise ValueError(f"block decompressed to {len(raw)} bytes, {want} expected")
        produced += want
        pos += size
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes after the last block")
    return produced


def decompressed_size(algorithm: str, data: bytes, elem: int) -> int:
    """Decompress ``data`` (a tag-56500 payload of ``algorithm``) and return its byte count."""
    if algorithm in ("bslz4", "bszstd"):
        return _bitshuffle(data, elem, algorithm)
    if algorithm == "lz4":
        return _lz4_blocks(data)
    raise ValueError(f"algorithm '{algorithm}' unknown")
