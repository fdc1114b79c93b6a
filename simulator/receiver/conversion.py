"""The receiver's pedestal tracking and pedestal/gain conversion of JUNGFRAU raw words back to
photons (detectors.md §4.3, §4.4, §4.6).

The conversion is vectorised: every pixel is first converted as G0 (two float32 passes), then only
the pixels whose gain bits are not ``00`` (few in a typical frame) are redone with their own gain or
mapped to a sentinel.
"""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.detector._calibration import (
    _ADC_MAX,
    _PIXELS,
    ERROR_VALUE,
    RAW_ERROR,
    RAW_SATURATED,
    SATURATION_VALUE,
    Calibration,
)
from jfjoch_hil.simulator.detector._models import MODULE_COLS, MODULE_ROWS
from jfjoch_hil.simulator.errors import CalibrationError

__all__ = ["Converter", "PedestalTracker", "pedestal_from_dark_frames"]


def pedestal_from_dark_frames(frames: np.ndarray) -> np.ndarray:
    """Mean ADC of dark frames ``(n, ...)`` u16 for one gain (§4.3, simplified: plain mean over
    all frames instead of the 128-frame moving window); pixels never in the right gain -> 16383.5."""
    adc = (frames & _ADC_MAX).astype(np.float64)
    return adc.mean(axis=0).astype(np.float32)


