"""Analysis settings and ROI definitions (hdf5-format.md §4.1-4.4.1).

Frozen dataclasses; every threshold has its unit in its name.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from jfjoch_hil.simulator.errors import AnalysisError

__all__ = [
    "AnalysisSettings",
    "Roi",
    "RoiAzim",
    "RoiBox",
    "RoiCircle",
    "settings_from_mapping",
    "settings_from_scenario",
    "settings_to_mapping",
]

_MAX_ROIS = 16  # roi_map is a uint16 bitmask (hdf5-format.md §4.4.1)


@dataclass(frozen=True)
class RoiBox:
    """A rectangular ROI, bounds inclusive, in pixels (roi_defs type ``box``)."""

    name: str
    min_x_pxl: int
    max_x_pxl: int
    min_y_pxl: int
    max_y_pxl: int

    def __post_init__(self) -> None:
        if self.min_x_pxl > self.max_x_pxl or self.min_y_pxl > self.max_y_pxl:
            raise AnalysisError(
                f"roi[{self.name}]: x {self.min_x_pxl}..{self.max_x_pxl}, y {self.min_y_pxl}.."
                f"{self.max_y_pxl}, allowed min <= max"
            )


@dataclass(frozen=True)
class RoiCircle:
    """A disc ROI: pixels whose centre lies within ``radius_pxl`` (roi_defs type ``circle``)."""

    name: str
    center_x_pxl: float
    center_y_pxl: float
    radius_pxl: float

    def __post_init__(self) -> None:
        if not self.radius_pxl > 0:
            raise AnalysisError(f"roi[{self.name}].radius_pxl: {self.radius_pxl}, allowed > 0")


@dataclass(frozen=True)
class RoiAzim:
    """A ring (optionally a sector) in q = 4 pi sin(theta)/lambda (roi_defs type ``azim``).

    ``phi_min_deg``/``phi_max_deg`` None means the full ring; phi as in the azimuthal map.
    """

    name: str
    q_min_recipA: float  # noqa: N815 - the roi_defs dataset name (hdf5-format.md §4.4.1)
    q_max_recipA: float  # noqa: N815
    phi_min_deg: float | None = None
    phi_max_deg: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.q_min_recipA < self.q_max_recipA:
            raise AnalysisError(
                f"roi[{self.name}].q_min_recipA/q_max_recipA: {self.q_min_recipA}/"
                f"{self.q_max_recipA}, allowed 0 <= min < max"
            )
        if (self.phi_min_deg is None) != (self.phi_max_deg is None):
            raise AnalysisError(f"roi[{self.name}].phi_min_deg/phi_max_deg: give both or neither")


Roi = RoiBox | RoiCircle | RoiAzim


@dataclass(frozen=True)
class AnalysisSettings:
    """What the per-image analysis does and with which thresholds (hdf5-format.md §4.1-4.6).

    Spot finding: a pixel is strong when it is at least ``photon_threshold`` and exceeds the local
    mean (window ``2 * background_window_px + 1``) by ``signal_to_noise`` local sigmas; spots are
    8-connected strong pixels with at least ``min_pixels_per_spot`` pixels and an integrated
    signal-to-noise I / sqrt(I + n_pixels * background) of at least ``min_spot_snr``, inside
    [``high_resolution_limit_a``, ``low_resolution_limit_a``]. Spots with d >=
    ``low_res_spot_d_a`` count as low-resolution; spots within ``ice_ring_width_recip_a`` (in q)
    of an ice ring are flagged. ``spot_finding``/``indexing``/``integration``/``azint`` switch
    stages off (their fields then keep the sentinels, or are absent for azint).
    """

    spot_finding: bool = True
    indexing: bool = True
    integration: bool = True
    azint: bool = True
    error_value: int = -32768
    saturation_value: int = 32767
    photon_threshold: float = 4.0
    signal_to_noise: float = 3.0
    background_window_px: int = 7
    min_pixels_per_spot: int = 3
    min_spot_snr: float = 4.0
    max_pixels_per_spot: int = 400
    high_resolution_limit_a: float = 1.0
    low_resolution_limit_a: float = 50.0
    low_res_spot_d_a: float = 5.0
    ice_ring_width_recip_a: float = 0.02
    max_spot_count: int = 250
    index_tolerance_px: float = 2.0
    min_indexed_spots: int = 6
    min_indexed_fraction: float = 0.3
    integration_radius_px: int = 3
    background_ring_px: int = 3
    az_int_q_min_recip_a: float = 0.1
    az_int_q_max_recip_a: float = 4.0
    az_int_q_spacing_recip_a: float = 0.05
    az_int_phi_bins: int = 1
    rois: tuple[Roi, ...] = ()

    def __post_init__(self) -> None:
        if len(self.rois) > _MAX_ROIS:
            raise AnalysisError(f"settings.rois: {len(self.rois)} ROIs, allowed <= {_MAX_ROIS}")
        names = [roi.name for roi in self.rois]
        if len(set(names)) != len(names):
            raise AnalysisError(f"settings.rois: names {names}, allowed unique names")
        if not 0 <= self.az_int_q_min_recip_a < self.az_int_q_max_recip_a:
            raise AnalysisError(
                "settings.az_int_q_min_recip_a/az_int_q_max_recip_a: "
                f"{self.az_int_q_min_recip_a}/{self.az_int_q_max_recip_a}, allowed 0 <= min < max"
            )
        if not self.az_int_q_spacing_recip_a > 0 or self.az_int_phi_bins < 1:
            raise AnalysisError(
                "settings.az_int_q_spacing_recip_a/az_int_phi_bins: "
                f"{self.az_int_q_spacing_recip_a}/{self.az_int_phi_bins}, allowed > 0 / >= 1"
            )
        if self.max_spot_count < 0 or self.min_pixels_per_spot < 1 or self.background_window_px < 1:
            raise AnalysisError(
                "settings.max_spot_count/min_pixels_per_spot/background_window_px: "
                f"{self.max_spot_count}/{self.min_pixels_per_spot}/{self.background_window_px}, "
                "allowed >= 0 / >= 1 / >= 1"
            )


_ROI_KINDS = {"box": RoiBox, "circle": RoiCircle, "azim": RoiAzim}


def settings_from_mapping(
    table: dict, path: str = "analysis", base: AnalysisSettings | None = None
) -> AnalysisSettings:
    """:class:`AnalysisSettings` from a scenario's ``[analysis]`` table; ROIs as
    ``[[analysis.rois]]`` tables with ``type`` = box | circle | azim and the roi_defs field names
    (hdf5-format.md §4.4.1); keys not given keep ``base``'s values (default: the class defaults).
    Unknown keys and values of the wrong type are refused with their path."""
    if not isinstance(table, dict):
        raise AnalysisError(f"{path}: {type(table).__name__}, allowed a table")
    allowed = {f.name for f in dataclasses.fields(AnalysisSettings)}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise AnalysisError(f"{path}.{unknown[0]}: unknown key, allowed {sorted(allowed)}")
    values = dict(table)
    hints = typing.get_type_hints(AnalysisSettings)
    for key, value in values.items():
        if key == "rois":
            continue
        kind = hints[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = value = float(value)
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            raise AnalysisError(f"{path}.{key}: expected {kind.__name__}, got {value!r}")
    rois = []
    raw_rois = values.pop("rois", [])
    if not isinstance(raw_rois, (list, tuple)):
        raise AnalysisError(f"{path}.rois: expected an array of tables, got {raw_rois!r}")
    for index, roi_table in enumerate(raw_rois):
        if not isinstance(roi_table, dict):
            raise AnalysisError(f"{path}.rois[{index}]: expected a table, got {roi_table!r}")
        roi_path = f"{path}.rois[{index}]"
        roi_values = dict(roi_table)
        kind = roi_values.pop("type", None)
        if kind not in _ROI_KINDS:
            raise AnalysisError(f"{roi_path}.type: {kind!r}, allowed {sorted(_ROI_KINDS)}")
        cls = _ROI_KINDS[kind]
        names = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(roi_values) - names)
        if extra:
            raise AnalysisError(f"{roi_path}.{extra[0]}: unknown key, allowed {sorted(names)}")
        try:
            rois.append(cls(**roi_values))
        except TypeError as error:
            raise AnalysisError(f"{roi_path}: {error}") from error
    if "rois" in table or base is None:
        values["rois"] = tuple(rois)
    try:
        return dataclasses.replace(base or AnalysisSettings(), **values)
    except TypeError as error:
        raise AnalysisError(f"{path}: {error}") from error


def settings_to_mapping(settings: AnalysisSettings) -> dict:
    """The ``[analysis]`` table of ``settings``: inverse of :func:`settings_from_mapping` (ROIs as
    roi_defs tables with their ``type``)."""
    kinds = {cls: name for name, cls in _ROI_KINDS.items()}
    out = {
        f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "rois"
    }
    out["rois"] = [
        {
            "type": kinds[type(roi)],
            **{k: v for k, v in dataclasses.asdict(roi).items() if v is not None},
        }
        for roi in settings.rois
    ]
    return out


def settings_from_scenario(scenario) -> AnalysisSettings:
    """The :class:`AnalysisSettings` of a scenario: its ``[analysis]`` section is one (the
    scenario declares no second analysis type)."""
    section = scenario.analysis
    if not isinstance(section, AnalysisSettings):
        raise AnalysisError(
            f"scenario.analysis: {type(section).__name__}, allowed AnalysisSettings"
        )
    return section
