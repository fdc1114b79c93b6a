"""A JUNGFRAU module's calibration (pedestal per storage cell, gain factors) and the detector-side
ADC model that turns photons into raw words with dynamic gain switching (detectors.md §2.2, §2.7,
§4.3, §4.4, §6.1 "Content"). The receiver's conversion back to photons shares :class:`Calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._models import MODULE_COLS, MODULE_ROWS
from jfjoch_hil.simulator.errors import CalibrationError

__all__ = [
    "DEFAULT_GAIN_ADU_PER_KEV",
    "ERROR_VALUE",
    "SATURATION_VALUE",
    "RAW_SATURATED",
    "RAW_ERROR",
    "Calibration",
    "RawGenerator",
    "pixel_area_factor",
    "simple_photon_pattern",
]

#: Jungfraujoch default gain factors G0, G1, G2 in ADU/keV (detectors.md §4.4).
DEFAULT_GAIN_ADU_PER_KEV = (41.0, -1.439, -0.1145)
#: Converted int16 sentinels (detectors.md §4.4, §4.6).
ERROR_VALUE = -32768
SATURATION_VALUE = 32767
#: Raw words (detectors.md §2.2).
RAW_SATURATED = 0xC000
RAW_ERROR = 0xFFFF
_ADC_MAX = 0x3FFF
_PIXELS = MODULE_ROWS * MODULE_COLS


@dataclass(frozen=True)
class Calibration:
    """Pedestals ``(cells, modules, 3, 512, 1024)`` ADU and gains ``(modules, 3, 512, 1024)``
    ADU/keV (detectors.md §4.3 ``[storage_cell][module][gain]``, §4.4). A pedestal above 16383
    marks the pixel invalid for that gain (§4.3 sentinel 16383.5)."""

    pedestal_adu: np.ndarray
    gain_adu_per_kev: np.ndarray

    def __post_init__(self) -> None:
        p, g = self.pedestal_adu, self.gain_adu_per_kev
        if p.ndim != 5 or p.shape[2:] != (3, MODULE_ROWS, MODULE_COLS):
            raise CalibrationError(
                f"pedestal_adu: shape {p.shape}; need (cells, modules, 3, 512, 1024)"
            )
        if g.shape != p.shape[1:]:
            raise CalibrationError(f"gain_adu_per_kev: shape {g.shape}; need {p.shape[1:]}")
        if not 1 <= p.shape[0] <= 16:
            raise CalibrationError(
                f"pedestal_adu: {p.shape[0]} storage cells; allowed 1..16 (§2.7)"
            )

    @property
    def n_cells(self) -> int:
        """Storage cells calibrated (1..16)."""
        return self.pedestal_adu.shape[0]

    @property
    def n_modules(self) -> int:
        """Modules calibrated."""
        return self.pedestal_adu.shape[1]

    @classmethod
    def synthetic(
        cls,
        n_modules: int,
        n_cells: int,
        rng: np.random.Generator | Sequence[np.random.Generator | None],
        g0_pedestal_adu: tuple[float, float] = (1000.0, 4000.0),
        g12_pedestal_adu: tuple[float, float] = (13000.0, 15000.0),
        gain_spread: float = 0.02,
    ) -> Calibration:
        """Plausible per-pixel calibration (§6.2 suggestions, unconfirmed): G0 pedestal uniform
        in 1000-4000 ADU, G1/G2 in 13000-15000 ADU, gains within ``gain_spread`` of defaults.

        ``rng`` is one generator for all modules, or one per module: module m then draws from
        ``rng[m]`` alone, so any set of modules gets the same values made alone as made with
        the others; a module whose generator is None is left at zero (not calibrated here).
        """

        def draw(generator: np.random.Generator, modules: int):
            # G0 pedestals, G1/G2 pedestals, gain spreads of ``modules`` modules, in that order
            g0 = generator.uniform(
                *g0_pedestal_adu, size=(n_cells, modules, MODULE_ROWS, MODULE_COLS)
            )
            g12 = generator.uniform(
                *g12_pedestal_adu, size=(n_cells, modules, 2, MODULE_ROWS, MODULE_COLS)
            )
            return (
                g0,
                g12,
                generator.normal(1.0, gain_spread, size=(modules, 3, MODULE_ROWS, MODULE_COLS)),
            )

        pedestal = np.zeros((n_cells, n_modules, 3, MODULE_ROWS, MODULE_COLS), dtype=np.float32)
        spread = np.zeros((n_modules, 3, MODULE_ROWS, MODULE_COLS))
        if isinstance(rng, np.random.Generator):
            parts = [(slice(None), rng, n_modules)]
        elif len(rng) != n_modules:
            raise CalibrationError(f"rng: {len(rng)} generators; need one per module ({n_modules})")
        else:
            parts = [(slice(m, m + 1), g, 1) for m, g in enumerate(rng) if g is not None]
        for modules, generator, count in parts:
            g0, g12, gains = draw(generator, count)
            pedestal[:, modules, 0], pedestal[:, modules, 1:], spread[modules] = g0, g12, gains
        base = np.array(DEFAULT_GAIN_ADU_PER_KEV, dtype=np.float32)[None, :, None, None]
        return cls(pedestal, (base * spread).astype(np.float32))


def pixel_area_factor() -> np.ndarray:
    """Relative sensor area of each raw pixel: 2 on chip borders, 4 at chip corners (§5.1)."""
    rows = np.ones(MODULE_ROWS, dtype=np.float32)
    rows[[255, 256]] = 2
    cols = np.ones(MODULE_COLS, dtype=np.float32)
    cols[[255, 256, 511, 512, 767, 768]] = 2
    return rows[:, None] * cols[None, :]


class RawGenerator:
    """Detector side: photons -> raw u16 words with dynamic gain switching (§2.2, §2.7).

    A pixel stays in G0 while its G0 signal stays below ``g0_limit_adu`` ADC, switches to G1
    while the G1 ADC stays above ``g1_limit_adu``, then to G2; a G2 ADC at or below 0 is the
    saturated word 0xC000. Noise is Gaussian per gain in ADU (values unconfirmed, §6.2).
    """

    def __init__(
        self,
        calibration: Calibration,
        photon_energy_kev: float,
        rng: np.random.Generator | Sequence[np.random.Generator | None],
        noise_adu: tuple[float, float, float] = (3.0, 1.0, 1.0),
        g0_limit_adu: float = 15500.0,
        g1_limit_adu: float = 1000.0,
        double_pixels: bool = True,
    ) -> None:
        """``rng``: one generator for all modules, or one per module (module m's noise then
        comes from ``rng[m]`` alone, so a module's frames do not depend on which other modules
        are made; a module whose generator is None is not made: its words stay zero)."""
        self.calibration = calibration
        self.photon_energy_kev = photon_energy_kev
        if not isinstance(rng, np.random.Generator) and len(rng) != calibration.n_modules:
            raise CalibrationError(
                f"rng: {len(rng)} generators; need one per module ({calibration.n_modules})"
            )
        self.rng = rng
        self.noise_adu = noise_adu
        self.g0_limit_adu = g0_limit_adu
        self.g1_limit_adu = g1_limit_adu
        self._area = pixel_area_factor() if double_pixels else np.float32(1)

    def raw(
        self, photons: np.ndarray, storage_cell: int = 0, forced_gain: int | None = None
    ) -> np.ndarray:
        """``photons`` ``(modules, 512, 1024)`` -> raw u16 words for one storage cell.

        ``forced_gain`` 1 or 2 emulates ``forceswitchg1/g2`` dark runs (§4.3): that gain everywhere.
        """
        cal = self.calibration
        if photons.shape != (cal.n_modules, MODULE_ROWS, MODULE_COLS):
            raise CalibrationError(
                f"photons: shape {photons.shape}; need ({cal.n_modules}, 512, 1024)"
            )
        if not 0 <= storage_cell < cal.n_cells:
            raise CalibrationError(f"storage_cell: {storage_cell}; allowed 0..{cal.n_cells - 1}")
        pedestal = cal.pedestal_adu[storage_cell]
        gain = cal.gain_adu_per_kev
        if isinstance(self.rng, np.random.Generator):
            return self._words(photons, pedestal, gain, self.rng, forced_gain)
        words = np.zeros(photons.shape, dtype=np.uint16)
        for m, rng in enumerate(self.rng):
            if rng is not None:
                part = slice(m, m + 1)
                words[part] = self._words(
                    photons[part], pedestal[part], gain[part], rng, forced_gain
                )
        return words

    def _words(
        self,
        photons: np.ndarray,
        pedestal: np.ndarray,
        gain: np.ndarray,
        rng: np.random.Generator,
        forced_gain: int | None,
    ) -> np.ndarray:
        """Raw words of ``photons`` (modules, 512, 1024) given those modules' pedestals and
        gains, with noise from ``rng``."""
        energy_kev = (
            np.asarray(photons, dtype=np.float32) * self._area * np.float32(self.photon_energy_kev)
        )
        shape = photons.shape

        def adc(g: int, where: np.ndarray | None = None) -> np.ndarray:
            # ADC of gain g (with its noise) for every pixel, or for the flat indices ``where``:
            # noise is drawn only for the pixels that end in that gain's decision
            if where is None:
                noise = rng.standard_normal(shape, dtype=np.float32)
                return (
                    pedestal[:, g] + gain[:, g] * energy_kev + np.float32(self.noise_adu[g]) * noise
                )
            noise = rng.standard_normal(where.size, dtype=np.float32)
            m, y, x = np.unravel_index(where, shape)
            return (
                pedestal[m, g, y, x]
                + gain[m, g, y, x] * energy_kev[m, y, x]
                + np.float32(self.noise_adu[g]) * noise
            )

        if forced_gain is not None:
            stage = np.full(shape, forced_gain, dtype=np.intp)
            value = adc(forced_gain).astype(np.float32)
        else:
            value = adc(0).astype(np.float32)
            stage = np.zeros(shape, dtype=np.intp)
            above = np.flatnonzero(value.reshape(-1) >= self.g0_limit_adu)  # G0 would overflow
            if above.size:
                g1 = adc(1, above)
                in_g1 = g1 > self.g1_limit_adu
                flat_value, flat_stage = value.reshape(-1), stage.reshape(-1)
                flat_value[above[in_g1]] = g1[in_g1]
                flat_stage[above[in_g1]] = 1
                to_g2 = above[~in_g1]
                if to_g2.size:
                    flat_value[to_g2] = adc(2, to_g2)
                    flat_stage[to_g2] = 2
        saturated = (stage == 2) & (value <= 0)
        words = np.clip(np.rint(value), 0, _ADC_MAX).astype(np.uint16)
        words |= np.array([0x0000, 0x4000, 0xC000], dtype=np.uint16)[stage]
        words[saturated] = RAW_SATURATED
        return words


def simple_photon_pattern(
    n_modules: int,
    rng: np.random.Generator,
    background_photons: float = 0.05,
    n_spots: int = 50,
    spot_photons: float = 500.0,
) -> np.ndarray:
    """A built-in stand-in for a scene (until ``simulator/scenes`` is wired in): Poisson
    background plus Gaussian spots of ``spot_photons`` total, float32 ``(modules, 512, 1024)``.

    Strong spots push their centre pixels into G1, so gain switching is exercised (§2.2).
    """
    shape = (n_modules, MODULE_ROWS, MODULE_COLS)
    photons = rng.poisson(background_photons, size=shape).astype(np.float32)
    rows, cols = np.mgrid[-3:4, -3:4]
    kernel = np.exp(-(rows**2 + cols**2) / 2.0).astype(np.float32)
    kernel /= kernel.sum()
    for _ in range(n_spots):
        m = int(rng.integers(n_modules))
        r, c = int(rng.integers(3, MODULE_ROWS - 3)), int(rng.integers(3, MODULE_COLS - 3))
        photons[m, r - 3 : r + 4, c - 3 : c + 4] += rng.poisson(kernel * spot_photons)
    return photons
