"""JUNGFRAU raw generation and conversion to photons (detectors.md §2.2, §4.3, §4.4)."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.simulator.detector._calibration import Calibration, RawGenerator, pixel_area_factor
from jfjoch_hil.simulator.errors import CalibrationError
from jfjoch_hil.simulator.receiver.conversion import Converter, pedestal_from_dark_frames


def _flat_calibration(cells=1, modules=1, p=(3000.0, 14000.0, 14500.0)):
    pedestal = np.empty((cells, modules, 3, 512, 1024), np.float32)
    for g in range(3):
        pedestal[:, :, g] = p[g]
    gain = np.empty((modules, 3, 512, 1024), np.float32)
    gain[:, 0], gain[:, 1], gain[:, 2] = 41.0, -1.439, -0.1145
    return Calibration(pedestal, gain)


def test_hw_special_words_by_hand():
    converter = Converter(_flat_calibration(), photon_energy_kev=12.4)
    raw = np.full((1, 512, 1024), 3000, np.uint16)
    raw[0, 0, :6] = [0xC000, 0xFFFF, 0x4000, 0x8000 | 5, 3000 + 508, 0x4000 | 12216]
    out = converter.convert(raw)
    # 0xC000 saturates; 0xFFFF, 0x4000 and gain bits 10 are errors; 508 ADU in G0 at
    # 41 ADU/keV * 12.4 keV is 1 photon; G1 ADC 12216 below a 14000 pedestal at -1.439 ADU/keV
    # is 1784 / 17.84 = 100 photons.
    assert out[0, 0, :6].tolist() == [32767, -32768, -32768, -32768, 1, 100]
    assert (out[0, 1:] == 0).all()


def test_hw_invalid_pedestal_and_storage_cells():
    cal = _flat_calibration(cells=2)
    cal.pedestal_adu[1, 0, 0] = 2000.0  # cell 1 has a different G0 pedestal
    cal.pedestal_adu[0, 0, 0, 5, 5] = 16383.5  # invalid (§4.3 sentinel)
    converter = Converter(cal, 12.4)
    raw = np.full((1, 512, 1024), 3016, np.uint16)  # 16 ADU above cell 0's pedestal
    cell0, cell1 = converter.convert(raw, 0), converter.convert(raw, 1)
    assert cell0[0, 5, 5] == -32768 and cell0[0, 0, 0] == 0
    assert cell1[0, 0, 0] == 2  # 1016 ADU / 508 ADU per photon
    with pytest.raises(CalibrationError, match="storage_cell.*0..1"):
        converter.convert(raw, 2)
    with pytest.raises(CalibrationError, match="raw"):
        converter.convert(raw.astype(np.int32))


@pytest.mark.parametrize("cell", [0, 3])
def test_hw_generate_then_convert_recovers_photons(cell):
    rng = np.random.default_rng(11)
    cal = Calibration.synthetic(2, 4, rng)
    generator = RawGenerator(cal, 12.4, rng)
    photons = rng.poisson(0.5, (2, 512, 1024)).astype(np.float32)
    photons[0, 10, 10:14] = [40, 400, 4000, 1e6]  # G0 limit exceeded -> G1, G2, saturation
    raw = generator.raw(photons, storage_cell=cell)
    gain_bits = raw[0, 10, 10:14] >> 14
    assert gain_bits.tolist() == [1, 1, 3, 3]
    assert raw[0, 10, 13] == 0xC000
    out = Converter(cal, 12.4).convert(raw, cell)
    expected = photons * pixel_area_factor()
    g0 = (raw >> 14) == 0
    np.testing.assert_array_equal(out[g0], expected[g0])
    # G1/G2 have 28x and 360x less ADU per photon: the noise (1 ADU) allows a few photons.
    assert abs(int(out[0, 10, 10]) - 40) <= 2
    assert abs(int(out[0, 10, 11]) - 400) <= 2
    assert abs(int(out[0, 10, 12]) - 4000) <= 30
    assert out[0, 10, 13] == 32767


def test_hw_forced_gain_dark_frames_give_pedestals():
    rng = np.random.default_rng(5)
    cal = Calibration.synthetic(1, 1, rng)
    generator = RawGenerator(cal, 12.4, rng)
    dark = np.zeros((1, 512, 1024), np.float32)
    for gain, bits in ((0, 0), (1, 1), (2, 3)):
        frames = np.stack(
            [generator.raw(dark, forced_gain=gain if gain else None)[0] for _ in range(8)]
        )
        assert ((frames >> 14) == bits).all()
        estimate = pedestal_from_dark_frames(frames)
        # 8 frames, noise <= 3 ADU: sigma of the mean <= 1.1 ADU (+ rounding); 8 sigma margin.
        assert np.abs(estimate - cal.pedestal_adu[0, 0, gain]).max() < 9


def test_hw_calibration_shapes_validated():
    with pytest.raises(CalibrationError, match="pedestal_adu"):
        Calibration(
            np.zeros((1, 1, 2, 512, 1024), np.float32), np.zeros((1, 2, 512, 1024), np.float32)
        )
    with pytest.raises(CalibrationError, match="1..16"):
        Calibration(
            np.zeros((17, 1, 3, 512, 1024), np.float32), np.zeros((1, 3, 512, 1024), np.float32)
        )
    with pytest.raises(CalibrationError, match="photon_energy_kev"):
        Converter(_flat_calibration(), 0)


def test_hw_simple_pattern_exercises_gain_switching():
    from jfjoch_hil.simulator.detector._calibration import simple_photon_pattern

    rng = np.random.default_rng(4)
    photons = simple_photon_pattern(1, rng, n_spots=20, spot_photons=2000.0)
    assert photons.shape == (1, 512, 1024) and photons.dtype == np.float32
    raw = RawGenerator(Calibration.synthetic(1, 1, rng), 12.4, rng).raw(photons)
    gains = np.unique(raw >> 14).tolist()
    assert 0 in gains and 1 in gains and 2 not in gains  # bits 10 never produced
