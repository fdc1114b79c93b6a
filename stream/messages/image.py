"""The image message: one per image (stream.md sections 8 and 9).

DS2 fields (8.1) and the Jungfraujoch per-image analysis results of section 9.  Where the spec
marks a CBOR name unconfirmed (U) the name here is this project's choice; docs/stream.md lists
each with its HDF5 destination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jfjoch_hil.stream.arrays import TypedArray
from jfjoch_hil.stream.messages._base import Field, Message, Rational

__all__ = [
    "IMAGE_FIELDS",
    "PROFILING_KEYS",
    "REFLECTION_COLUMNS",
    "REFLECTION_DTYPES",
    "REFLECTION_TABLE",
    "SPOT_MEMBERS",
    "ImageMessage",
    "ReflectionColumn",
]

#: Members of one ``spots`` entry: name -> meaning (x, y, I, indexed: K; others: U).
SPOT_MEMBERS = {
    "x": "pixel, fast axis",
    "y": "pixel, slow axis",
    "I": "photons",
    "indexed": "fits the indexing solution (bool)",
    "h": "Miller index (int)",
    "k": "Miller index (int)",
    "l": "Miller index (int)",
    "dist_ewald": "distance from the Ewald sphere, 1/Angstrom",
    "lattice": "lattice the spot belongs to, -1 = unindexed",
    "ice_ring": "in an ice-ring band (bool)",
}


@dataclass(frozen=True)
class ReflectionColumn:
    """One column of ``reflections`` (hdf5-format.md §4.2): wire key = HDF5 dataset name.

    ``dtype`` is the numpy dtype the column travels and is stored in; ``unit`` the HDF5
    ``units`` attribute ("" = unitless).
    """

    name: str
    dtype: str
    unit: str
    doc: str


#: The ``reflections`` columns of hdf5-format.md §4.2, in table order.  Miller indices are
#: integers; every other column is a float32.  ``observed_frame`` is the standard NXreflections
#: field (NX_FLOAT: the frame estimate of the observed centroid), so it is a float too.
REFLECTION_TABLE: tuple[ReflectionColumn, ...] = (
    ReflectionColumn("h", "int32", "", "Miller index h"),
    ReflectionColumn("k", "int32", "", "Miller index k"),
    ReflectionColumn("l", "int32", "", "Miller index l"),
    ReflectionColumn("d", "float32", "Angstrom", "resolution"),
    ReflectionColumn("int_sum", "float32", "photons", "summation intensity"),
    ReflectionColumn("int_err", "float32", "photons", "sigma of the intensity"),
    ReflectionColumn("background_mean", "float32", "photons", "mean background under the peak"),
    ReflectionColumn("predicted_x", "float32", "pixel", "predicted position, fast axis"),
    ReflectionColumn("predicted_y", "float32", "pixel", "predicted position, slow axis"),
    ReflectionColumn("observed_x", "float32", "pixel", "observed centroid, fast axis"),
    ReflectionColumn("observed_y", "float32", "pixel", "observed centroid, slow axis"),
    ReflectionColumn("observed_frame", "float32", "", "image (frame) of the reflection"),
    ReflectionColumn("lp", "float32", "", "Lorentz-polarisation factor (1/rlp)"),
    ReflectionColumn("partiality", "float32", "", "recorded fraction"),
    ReflectionColumn("delta_phi", "float32", "deg", "offset from the frame centre"),
    ReflectionColumn("zeta", "float32", "", "Lorentz zeta factor"),
    ReflectionColumn("image_scale_corr", "float32", "", "per-image scale correction"),
)
#: Column name -> its :class:`ReflectionColumn` (iterates the names in table order).
REFLECTION_COLUMNS: dict[str, ReflectionColumn] = {c.name: c for c in REFLECTION_TABLE}
#: Column name -> numpy dtype name.
REFLECTION_DTYPES: dict[str, str] = {c.name: c.dtype for c in REFLECTION_TABLE}
#: Keys of ``profiling``: the /entry/profiling dataset names (hdf5-format.md 4.6), seconds.
PROFILING_KEYS = (
    "spotFindingTime",
    "indexingTime",
    "integrationTime",
    "refinementTime",
    "processingTime",
    "braggPredictionTime",
    "preprocessingTime",
    "compressionTime",
    "azIntTime",
    "indexAnalysisTime",
    "imageScaleTime",
)

_D = {"std": "D", "status": "C", "section": "8.1"}
_K = {"std": "J", "status": "K", "section": "9"}
_J = {"std": "J", "status": "U", "section": "9"}

IMAGE_FIELDS: tuple[Field, ...] = (
    Field("series_id", "uint", **_D, doc="as in start"),
    Field("series_unique_id", "str", **_D, doc="as in start"),
    Field("image_id", "uint", required=True, **_D, doc="image number, 0-based"),
    Field("real_time", "rational", unit="s", **_D, doc="actual exposure"),
    Field("series_date", "datetime", **_D, doc="date/time the series started"),
    Field("start_time", "rational", unit="s", **_D, doc="image start relative to series_date"),
    Field("stop_time", "rational", unit="s", **_D, doc="image stop relative to series_date"),
    Field("user_data", "any", **_D, doc="image_appendix, verbatim"),
    Field(
        "data", "channel_arrays", required=True, unit="counts", **_D, doc="channel -> MultiDimArray"
    ),
    # --- spot finding and indexing -> /entry/MX (hdf5-format.md 4.1)
    Field("spots", "maps", **_K, doc=f"array of maps with members {', '.join(SPOT_MEMBERS)}"),
    Field("strong_pixel_count", "uint", **_J, doc="-> MX/strongPixels"),
    Field("spot_count_unfiltered", "uint", **_J, doc="-> MX/peakCountUnfiltered"),
    Field("spot_count_low_res", "uint", **_J, doc="-> MX/peakCountLowRes"),
    Field("spot_count_ice_ring", "uint", **_J, doc="-> MX/peakCountIceRingRes"),
    Field("spot_count_indexed", "uint", **_J, doc="-> MX/peakCountIndexed"),
    Field("indexing_result", "bool", **_K, doc="-> MX/imageIndexed"),
    Field(
        "indexing_unit_cell", "map", unit="Angstrom, deg", **_K, doc="{a, b, c, alpha, beta, gamma}"
    ),
    Field(
        "indexing_lattice",
        "floats",
        unit="Angstrom",
        **_J,
        doc="real-space lattice, 3x3 row-major -> MX/latticeIndexed",
    ),
    Field(
        "indexing_lattice_extra",
        "any",
        unit="Angstrom",
        **_J,
        doc="list of 9-float lattices -> MX/latticeIndexedExtra",
    ),
    Field("indexing_lattice_count", "uint", **_J, doc="-> MX/indexingLatticeCount"),
    Field("niggli_class", "int", **_J, doc="-> MX/niggliClass"),
    Field("bravais_lattice", "str", **_J, doc="e.g. mC -> MX/bravaisLattice"),
    Field("profile_radius", "float", unit="Angstrom^-1", **_J, doc="-> MX/profileRadius"),
    Field("mosaicity", "float", unit="deg", **_J, doc="-> MX/mosaicity"),
    Field("b_factor", "float", unit="Angstrom^2", **_J, doc="-> MX/bFactor"),
    Field("resolution_estimate", "float", unit="Angstrom", **_J, doc="-> MX/resolutionEstimate"),
    Field("integrated_reflection_count", "uint", **_J, doc="-> MX/integratedReflections"),
    Field(
        "bkg_estimate",
        "float",
        unit="photons",
        **_J,
        doc="mean background, 3-5 A band -> MX/bkgEstimate",
    ),
    Field("beam_corr_x", "float", unit="pixel", **_J, doc="-> MX/beam_corr_x"),
    Field("beam_corr_y", "float", unit="pixel", **_J, doc="-> MX/beam_corr_y"),
    Field("image_scale_factor", "float", **_J, doc="-> MX/imageScaleFactor"),
    Field("image_scale_cc", "float", **_J, doc="-> MX/imageScaleCC"),
    Field("image_scale_mosaicity", "float", unit="deg", **_J, doc="-> MX/imageScaleMosaicity"),
    Field("image_scale_b_factor", "float", unit="Angstrom^2", **_J, doc="-> MX/imageScaleBFactor"),
    # --- integration -> /entry/reflections/image_NNNNNN (4.2)
    Field(
        "reflections",
        "columns",
        **_J,
        doc=f"column -> typed array: {', '.join(REFLECTION_COLUMNS)}",
    ),
    # --- azimuthal integration -> /entry/azint (4.3); flat [phi x q], NaN for empty bins
    Field("az_int_profile", "floats", **_K, doc="-> azint/image"),
    Field("az_int_profile_std", "floats", **_J, doc="-> azint/image_std"),
    Field("az_int_profile_count", "floats", **_J, doc="-> azint/image_count"),
    # --- ROIs -> /entry/roi/<name> (4.4)
    Field(
        "roi_integrals",
        "map_of_maps",
        std="J",
        status="K",
        section="9",
        doc="name -> {sum, sum_sq, npixel, max, x, y}",
    ),
    # --- image statistics -> /entry/image (4.5)
    Field("image_max_value", "int", unit="counts", **_J, doc="viable maximum -> image/max_value"),
    Field("image_min_value", "int", unit="counts", **_J, doc="viable minimum -> image/min_value"),
    Field("error_pixel_count", "uint", **_J, doc="-> image/error_pixels"),
    Field("saturated_pixel_count", "uint", **_J, doc="-> image/saturated_pixels"),
    Field("pixel_sum", "int", unit="counts", **_J, doc="-> image/pixel_sum"),
    # --- profiling -> /entry/profiling (4.6)
    Field(
        "profiling",
        "channel_floats",
        unit="s",
        **_J,
        doc=f"stage -> seconds; keys {', '.join(PROFILING_KEYS)}",
    ),
    # --- XFEL -> /entry/xfel (4.8)
    Field("xfel_pulse_id", "uint", **_K, doc="-> xfel/pulseID"),
    Field("xfel_event_code", "uint", **_J, doc="-> xfel/eventCode"),
    # --- receiver diagnostics -> /entry/detector (4.7)
    Field("storage_cell", "uint", **_J, doc="-> detector/storage_cell_image"),
    Field("packets_expected", "uint", **_J, doc="-> detector/packets_expected"),
    Field("packets_received", "uint", **_J, doc="-> detector/packets_received"),
    Field(
        "data_collection_efficiency",
        "float",
        **_J,
        doc="received/expected -> detector/data_collection_efficiency_image",
    ),
    Field("receiver_delay", "uint", **_J, doc="-> detector/rcv_delay"),
    Field("receiver_free_send_buffers", "uint", **_J, doc="-> detector/rcv_free_send_buffers"),
    Field("det_info", "uint", **_J, doc="JUNGFRAU debug field -> detector/det_info"),
    Field("timestamp", "uint", unit="detector ticks", **_J, doc="-> detector/timestamp"),
    Field("exposure_time", "float", unit="s", **_J, doc="-> detector/exptime"),
    Field(
        "original_image_number",
        "uint",
        **_J,
        doc="number before image rejection -> detector/number",
    ),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class ImageMessage(Message):
    """The image message (stream.md 8, 9): pixels per channel and the per-image analysis results."""

    TYPE = "image"
    FIELDS = IMAGE_FIELDS

    series_id: int | None = None
    series_unique_id: str | None = None
    image_id: int
    real_time: Rational | None = None
    series_date: datetime | None = None
    start_time: Rational | None = None
    stop_time: Rational | None = None
    user_data: Any = None
    data: Mapping[str, TypedArray]
    spots: Sequence[Mapping[str, Any]] | None = None
    strong_pixel_count: int | None = None
    spot_count_unfiltered: int | None = None
    spot_count_low_res: int | None = None
    spot_count_ice_ring: int | None = None
    spot_count_indexed: int | None = None
    indexing_result: bool | None = None
    indexing_unit_cell: Mapping[str, Any] | None = None
    indexing_lattice: Sequence[float] | None = None
    indexing_lattice_extra: Any = None
    indexing_lattice_count: int | None = None
    niggli_class: int | None = None
    bravais_lattice: str | None = None
    profile_radius: float | None = None
    mosaicity: float | None = None
    b_factor: float | None = None
    resolution_estimate: float | None = None
    integrated_reflection_count: int | None = None
    bkg_estimate: float | None = None
    beam_corr_x: float | None = None
    beam_corr_y: float | None = None
    image_scale_factor: float | None = None
    image_scale_cc: float | None = None
    image_scale_mosaicity: float | None = None
    image_scale_b_factor: float | None = None
    reflections: Mapping[str, TypedArray] | None = None
    az_int_profile: Sequence[float] | None = None
    az_int_profile_std: Sequence[float] | None = None
    az_int_profile_count: Sequence[float] | None = None
    roi_integrals: Mapping[str, Mapping[str, Any]] | None = None
    image_max_value: int | None = None
    image_min_value: int | None = None
    error_pixel_count: int | None = None
    saturated_pixel_count: int | None = None
    pixel_sum: int | None = None
    profiling: Mapping[str, float] | None = None
    xfel_pulse_id: int | None = None
    xfel_event_code: int | None = None
    storage_cell: int | None = None
    packets_expected: int | None = None
    packets_received: int | None = None
    data_collection_efficiency: float | None = None
    receiver_delay: int | None = None
    receiver_free_send_buffers: int | None = None
    det_info: int | None = None
    timestamp: int | None = None
    exposure_time: float | None = None
    original_image_number: int | None = None
