"""Detector models, EIGER pixel packing and orientation, catalogue and geometry (detectors.md
§2.3, §2.6, §3.1-§3.4, §5)."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.detector import (
    CATALOGUE,
    Detector,
    FrameHeaders,
    Packetiser,
    assemble_image,
    converted_shape,
    detector_by_name,
    eiger_module,
    gap_mask,
    jungfrau_module,
    pack_eiger_pixels,
    unpack_eiger_pixels,
)
from jfjoch_hil.simulator.errors import DetectorModelError
from jfjoch_hil.simulator.receiver import Assembler


def test_hw_jungfrau_packet_counts():
    one, two = jungfrau_module(1), jungfrau_module(2)
    assert (one.packets_per_port, one.ports_per_module, one.packet_bytes) == (128, 1, 8240)
    assert (two.packets_per_port, two.ports_per_module, two.packet_bytes) == (64, 2, 8240)
    with pytest.raises(DetectorModelError, match="interfaces.*1 or 2"):
        jungfrau_module(3)


@pytest.mark.parametrize(
    ("dr", "ten_giga", "packets", "payload"),
    [
        (4, False, 64, 1072),
        (8, False, 128, 1072),
        (12, False, 192, 1072),
        (16, False, 256, 1072),
        (32, False, 512, 1072),
        (4, True, 16, 4144),
        (8, True, 32, 4144),
        (12, True, 48, 4144),
        (16, True, 64, 4144),
        (32, True, 128, 4144),
    ],
)
def test_hw_eiger_packets_per_port_table(dr, ten_giga, packets, payload):
    model = eiger_module(dr, ten_giga)
    assert model.packets_per_port == packets  # detectors.md §3.3 table
    assert model.packet_bytes == payload
    assert model.ports_per_module == 4


def test_hw_eiger_packing_by_hand():
    # §3.2: 4-bit, first pixel in the high nibble.
    assert unpack_eiger_pixels(np.array([0xAB, 0x01], np.uint8), 4).tolist() == [0xA, 0xB, 0x0, 0x1]
    # 12-bit: p0 = b0 | (b1 & 0x0F) << 8; p1 = (b1 >> 4) | b2 << 4.
    assert unpack_eiger_pixels(np.array([0x12, 0x34, 0x56], np.uint8), 12).tolist() == [
        0x412,
        0x563,
    ]
    assert pack_eiger_pixels(np.array([0x412, 0x563]), 12).tolist() == [0x12, 0x34, 0x56]
    assert unpack_eiger_pixels(np.array([0x01, 0x02], np.uint8), 16).tolist() == [0x0201]
    assert unpack_eiger_pixels(np.array([1, 2, 3, 4], np.uint8), 32).tolist() == [0x04030201]
    assert unpack_eiger_pixels(np.array([7, 200], np.uint8), 8).tolist() == [7, 200]


def _packets_of(detector: Detector, module_frames: np.ndarray):
    port_bytes = detector.model.encode(module_frames).reshape(1, detector.n_ports, -1)
    return Packetiser(detector, port_bytes).packetise(FrameHeaders.simple(1))


@pytest.mark.parametrize("dr", [4, 8, 12, 16, 32])
def test_hw_eiger_decode_and_orientation(dr):
    detector = Detector("E", eiger_module(dr, ten_giga=True), 1)
    rows, cols = np.mgrid[0:512, 0:1024]
    limit = (1 << dr) - 1 if dr < 32 else 0xFFFFFFFF
    frame = ((rows * 7 + cols * 3) % (limit + 1)).astype(detector.model.pixel_dtype)[None]
    batch = _packets_of(detector, frame)

    # Packet 0 of the bottom half-module's first port starts with module row 255 (next to the
    # module centre, §3.1) read left to right; the top half's first port with row 256. 12-bit
    # packets straddle pixel pairs, so a port's packets are concatenated in packet order first.
    def port_pixels(port):
        rows_ = batch.data[batch.port_index == port]
        order = rows_[:, 12:16].copy().view("<u4")[:, 0].argsort()
        return unpack_eiger_pixels(rows_[order, 48:].reshape(-1), dr).reshape(256, 512)

    assert port_pixels(0)[0].tolist() == frame[0, 255, :512].tolist()
    assert port_pixels(0)[255].tolist() == frame[0, 0, :512].tolist()
    assert port_pixels(1)[0].tolist() == frame[0, 255, 512:].tolist()
    assert port_pixels(2)[0].tolist() == frame[0, 256, :512].tolist()
    assert port_pixels(3)[255].tolist() == frame[0, 511, 512:].tolist()
    assembler = Assembler(detector)
    assembler.push(batch.data, batch.port_index)
    assembler.flush()
    (result,) = assembler.pop_frames()
    decoded = detector.model.decode(result.port_bytes.reshape(1, 4, -1))
    np.testing.assert_array_equal(decoded, frame)


def test_hw_eiger_header_positions():
    detector = detector_by_name("EIGER1M")  # 2 modules in a column: 4 half-modules, maxY = 4
    ports = detector.ports()
    # §3.4: row counts half-modules, column = (i div maxY) * 2 + block side; right modId = left + 1.
    assert [(p.row, p.column) for p in ports] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
        (3, 0),
        (3, 1),
    ]
    assert ports[1].mod_id == ports[0].mod_id + 1
    assert len({p.mod_id for p in ports}) == 8
    assert [p.udp_port for p in ports] == list(range(8192, 8200))


def test_hw_jungfrau_header_positions():
    detector = detector_by_name("JF4M")  # 8 modules, 2 per row -> maxY = 4, nIf = 2
    ports = detector.ports()
    # §2.6: row = (i mod maxY) * nIf (+1 for the top interface), column = i div maxY.
    module5 = [p for p in ports if p.module == 5]
    assert [(p.row, p.column) for p in module5] == [(2, 1), (3, 1)]
    # §2.9 Jungfraujoch: base + 2m (bottom) and base + 2m + 1 (top).
    assert [p.udp_port for p in module5] == [8192 + 10, 8192 + 11]
    with pytest.raises(DetectorModelError, match="multiples of 64"):
        Detector("x", jungfrau_module(), 1, base_udp_port=8200)
    with pytest.raises(DetectorModelError, match="allowed"):
        detector_by_name("JF99M")


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("JF0.5M", (514, 1030)),
        ("JF1M", (1064, 1030)),
        ("JF4M", (2164, 2068)),
        ("EIGER500k", (514, 1030)),
        ("EIGER1M", (1064, 1030)),
    ],
)
def test_hw_converted_sizes_match_spec(name, shape):
    d = CATALOGUE[name]
    assert converted_shape(d.n_modules, d.modules_per_row, d.gap_x_px, d.gap_y_px) == shape


def test_hw_double_pixels_split_and_gaps():
    modules = np.full((2, 512, 1024), 8, dtype=np.int16)
    modules[1] = 100
    modules[0, 0, 255] = -32768  # an error value is copied, not halved (§5.1)
    image = assemble_image(modules, 1, 8, 36, mirror_y=False)
    assert image.shape == (1064, 1030)
    assert image[0, 254] == 8 and image[0, 257] == 4 and image[0, 258] == 4
    assert image[0, 255] == image[0, 256] == -32768
    assert image[255, 255] == 2  # chip corner: a quarter
    assert image[257, 100] == 4 and image[259, 100] == 8
    assert image[514 + 10, 0] == 0  # module gap line
    assert image[514 + 36, 0] == 100  # module 1 starts after 36 gap lines
    mirrored = assemble_image(modules, 1, 8, 36, mirror_y=True)
    np.testing.assert_array_equal(mirrored, image[::-1])
    mask = gap_mask(2, 1, 8, 36)
    assert mask.sum() == 36 * 1030 and (mask[514:550] == 1).all()


def _field(packet_row, offset, size):
    return int.from_bytes(bytes(packet_row[offset : offset + size]), "little")


def test_hw_packet_bytes_at_spec_offsets_both_detectors():
    from jfjoch_hil.simulator.detector import (
        XfelTiming,
        det_info_set,
        eiger_run_headers,
        run_headers,
    )

    jf = detector_by_name("JF1M")
    frames = np.zeros((1, 2, 512, 1024), np.uint16)
    headers = run_headers(
        2,
        1e-3,
        0.98e-3,
        xfel=XfelTiming(first_pulse_id=0xABCDEF, event_codes=(5,)),
        first_frame_number=41,
    )
    batch = Packetiser(jf, jf.model.encode(frames).reshape(1, 4, -1)).packetise(headers)
    row = batch.data[-1]  # frame 42, packet 63, port 3 (module 1, top interface)
    assert len(row) == 8240
    assert _field(row, 0, 8) == 42 and _field(row, 8, 4) == 9800 and _field(row, 12, 4) == 63
    assert _field(row, 16, 8) == 0xABCDEF + 1 and _field(row, 24, 8) == 10000
    assert (_field(row, 32, 2), _field(row, 34, 2), _field(row, 36, 2)) == (1, 3, 0)
    assert _field(row, 38, 2) == 0 and _field(row, 44, 2) == 0
    # detectors.md 2.5/2.7: chip v1.1 (bits 7-5 = 001), its default start cell 3, event code 5
    assert (
        _field(row, 40, 4)
        == 0x0005_0320
        == int(det_info_set(chip_version=1, storage_cell=3, event_code=5))
    )
    assert (row[46], row[47]) == (3, 2)

    eiger = detector_by_name("EIGER500k")
    counts = np.zeros((1, 1, 512, 1024), np.uint16)
    batch = Packetiser(eiger, eiger.model.encode(counts).reshape(1, 4, -1)).packetise(
        eiger_run_headers(1, 1e-3, 0.98e-3)
    )
    row = batch.data[batch.port_index == 3][0]
    assert len(row) == 4144
    # detectors.md 3.4: detSpec4 is the round-robin entry (one destination: 0)
    assert (_field(row, 32, 2), _field(row, 34, 2), _field(row, 36, 2), _field(row, 44, 2)) == (
        3,
        1,
        1,
        0,
    )
    assert (row[46], row[47]) == (1, 2)
