"""Typed arrays (RFC 8746, tags 64-87), tag-40 multi-dimensional arrays and compressed payloads.

stream.md sections 3.1, 4.1-4.3: an image channel travels as
``tag40([[rows, cols], tag69(tag56500(["bslz4", 2, bytes]))])``.  :class:`TypedArray` keeps the
payload as received (compressed or not) so a writer can store it without recompressing; pixels are
produced only when :meth:`TypedArray.to_numpy` is called.
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
import numpy as np
from jfjoch_hil.stream import compression as _compression
from jfjoch_hil.stream.errors import CompressionError

__all__ = [
    "COMPRESSION_TAG",
    "MULTIDIM_TAG",
    "TypedArray",
    "array_from_tag",
    "dtype_for_tag",
    "tag_for_dtype",
]

#: RFC 8746 multi-dimensional array, row-major (stream.md 4.2).
MULTIDIM_TAG = 40
#: Column-major multi-dimensional array: never seen in real data, refused with a named error.
MULTIDIM_COLUMN_MAJOR_TAG = 1040
#: DECTRIS compressed byte string (stream.md 4.3).
COMPRESSION_TAG = 56500

_TYPED_ARRAY_TAGS = range(64, 88)


def dtype_for_tag(tag: int) -> np.dtype:
    """The numpy dtype (with byte order) of RFC 8746 typed-array ``tag`` (stream.md table 4.1).

    Raises ``ValueError`` for tags outside 64-87, the reserved tag 76 and 128-bit floats.
    """
    dtype = _TAG_DTYPES.get(tag)
    if dtype is not None:
        return dtype
    return _dtype_for_tag(tag)  # raises with the reason


def _dtype_for_tag(tag: int) -> np.dtype:
    if tag not in _TYPED_ARRAY_TAGS:
        raise ValueError(f"tag {tag} is not an RFC 8746 typed array (64-87)")
    bits = tag - 64
    is_float, is_signed, little, size_code = bits >> 4 & 1, bits >> 3 & 1, bits >> 2 & 1, bits & 3
    order = "<" if little else ">"
    if is_float:
        if size_code == 3:
            raise ValueError(f"tag {tag}: 128-bit floats are not supported")
        return np.dtype(f"{order}f{2 << size_code}")
    size = 1 << size_code
    if size == 1:
        if is_signed and little:
            raise ValueError("tag 76 is reserved by RFC 8746")
        return np.dtype("i1" if is_signed else "u1")  # 68 is uint8 "clamped": same bytes
    return np.dtype(f"{order}{'i' if is_signed else 'u'}{size}")


def tag_for_dtype(dtype: np.dtype) -> int:
    """The RFC 8746 typed-array tag of ``dtype``, keeping its byte order (stream.md 4.1)."""
    tag = _DTYPE_TAGS.get(dtype)
    if tag is not None:
        return tag
    return _tag_for_dtype(np.dtype(dtype))


def _tag_for_dtype(dtype: np.dtype) -> int:
    if dtype.kind not in "uif" or dtype.itemsize not in (1, 2, 4, 8):
        raise ValueError(f"dtype {dtype} has no RFC 8746 typed-array tag")
    if dtype.kind == "f" and dtype.itemsize == 1:
        raise ValueError("there is no 8-bit float typed array")
    little = dtype.byteorder == "<" or (dtype.byteorder == "=" and np.little_endian)
    if dtype.itemsize == 1:
        return 72 if dtype.kind == "i" else 64
    if dtype.kind == "f":
        size_code = {2: 0, 4: 1, 8: 2}[dtype.itemsize]
        return 64 + (1 << 4) + (little << 2) + size_code
    size_code = {2: 1, 4: 2, 8: 3}[dtype.itemsize]
    return 64 + ((dtype.kind == "i") << 3) + (little << 2) + size_code


def _tables() -> tuple[dict[int, np.dtype], dict[np.dtype, int]]:
    # Decoding and encoding look these up per array: build them once from the rules above.
    by_tag = {}
    for tag in _TYPED_ARRAY_TAGS:
        try:
            by_tag[tag] = _dtype_for_tag(tag)
        except ValueError:
            continue
    by_dtype = {}
    for dtype in {*by_tag.values(), *(d.newbyteorder("=") for d in by_tag.values())}:
        by_dtype[dtype] = _tag_for_dtype(dtype)
    return by_tag, by_dtype


@dataclass(frozen=True, eq=False, slots=True)
class TypedArray:
    """An array as it travels on the wire (stream.md 3.1, 4.1-4.3).

    ``dtype`` is the element type with its byte order (from the typed-array tag); ``payload`` the
    bytes as received: raw elements, or a tag-56500 payload when ``compression`` is set
    (``"bslz4"``, ``"bszstd"`` or ``"lz4"``, with ``modifier`` as sent, for bitshuffle the element
    size in bytes).  ``dims`` is the tag-40 shape, slowest axis first (``(rows, columns)`` for an
    image); ``None`` for a plain typed array without tag 40.
    """

    dtype: np.dtype
    payload: bytes
    dims: tuple[int, ...] | None = None
    compression: str | None = None
    modifier: int = 0

    @classmethod
    def from_numpy(
        cls,
        array: np.ndarray,
        *,
        compression: str | None = None,
        level: int = _compression.ZSTD_LEVEL,
        multidim: bool = True,
    ) -> TypedArray:
        """Wrap ``array`` for sending, compressing it with ``compression`` if given.

        ``multidim`` keeps the shape as tag-40 dims; otherwise the array is sent flat as a plain
        typed array.
        """
        array = np.ascontiguousarray(array)
        dims = tuple(int(d) for d in array.shape) if multidim else None
        if compression is None:
            return cls(array.dtype, array.tobytes(), dims)
        payload = _compression.compress(array, compression, level=level)
        modifier = 0 if compression == "lz4" else array.dtype.itemsize
        return cls(array.dtype, payload, dims, compression, modifier)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape: the tag-40 dims, or ``(element count,)`` for a plain typed array."""
        if self.dims is not None:
            return self.dims
        return (self.nbytes // self.dtype.itemsize,)

    @property
    def nbytes(self) -> int:
        """Uncompressed size in bytes: the payload length, or the size a compressed payload declares."""
        if self.compression is None:
            return len(self.payload)
        return _compression.uncompressed_nbytes(self.payload)

    def check(self, *, framing: bool = False) -> str | None:
        """What is inconsistent between dims, dtype and payload, or ``None`` (stream.md 4.2).

        Compares the dims with the size a compressed payload declares in its header; with
        ``framing`` it also walks every block of the compression framing (about 20 us per MB,
        so the decoder leaves it to whoever stores or decompresses the payload).  Never
        decompresses.
        """
        itemsize = self.dtype.itemsize
        try:
            if self.compression is None:
                nbytes = len(self.payload)
            elif framing:
                nbytes = _compression.validate_payload(self.payload, self.compression, itemsize)
            else:
                nbytes = _compression.uncompressed_nbytes(self.payload)
        except CompressionError as error:
            return str(error)
        if nbytes % itemsize:
            return f"{nbytes} bytes are not a whole number of {self.dtype.name} elements"
        if self.dims is not None:
            if any(d < 0 for d in self.dims):
                return f"dims {self.dims} hold a negative size"
            count = 1
            for d in self.dims:
                count *= d
            if count * itemsize != nbytes:
                return f"dims {self.dims} do not match {nbytes} bytes of {self.dtype.name}"
        return None

    def to_numpy(self) -> np.ndarray:
        """The elements as a (read-only when uncompressed) numpy array of :attr:`shape`.

        Raises :class:`~stream.errors.CompressionError` for a corrupt payload and ``ValueError``
        when the size does not match the dims.
        """
        problem = self.check(framing=True)
        if problem is not None:
            raise CompressionError(problem) if self.compression else ValueError(problem)
        if self.compression is None:
            flat = np.frombuffer(self.payload, self.dtype)
        else:
            flat = _compression.decompress(self.payload, self.compression, self.dtype)
        return flat.reshape(self.shape)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedArray):
            return NotImplemented
        if self.dims != other.dims or self.dtype != other.dtype:
            return False
        if self.compression == other.compression and self.payload == other.payload:
            return True
        return bool(np.array_equal(self.to_numpy(), other.to_numpy()))

    def __repr__(self) -> str:
        how = self.compression or "raw"
        return f"TypedArray({self.dtype.str}, shape={self.shape}, {how}, {len(self.payload)} bytes)"


