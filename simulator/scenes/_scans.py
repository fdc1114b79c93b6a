"""Scan kinds: rotation, stills/serial and grid scans (hdf5-format.md §3 sample).

Each scan is a frozen dataclass; ``n_images`` says how many images the scene has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.errors import SceneError

__all__ = ["RotationScan", "StillsScan", "GridScan", "Scan"]


@dataclass(frozen=True)
class RotationScan:
    """A rotation scan about ``axis`` (lab frame), image i covering
    [start_deg + i * increment_deg, start_deg + (i + 1) * increment_deg).

    ``helical_step_um`` is the sample translation per image of a helical scan (recorded in the
    goniometer map; the beam stays on the same crystal, so the pattern is unchanged).
    """

    n_images: int
    start_deg: float = 0.0
    increment_deg: float = 0.1
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    axis_name: str = "omega"
    helical_step_um: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise SceneError(f"rotation.n_images: {self.n_images}, allowed >= 1")
        if not self.increment_deg > 0:
            raise SceneError(f"rotation.increment_deg: {self.increment_deg}, allowed > 0")
        if not np.linalg.norm(self.axis) > 0:
            raise SceneError(f"rotation.axis: {self.axis}, allowed a non-zero vector")

    @property
    def axis_unit(self) -> np.ndarray:
        """The rotation axis normalised."""
        axis = np.asarray(self.axis, dtype=float)
        return axis / np.linalg.norm(axis)

    def goniometer(self) -> dict[str, dict[str, object]]:
        """The start message's ``goniometer`` map: axis -> {start, increment (deg), vector}."""
        entry: dict[str, object] = {
            "start": float(self.start_deg),
            "increment": float(self.increment_deg),
            "vector": [float(v) for v in self.axis_unit],
        }
        if self.helical_step_um is not None:
            entry["helical_step"] = [float(v) * 1e-6 for v in self.helical_step_um]
        return {self.axis_name: entry}


@dataclass(frozen=True)
class StillsScan:
    """Serial crystallography: a random orientation per image, a hit with probability
    ``hit_rate``, and 1..``max_crystals_per_hit`` crystals (lattices) in a hit."""

    n_images: int
    hit_rate: float = 0.5
    max_crystals_per_hit: int = 1

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise SceneError(f"stills.n_images: {self.n_images}, allowed >= 1")
        if not 0.0 <= self.hit_rate <= 1.0:
            raise SceneError(f"stills.hit_rate: {self.hit_rate}, allowed [0, 1]")
        if self.max_crystals_per_hit < 1:
            raise SceneError(
                f"stills.max_crystals_per_hit: {self.max_crystals_per_hit}, allowed >= 1"
            )

    def goniometer(self) -> dict[str, dict[str, object]]:
        """Stills have no goniometer axis: an empty map."""
        return {}


@dataclass(frozen=True)
class GridScan:
    """A raster over ``n_fast`` x ``n_slow`` points (fast index fastest); one crystal occupies
    the points inside an ellipse of semi-axes ``crystal_radius_steps`` around
    ``crystal_center_steps``; each point sees it slightly misoriented (``jitter_deg``)."""

    n_fast: int
    n_slow: int
    step_fast_um: float = 10.0
    step_slow_um: float = 10.0
    crystal_center_steps: tuple[float, float] = (2.0, 2.0)
    crystal_radius_steps: tuple[float, float] = (1.5, 1.5)
    jitter_deg: float = 0.05

    def __post_init__(self) -> None:
        if self.n_fast < 1 or self.n_slow < 1:
            raise SceneError(f"grid.n_fast/n_slow: {self.n_fast}/{self.n_slow}, allowed >= 1")
        if min(self.crystal_radius_steps) <= 0:
            raise SceneError(f"grid.crystal_radius_steps: {self.crystal_radius_steps}, allowed > 0")

    @property
    def n_images(self) -> int:
        """One image per grid point."""
        return self.n_fast * self.n_slow

    def point(self, image_index: int) -> tuple[int, int]:
        """(fast, slow) grid indices of an image."""
        return image_index % self.n_fast, image_index // self.n_fast

    def crystal_at(self, image_index: int) -> bool:
        """True where the grid point lies on the crystal."""
        fast, slow = self.point(image_index)
        dx = (fast - self.crystal_center_steps[0]) / self.crystal_radius_steps[0]
        dy = (slow - self.crystal_center_steps[1]) / self.crystal_radius_steps[1]
        return dx * dx + dy * dy <= 1.0

    def goniometer(self) -> dict[str, dict[str, object]]:
        """Grid scans translate the sample: no rotation axis (an empty map)."""
        return {}


Scan = RotationScan | StillsScan | GridScan
