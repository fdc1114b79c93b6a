"""Multi-module detectors as data: module ids, header row/column, UDP ports (detectors.md §2.6,
§2.9, §3.4, §5.2, §6.2 layout table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jfjoch_hil.simulator.detector._header import DET_TYPE_EIGER
from jfjoch_hil.simulator.detector._models import ModuleModel, eiger_module, jungfrau_module
from jfjoch_hil.simulator.errors import DetectorModelError

__all__ = ["Detector", "PortAddress", "CATALOGUE", "detector_by_name"]


@dataclass(frozen=True)
class PortAddress:
    """One UDP stream of a detector: which module and port, and its header identity (§2.6, §3.4)."""

    index: int
    module: int
    port_in_module: int
    udp_port: int
    mod_id: int
    row: int
    column: int
    det_spec4: int


@dataclass(frozen=True)
class Detector:
    """A detector: ``n_modules`` of one :class:`ModuleModel` on Jungfraujoch's regular grid.

    ``modules_per_row`` is Jungfraujoch's ``horizontal_stacking`` (§5.2); ``module_rows`` is the
    slsDetector ``maxY``. Destination ports follow Jungfraujoch: ``base_udp_port + ports_per_module
    * m + k`` with the base a multiple of 64 (§2.9). ``mod_ids`` default to 0..n-1.
    """

    name: str
    model: ModuleModel
    n_modules: int
    modules_per_row: int = 1
    gap_x_px: int = 8
    gap_y_px: int = 36
    base_udp_port: int = 8192
    mod_ids: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.n_modules < 1:
            raise DetectorModelError(f"{self.name}.n_modules: {self.n_modules}; allowed >= 1")
        if not 1 <= self.modules_per_row <= self.n_modules:
            raise DetectorModelError(
                f"{self.name}.modules_per_row: {self.modules_per_row}; allowed 1..{self.n_modules}"
            )
        if self.mod_ids and len(self.mod_ids) != self.n_modules:
            raise DetectorModelError(
                f"{self.name}.mod_ids: {len(self.mod_ids)} ids; need {self.n_modules}"
            )
        if self.base_udp_port % 64 and self.base_udp_port != 0:
            raise DetectorModelError(
                f"{self.name}.base_udp_port: {self.base_udp_port}; allowed multiples of 64 (§2.9)"
            )

    @property
    def n_ports(self) -> int:
        """UDP streams in total (modules x ports per module)."""
        return self.n_modules * self.model.ports_per_module

    @property
    def module_rows(self) -> int:
        """Rows of modules on the grid (slsDetector ``maxY``), ceil(M / H) (§5.2)."""
        return -(-self.n_modules // self.modules_per_row)

    @property
    def packets_per_frame(self) -> int:
        """Packets of one detector frame, all modules and ports."""
        return self.n_modules * self.model.packets_per_module

    def module_id(self, module: int) -> int:
        """``modId`` of a module (§2.6); EIGER half-module ids are ``2*id`` and ``2*id+1``."""
        return self.mod_ids[module] if self.mod_ids else module

    def ports(self) -> tuple[PortAddress, ...]:
        """Every UDP stream with its header identity, index = ``module*ports_per_module + k``.

        JUNGFRAU (§2.6): modules fill a column first; ``row = (i mod maxY) * nIf + interface``,
        ``column = i div maxY``. EIGER (§3.4): rows count half-modules, ``column = (i div maxY)
        * 2 + block side``; ``modId`` of the left-block port = half-module id, right = id + 1;
        ``detSpec4`` = round-robin destination entry, 0 with the single destination used here.
        """
        per = self.model.ports_per_module
        max_y = self.module_rows
        out = []
        for m in range(self.n_modules):
            for k, block in enumerate(self.model.ports):
                if self.model.det_type == DET_TYPE_EIGER:
                    half_index = m * 2 + block.half
                    row = half_index % (2 * max_y)
                    column = (m // max_y) * 2 + block.side
                    mod_id = 2 * (2 * self.module_id(m) + block.half) + block.side
                    det_spec4 = 0  # round-robin destination entry: one destination (§3.4)
                else:
                    row = (m % max_y) * per + block.half
                    column = m // max_y
                    mod_id = self.module_id(m)
                    det_spec4 = 0
                udp = self.base_udp_port + per * m + k if self.base_udp_port else 0
                out.append(PortAddress(m * per + k, m, k, udp, mod_id, row, column, det_spec4))
        return tuple(out)

    def port_field(self, name: str) -> np.ndarray:
        """One :class:`PortAddress` field for every port as an array (for vectorised headers)."""
        return np.array([getattr(p, name) for p in self.ports()], dtype=np.int64)


def _build() -> dict[str, Detector]:
    jf = jungfrau_module(2)
    eiger = eiger_module(16, ten_giga=True)
    entries = (
        Detector("JF0.5M", jf, 1),
        Detector("JF1M", jf, 2, modules_per_row=1),
        Detector("JF4M", jf, 8, modules_per_row=2),
        Detector("EIGER500k", eiger, 1),
        Detector("EIGER1M", eiger, 2, modules_per_row=1),  # layout unconfirmed (§6.2)
    )
    return {d.name: d for d in entries}


#: Detectors of detectors.md §6.2 (JUNGFRAU 2 interfaces, EIGER 16-bit 10 GbE by default).
CATALOGUE: dict[str, Detector] = _build()


def detector_by_name(name: str) -> Detector:
    """Look a detector up in :data:`CATALOGUE` (detectors.md §6.2)."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise DetectorModelError(f"detector.name: {name!r}; allowed {sorted(CATALOGUE)}") from None
