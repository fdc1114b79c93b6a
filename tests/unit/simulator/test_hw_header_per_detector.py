"""Whole 48-byte headers per detector type, byte by byte, as the firmware fills them.

Every expected header below is written out by hand from the tables of detectors.md (§1 field
offsets, §2.5/§2.6/§2.7 JUNGFRAU, §3.3/§3.4 EIGER), never from our packer: offsets 0-7
frameNumber, 8-11 expLength, 12-15 packetNumber, 16-23 detSpec1, 24-31 timestamp, 32-33 modId,
34-35 row, 36-37 column, 38-39 detSpec2, 40-43 detSpec3, 44-45 detSpec4, 46 detType, 47 version,
all little-endian.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.simulator.detector import (
    Detector,
    Packetiser,
    StorageCells,
    detector_by_name,
    eiger_module,
    eiger_run_headers,
    run_headers,
)
from jfjoch_hil.simulator.errors import DetectorModelError


def _hex(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


def _packets(detector: Detector, headers) -> tuple[np.ndarray, np.ndarray]:
    frames = np.zeros((1, detector.n_modules, 512, 1024), detector.model.pixel_dtype)
    port_bytes = detector.model.encode(frames).reshape(1, detector.n_ports, -1)
    batch = Packetiser(detector, port_bytes).packetise(headers)
    return batch.data, batch.port_index


def test_hw_jungfrau_v11_header_bytes():
    # JUNGFRAU, chip v1.1, one storage cell: DAQ info = chip version 001 in bits 7-5 (0x20) and
    # the v1.1 default start cell 3 in bits 11-8 (0x300) (detectors.md 2.5, 2.7). Frame 7, the
    # exposure 9.8 ms = 98000 x 100 ns in expLength, timestamp 2 x 10 ms at 10 MHz, module 1 of
    # JF1M (one module column, 2 interfaces): top-half port row = 1*2 + 1 = 3, column 0 (2.6).
    jf = detector_by_name("JF1M")
    data, port = _packets(jf, run_headers(3, 10e-3, 9.8e-3, first_frame_number=5))
    row = data[(port == 3)][-1 - 63]  # frame 7 (third frame), packet 0 of port 3
    expected = _hex(
        """
        07 00 00 00 00 00 00 00  d0 7e 01 00  00 00 00 00
        00 00 00 00 00 00 00 00  40 0d 03 00 00 00 00 00
        01 00  03 00  00 00  00 00  20 03 00 00  00 00  03  02
        """
    )
    assert bytes(row[:48]) == expected
    assert len(row) == 8240


def test_hw_jungfrau_v10_storage_cells_header_bytes():
    # Chip v1.0 with 16 storage cells: chip version 000, the first frame of a burst in the v1.0
    # default start cell 15 (0xF00), the next one cell 14 (detectors.md 2.5, 2.7).
    jf = detector_by_name("JF0.5M")
    data, port = _packets(jf, run_headers(2, 1e-3, 0.98e-3, StorageCells(n_cells=16)))
    first = data[(port == 0)][0]
    second = data[(port == 0)][64]
    assert bytes(first[40:44]) == _hex("00 0f 00 00")
    assert bytes(second[40:44]) == _hex("00 0e 00 00")
    assert bytes(second[:16]) == _hex("02 00 00 00 00 00 00 00  48 26 00 00 00 00 00 00")


def test_hw_jungfrau_storage_cells_refused_on_chip_v11():
    with pytest.raises(DetectorModelError, match="n_cells.*chip v1.1"):
        StorageCells(n_cells=2, chip_version=1)
    with pytest.raises(DetectorModelError, match="start_cell: 15; allowed 0..3"):
        StorageCells(n_cells=1, start_cell=15, chip_version=1)
    assert StorageCells().start_cell == 3 and StorageCells(4).start_cell == 15


def test_hw_eiger_10gbe_header_bytes():
    # EIGER 16-bit 10 GbE (detectors.md 3.3, 3.4): 4144-byte datagrams, 64 packets per port.
    # expLength = sub-frame number (0: no sub-frames in 16-bit mode), detSpec1 = 0, detSpec2 =
    # 0, detSpec3 = e14a, detSpec4 = round-robin entry 0, detType 1, version 2. Port 3 = top
    # half-module, right block: row 1 (rows count half-modules), column 1, modId = id + 1 of the
    # top half-module's pair (2, 3).
    eiger = detector_by_name("EIGER500k")
    data, port = _packets(eiger, eiger_run_headers(1, 1e-3, 0.98e-3))
    assert data.shape[1] == 4144 and (port == 3).sum() == 64
    row = data[port == 3][5]
    expected = _hex(
        """
        01 00 00 00 00 00 00 00  00 00 00 00  05 00 00 00
        00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
        03 00  01 00  01 00  00 00  4a e1 00 00  00 00  01  02
        """
    )
    assert bytes(row[:48]) == expected


@pytest.mark.parametrize(
    ("dynamic_range", "ten_giga", "datagram", "per_port"),
    [
        # detectors.md 3.3 table: packets/port = 16*dr (1 GbE) or 4*dr (10 GbE); payload 1024 or
        # 4096 bytes + 48-byte header.
        (4, False, 1072, 64),
        (8, False, 1072, 128),
        (12, False, 1072, 192),
        (16, False, 1072, 256),
        (32, False, 1072, 512),
        (4, True, 4144, 16),
        (8, True, 4144, 32),
        (12, True, 4144, 48),
        (16, True, 4144, 64),
        (32, True, 4144, 128),
    ],
)
def test_hw_eiger_link_layouts(dynamic_range, ten_giga, datagram, per_port):
    model = eiger_module(dynamic_range, ten_giga=ten_giga)
    assert model.packet_bytes == datagram
    assert model.packets_per_port == per_port
    assert model.ports_per_module == 4  # 2 half-modules x left/right (3.1)
    eiger = Detector("EIGER", model, 1)
    data, port = _packets(eiger, eiger_run_headers(1, 1e-3, 0.98e-3, dynamic_range))
    assert data.shape == (4 * per_port, datagram)
    numbers = data[:, 12:16].copy().view("<u4")[:, 0]
    for p in range(4):
        assert sorted(numbers[port == p].tolist()) == list(range(per_port))


def test_hw_eiger_1gbe_round_trip_pixels():
    # 1 GbE, 16-bit: one 512-pixel port row per packet (3.3); encode -> packets -> decode.
    model = eiger_module(16, ten_giga=False)
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 4095, size=(512, 1024), dtype=np.uint16)
    ports = model.encode(frame)
    assert ports.shape == (4, 256 * 1024)
    np.testing.assert_array_equal(model.decode(ports), frame)
    # Packet 0 of the top-left port (port 2) carries module row 256, columns 0-511 (3.1).
    packet0 = ports[2, :1024].view("<u2")
    np.testing.assert_array_equal(packet0, frame[256, :512])


def test_hw_eiger_32bit_exp_length_counts_subframes():
    # 32-bit mode sums 12-bit sub-frames of 2.62144 ms (3.2): 9.8 ms -> 4 sub-frames.
    eiger = Detector("EIGER32", eiger_module(32), 1)
    data, _ = _packets(eiger, eiger_run_headers(1, 10e-3, 9.8e-3, 32))
    assert bytes(data[0, 8:12]) == _hex("04 00 00 00")


@given(start=st.integers(1, 2**48 - 4))
def test_hw_eiger_frame_numbers_use_48_bits(start):
    headers = eiger_run_headers(3, 1e-3, 0.98e-3, first_frame_number=start)
    assert headers.frame_number.tolist() == [start, start + 1, start + 2]


def test_hw_eiger_frame_number_beyond_48_bits_refused():
    with pytest.raises(DetectorModelError, match="first_frame_number.*2\\*\\*48"):
        eiger_run_headers(1, 1e-3, 0.98e-3, first_frame_number=2**48)