class PedestalTracker:
    """Receiver-side pedestal measurement per storage cell, module and gain from dark frames
    (§4.3): only frames in which a pixel is in the expected gain are summed; the others are
    counted as wrong-gain. Simplified: a plain mean over all frames, not the 128-frame moving
    window. A pixel with no good frame, or more wrong-gain frames than ``wrong_gain_allowance``
    (2 for G0, 0 for G1/G2 as in §4.3), gets the invalid pedestal 16383.5.
    """

    _GAIN_BITS = (0, 1, 3)

    def __init__(
        self, n_cells: int, n_modules: int, wrong_gain_allowance: tuple[int, int, int] = (2, 0, 0)
    ) -> None:
        shape = (n_cells, n_modules, 3, MODULE_ROWS, MODULE_COLS)
        self._sum = np.zeros(shape, dtype=np.float64)
        self._count = np.zeros(shape, dtype=np.int32)
        self._wrong = np.zeros(shape, dtype=np.int32)
        self.wrong_gain_allowance = wrong_gain_allowance

    def add(self, raw: np.ndarray, gain: int, storage_cell: int | np.ndarray = 0) -> None:
        """Add one dark frame ``(modules, 512, 1024)`` u16 taken in ``gain`` (0, 1 or 2)."""
        n_cells, n_modules = self._sum.shape[:2]
        if raw.shape != (n_modules, MODULE_ROWS, MODULE_COLS):
            raise CalibrationError(f"raw: shape {raw.shape}; need ({n_modules}, 512, 1024)")
        if gain not in (0, 1, 2):
            raise CalibrationError(f"gain: {gain}; allowed 0, 1, 2")
        cells = np.broadcast_to(np.asarray(storage_cell, dtype=np.int64), (n_modules,))
        if cells.min() < 0 or cells.max() >= n_cells:
            raise CalibrationError(f"storage_cell: {cells.tolist()}; allowed 0..{n_cells - 1}")
        good = ((raw >> 14) == self._GAIN_BITS[gain]) & (raw != RAW_ERROR)
        adc = raw & _ADC_MAX
        for m in range(n_modules):
            c = int(cells[m])
            self._sum[c, m, gain] += np.where(good[m], adc[m], 0)
            self._count[c, m, gain] += good[m]
            self._wrong[c, m, gain] += ~good[m]

    def pedestal_adu(self) -> np.ndarray:
        """Pedestals ``(cells, modules, 3, 512, 1024)`` float32, invalid pixels 16383.5."""
        allowance = np.array(self.wrong_gain_allowance)[None, None, :, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self._sum / self._count
        invalid = (self._count == 0) | (self._wrong > allowance)
        return np.where(invalid, 16383.5, mean).astype(np.float32)

    def calibration(self, gain_adu_per_kev: np.ndarray) -> Calibration:
        """A :class:`Calibration` from the measured pedestals and given gain factors."""
        return Calibration(self.pedestal_adu(), gain_adu_per_kev)


class Converter:
    """Receiver side: raw u16 -> int16 photons at ``photon_energy_kev`` (§4.4).

    ``photons = (ADC - P[cell, module, g]) / (G[module, g] * E)``, rounded to nearest (numpy's
    half-to-even, where Jungfraujoch rounds half away from zero), clipped to int16. Sentinels:
    0xC000 -> +32767; 0xFFFF, 0x4000, gain bits 10, invalid pedestal or zero gain -> -32768.
    """

    def __init__(self, calibration: Calibration, photon_energy_kev: float) -> None:
        if photon_energy_kev <= 0:
            raise CalibrationError(f"photon_energy_kev: {photon_energy_kev}; allowed > 0")
        self.calibration = calibration
        self.photon_energy_kev = photon_energy_kev
        gain = calibration.gain_adu_per_kev.astype(np.float64)
        pedestal = calibration.pedestal_adu.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = 1.0 / (gain * photon_energy_kev)  # (modules, 3, rows, cols)
        scale = np.broadcast_to(scale, pedestal.shape)
        offset = -pedestal * scale
        invalid = (pedestal > _ADC_MAX) | ~np.isfinite(scale) | (gain == 0)
        # Invalid pixels convert to the error value through the same multiply-add: scale 0.
        self._scale = (
            np.where(invalid, 0.0, scale)
            .astype(np.float32)
            .reshape(calibration.n_cells, calibration.n_modules, 3, _PIXELS)
        )
        self._offset = (
            np.where(invalid, float(ERROR_VALUE), offset)
            .astype(np.float32)
            .reshape(calibration.n_cells, calibration.n_modules, 3, _PIXELS)
        )
        self._work = np.empty(_PIXELS, dtype=np.float32)

    def convert(
        self, raw: np.ndarray, storage_cell: int | np.ndarray = 0, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``raw`` ``(modules, 512, 1024)`` u16 -> int16 photons of the same shape.

        ``storage_cell`` is one cell for all modules or one per module (header bits 11-8).
        """
        cal = self.calibration
        if raw.shape != (cal.n_modules, MODULE_ROWS, MODULE_COLS) or raw.dtype != np.uint16:
            raise CalibrationError(
                f"raw: {raw.dtype} {raw.shape}; need uint16 ({cal.n_modules}, 512, 1024)"
            )
        cells = np.broadcast_to(np.asarray(storage_cell, dtype=np.int64), (cal.n_modules,))
        if cells.min() < 0 or cells.max() >= cal.n_cells:
            raise CalibrationError(f"storage_cell: {cells.tolist()}; allowed 0..{cal.n_cells - 1}")
        if out is None:
            out = np.empty(raw.shape, dtype=np.int16)
        work = self._work
        for m in range(cal.n_modules):
            self._convert_module(raw[m].reshape(-1), int(cells[m]), m, out[m].reshape(-1), work)
        return out

    def _convert_module(
        self, raw: np.ndarray, cell: int, module: int, out: np.ndarray, work: np.ndarray
    ) -> None:
        scale, offset = self._scale[cell, module], self._offset[cell, module]
        # G0 words equal their ADC value, so the whole frame is converted as G0 first.
        np.multiply(raw, scale[0], out=work)
        np.add(work, offset[0], out=work)
        np.rint(work, out=work)
        np.copyto(out, work, casting="unsafe")
        other = np.flatnonzero(raw >= 0x4000)
        if other.size == 0:
            return
        words = raw.take(other)
        # Bits 01 -> plane 1 (G1), 1x -> plane 2 (G2; 10 is fixed up below): one flat take per
        # coefficient over the (3 * pixels) table instead of a 2-d fancy index.
        index = ((words >> 15).astype(np.intp) + 1) * _PIXELS + other
        value = (words & _ADC_MAX).astype(np.float32)
        value *= scale.reshape(-1).take(index)
        value += offset.reshape(-1).take(index)
        value = np.clip(np.rint(value), ERROR_VALUE, SATURATION_VALUE)
        value[((words & 0xC000) == 0x8000) | (words == 0x4000) | (words == RAW_ERROR)] = ERROR_VALUE
        value[words == RAW_SATURATED] = SATURATION_VALUE
        out[other] = value.astype(np.int16)
