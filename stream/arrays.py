"""Typed arrays (RFC 8746, tags 64-87), tag-40 multi-dimensional arrays and compressed payloads.

stream.md sections 3.1, 4.1-4.3: an image channel travels as
``tag40([[rows, cols], tag69(tag56500(["bslz4", 2, bytes]))])``.  :class:`TypedArray` keeps the
payload as received (compressed or not) so a writer can store it without recompressing; pixels are
produced only when :meth:`TypedArray.to_numpy` is called.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import compression as _compression
from .errors import CompressionError

__all__ = ["TypedArray", "dtype_for_tag", "tag_for_dtype"]

_TYPED_ARRAY_TAGS = range(64, 88)


def dtype_for_tag(tag: int) -> np.dtype:
    """The numpy dtype (with byte order) of RFC 8746 typed-array ``tag`` (stream.md table 4.1).

    Raises ``ValueError`` for tags outside 64-87, the reserved tag 76 and 128-bit floats.
    """
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
    dtype = np.dtype(dtype)
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
