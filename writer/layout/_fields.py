"""The writer's field tables: every HDF5 dataset fed by a per-image stream field (hdf5-format.md 4).

One row per dataset: where it goes, which image-message key fills it, its dtype, sentinel and
units.  Buffers, plans, the reader and the docs are derived from these tables (STYLE.md,
"declare a layout once").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.stream import PROFILING_KEYS, REFLECTION_TABLE

__all__ = [
    "IMAGE_FIELDS",
    "INT64_MIN",
    "PerImageField",
    "REFLECTION_INT_COLUMNS",
    "ROI_FIELDS",
    "SPOT_FIELDS",
    "per_image_fields",
]

INT64_MIN = int(np.iinfo(np.int64).min)


@dataclass(frozen=True)
class PerImageField:
    """One per-image dataset (hdf5-format.md 4.1-4.8).

    ``group`` is the group under ``/entry`` in a data file (``MX``, ``image``, ``profiling``,
    ``detector``, ``xfel``, ``azint``, ``roi/<name>``); ``key`` the image-message attribute (or
    ``spots.<member>``, ``profiling.<name>``, ``roi.<member>``); ``row`` names the row shape
    (``""`` scalar, ``"spots"`` [max_spots], ``"lattice"`` [9], ``"extra"`` [max_extra, 9],
    ``"azint"`` [phi, q]); ``fill`` is the sentinel of an absent value.
    """

    group: str
    name: str
    key: str
    dtype: str
    fill: object
    units: str = ""
    row: str = ""
    section: str = ""

    @property
    def path(self) -> str:
        """Path of the dataset below ``/entry`` (data file / integrated layout)."""
        return f"{self.group}/{self.name}"


def _mx(name, key, dtype, fill, units="", row=""):
    return PerImageField("MX", name, key, dtype, fill, units, row, "4.1")


_NAN = float("nan")

#: Per-spot arrays ``[n_images, max_spots]`` (hdf5-format.md 4.1); key = member of a spot map.
SPOT_FIELDS: tuple[PerImageField, ...] = (
    _mx("peakXPosRaw", "spots.x", "f4", _NAN, "pixel", "spots"),
    _mx("peakYPosRaw", "spots.y", "f4", _NAN, "pixel", "spots"),
    _mx("peakTotalIntensity", "spots.I", "f4", _NAN, "photons", "spots"),
    _mx("peakIceRingRes", "spots.ice_ring", "u1", 0, "", "spots"),
    _mx("peakH", "spots.h", "i4", 0, "", "spots"),
    _mx("peakK", "spots.k", "i4", 0, "", "spots"),
    _mx("peakL", "spots.l", "i4", 0, "", "spots"),
    _mx("peakDistEwaldSphere", "spots.dist_ewald", "f4", _NAN, "Angstrom^-1", "spots"),
    _mx("peakIndexed", "spots.indexed", "u1", 0, "", "spots"),
    _mx("peakLattice", "spots.lattice", "i4", -1, "", "spots"),
)

#: Per-image scalars and vectors, in the order they are written (hdf5-format.md 4.1, 4.5-4.8).
IMAGE_FIELDS: tuple[PerImageField, ...] = (
    _mx("nPeaks", "nPeaks", "i4", 0),
    _mx("strongPixels", "strong_pixel_count", "i8", -1),
    _mx("peakCountUnfiltered", "spot_count_unfiltered", "i8", -1),
    _mx("peakCountLowRes", "spot_count_low_res", "i8", -1),
    _mx("peakCountIceRingRes", "spot_count_ice_ring", "i8", -1),
    _mx("peakCountIndexed", "spot_count_indexed", "i8", -1),
    _mx("imageIndexed", "indexing_result", "u1", 0),
    _mx("indexingLatticeCount", "indexing_lattice_count", "i8", -1),
    _mx("niggliClass", "niggli_class", "i8", -1),
    _mx("bravaisLattice", "bravais_lattice", "S4", b""),
    _mx("profileRadius", "profile_radius", "f4", _NAN, "Angstrom^-1"),
    _mx("mosaicity", "mosaicity", "f4", _NAN, "deg"),
    _mx("bFactor", "b_factor", "f4", _NAN, "Angstrom^2"),
    _mx("resolutionEstimate", "resolution_estimate", "f4", _NAN, "Angstrom"),
    _mx("integratedReflections", "integrated_reflection_count", "i8", -1),
    _mx("bkgEstimate", "bkg_estimate", "f4", _NAN, "photons"),
    _mx("beam_corr_x", "beam_corr_x", "f4", _NAN, "pixel"),
    _mx("beam_corr_y", "beam_corr_y", "f4", _NAN, "pixel"),
    _mx("imageScaleFactor", "image_scale_factor", "f4", _NAN),
    _mx("imageScaleCC", "image_scale_cc", "f4", _NAN),
    _mx("imageScaleMosaicity", "image_scale_mosaicity", "f4", _NAN, "deg"),
    _mx("imageScaleBFactor", "image_scale_b_factor", "f4", _NAN, "Angstrom^2"),
    _mx("latticeIndexed", "indexing_lattice", "f4", _NAN, "Angstrom", "lattice"),
    _mx("latticeIndexedExtra", "indexing_lattice_extra", "f4", _NAN, "Angstrom", "extra"),
    PerImageField("image", "max_value", "image_max_value", "i8", INT64_MIN, "", "", "4.5"),
    PerImageField("image", "min_value", "image_min_value", "i8", INT64_MIN, "", "", "4.5"),
    PerImageField("image", "error_pixels", "error_pixel_count", "i8", -1, "", "", "4.5"),
    PerImageField("image", "saturated_pixels", "saturated_pixel_count", "i8", -1, "", "", "4.5"),
    PerImageField("image", "pixel_sum", "pixel_sum", "i8", INT64_MIN, "", "", "4.5"),
    *(
        PerImageField("profiling", name, f"profiling.{name}", "f4", _NAN, "s", "", "4.6")
        for name in PROFILING_KEYS
    ),
    PerImageField("xfel", "pulseID", "xfel_pulse_id", "i8", -1, "", "", "4.8"),
    PerImageField("xfel", "eventCode", "xfel_event_code", "i8", -1, "", "", "4.8"),
    PerImageField("detector", "timestamp", "timestamp", "i8", -1, "", "", "4.7"),
    PerImageField("detector", "exptime", "exposure_time", "f4", _NAN, "s", "", "4.7"),
    PerImageField("detector", "number", "number", "i8", -1, "", "", "4.7"),
    PerImageField("detector", "det_info", "det_info", "i8", -1, "", "", "4.7"),
    PerImageField("detector", "storage_cell_image", "storage_cell", "i8", -1, "", "", "4.7"),
    PerImageField("detector", "rcv_delay", "receiver_delay", "i8", -1, "", "", "4.7"),
    PerImageField(
        "detector", "rcv_free_send_buffers", "receiver_free_send_buffers", "i8", -1, "", "", "4.7"
    ),
    PerImageField("detector", "packets_expected", "packets_expected", "i8", -1, "", "", "4.7"),
    PerImageField("detector", "packets_received", "packets_received", "i8", -1, "", "", "4.7"),
    PerImageField(
        "detector",
        "data_collection_efficiency_image",
        "data_collection_efficiency",
        "f4",
        _NAN,
        "",
        "",
        "4.7",
    ),
    PerImageField("azint", "image", "az_int_profile", "f4", _NAN, "", "azint", "4.3"),
    PerImageField("azint", "image_std", "az_int_profile_std", "f4", _NAN, "", "azint", "4.3"),
    PerImageField("azint", "image_count", "az_int_profile_count", "f4", _NAN, "", "azint", "4.3"),
)

#: Members of one ROI's per-image vectors (hdf5-format.md 4.4); group ``roi/<name>``.
ROI_FIELDS: tuple[tuple[str, str, object], ...] = (
    ("sum", "f8", _NAN),
    ("sum_sq", "f8", _NAN),
    ("npixel", "i8", -1),
    ("max", "f8", _NAN),
    ("x", "f8", _NAN),
    ("y", "f8", _NAN),
)

#: Integer columns of ``/entry/reflections/image_NNNNNN`` (hdf5-format.md 4.2; dtypes declared
#: once in :data:`stream.REFLECTION_TABLE`); others float32.
REFLECTION_INT_COLUMNS = frozenset(c.name for c in REFLECTION_TABLE if c.dtype.startswith("int"))


def per_image_fields(roi_names) -> tuple[PerImageField, ...]:
    """Every per-image dataset of a run: spots, per-image fields, then each ROI's vectors."""
    rois = tuple(
        PerImageField(f"roi/{name}", member, f"roi.{name}.{member}", dtype, fill, "", "", "4.4")
        for name in roi_names
        for member, dtype, fill in ROI_FIELDS
    )
    return SPOT_FIELDS + IMAGE_FIELDS + rois
