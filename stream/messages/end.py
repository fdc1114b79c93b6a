"""The end message: one per series, at disarm (stream.md section 10.1).

DECTRIS sends exactly ``type``, ``series_id``, ``series_unique_id`` (O).  Jungfraujoch's end
message carries the run summary (JSTR); its CBOR names are unconfirmed (U) and chosen here for the
JHDF destinations filled at finalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jfjoch_hil.stream.arrays import TypedArray
from jfjoch_hil.stream.messages._base import Field, Message

__all__ = ["END_FIELDS", "EndMessage"]

_D = {"std": "D", "status": "C", "section": "10.1"}
_J = {"std": "J", "status": "U", "section": "10.1"}

END_FIELDS: tuple[Field, ...] = (
    Field("series_id", "uint", **_D, doc="as in start"),
    Field("series_unique_id", "str", **_D, doc="as in start"),
    Field("end_date", "datetime", **_J, doc="-> /entry/end_time"),
    Field("end_date_estimated", "datetime", **_J, doc="-> /entry/end_time_estimated"),
    Field("images_collected", "uint", **_J, doc="-> detectorSpecific/nimages_collected"),
    Field("images_sent", "uint", **_J, doc="images the receiver put on the stream"),
    Field("max_image_number_sent", "uint", **_J, doc="highest image_id sent + 1"),
    Field(
        "data_collection_efficiency",
        "float",
        **_J,
        doc="received/expected packets -> detectorSpecific",
    ),
    Field("max_receiver_delay", "uint", **_J, doc="-> detectorSpecific/max_receiver_delay"),
    Field(
        "adu_histogram",
        "typed_array",
        **_J,
        doc="ADU histogram counts -> detectorSpecific/adu_histogram",
    ),
    Field("adu_histogram_bin_width", "uint", **_J, doc="ADU per histogram bin"),
    Field(
        "rotation_lattice", "floats", unit="Angstrom", **_J, doc="-> MX/rotationLatticeIndexed [9]"
    ),
    Field(
        "rotation_lattice_extra",
        "any",
        unit="Angstrom",
        **_J,
        doc="-> MX/rotationLatticeIndexedExtra [m, 9]",
    ),
    Field("rotation_lattice_niggli_class", "int", **_J, doc="-> MX/rotationLatticeNiggliClass"),
    Field("indexing_rate", "float", **_J, doc="-> MX/imageIndexedMean"),
    Field("bkg_estimate_mean", "float", unit="photons", **_J, doc="-> MX/bkgEstimateMean"),
    Field("indexed_lattice_count", "uint", **_J, doc="-> MX/indexedLatticeCount"),
    Field(
        "fluorescence_energy", "floats", unit="eV", **_J, doc="-> instrument/fluorescence/energy"
    ),
    Field("fluorescence_data", "floats", **_J, doc="-> instrument/fluorescence/data"),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class EndMessage(Message):
    """The end message (stream.md 10.1): series ids and run summary."""

    TYPE = "end"
    FIELDS = END_FIELDS

    series_id: int | None = None
    series_unique_id: str | None = None
    end_date: datetime | None = None
    end_date_estimated: datetime | None = None
    images_collected: int | None = None
    images_sent: int | None = None
    max_image_number_sent: int | None = None
    data_collection_efficiency: float | None = None
    max_receiver_delay: int | None = None
    adu_histogram: TypedArray | None = None
    adu_histogram_bin_width: int | None = None
    rotation_lattice: Sequence[float] | None = None
    rotation_lattice_extra: Any = None
    rotation_lattice_niggli_class: int | None = None
    indexing_rate: float | None = None
    bkg_estimate_mean: float | None = None
    indexed_lattice_count: int | None = None
    fluorescence_energy: Sequence[float] | None = None
    fluorescence_data: Sequence[float] | None = None
