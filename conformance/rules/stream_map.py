"""Where each stream field lands in the HDF5 files: the stream-to-file map of ``jfcheck --stream``.

Written from the specs, row by row: the "-> HDF5" columns of shared/spec/stream.md (§5.1 DS2 start
fields, §5.2 Jungfraujoch start fields, §9 per-image results, §10 end / calibration) and the
tables of shared/spec/hdf5-format.md (§3 NXmx content, §4 extensions). Where stream.md marks a
CBOR name unconfirmed (U) the name is this project's wire choice listed in docs/stream.md, and the
destination is the hdf5-format.md dataset of the same meaning. Never derived from ``writer/``.

Each :class:`TraceRow` says how a value is compared (``how``):

``scalar``    a number at ``dest``, equal once cast to the stored dtype (after unit conversion)
``text``      a string at ``dest``
``bool``      a flag at ``dest`` (stored as bool or 0/1)
``date``      an RFC 3339 date (tag 0) against an ISO 8601 string, equal to the file's precision
``array``     a MultiDimArray (tag 40) or a flat list, element by element, reshaped to ``dest``
``row``       a per-image scalar at ``dest[row]`` (row = image number - 0-based ``image_id``)
``row_array`` a per-image list at ``dest[row, ...]`` (reshaped to the row's shape)
``spots``     one member of every ``spots`` entry at ``dest[row, j]``
``spot_count`` the number of ``spots`` entries at ``dest[row]`` (at most the array width)
``image``     the pixels of channel ``default`` at ``dest[row]``: raw chunk or decompressed pixels
``reflection`` one column of ``reflections`` at ``dest`` of the image's reflection group
``width``     an array width: ``dest.shape[1]``
``nimages``   ``number_of_images``; when images never arrived, also the frames the files hold (a
              reader takes nimages x ntrigger frames, third-party-readers.md: Neggia)
``angles``    a goniometer axis: ``dest[row] = start + row * increment``, ``@vector`` = vector
``roi_def``   every member of each ROI definition at ``dest`` (per ROI name)
``calibration`` a named calibration image at ``dest``/<name>

``home`` says which file holds a per-image destination (hdf5-format.md §2): ``master`` (run-level
data, always the master), ``per_image`` (the data files in legacy, the master in vds and
integrated: §2, §4.1, §4.3, §4.5, §4.6, §4.8), ``roi`` (as ``per_image``; §4.4 says legacy keeps
them only in the data files), ``diagnostics`` (as ``per_image``, but in integrated under
``detectorSpecific``: §4.7), ``reflections`` (per-image groups, §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TraceRow", "TRACE_MAP", "UNTRACED", "UNITS", "rows_for"]

_D = "/entry/instrument/detector"
_DS = _D + "/detectorSpecific"
_MX = "/entry/MX"


@dataclass(frozen=True)
class TraceRow:
    """One stream field and its HDF5 destination (stream.md and hdf5-format.md sections)."""

    kind: str  # message type: start, image, end, calibration
    key: str  # wire key; "a.b" = member b of map a; "{x}" = every key of that map
    dest: str  # HDF5 path; "{x}" is filled from the key's placeholder
    how: str  # comparison, see the module docstring
    section: str  # spec sections the row comes from
    unit: str | None = None  # the spec's unit of the value in the stream and in the file
    home: str = "master"
    integrated_dest: str | None = None  # where integrated files keep it, when elsewhere (§4.7)


def _s(key, dest, how="scalar", section="Stream §5.1; HDF5 §3", unit=None):
    return TraceRow("start", key, dest, how, section, unit)


def _j(key, dest, how="scalar", section="Stream §5.2 (U); HDF5 §3", unit=None):
    return TraceRow("start", key, dest, how, section, unit)


def _i(key, dest, how="row", section="Stream §9 (U); HDF5 §4.1", unit=None, home="per_image"):
    return TraceRow("image", key, dest, how, section, unit, home)


def _diag(key, name, unit=None):
    return TraceRow(
        "image",
        key,
        f"/entry/detector/{name}",
        "row",
        "Stream §9 (U); HDF5 §4.7",
        unit,
        "diagnostics",
        f"{_DS}/{name}",
    )


def _e(key, dest, how="scalar", section="Stream §10.1 (U); HDF5 §4.1", unit=None):
    return TraceRow("end", key, dest, how, section, unit)


TRACE_MAP: tuple[TraceRow, ...] = (
    # --- start, DS2 fields (stream.md §5.1 "-> HDF5 (JHDF)"; hdf5-format.md §3) ----------------
    _s("arm_date", "/entry/start_time", "date", "Stream §5.1, §5.2; HDF5 §3 /entry"),
    _s("beam_center_x", f"{_D}/beam_center_x", unit="pixel"),
    _s("beam_center_y", f"{_D}/beam_center_y", unit="pixel"),
    _s("count_time", f"{_D}/count_time", unit="s"),
    _s("frame_time", f"{_D}/frame_time", unit="s"),
    _s("countrate_correction_enabled", f"{_D}/countrate_correction_applied", "bool"),
    _s("detector_description", f"{_D}/description", "text"),
    _s("detector_serial_number", f"{_D}/serial_number", "text"),
    _s("flatfield_enabled", f"{_D}/flatfield_applied", "bool"),
    _s("incident_energy", "/entry/instrument/beam/incident_energy", unit="eV"),
    _s(
        "incident_wavelength",
        "/entry/instrument/beam/incident_wavelength",
        unit="angstrom",
        section="Stream §5.1; HDF5 §3 beam",
    ),
    _s(
        "number_of_images",
        f"{_DS}/nimages",
        "nimages",
        "Stream §5.1, §5.2; HDF5 §4.9; third-party-readers (Neggia: frames = nimages x ntrigger)",
    ),
    _s("image_size_x", f"{_DS}/x_pixels_in_detector", section="Stream §5.1, §5.2; HDF5 §4.9"),
    _s("image_size_y", f"{_DS}/y_pixels_in_detector", section="Stream §5.1, §5.2; HDF5 §4.9"),
    _s("pixel_mask.{channel}", f"{_D}/pixel_mask", "array", "Stream §5.1, §5.2; HDF5 §3"),
    _s("pixel_mask.{channel}", f"{_DS}/pixel_mask", "array", "Stream §5.1, §5.2; HDF5 §3"),
    _s("pixel_mask_enabled", f"{_D}/pixel_mask_applied", "bool"),
    _s("pixel_size_x", f"{_D}/x_pixel_size", unit="m"),
    _s("pixel_size_y", f"{_D}/y_pixel_size", unit="m"),
    _s("saturation_value", f"{_D}/saturation_value"),
    _s("error_value", f"{_D}/error_value", section="Stream §5.2; HDF5 §4.10"),
    _s("sensor_material", f"{_D}/sensor_material", "text"),
    _s("sensor_thickness", f"{_D}/sensor_thickness", unit="m"),
    _s("threshold_energy.{channel}", f"{_D}/threshold_energy", unit="eV"),
    _s("detector_distance", f"{_D}/distance", section="Stream §5.2; HDF5 §3", unit="m"),
    _s("detector_distance", f"{_D}/detector_distance", section="Stream §5.2; HDF5 §4.10", unit="m"),
    _s(
        "goniometer.{axis}",
        "/entry/sample/transformations/{axis}",
        "angles",
        "Stream §5.1; HDF5 §3 /entry/sample",
        unit="deg",
    ),
    _s(
        "goniometer.{axis}.increment",
        "/entry/sample/transformations/{axis}_increment_set",
        section="Stream §5.1 (DFW <axis>_increment_set); HDF5 §3 /entry/sample",
        unit="deg",
    ),
    TraceRow(
        "start",
        "user_data.user.hdf5.{key}",
        "/entry/user/{key}",
        "scalar",
        "Stream §7; HDF5 §4.11",
    ),
    # --- start, Jungfraujoch quantities JHDF shows come from the start message (§5.2, U) -------
    _j("source_name", "/entry/source/name", "text"),
    _j("source_type", "/entry/source/type", "text"),
    _j("source_current", "/entry/source/current", unit="A"),
    _j("instrument_name", "/entry/instrument/name", "text"),
    _j("sample_name", "/entry/sample/name", "text"),
    _j("sample_temperature", "/entry/sample/temperature", unit="K"),
    _j("unit_cell", "/entry/sample/unit_cell", "array"),
    _j("poni_rot1", f"{_D}/transformations/rot1", unit="rad"),
    _j("poni_rot2", f"{_D}/transformations/rot2", unit="rad"),
    _j("poni_rot3", f"{_D}/transformations/rot3", unit="rad"),
    _j("bit_depth_readout", f"{_D}/bit_depth_readout"),
    _j("bit_depth_image", f"{_D}/bit_depth_image", section="Stream §5.2 (U); HDF5 §4.10"),
    _j("storage_cell_number", f"{_DS}/storage_cell_number", section="Stream §5.2 (U); HDF5 §4.9"),
    _j(
        "storage_cell_delay",
        f"{_DS}/storage_cell_delay",
        section="Stream §5.2 (U); HDF5 §4.9",
        unit="ns",
    ),
    _j(
        "jungfrau_conversion_enabled",
        f"{_D}/jungfrau_conversion_applied",
        "bool",
        "Stream §5.2 (U); HDF5 §4.10",
    ),
    _j(
        "jungfrau_conversion_factor",
        f"{_D}/jungfrau_conversion_factor",
        section="Stream §5.2 (U); HDF5 §4.10",
        unit="eV",
    ),
    _j(
        "geometry_transformation_enabled",
        f"{_D}/geometry_transformation_applied",
        "bool",
        "Stream §5.2 (U); HDF5 §4.10",
    ),
    _j("summation", f"{_D}/number_of_cycles"),
    _j("summation_mode", f"{_DS}/summation_mode", "text", "Stream §5.2 (U); HDF5 §4.9"),
    _j("gain_file_names", f"{_DS}/gain_file_names", "array", "Stream §5.2 (U); HDF5 §4.9"),
    _j("software_git_commit", f"{_DS}/software_git_commit", "text", "Stream §5.2 (U); HDF5 §4.9"),
    _j("software_git_date", f"{_DS}/software_git_date", "text", "Stream §5.2 (U); HDF5 §4.9"),
    _j("software_release", f"{_DS}/jfjoch_release", "text", "Stream §5.2 (U); HDF5 §4.9"),
    _j("attenuator_transmission", "/entry/instrument/attenuator/attenuator_transmission"),
    _j("total_flux", "/entry/instrument/beam/total_flux", unit="Hz"),
    _j("detect_ice_rings", f"{_DS}/detect_ice_rings", "bool", "Stream §5.2 (U); HDF5 §4.9"),
    _j(
        "data_reduction_factor_serialmx",
        f"{_DS}/data_reduction_factor_serialmx",
        section="Stream §5.2 (U); HDF5 §4.9",
    ),
    TraceRow(
        "start",
        "max_spot_count",
        f"{_MX}/peakXPosRaw",
        "width",
        "Stream §5.2 (U); HDF5 §4.1 [n_images, max_spots]",
        home="per_image",
    ),
    _j("indexing_algorithm", f"{_MX}/indexing_algorithm", "text", "Stream §5.2 (U); HDF5 §4.1"),
    _j(
        "geom_refinement_algorithm",
        f"{_MX}/geom_refinement_algorithm",
        "text",
        "Stream §5.2 (U); HDF5 §4.1",
    ),
    _j("roi_definitions", "/entry/roi_defs/{name}", "roi_def", "Stream §5.2 (U); HDF5 §4.4.1"),
    _j("roi_map", "/entry/roi_defs/roi_map", "array", "Stream §5.2 (U); HDF5 §4.4.1"),
    _j(
        "az_int_bin_to_q",
        "/entry/azint/bin_to_q",
        "array",
        "Stream §9 (K); HDF5 §4.3",
        unit="Angstrom^-1",
    ),
    _j(
        "az_int_bin_to_two_theta",
        "/entry/azint/bin_to_two_theta",
        "array",
        "Stream §5.2 (U); HDF5 §4.3",
        unit="deg",
    ),
    _j(
        "az_int_bin_to_phi",
        "/entry/azint/bin_to_phi",
        "array",
        "Stream §5.2 (U); HDF5 §4.3",
        unit="deg",
    ),
    _j("az_int_map", "/entry/azint/map", "array", "Stream §5.2 (U); HDF5 §4.3"),
    # --- image: pixels (stream.md §8.1; hdf5-format.md §2, §3 /entry/data) --------------------
    _i("data.{channel}", "/entry/data/data", "image", "Stream §8.1; HDF5 §2, §3 /entry/data"),
    # --- image: spot finding and indexing -> /entry/MX (§9; hdf5-format.md §4.1) --------------
    _i("spots.x", f"{_MX}/peakXPosRaw", "spots", "Stream §9 (K); HDF5 §4.1", "pixel"),
    _i("spots.y", f"{_MX}/peakYPosRaw", "spots", "Stream §9 (K); HDF5 §4.1", "pixel"),
    _i("spots.I", f"{_MX}/peakTotalIntensity", "spots", "Stream §9 (K); HDF5 §4.1", "photons"),
    _i("spots.indexed", f"{_MX}/peakIndexed", "spots", "Stream §9 (K); HDF5 §4.1"),
    _i("spots.h", f"{_MX}/peakH", "spots"),
    _i("spots.k", f"{_MX}/peakK", "spots"),
    _i("spots.l", f"{_MX}/peakL", "spots"),
    _i("spots.dist_ewald", f"{_MX}/peakDistEwaldSphere", "spots", unit="Angstrom^-1"),
    _i("spots.lattice", f"{_MX}/peakLattice", "spots"),
    _i("spots.ice_ring", f"{_MX}/peakIceRingRes", "spots"),
    _i("spots", f"{_MX}/nPeaks", "spot_count", "Stream §9 (K); HDF5 §4.1 nPeaks (CXI)"),
    _i("strong_pixel_count", f"{_MX}/strongPixels"),
    _i("spot_count_unfiltered", f"{_MX}/peakCountUnfiltered"),
    _i("spot_count_low_res", f"{_MX}/peakCountLowRes"),
    _i("spot_count_ice_ring", f"{_MX}/peakCountIceRingRes"),
    _i("spot_count_indexed", f"{_MX}/peakCountIndexed"),
    _i("indexing_result", f"{_MX}/imageIndexed", section="Stream §9 (K); HDF5 §4.1"),
    _i("indexing_lattice", f"{_MX}/latticeIndexed", "row_array", unit="Angstrom"),
    _i("indexing_lattice_extra", f"{_MX}/latticeIndexedExtra", "row_array", unit="Angstrom"),
    _i("indexing_lattice_count", f"{_MX}/indexingLatticeCount"),
    _i("niggli_class", f"{_MX}/niggliClass"),
    _i("bravais_lattice", f"{_MX}/bravaisLattice"),
    _i("profile_radius", f"{_MX}/profileRadius", unit="Angstrom^-1"),
    _i("mosaicity", f"{_MX}/mosaicity", unit="deg"),
    _i("b_factor", f"{_MX}/bFactor", unit="Angstrom^2"),
    _i("resolution_estimate", f"{_MX}/resolutionEstimate", unit="Angstrom"),
    _i("integrated_reflection_count", f"{_MX}/integratedReflections"),
    _i("bkg_estimate", f"{_MX}/bkgEstimate", unit="photons"),
    _i("beam_corr_x", f"{_MX}/beam_corr_x", unit="pixel"),
    _i("beam_corr_y", f"{_MX}/beam_corr_y", unit="pixel"),
    _i("image_scale_factor", f"{_MX}/imageScaleFactor"),
    _i("image_scale_cc", f"{_MX}/imageScaleCC"),
    _i("image_scale_mosaicity", f"{_MX}/imageScaleMosaicity", unit="deg"),
    _i("image_scale_b_factor", f"{_MX}/imageScaleBFactor", unit="Angstrom^2"),
    # --- image: integrated reflections (§9; hdf5-format.md §4.2) ------------------------------
    TraceRow(
        "image",
        "reflections.{column}",
        "/entry/reflections/image_{number:06d}/{column}",
        "reflection",
        "Stream §9 (U); HDF5 §4.2",
        home="reflections",
    ),
    # --- image: azimuthal integration [n, phi, q] (§9; hdf5-format.md §4.3) -------------------
    _i("az_int_profile", "/entry/azint/image", "row_array", "Stream §9 (K); HDF5 §4.3"),
    _i("az_int_profile_std", "/entry/azint/image_std", "row_array", "Stream §9 (U); HDF5 §4.3"),
    _i("az_int_profile_count", "/entry/azint/image_count", "row_array", "Stream §9 (U); HDF5 §4.3"),
    # --- image: ROI results (§9 K; hdf5-format.md §4.4) ---------------------------------------
    TraceRow(
        "image",
        "roi_integrals.{roi}.{quantity}",
        "/entry/roi/{roi}/{quantity}",
        "row",
        "Stream §9 (K); HDF5 §4.4",
        home="roi",
    ),
    # --- image: pixel statistics, profiling, XFEL (§9; hdf5-format.md §4.5, §4.6, §4.8) -------
    _i("image_max_value", "/entry/image/max_value", section="Stream §9 (U); HDF5 §4.5"),
    _i("image_min_value", "/entry/image/min_value", section="Stream §9 (U); HDF5 §4.5"),
    _i("error_pixel_count", "/entry/image/error_pixels", section="Stream §9 (U); HDF5 §4.5"),
    _i(
        "saturated_pixel_count", "/entry/image/saturated_pixels", section="Stream §9 (U); HDF5 §4.5"
    ),
    _i("pixel_sum", "/entry/image/pixel_sum", section="Stream §9 (U); HDF5 §4.5"),
    _i(
        "profiling.{stage}",
        "/entry/profiling/{stage}",
        section="Stream §9 (U); HDF5 §4.6",
        unit="s",
    ),
    _i("xfel_pulse_id", "/entry/xfel/pulseID", section="Stream §9 (K); HDF5 §4.8"),
    _i("xfel_event_code", "/entry/xfel/eventCode", section="Stream §9 (U); HDF5 §4.8"),
    # --- image: receiver diagnostics (§9; hdf5-format.md §4.7) --------------------------------
    _diag("storage_cell", "storage_cell_image"),
    _diag("packets_expected", "packets_expected"),
    _diag("packets_received", "packets_received"),
    _diag("data_collection_efficiency", "data_collection_efficiency_image"),
    _diag("receiver_delay", "rcv_delay"),
    _diag("receiver_free_send_buffers", "rcv_free_send_buffers"),
    _diag("det_info", "det_info"),
    _diag("timestamp", "timestamp"),
    _diag("exposure_time", "exptime", "s"),
    _diag("original_image_number", "number"),
    # --- end: run summary filled at finalisation (stream.md §10.1; hdf5-format.md §3, §4) -----
    _e("end_date", "/entry/end_time", "date", "Stream §10.1 (U); HDF5 §3 /entry"),
    _e("end_date_estimated", "/entry/end_time_estimated", "date", "Stream §10.1 (U); HDF5 §3"),
    _e("images_collected", f"{_DS}/nimages_collected", section="Stream §10.1 (U); HDF5 §4.9"),
    _e(
        "data_collection_efficiency",
        f"{_DS}/data_collection_efficiency",
        section="Stream §10.1 (U); HDF5 §4.9",
    ),
    _e("max_receiver_delay", f"{_DS}/max_receiver_delay", section="Stream §10.1 (U); HDF5 §4.9"),
    _e("rotation_lattice", f"{_MX}/rotationLatticeIndexed", "array", unit="Angstrom"),
    _e("rotation_lattice_extra", f"{_MX}/rotationLatticeIndexedExtra", "array", unit="Angstrom"),
    _e("rotation_lattice_niggli_class", f"{_MX}/rotationLatticeNiggliClass"),
    _e("indexing_rate", f"{_MX}/imageIndexedMean"),
    _e("bkg_estimate_mean", f"{_MX}/bkgEstimateMean", unit="photons"),
    _e("indexed_lattice_count", f"{_MX}/indexedLatticeCount"),
    _e(
        "fluorescence_energy",
        "/entry/instrument/fluorescence/energy",
        "array",
        "Stream §10.1 (U); HDF5 §4.9",
        unit="eV",
    ),
    _e(
        "fluorescence_data",
        "/entry/instrument/fluorescence/data",
        "array",
        "Stream §10.1 (U); HDF5 §4.9",
    ),
    # --- calibration (stream.md §10.2; hdf5-format.md §4.9) -----------------------------------
    TraceRow(
        "calibration",
        "data",
        f"{_D}/calibration",
        "calibration",
        "Stream §10.2 (U); HDF5 §4.9",
    ),
)

#: Stream fields with no HDF5 destination, and why (so the map accounts for every field).
UNTRACED: dict[tuple[str, str], str] = {
    ("start", "series_id"): "series counter; identifies the series on the wire only (§6)",
    ("start", "series_unique_id"): "wire-level series id (§6); no JHDF destination",
    ("start", "magic_number"): "interface version (§6); no JHDF destination",
    ("start", "channels"): "one channel 'default' in Jungfraujoch; traced through image data",
    ("start", "countrate_correction_lookup_table"): "JHDF has no destination (§5.1: '—')",
    ("start", "detector_translation"): "destination unconfirmed in both specs (§5.1, §5.2: U)",
    ("start", "flatfield"): "JHDF has no destination (§5.1: '—')",
    ("start", "image_dtype"): "traced as the image dataset's dtype through the pixels",
    ("start", "virtual_pixel_interpolation_enabled"): "JHDF has no destination (§5.1: '—')",
    ("start", "images_per_trigger"): "no destination in hdf5-format.md",
    ("start", "number_of_triggers"): (
        "destination unconfirmed (§5.1: a consumer's field); detectorSpecific/ntrigger is bound by "
        "readers to nimages x ntrigger = frames in the files (third-party-readers.md, Neggia)"
    ),
    ("start", "roi_mode"): "no destination in hdf5-format.md",
    ("start", "process_source_master"): (
        "a writer instruction, not a stored value: the master whose images the reprocessing "
        "companion's /entry/data/data VDS links back to (hdf5-format.md §2, _process.h5)"
    ),
    ("start", "detector_type"): "no dataset of its own in hdf5-format.md",
    ("start", "file_prefix"): "names the files (§2), not a dataset",
    ("start", "file_format"): "selects the layout (§2), checked by the layout the trace walks",
    ("start", "images_per_file"): "splits data files (§2); used to find an image's data file",
    ("start", "image_number_start"): "numbers reflection groups; used to find them",
    ("start", "space_group_number"): "no destination in hdf5-format.md",
    ("start", "grid_scan"): "grid-scan axes: destination names not fixed by hdf5-format.md §3",
    ("start", "fast_pixel_direction"): "module axis vector; its form in the file is NXmx geometry",
    ("start", "slow_pixel_direction"): "module axis vector; its form in the file is NXmx geometry",
    ("start", "pulsed_source"): "switches /entry/xfel on; traced through pulseID / eventCode",
    ("start", "max_extra_lattices"): "width of latticeIndexedExtra; traced through its rows",
    ("start", "az_int_q_bins"): "shape of /entry/azint arrays; traced through bin_to_q",
    ("start", "az_int_phi_bins"): "shape of /entry/azint arrays; traced through bin_to_q",
    ("image", "series_id"): "wire-level (§6)",
    ("image", "series_unique_id"): "wire-level (§6)",
    ("image", "image_id"): "selects the row of every per-image destination",
    ("image", "real_time"): "no JHDF destination (§8.1: U)",
    ("image", "series_date"): "no JHDF destination (§8.1: U)",
    ("image", "start_time"): "no JHDF destination (DFW /entry/data/start_time only, §8.1)",
    ("image", "stop_time"): "no JHDF destination (§8.1: U)",
    ("image", "user_data"): "image_appendix is not persisted (§7; HDF5 §4.11)",
    ("image", "indexing_unit_cell"): "JHDF stores the lattice, not the cell (§9: '—')",
    ("end", "series_id"): "wire-level (§6)",
    ("end", "series_unique_id"): "wire-level (§6)",
    ("end", "images_sent"): "count of images put on the stream; compared with what arrived",
    ("end", "max_image_number_sent"): "highest image id sent + 1; no dataset",
    ("end", "adu_histogram"): "member names of detectorSpecific/adu_histogram/ unconfirmed (§4.9)",
    ("end", "adu_histogram_bin_width"): "member names of adu_histogram/ unconfirmed (§4.9)",
    ("calibration", "series_id"): "wire-level (§6)",
    ("calibration", "series_unique_id"): "wire-level (§6)",
    ("calibration", "name"): "names the calibration dataset; traced with data",
    ("calibration", "gain"): "no dataset of its own (§10.2: U)",
    ("calibration", "storage_cell"): "no dataset of its own (§10.2: U)",
    ("calibration", "module"): "no dataset of its own (§10.2: U)",
}

#: Units the trace converts between: name -> (dimension, factor to the SI unit).
UNITS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0),
    "mm": ("length", 1e-3),
    "um": ("length", 1e-6),
    "micron": ("length", 1e-6),
    "nm": ("length", 1e-9),
    "angstrom": ("length", 1e-10),
    "Angstrom": ("length", 1e-10),
    "A": ("current", 1.0),
    "mA": ("current", 1e-3),
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
    "ns": ("time", 1e-9),
    "Hz": ("frequency", 1.0),
    "kHz": ("frequency", 1e3),
    "eV": ("energy", 1.0),
    "keV": ("energy", 1e3),
    "K": ("temperature", 1.0),
    "deg": ("angle", 3.141592653589793 / 180.0),
    "degree": ("angle", 3.141592653589793 / 180.0),
    "degrees": ("angle", 3.141592653589793 / 180.0),
    "rad": ("angle", 1.0),
    "pixel": ("pixel", 1.0),
    "photons": ("photons", 1.0),
    "Angstrom^-1": ("inverse length", 1e10),
    "1/Angstrom": ("inverse length", 1e10),
    "nm^-1": ("inverse length", 1e9),
    "Angstrom^2": ("area", 1e-20),
}


def rows_for(kind: str) -> tuple[TraceRow, ...]:
    """The rows of one message kind, in table order."""
    return tuple(r for r in TRACE_MAP if r.kind == kind)
