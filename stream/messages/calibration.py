"""The calibration message (Jungfraujoch, stream.md section 10.2).

Carries one JUNGFRAU pedestal / calibration image, sent after start to the first image socket
only; stored under /entry/instrument/detector/calibration.  Layout provisional (U): series ids,
a ``name`` and one MultiDimArray ``data`` per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from jfjoch_hil.stream.arrays import TypedArray
from jfjoch_hil.stream.messages._base import Field, Message

__all__ = ["CALIBRATION_FIELDS", "CalibrationMessage"]

_J = {"std": "J", "status": "U", "section": "10.2"}

CALIBRATION_FIELDS: tuple[Field, ...] = (
    Field("series_id", "uint", **_J, doc="as in start"),
    Field("series_unique_id", "str", **_J, doc="as in start"),
    Field("name", "str", required=True, **_J, doc="calibration image name, e.g. pedestal_g0_sc0"),
    Field("data", "multidim", required=True, **_J, doc="the calibration image"),
    Field("gain", "uint", **_J, doc="gain stage 0-2 of a pedestal"),
    Field("storage_cell", "uint", **_J, doc="storage cell of a pedestal"),
    Field("module", "uint", **_J, doc="module number, when per module"),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class CalibrationMessage(Message):
    """A calibration message (stream.md 10.2): one named pedestal or calibration image."""

    TYPE = "calibration"
    FIELDS = CALIBRATION_FIELDS

    series_id: int | None = None
    series_unique_id: str | None = None
    name: str
    data: TypedArray
    gain: int | None = None
    storage_cell: int | None = None
    module: int | None = None
