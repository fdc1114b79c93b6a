"""Master-file metadata shared by every layout (hdf5-format.md 3 and 4.1, 4.3, 4.4.1, 4.9-4.11).

:func:`metadata_items` turns the start message, the end message (or ``None``) and what the run
wrote into plan items; the per-layout linking step (:mod:`._linking`) adds the image and per-image
array links.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from jfjoch_hil.writer.layout._plan import Dataset, Group, Link

__all__ = ["RunFacts", "START_SCALARS", "format_time", "metadata_items", "user_items"]

_DET = "/entry/instrument/detector"
_SPEC = f"{_DET}/detectorSpecific"

#: Start-message scalars -> (HDF5 path, dtype, units): hdf5-format.md 3, 4.9, 4.10; stream.md 5.2.
START_SCALARS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("beam_center_x", f"{_DET}/beam_center_x", "f8", "pixel"),
    ("beam_center_y", f"{_DET}/beam_center_y", "f8", "pixel"),
    ("detector_distance", f"{_DET}/distance", "f8", "m"),
    ("detector_distance", f"{_DET}/detector_distance", "f8", "m"),
    ("count_time", f"{_DET}/count_time", "f8", "s"),
    ("frame_time", f"{_DET}/frame_time", "f8", "s"),
    ("sensor_thickness", f"{_DET}/sensor_thickness", "f8", "m"),
    ("sensor_material", f"{_DET}/sensor_material", None, None),
    ("detector_description", f"{_DET}/description", None, None),
    ("detector_serial_number", f"{_DET}/serial_number", None, None),
    ("pixel_size_x", f"{_DET}/x_pixel_size", "f8", "m"),
    ("pixel_size_y", f"{_DET}/y_pixel_size", "f8", "m"),
    ("bit_depth_readout", f"{_DET}/bit_depth_readout", "i4", None),
    ("bit_depth_image", f"{_DET}/bit_depth_image", "i4", None),
    ("saturation_value", f"{_DET}/saturation_value", "i8", None),
    ("error_value", f"{_DET}/error_value", "i8", None),
    ("flatfield_enabled", f"{_DET}/flatfield_applied", "bool", None),
    ("pixel_mask_enabled", f"{_DET}/pixel_mask_applied", "bool", None),
    ("countrate_correction_enabled", f"{_DET}/countrate_correction_applied", "bool", None),
    (
        "virtual_pixel_interpolation_enabled",
        f"{_DET}/virtual_pixel_interpolation_applied",
        "bool",
        None,
    ),
    ("summation", f"{_DET}/number_of_cycles", "i4", None),
    ("jungfrau_conversion_enabled", f"{_DET}/jungfrau_conversion_applied", "bool", None),
    ("jungfrau_conversion_factor", f"{_DET}/jungfrau_conversion_factor", "f8", "eV"),
    ("geometry_transformation_enabled", f"{_DET}/geometry_transformation_applied", "bool", None),
    ("total_flux", "/entry/instrument/beam/total_flux", "f8", "Hz"),
    ("attenuator_transmission", "/entry/instrument/attenuator/attenuator_transmission", "f8", None),
    ("source_type", "/entry/source/type", None, None),
    ("source_current", "/entry/source/current", "f8", "A"),
    ("sample_temperature", "/entry/sample/temperature", "f8", "K"),
    ("image_size_x", f"{_SPEC}/x_pixels_in_detector", "i4", None),
    ("image_size_y", f"{_SPEC}/y_pixels_in_detector", "i4", None),
    ("number_of_triggers", f"{_SPEC}/number_of_triggers", "i8", None),
    ("storage_cell_number", f"{_SPEC}/storage_cell_number", "i4", None),
    ("storage_cell_delay", f"{_SPEC}/storage_cell_delay", "f8", "ns"),
    ("software_git_commit", f"{_SPEC}/software_git_commit", None, None),
    ("software_git_date", f"{_SPEC}/software_git_date", None, None),
    ("software_release", f"{_SPEC}/jfjoch_release", None, None),
    ("summation_mode", f"{_SPEC}/summation_mode", None, None),
    ("detect_ice_rings", f"{_SPEC}/detect_ice_rings", "bool", None),
    ("data_reduction_factor_serialmx", f"{_SPEC}/data_reduction_factor_serialmx", "f8", None),
    ("detector_translation", f"{_SPEC}/detector_translation", "f8", "m"),
    ("indexing_algorithm", "/entry/MX/indexing_algorithm", None, None),
    ("geom_refinement_algorithm", "/entry/MX/geom_refinement_algorithm", None, None),
)

#: End-message run summaries -> (HDF5 path, dtype, units): hdf5-format.md 4.1, 4.9.
END_SCALARS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("images_collected", f"{_SPEC}/nimages_collected", "i8", None),
    ("data_collection_efficiency", f"{_SPEC}/data_collection_efficiency", "f8", None),
    ("max_receiver_delay", f"{_SPEC}/max_receiver_delay", "i8", None),
    ("rotation_lattice", "/entry/MX/rotationLatticeIndexed", "f4", "Angstrom"),
    ("rotation_lattice_niggli_class", "/entry/MX/rotationLatticeNiggliClass", "i4", None),
    ("indexing_rate", "/entry/MX/imageIndexedMean", "f8", None),
    ("bkg_estimate_mean", "/entry/MX/bkgEstimateMean", "f8", "photons"),
    ("indexed_lattice_count", "/entry/MX/indexedLatticeCount", "i8", None),
    ("fluorescence_energy", "/entry/instrument/fluorescence/energy", "f8", "eV"),
    ("fluorescence_data", "/entry/instrument/fluorescence/data", "f8", None),
)

WRITER_RELEASE = "jfjoch-hil writer 0.1.0"


@dataclass(frozen=True)
class RunFacts:
    """What the run actually wrote, needed by the master (hdf5-format.md 4.9).

    ``n_images`` is the extent of the image stack (highest image index + 1); ``images_written``
    the images really stored; ``end_time`` the writer's clock at finalisation.
    """

    n_images: int
    images_written: int
    finalised_at: datetime
    calibration: tuple = ()
    roi_names: tuple[str, ...] = ()
    user: tuple[tuple[str, object], ...] = ()
    extra: dict = field(default_factory=dict)


def format_time(moment: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix (nxmx-rules.md C09)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unit(vector) -> np.ndarray:
    v = np.asarray(vector, dtype="f8").reshape(3)
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError(f"vector {vector!r} has no direction")
    return v / norm


def _axis(path, value, units, kind, vector, depends_on, offset=(0.0, 0.0, 0.0), extra=None):
    attrs = {
        "transformation_type": kind,
        "vector": np.asarray(vector, "f8"),
        "offset": np.asarray(offset, "f8"),
        "depends_on": depends_on,
    }
    if kind == "translation":
        attrs["offset_units"] = units
    attrs.update(extra or {})
    return Dataset(
        path,
        np.asarray(value, "f8") if not np.isscalar(value) else float(value),  # type: ignore[arg-type]
        "f8",
        units,
        attrs,
    )


def _detector_geometry(start) -> list:
    """Detector chain translation -> rot1 -> rot2 -> rot3 and the module (hdf5-format.md 3)."""
    t = f"{_DET}/transformations"
    distance = start.detector_distance or 0.0
    items: list = [
        Group(t, "NXtransformations"),
        _axis(f"{t}/translation", distance, "m", "translation", (0, 0, 1), "."),
        _axis(
            f"{t}/rot1", start.poni_rot1 or 0.0, "rad", "rotation", (0, -1, 0), f"{t}/translation"
        ),
        _axis(f"{t}/rot2", start.poni_rot2 or 0.0, "rad", "rotation", (-1, 0, 0), f"{t}/rot1"),
        _axis(f"{t}/rot3", start.poni_rot3 or 0.0, "rad", "rotation", (0, 0, 1), f"{t}/rot2"),
        Dataset(f"{_DET}/depends_on", f"{t}/rot3"),
    ]
    fast = _unit(start.fast_pixel_direction or (-1.0, 0.0, 0.0))
    slow = _unit(start.slow_pixel_direction or (0.0, -1.0, 0.0))
    px, py = start.pixel_size_x or 0.0, start.pixel_size_y or 0.0
    bx, by = start.beam_center_x or 0.0, start.beam_center_y or 0.0
    # Put the beam centre pixel on the detector axis: origin = -(bx * px * fast + by * py * slow).
    origin = -(bx * px * fast + by * py * slow)
    norm = float(np.linalg.norm(origin))
    offset_vector = origin / norm if norm > 0 else np.array([1.0, 0.0, 0.0])
    m = f"{_DET}/module"
    ny, nx = start.image_size_y, start.image_size_x
    items += [
        Group(m, "NXdetector_module"),
        Dataset(f"{m}/data_origin", np.array([0, 0], "i4")),
        Dataset(f"{m}/data_size", np.array([ny, nx], "i4")),
        Dataset(f"{m}/data_stride", np.array([1, 1], "i4")),
        _axis(f"{m}/module_offset", norm, "m", "translation", offset_vector, f"{t}/rot3"),
        _axis(f"{m}/fast_pixel_direction", px, "m", "translation", fast, f"{m}/module_offset"),
        _axis(f"{m}/slow_pixel_direction", py, "m", "translation", slow, f"{m}/module_offset"),
    ]
    return items


def _sample_geometry(start, n_images: int) -> list:
    """NXsample with goniometer axes or grid-scan translations (hdf5-format.md 3, /entry/sample)."""
    t = "/entry/sample/transformations"
    items: list = [Group(t, "NXtransformations")]
    depends_on = "."
    index = np.arange(n_images, dtype="f8")
    for name, axis in (start.goniometer or {}).items():
        begin = float(axis.get("start", 0.0))
        step = float(axis.get("increment", 0.0))
        vector = _unit(axis.get("vector", (-1.0, 0.0, 0.0)))
        angles = begin + step * index
        items += [
            _axis(f"{t}/{name}", angles, "deg", "rotation", vector, depends_on),
            Dataset(f"{t}/{name}_end", angles + step, "f8", "deg"),
            Dataset(f"{t}/{name}_increment_set", step, "f8", "deg"),
            Dataset(f"{t}/{name}_range_average", step, "f8", "deg"),
            Dataset(f"{t}/{name}_range_total", step * n_images, "f8", "deg"),
        ]
        helical = axis.get("helical_step")
        if helical is not None and len(helical) == 3:
            for component, value in zip("xyz", helical, strict=True):
                items.append(
                    Dataset(f"{t}/{name}_helical_{component}", float(value) * index, "f8", "m")
                )
        depends_on = f"{t}/{name}"
    grid = start.grid_scan
    if not start.goniometer and grid:
        fast_n = max(int(grid.get("fast_axis_images", 1)), 1)
        rows, cols = np.divmod(np.arange(n_images), fast_n)
        if grid.get("snake"):
            cols = np.where(rows % 2 == 1, fast_n - 1 - cols, cols)
        step_x, step_y = float(grid.get("step_x_m", 0.0)), float(grid.get("step_y_m", 0.0))
        # A fixed rotation axis under the translations: readers that build a goniometer from the
        # chain's rotation axes (dxtbx) need one; zero range marks it as not scanned (NXmx).
        still = np.zeros(n_images, dtype="f8")
        items += [
            _axis(f"{t}/omega", still, "deg", "rotation", (-1, 0, 0), "."),
            Dataset(f"{t}/omega_end", still, "f8", "deg"),
            Dataset(f"{t}/omega_increment_set", 0.0, "f8", "deg"),
            Dataset(f"{t}/omega_range_average", 0.0, "f8", "deg"),
            Dataset(f"{t}/omega_range_total", 0.0, "f8", "deg"),
            _axis(f"{t}/grid_x", cols * step_x, "m", "translation", (1, 0, 0), f"{t}/omega"),
            _axis(f"{t}/grid_y", rows * step_y, "m", "translation", (0, 1, 0), f"{t}/grid_x"),
        ]
        depends_on = f"{t}/grid_y"
    items += [
        Dataset("/entry/sample/depends_on", depends_on),
        Link("/entry/sample/goniometer", t, "hard"),
    ]
    return items


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def user_items(start) -> tuple[list[tuple[str, object]], list[str]]:
    """Accepted ``header_appendix.hdf5`` scalars and the warnings for skipped ones (hdf5-format.md 4.11).

    Only plain names (letters, digits, ``_``) with string or number values become
    ``/entry/user/<key>``; anything else is skipped with a warning naming the key.
    """
    accepted: list[tuple[str, object]] = []
    warnings: list[str] = []
    data = start.user_data
    user = data.get("user") if isinstance(data, Mapping) else None
    hdf5 = user.get("hdf5") if isinstance(user, Mapping) else None
    if hdf5 is None:
        return accepted, warnings
    if not isinstance(hdf5, Mapping):
        return accepted, [
            f"start.user_data.user.hdf5: {type(hdf5).__name__}, allowed a map of scalars"
        ]
    for key, value in hdf5.items():
        path = f"start.user_data.user.hdf5.{key}"
        if not isinstance(key, str) or not _PLAIN_KEY.fullmatch(key):
            warnings.append(f"{path}: key {key!r:.40} skipped, allowed plain names [A-Za-z0-9_]")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            warnings.append(f"{path}: {type(value).__name__} skipped, allowed a string or a number")
        elif isinstance(value, int) and not -(2**63) <= value < 2**63:
            warnings.append(f"{path}: integer out of int64 range skipped")
        else:
            accepted.append((key, value))
    return accepted, warnings


def _scalar_items(message, table) -> list:
    items = []
    for key, path, dtype, units in table:
        value = getattr(message, key, None)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = np.asarray(value, dtype)
        items.append(Dataset(path, value, None if dtype in (None,) else dtype, units))
    return items


def metadata_items(start, end, facts: RunFacts) -> list:
    """Plan items of the NXmx metadata and run-level extensions (hdf5-format.md 3, 4)."""
    entry_time = format_time(start.arm_date) if start.arm_date else format_time(facts.finalised_at)
    items: list = [
        Group("/", None, {"default": "entry", "file_time": format_time(facts.finalised_at)}),
        Group("/entry", "NXentry", {"default": "data", "version": "1.0"}),
        Dataset("/entry/definition", "NXmx"),
        Dataset("/entry/title", start.sample_name or start.file_prefix or ""),
        Dataset("/entry/start_time", entry_time),
        Group("/entry/source", "NXsource"),
        Dataset("/entry/source/name", start.source_name or "unknown"),
        Group("/entry/instrument", "NXinstrument"),
        Dataset("/entry/instrument/name", start.instrument_name or "unknown"),
        Dataset("/entry/instrument/time_zone", "+00:00"),
        Group("/entry/instrument/beam", "NXbeam"),
        Group("/entry/instrument/attenuator", "NXattenuator")
        if start.attenuator_transmission is not None
        else None,
        Group(_DET, "NXdetector"),
        Group(_SPEC, "NXcollection"),
        Group("/entry/sample", "NXsample"),
        Dataset("/entry/sample/name", start.sample_name or "unknown"),
        Group("/entry/MX", "NXcollection"),
        Dataset(f"{_DET}/acquisition_type", "triggered"),
        # distance and beam centre come from the start message; the axis chain is built from them
        Dataset(f"{_DET}/distance_derived", False, "bool"),
        Dataset(f"{_DET}/beam_center_derived", False, "bool"),
        # Frames the files hold: a truncated run (no end, aborted) must not promise more frames
        # than are linked, or Neggia / Durin read past the last file (nxmx-rules readers table).
        Dataset(
            f"{_SPEC}/nimages",
            int(
                min(start.number_of_images or facts.n_images, facts.n_images)
                if facts.n_images
                else (start.number_of_images or 0)
            ),
            "i8",
        ),
        Dataset(f"{_SPEC}/ntrigger", 1, "i8"),
        Dataset(f"{_SPEC}/nimages_written", int(facts.images_written), "i8"),
        Dataset(f"{_SPEC}/jfjoch_writer_release", WRITER_RELEASE),
    ]
    wavelength = start.incident_wavelength
    if wavelength is None and start.incident_energy:
        wavelength = 12398.419843320026 / start.incident_energy
    if wavelength is not None:
        items.append(
            Dataset(
                "/entry/instrument/beam/incident_wavelength", float(wavelength), "f8", "angstrom"
            )
        )
    if start.incident_energy is not None:
        items.append(
            Dataset(
                "/entry/instrument/beam/incident_energy", float(start.incident_energy), "f8", "eV"
            )
        )
    if start.threshold_energy and len(start.threshold_energy) == 1:
        (energy,) = start.threshold_energy.values()
        items.append(Dataset(f"{_DET}/threshold_energy", float(energy), "f8", "eV"))
    if start.space_group_number is not None:  # NXsample/space_group is text in the base class
        items.append(Dataset("/entry/sample/space_group", str(start.space_group_number)))
    if start.countrate_correction_lookup_table is not None:
        table = start.countrate_correction_lookup_table.to_numpy().reshape(-1)
        items.append(Dataset(f"{_DET}/countrate_correction_lookup_table", table))
    flatfield = (start.flatfield or {}).get("default")
    if flatfield is not None:
        items.append(Dataset(f"{_DET}/flatfield", flatfield.to_numpy(), compress=True))
    if start.gain_file_names:
        items.append(Dataset(f"{_SPEC}/gain_file_names", list(start.gain_file_names)))
    if start.unit_cell:
        cell = [
            float(start.unit_cell.get(k, math.nan))
            for k in ("a", "b", "c", "alpha", "beta", "gamma")
        ]
        # NX_LENGTH per the base class; the angles share the field (a, b, c in Angstrom, angles in deg)
        items.append(Dataset("/entry/sample/unit_cell", np.array([cell], "f8"), "f8", "Angstrom"))
    items += _scalar_items(start, START_SCALARS)
    items += _detector_geometry(start)
    items += _sample_geometry(start, facts.n_images)
    mask = (start.pixel_mask or {}).get("default")
    if mask is not None:
        items += [
            Dataset(f"{_SPEC}/pixel_mask", np.ascontiguousarray(mask.to_numpy(), "u4"), "u4"),
            Link(f"{_DET}/pixel_mask", f"{_SPEC}/pixel_mask", "hard"),
        ]
    items += _analysis_definitions(start)
    # end of run (hdf5-format.md 3 /entry, 4.1 run-level summaries, 4.9)
    if end is not None:  # an end message is the observed end; without end_date, its arrival time
        items.append(Dataset("/entry/end_time", format_time(end.end_date or facts.finalised_at)))
    estimated = (end.end_date_estimated or end.end_date) if end is not None else None
    items.append(Dataset("/entry/end_time_estimated", format_time(estimated or facts.finalised_at)))
    if end is not None:
        items += _scalar_items(end, END_SCALARS)
        if end.fluorescence_energy is not None or end.fluorescence_data is not None:
            items.insert(0, Group("/entry/instrument/fluorescence", "NXcollection"))
        if end.rotation_lattice_extra:
            extra = np.asarray(end.rotation_lattice_extra, "f4").reshape(-1, 9)
            items.append(Dataset("/entry/MX/rotationLatticeIndexedExtra", extra, "f4", "Angstrom"))
        if end.adu_histogram is not None:
            items += [
                Group(f"{_SPEC}/adu_histogram", "NXcollection"),
                Dataset(
                    f"{_SPEC}/adu_histogram/histogram", end.adu_histogram.to_numpy().reshape(-1)
                ),
            ]
            if end.adu_histogram_bin_width is not None:
                items.append(
                    Dataset(
                        f"{_SPEC}/adu_histogram/bin_width", int(end.adu_histogram_bin_width), "i8"
                    )
                )
    if facts.calibration:
        items.append(Group(f"{_DET}/calibration", "NXcollection"))
        items += [
            Dataset(f"{_DET}/calibration/{name}", array, compress=True)
            for name, array in facts.calibration
        ]
    if facts.user:
        items.append(Group("/entry/user", "NXcollection"))
        items += [Dataset(f"/entry/user/{key}", value) for key, value in facts.user]
    return [item for item in items if item is not None]


def _analysis_definitions(start) -> list:
    """``/entry/azint`` bins and map, ``/entry/roi_defs`` (hdf5-format.md 4.3, 4.4.1)."""
    items: list = []
    phi, q = start.az_int_phi_bins or 1, start.az_int_q_bins
    bins = (
        ("az_int_bin_to_q", "bin_to_q", "Angstrom^-1"),
        ("az_int_bin_to_two_theta", "bin_to_two_theta", "deg"),
        ("az_int_bin_to_phi", "bin_to_phi", "deg"),
    )
    if any(getattr(start, key) is not None for key, _, _ in bins) or start.az_int_map is not None:
        items.append(Group("/entry/azint", "NXcollection"))
    for key, name, units in bins:
        values = getattr(start, key)
        if values is not None:
            array = np.asarray(values, "f4")
            width = q or max(array.size // phi, 1)
            if array.size == phi * width:
                array = array.reshape(phi, width)
            items.append(Dataset(f"/entry/azint/{name}", array, "f4", units))
    if start.az_int_map is not None:
        items.append(Dataset("/entry/azint/map", start.az_int_map.to_numpy(), compress=True))
    if start.roi_definitions or start.roi_map is not None:
        items.append(Group("/entry/roi_defs", "NXcollection"))
    for definition in start.roi_definitions or ():
        name = definition.get("name")
        if not isinstance(name, str) or not _PLAIN_KEY.fullmatch(name):
            continue
        base = f"/entry/roi_defs/{name}"
        items.append(Group(base, "NXcollection"))
        for key, value in definition.items():
            if key == "name" or not _PLAIN_KEY.fullmatch(str(key)):
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                continue
            items.append(Dataset(f"{base}/{key}", value, "i8" if isinstance(value, int) else None))
    if start.roi_map is not None:
        items.append(
            Dataset(
                "/entry/roi_defs/roi_map",
                start.roi_map.to_numpy().astype("u2"),
                "u2",
                compress=True,
            )
        )
    return items
