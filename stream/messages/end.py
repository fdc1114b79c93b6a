"""The end message: one per series, at disarm (stream.md section 10.1).

DECTRIS sends exactly ``type``, ``series_id``, ``series_unique_id`` (O).  Jungfraujoch's end
message carries the run summary (JSTR); its CBOR names are unconfirmed (U) and chosen here for the
JHDF destinations filled at finalisation.
"""

from __future__ import annotations

from jfjoch_hil.stream.messages._base import Field, message_class

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

EndMessage = message_class(
    "EndMessage", "end", END_FIELDS, "The end message (stream.md 10.1): series ids and run summary."
)
EndMessage.__module__ = __name__