def array_from_tag(item: cbor2.CBORTag) -> TypedArray:
    """The :class:`TypedArray` a decoded CBOR tag stands for (stream.md 4.1-4.3).

    Accepts ``tag40([dims, typed])`` and a bare typed-array tag 64-87, whose content is a byte
    string or ``tag56500([algorithm, modifier, bytes])``.  One call walks the whole nesting (the
    decoder does not pay a Python call per tag).  Raises ``ValueError`` naming what is wrong; the
    dims are checked against the size by :meth:`TypedArray.check`, not here.
    """
    dims = None
    if item.tag == MULTIDIM_TAG:
        content = item.value
        if not isinstance(content, (list, tuple)) or len(content) != 2:
            raise ValueError("tag 40 content must be [dims, typed array]")
        dims, item = content
        if not isinstance(dims, (list, tuple)) or not all(type(d) is int and d >= 0 for d in dims):
            raise ValueError(f"tag 40 dims must be an array of unsigned integers, got {dims!r:.60}")
        if not isinstance(item, cbor2.CBORTag):
            raise ValueError("tag 40 elements must be an RFC 8746 typed array")
        dims = tuple(dims)
    elif item.tag == MULTIDIM_COLUMN_MAJOR_TAG:
        raise ValueError("column-major tag 1040 arrays are not supported; use tag 40")
    dtype = dtype_for_tag(item.tag)
    content = item.value
    if type(content) is bytes:
        if len(content) % dtype.itemsize:
            raise ValueError(
                f"{len(content)} bytes are not a whole number of {dtype.name} elements"
            )
        return TypedArray(dtype, content, dims)
    if not isinstance(content, cbor2.CBORTag) or content.tag != COMPRESSION_TAG:
        raise ValueError(
            f"typed-array tag {item.tag} must hold a byte string, got {type(content).__name__}"
        )
    compressed = content.value
    if not isinstance(compressed, (list, tuple)) or len(compressed) != 3:
        raise ValueError("tag 56500 content must be [algorithm, modifier, bytes]")
    algorithm, modifier, data = compressed
    if not isinstance(algorithm, str):
        raise ValueError(f"tag 56500 algorithm must be a text string, got {algorithm!r:.40}")
    if algorithm not in _compression.ALGORITHMS:
        raise ValueError(
            f"unknown compression {algorithm!r}; allowed: {', '.join(_compression.ALGORITHMS)}"
        )
    if type(modifier) is not int or modifier < 0:
        raise ValueError(f"tag 56500 modifier must be an unsigned integer, got {modifier!r:.40}")
    if type(data) is not bytes:
        raise ValueError(f"tag 56500 data must be a byte string, got {type(data).__name__}")
    if algorithm != "lz4" and modifier != dtype.itemsize:
        raise ValueError(
            f"{algorithm} modifier {modifier} is not the element size {dtype.itemsize} "
            f"of tag {item.tag} ({dtype.name})"
        )
    return TypedArray(dtype, data, dims, algorithm, modifier)


_TAG_DTYPES, _DTYPE_TAGS = _tables()
