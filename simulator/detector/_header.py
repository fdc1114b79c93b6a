"""The 48-byte ``sls_detector_header`` as ONE numpy structured dtype (detectors.md §1).

Packing and parsing both derive from :data:`HEADER_DTYPE`; the ``detSpec3`` ("DAQ info",
``det_info``) bit fields live in the small table :data:`DET_INFO_BITS` (detectors.md §2.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.errors import HeaderFieldError

__all__ = [
    "HEADER_DTYPE",
    "HEADER_SIZE",
    "HEADER_VERSION",
    "DET_TYPE_EIGER",
    "DET_TYPE_JUNGFRAU",
    "DET_INFO_BITS",
    "BitField",
    "det_info_get",
    "det_info_set",
    "headers_view",
    "pack_headers",
    "parse_headers",
]

#: detectors.md §1 table: (name, little-endian type). Offsets follow from packing in order.
HEADER_DTYPE = np.dtype(
    [
        ("frame_number", "<u8"),
        ("exp_length", "<u4"),
        ("packet_number", "<u4"),
        ("det_spec1", "<u8"),  # bunch / pulse id (JUNGFRAU)
        ("timestamp", "<u8"),
        ("mod_id", "<u2"),
        ("row", "<u2"),
        ("column", "<u2"),
        ("det_spec2", "<u2"),
        ("det_spec3", "<u4"),  # DAQ info / det_info (JUNGFRAU), 0xE14A (EIGER)
        ("det_spec4", "<u2"),  # round-robin interface (EIGER)
        ("det_type", "u1"),
        ("version", "u1"),
    ]
)
#: Size of the header on the wire, detectors.md §1 ("48 bytes").
HEADER_SIZE = 48
assert HEADER_DTYPE.itemsize == HEADER_SIZE, HEADER_DTYPE.itemsize
#: Header format version, detectors.md §1 (``SLS_DETECTOR_HEADER_VERSION = 0x2``).
HEADER_VERSION = 2
#: ``detType`` codes, detectors.md §1 (enum ``detectorType``).
DET_TYPE_EIGER = 1
DET_TYPE_JUNGFRAU = 3


@dataclass(frozen=True)
class BitField:
    """One bit field of the JUNGFRAU ``detSpec3`` DAQ-info word (detectors.md §2.5)."""

    name: str
    shift: int
    width: int

    @property
    def mask(self) -> int:
        """The field's mask before shifting."""
        return (1 << self.width) - 1


#: detectors.md §2.5 DAQ Info table; undocumented bits (3, 15-14, 30-24) are emitted as 0.
DET_INFO_BITS: dict[str, BitField] = {
    f.name: f
    for f in (
        BitField("high_gain", 0, 1),
        BitField("fix_gain1", 1, 1),
        BitField("fix_gain2", 2, 1),
        BitField("comparator_reset", 4, 1),
        BitField("chip_version", 5, 3),
        BitField("storage_cell", 8, 4),
        BitField("force_switch_g1", 12, 1),
        BitField("force_switch_g2", 13, 1),
        BitField("event_code", 16, 8),
        BitField("external_input", 31, 1),
    )
}


def det_info_set(word: np.ndarray | int = 0, **fields: np.ndarray | int) -> np.ndarray:
    """Return ``word`` (u32, broadcast) with the named DAQ-info fields set (detectors.md §2.5).

    Raises :class:`simulator.errors.HeaderFieldError` for an unknown name or a value that
    does not fit its bit width.
    """
    out = np.asarray(word, dtype=np.uint32).copy()
    for name, value in fields.items():
        field = DET_INFO_BITS.get(name)
        if field is None:
            raise HeaderFieldError(
                f"det_spec3.{name}: unknown field; allowed {sorted(DET_INFO_BITS)}"
            )
        values = np.asarray(value, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > field.mask):
            raise HeaderFieldError(
                f"det_spec3.{name}: value out of range; allowed 0..{field.mask} ({field.width} bits)"
            )
        cleared = out & np.uint32(~(field.mask << field.shift) & 0xFFFFFFFF)
        out = cleared | (values.astype(np.uint32) << np.uint32(field.shift))
    return out


def det_info_get(word: np.ndarray | int, name: str) -> np.ndarray:
    """Extract the DAQ-info field ``name`` from ``word`` (vectorised; detectors.md §2.5)."""
    field = DET_INFO_BITS.get(name)
    if field is None:
        raise HeaderFieldError(f"det_spec3.{name}: unknown field; allowed {sorted(DET_INFO_BITS)}")
    return (np.asarray(word, dtype=np.uint32) >> np.uint32(field.shift)) & np.uint32(field.mask)


def headers_view(packets: np.ndarray) -> np.ndarray:
    """Structured view of the header bytes of a ``(n, packet_size)`` uint8 packet array.

    Zero-copy when ``packets`` is C-contiguous (detectors.md §1: header at offset 0).
    """
    return packets[:, :HEADER_SIZE].view(HEADER_DTYPE)[:, 0]


def pack_headers(**fields: np.ndarray | int) -> np.ndarray:
    """Build a header array from field values (broadcast); missing fields are 0 (§1).

    ``version`` defaults to :data:`HEADER_VERSION`. Returns a 1-d array of :data:`HEADER_DTYPE`
    whose ``tobytes()`` is the wire form.
    """
    unknown = set(fields) - set(HEADER_DTYPE.names)
    if unknown:
        raise HeaderFieldError(
            f"header.{sorted(unknown)[0]}: unknown field; allowed {list(HEADER_DTYPE.names)}"
        )
    fields.setdefault("version", HEADER_VERSION)
    shape = np.broadcast_shapes(*(np.shape(v) for v in fields.values()))
    out = np.zeros(shape if shape else (1,), dtype=HEADER_DTYPE)
    for name, value in fields.items():
        out[name] = value
    return out


def parse_headers(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Parse back-to-back 48-byte headers (§1) into a :data:`HEADER_DTYPE` array."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    raw = raw.reshape(-1)
    if raw.size % HEADER_SIZE:
        raise HeaderFieldError(
            f"header: {raw.size} bytes is not a multiple of the {HEADER_SIZE}-byte header"
        )
    return raw.view(HEADER_DTYPE).copy()
