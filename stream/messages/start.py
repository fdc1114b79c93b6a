"""The start message: one per series, at arm (stream.md section 5).

DS2 fields first (section 5.1), then the Jungfraujoch fields of section 5.2, then the quantities
JHDF shows the writer can only learn from the start message; their CBOR names are unconfirmed in
the spec (status U) and are this project's choice, listed in docs/stream.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jfjoch_hil.stream.arrays import TypedArray
from jfjoch_hil.stream.formats import FILE_FORMATS
from jfjoch_hil.stream.messages._base import Field, Message

__all__ = ["FILE_FORMATS", "START_FIELDS", "StartMessage"]

_D = {"std": "D", "status": "C", "section": "5.1"}
_DJ = {"std": "D/J", "status": "C", "section": "5.2"}
_J = {"std": "J", "status": "U", "section": "5.2"}

START_FIELDS: tuple[Field, ...] = (
    Field("series_id", "uint", **_D, doc="series counter (not unique, see 6)"),
    Field("series_unique_id", "str", **_D, doc="unique series id (a ULID in DECTRIS series)"),
    Field(
        "magic_number",
        "uint",
        std="J",
        status="C",
        section="6",
        doc="Jungfraujoch data-interface version",
    ),
    Field("arm_date", "datetime", **_D, doc="date/time of the arm command -> /entry/start_time"),
    Field("beam_center_x", "float", unit="pixel", **_D, doc="direct beam position, fast axis"),
    Field("beam_center_y", "float", unit="pixel", **_D, doc="direct beam position, slow axis"),
    Field(
        "channels", "strs", **_D, doc="active channel names, the keys of image data in this order"
    ),
    Field("count_time", "float", unit="s", **_D, doc="exposure time per image"),
    Field("countrate_correction_enabled", "bool", **_D, doc="count-rate correction applied"),
    Field(
        "countrate_correction_lookup_table",
        "typed_array",
        unit="counts",
        **_D,
        doc="measured -> corrected count LUT",
    ),
    Field("detector_description", "str", **_D, doc="detector model and type"),
    Field("detector_serial_number", "str", **_D, doc="detector serial number"),
    Field("detector_translation", "floats", unit="m", **_DJ, doc="detector translation vector [3]"),
    Field(
        "detector_distance",
        "float",
        unit="m",
        std="J",
        status="C",
        section="5.2",
        doc="sample-detector distance",
    ),
    Field("flatfield", "channel_arrays", **_D, doc="flatfield per channel (float32 MultiDimArray)"),
    Field("flatfield_enabled", "bool", **_D, doc="flatfield applied"),
    Field("frame_time", "float", unit="s", **_D, doc="period between image starts"),
    Field(
        "goniometer",
        "map_of_maps",
        unit="deg",
        **_D,
        doc="axis -> {start, increment} (J adds vector [3], helical steps)",
    ),
    Field("image_dtype", "str", **_D, doc="pixel type: uint8/16/32 (DS2), int8/16/32 (J)"),
    Field("image_size_x", "uint", unit="pixel", **_D, doc="image width (fast axis)"),
    Field("image_size_y", "uint", unit="pixel", **_D, doc="image height (slow axis)"),
    Field("incident_energy", "float", unit="eV", **_D, doc="photon energy"),
    Field("incident_wavelength", "float", unit="Angstrom", **_D, doc="wavelength"),
    Field("number_of_images", "uint", **_D, doc="images in the series"),
    Field("pixel_mask", "channel_arrays", **_D, doc="32-bit mask per channel (JFJ: key 'default')"),
    Field("pixel_mask_enabled", "bool", **_D, doc="mask applied to images"),
    Field("pixel_size_x", "float", unit="m", **_D, doc="pixel pitch, fast axis"),
    Field("pixel_size_y", "float", unit="m", **_D, doc="pixel pitch, slow axis"),
    Field(
        "saturation_value", "int", unit="counts", **_DJ, doc="largest valid value (int64 in JFJ)"
    ),
    Field(
        "error_value",
        "int",
        unit="counts",
        std="J",
        status="C",
        section="5.2",
        doc="value of missing/error pixels",
    ),
    Field("sensor_material", "str", **_D, doc="sensor material"),
    Field("sensor_thickness", "float", unit="m", **_D, doc="sensor thickness"),
    Field("threshold_energy", "channel_floats", unit="eV", **_D, doc="threshold per channel"),
    Field("user_data", "any", **_D, doc="header_appendix (JFJ: under key 'user'; see 7)"),
    Field(
        "virtual_pixel_interpolation_enabled",
        "bool",
        **_D,
        doc="virtual-pixel interpolation applied",
    ),
    Field(
        "images_per_trigger",
        "uint",
        std="D",
        status="U",
        section="5.1",
        doc="images per trigger (DLS consumer)",
    ),
    Field(
        "number_of_triggers",
        "uint",
        std="D",
        status="U",
        section="5.1",
        doc="triggers (-> detectorSpecific/ntrigger)",
    ),
    Field("roi_mode", "str", std="D", status="U", section="5.1", doc="DECTRIS ROI mode"),
    # --- Jungfraujoch quantities the writer needs (names: project choice, status U) ---
    Field("detector_type", "str", **_J, doc="JUNGFRAU or EIGER"),
    Field(
        "file_prefix",
        "str",
        **_J,
        doc="relative output prefix; images are not streamed without one (2.2)",
    ),
    Field("file_format", "str", **_J, doc=f"one of {', '.join(FILE_FORMATS)}"),
    Field(
        "process_source_master",
        "str",
        **_J,
        doc="master of the run to reprocess, relative to the output folder: the writer then "
        "writes a <prefix>_process.h5 companion (hdf5-format.md 2); project choice",
    ),
    Field("images_per_file", "uint", **_J, doc="images per data file (0 = all in one)"),
    Field("image_number_start", "uint", **_J, doc="number of the first image in files (default 1)"),
    Field("source_name", "str", **_J, doc="-> /entry/source/name"),
    Field("source_type", "str", **_J, doc="-> /entry/source/type"),
    Field("source_current", "float", unit="A", **_J, doc="-> /entry/source/current"),
    Field("instrument_name", "str", **_J, doc="-> /entry/instrument/name"),
    Field("sample_name", "str", **_J, doc="-> /entry/sample/name"),
    Field("sample_temperature", "float", unit="K", **_J, doc="-> /entry/sample/temperature"),
    Field("unit_cell", "map", unit="Angstrom, deg", **_J, doc="{a, b, c, alpha, beta, gamma}"),
    Field("space_group_number", "uint", **_J, doc="space group of the sample"),
    Field(
        "grid_scan",
        "map",
        **_J,
        doc="{fast_axis_images, slow_axis_images, step_x_m, step_y_m, snake}",
    ),
    Field("poni_rot1", "float", unit="rad", **_J, doc="detector rotation rot1 (PyFAI PONI)"),
    Field("poni_rot2", "float", unit="rad", **_J, doc="detector rotation rot2"),
    Field("poni_rot3", "float", unit="rad", **_J, doc="detector rotation rot3"),
    Field(
        "fast_pixel_direction",
        "floats",
        **_J,
        doc="module fast axis unit vector [3] (default [-1, 0, 0])",
    ),
    Field(
        "slow_pixel_direction",
        "floats",
        **_J,
        doc="module slow axis unit vector [3] (default [0, -1, 0])",
    ),
    Field("bit_depth_readout", "uint", **_J, doc="-> detector/bit_depth_readout"),
    Field("bit_depth_image", "uint", **_J, doc="-> detector/bit_depth_image"),
    Field("storage_cell_number", "uint", **_J, doc="storage cells per trigger (JUNGFRAU)"),
    Field("storage_cell_delay", "float", unit="ns", **_J, doc="storage-cell delay"),
    Field("jungfrau_conversion_enabled", "bool", **_J, doc="pixels converted to photons/keV"),
    Field("jungfrau_conversion_factor", "float", unit="eV", **_J, doc="conversion factor"),
    Field(
        "geometry_transformation_enabled",
        "bool",
        **_J,
        doc="module -> full-detector geometry applied",
    ),
    Field("summation", "uint", **_J, doc="frame summation factor -> detector/number_of_cycles"),
    Field("summation_mode", "str", **_J, doc="-> detectorSpecific/summation_mode"),
    Field("gain_file_names", "strs", **_J, doc="-> detectorSpecific/gain_file_names"),
    Field("software_git_commit", "str", **_J, doc="-> detectorSpecific/software_git_commit"),
    Field("software_git_date", "str", **_J, doc="-> detectorSpecific/software_git_date"),
    Field("software_release", "str", **_J, doc="-> detectorSpecific/jfjoch_release"),
    Field("attenuator_transmission", "float", **_J, doc="-> attenuator/attenuator_transmission"),
    Field("total_flux", "float", unit="Hz", **_J, doc="-> beam/total_flux"),
    Field("pulsed_source", "bool", **_J, doc="XFEL run: images carry pulse ids and event codes"),
    Field("detect_ice_rings", "bool", **_J, doc="-> detectorSpecific/detect_ice_rings"),
    Field(
        "data_reduction_factor_serialmx",
        "float",
        **_J,
        doc="-> detectorSpecific/data_reduction_factor_serialmx",
    ),
    Field("max_spot_count", "uint", **_J, doc="room for spots per image in /entry/MX"),
    Field("max_extra_lattices", "uint", **_J, doc="room in latticeIndexedExtra"),
    Field("indexing_algorithm", "str", **_J, doc="-> /entry/MX/indexing_algorithm"),
    Field("geom_refinement_algorithm", "str", **_J, doc="-> /entry/MX/geom_refinement_algorithm"),
    Field(
        "roi_definitions",
        "maps",
        **_J,
        doc="ROIs: {name, type box|circle|azim, bit_index, geometry}",
    ),
    Field("roi_map", "multidim", **_J, doc="uint16 [y, x] ROI bitmask -> /entry/roi_defs/roi_map"),
    Field("az_int_q_bins", "uint", **_J, doc="azimuthal-integration q bins"),
    Field("az_int_phi_bins", "uint", **_J, doc="azimuthal-integration phi bins"),
    Field(
        "az_int_bin_to_q",
        "floats",
        unit="Angstrom^-1",
        std="J",
        status="K",
        section="9",
        doc="q of each bin [phi x q]",
    ),
    Field(
        "az_int_bin_to_two_theta", "floats", unit="deg", **_J, doc="2theta of each bin [phi x q]"
    ),
    Field("az_int_bin_to_phi", "floats", unit="deg", **_J, doc="phi of each bin [phi x q]"),
    Field("az_int_map", "multidim", **_J, doc="[y, x] pixel -> bin map (uint16/32, max = no bin)"),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class StartMessage(Message):
    """The start message (stream.md 5): configuration, geometry, masks and analysis settings."""

    TYPE = "start"
    FIELDS = START_FIELDS

    series_id: int | None = None
    series_unique_id: str | None = None
    magic_number: int | None = None
    arm_date: datetime | None = None
    beam_center_x: float | None = None
    beam_center_y: float | None = None
    channels: Sequence[str] | None = None
    count_time: float | None = None
    countrate_correction_enabled: bool | None = None
    countrate_correction_lookup_table: TypedArray | None = None
    detector_description: str | None = None
    detector_serial_number: str | None = None
    detector_translation: Sequence[float] | None = None
    detector_distance: float | None = None
    flatfield: Mapping[str, TypedArray] | None = None
    flatfield_enabled: bool | None = None
    frame_time: float | None = None
    goniometer: Mapping[str, Mapping[str, Any]] | None = None
    image_dtype: str | None = None
    image_size_x: int | None = None
    image_size_y: int | None = None
    incident_energy: float | None = None
    incident_wavelength: float | None = None
    number_of_images: int | None = None
    pixel_mask: Mapping[str, TypedArray] | None = None
    pixel_mask_enabled: bool | None = None
    pixel_size_x: float | None = None
    pixel_size_y: float | None = None
    saturation_value: int | None = None
    error_value: int | None = None
    sensor_material: str | None = None
    sensor_thickness: float | None = None
    threshold_energy: Mapping[str, float] | None = None
    user_data: Any = None
    virtual_pixel_interpolation_enabled: bool | None = None
    images_per_trigger: int | None = None
    number_of_triggers: int | None = None
    roi_mode: str | None = None
    detector_type: str | None = None
    file_prefix: str | None = None
    file_format: str | None = None
    process_source_master: str | None = None
    images_per_file: int | None = None
    image_number_start: int | None = None
    source_name: str | None = None
    source_type: str | None = None
    source_current: float | None = None
    instrument_name: str | None = None
    sample_name: str | None = None
    sample_temperature: float | None = None
    unit_cell: Mapping[str, Any] | None = None
    space_group_number: int | None = None
    grid_scan: Mapping[str, Any] | None = None
    poni_rot1: float | None = None
    poni_rot2: float | None = None
    poni_rot3: float | None = None
    fast_pixel_direction: Sequence[float] | None = None
    slow_pixel_direction: Sequence[float] | None = None
    bit_depth_readout: int | None = None
    bit_depth_image: int | None = None
    storage_cell_number: int | None = None
    storage_cell_delay: float | None = None
    jungfrau_conversion_enabled: bool | None = None
    jungfrau_conversion_factor: float | None = None
    geometry_transformation_enabled: bool | None = None
    summation: int | None = None
    summation_mode: str | None = None
    gain_file_names: Sequence[str] | None = None
    software_git_commit: str | None = None
    software_git_date: str | None = None
    software_release: str | None = None
    attenuator_transmission: float | None = None
    total_flux: float | None = None
    pulsed_source: bool | None = None
    detect_ice_rings: bool | None = None
    data_reduction_factor_serialmx: float | None = None
    max_spot_count: int | None = None
    max_extra_lattices: int | None = None
    indexing_algorithm: str | None = None
    geom_refinement_algorithm: str | None = None
    roi_definitions: Sequence[Mapping[str, Any]] | None = None
    roi_map: TypedArray | None = None
    az_int_q_bins: int | None = None
    az_int_phi_bins: int | None = None
    az_int_bin_to_q: Sequence[float] | None = None
    az_int_bin_to_two_theta: Sequence[float] | None = None
    az_int_bin_to_phi: Sequence[float] | None = None
    az_int_map: TypedArray | None = None
