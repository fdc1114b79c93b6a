"""The 48-byte UDP header against the spec table, byte for byte (detectors.md §1, §2.5)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.simulator.detector import (
    DET_INFO_BITS,
    HEADER_DTYPE,
    HEADER_SIZE,
    det_info_get,
    det_info_set,
    pack_headers,
    parse_headers,
)
from jfjoch_hil.simulator.errors import HeaderFieldError

_TYPE_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


def _spec_rows(spec_dir):
    """Rows (offset, size, type, legacy-free current name) of the §1 table in detectors.md."""
    text = (spec_dir / "detectors.md").read_text()
    section = text.split("## 1. `sls_detector_header`")[1].split("### 1.1")[0]
    rows = []
    for line in section.splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(u\d+)\s*\|\s*`(\w+)`", line)
        if match:
            rows.append((int(match[1]), int(match[2]), match[3], match[4]))
    return rows


def test_hw_header_offsets_match_spec_table(spec_dir):
    rows = _spec_rows(spec_dir)
    assert len(rows) == len(HEADER_DTYPE.names) == 13
    for (offset, size, type_name, _spec_name), name in zip(rows, HEADER_DTYPE.names, strict=True):
        field_dtype, field_offset = HEADER_DTYPE.fields[name][:2]
        assert field_offset == offset, name
        assert field_dtype.itemsize == size == _TYPE_SIZES[type_name], name
        assert field_dtype.byteorder in "<|=", name
    assert HEADER_DTYPE.itemsize == HEADER_SIZE == 48


def test_hw_header_spec_example_bytes(spec_dir):
    text = (spec_dir / "detectors.md").read_text()
    block = text.split("Byte-exact example")[1].split("```")[1]
    expected = bytes.fromhex(block.replace("\n", " "))
    word = det_info_set(chip_version=1, storage_cell=15)
    header = pack_headers(
        frame_number=1,
        exp_length=9800,
        packet_number=0,
        det_spec1=0x1234,
        timestamp=12345,
        mod_id=7,
        row=1,
        column=0,
        det_spec3=word,
        det_type=3,
    )
    assert header.tobytes() == expected


@given(
    values=st.fixed_dictionaries(
        {
            name: st.integers(0, (1 << (8 * HEADER_DTYPE.fields[name][0].itemsize)) - 1)
            for name in HEADER_DTYPE.names
        }
    ),
)
def test_hw_header_round_trip(values):
    header = pack_headers(**values)
    data = header.tobytes()
    assert len(data) == 48
    parsed = parse_headers(data)[0]
    for name, value in values.items():
        assert int(parsed[name]) == value
    # Independent check with the spec's struct format string.
    import struct

    assert struct.unpack("<QIIQQHHHHIHBB", data) == tuple(values[n] for n in HEADER_DTYPE.names)


@given(
    cell=st.integers(0, 15),
    code=st.integers(0, 255),
    chip=st.integers(0, 7),
    ext=st.integers(0, 1),
    g1=st.integers(0, 1),
)
def test_hw_det_info_bits(cell, code, chip, ext, g1):
    word = int(
        det_info_set(
            storage_cell=cell,
            event_code=code,
            chip_version=chip,
            external_input=ext,
            force_switch_g1=g1,
        )
    )
    assert (word >> 8) & 0xF == cell
    assert (word >> 16) & 0xFF == code
    assert (word >> 5) & 0x7 == chip
    assert word >> 31 == ext
    assert (word >> 12) & 1 == g1
    undocumented = (1 << 3) | (0b11 << 14) | (0x7F << 24)
    assert word & undocumented == 0
    for name in ("storage_cell", "event_code", "chip_version"):
        assert (
            int(det_info_get(word, name))
            == {"storage_cell": cell, "event_code": code, "chip_version": chip}[name]
        )


def test_hw_det_info_rejects_bad_values():
    with pytest.raises(HeaderFieldError, match="storage_cell.*0..15"):
        det_info_set(storage_cell=16)
    with pytest.raises(HeaderFieldError, match="nonsense"):
        det_info_set(nonsense=1)
    with pytest.raises(ValueError, match="header.bogus"):
        pack_headers(bogus=1)
    with pytest.raises(HeaderFieldError, match="47 bytes"):
        parse_headers(np.zeros(47, dtype=np.uint8))


def test_hw_det_info_table_has_no_overlaps():
    used = 0
    for field in DET_INFO_BITS.values():
        bits = field.mask << field.shift
        assert used & bits == 0, field.name
        used |= bits
