"""The extension layout of hdf5-format.md §4 as tables: each per-image field once, with kind, units
and whether it is indexing-only. Shape, units, sentinel and count checks are derived from these rows.

Kinds: ``f`` float, ``i`` integer, ``n`` any number (int, float or bool), ``s`` string.
"""

from __future__ import annotations

from dataclasses import dataclass

from jfjoch_hil.conformance.rules._coverage import PROFILING_TIMES
from jfjoch_hil.stream import REFLECTION_TABLE

__all__ = [
    "Field",
    "DETECTOR_DIAGNOSTICS",
    "MX_PER_SPOT",
    "MX_PER_IMAGE",
    "MX_LATTICE",
    "PER_IMAGE_GROUPS",
    "ROI_RESULT_FIELDS",
    "COLLECTION_GROUPS",
    "ROI_TYPES",
    "AZINT_BINS",
    "AZINT_IMAGES",
    "DETECTOR_EXTRA_UNITS",
    "REFLECTION_FIELDS",
    "MILLER",
]


@dataclass(frozen=True)
class Field:
    """One extension dataset: name, numeric kind, units (None = unitless), indexing-only flag."""

    name: str
    kind: str
    units: str | None = None
    indexing_only: bool = False


# §4.1 per-spot arrays [n_images, max_spots]
MX_PER_SPOT = (
    Field("peakXPosRaw", "f", "pixel"),
    Field("peakYPosRaw", "f", "pixel"),
    Field("peakTotalIntensity", "f", "photons"),
    Field("peakIceRingRes", "n"),
    Field("peakH", "n", None, True),
    Field("peakK", "n", None, True),
    Field("peakL", "n", None, True),
    Field("peakDistEwaldSphere", "f", "Angstrom^-1", True),
    Field("peakIndexed", "n", None, True),
    Field("peakLattice", "i", None, True),
)

# §4.1 per-image vectors [n_images]
MX_PER_IMAGE = (
    Field("nPeaks", "i"),
    Field("strongPixels", "n"),
    Field("peakCountUnfiltered", "n"),
    Field("peakCountLowRes", "n"),
    Field("peakCountIceRingRes", "n"),
    Field("peakCountIndexed", "n"),
    Field("imageIndexed", "n"),
    Field("indexingLatticeCount", "n"),
    Field("niggliClass", "n"),
    Field("bravaisLattice", "s"),
    Field("profileRadius", "f", "Angstrom^-1"),
    Field("mosaicity", "f", "deg"),
    Field("bFactor", "f", "Angstrom^2"),
    Field("resolutionEstimate", "f", "Angstrom"),
    Field("integratedReflections", "n"),
    Field("bkgEstimate", "f", "photons"),
    Field("beam_corr_x", "f", "pixel"),
    Field("beam_corr_y", "f", "pixel"),
    Field("imageScaleFactor", "f"),
    Field("imageScaleCC", "f"),
    Field("imageScaleMosaicity", "f", "deg"),
    Field("imageScaleBFactor", "f", "Angstrom^2"),
)

# §4.1 per-image lattices: latticeIndexed [n, 9], latticeIndexedExtra [n, m, 9] (Å)
MX_LATTICE = (
    Field("latticeIndexed", "f", "Angstrom", True),
    Field("latticeIndexedExtra", "f", "Angstrom", True),
)

# §4.5, §4.6, §4.8 per-image vectors [n_images] (group -> fields)
PER_IMAGE_GROUPS: dict[str, tuple[Field, ...]] = {
    "image": tuple(
        Field(n, "n")
        for n in ("max_value", "min_value", "error_pixels", "saturated_pixels", "pixel_sum")
    ),
    "profiling": tuple(Field(n, "f", "s") for n in PROFILING_TIMES),
    "xfel": (Field("pulseID", "n"), Field("eventCode", "n")),
}

# §4.7 acquisition diagnostics [n_images]: /entry/detector in data files (legacy, VDS), under
# /entry/instrument/detector/detectorSpecific in the integrated format.
DETECTOR_DIAGNOSTICS = tuple(
    Field(n, "n")
    for n in (
        "timestamp",
        "exptime",
        "number",
        "det_info",
        "storage_cell_image",
        "rcv_delay",
        "rcv_free_send_buffers",
        "packets_expected",
        "packets_received",
        "data_collection_efficiency_image",
    )
)

# §4.4 /entry/roi/<name> per-image results
ROI_RESULT_FIELDS = ("max", "sum", "sum_sq", "npixel", "x", "y")

# §4.4.1 fields each ROI type needs (phi range optional for azim: omitted for a full ring)
ROI_TYPES: dict[str, tuple[str, ...]] = {
    "box": ("min_x_pxl", "max_x_pxl", "min_y_pxl", "max_y_pxl"),
    "circle": ("center_x_pxl", "center_y_pxl", "radius_pxl"),
    "azim": ("q_min_recipA", "q_max_recipA"),
}

# §4.3 azimuthal integration
AZINT_BINS = (
    Field("bin_to_q", "f", "Angstrom^-1"),
    Field("bin_to_two_theta", "f", "deg"),
    Field("bin_to_phi", "f", "deg"),
)
AZINT_IMAGES = ("image", "image_std", "image_count")

# §4 / §4.9: groups declared NXcollection (relative to the entry)
COLLECTION_GROUPS = (
    "MX",
    "azint",
    "roi",
    "roi_defs",
    "image",
    "profiling",
    "detector",
    "xfel",
    "user",
    "instrument/detector/detectorSpecific",
    "instrument/detector/calibration",
    "instrument/fluorescence",
)

# §4.2 columns of an /entry/reflections/image_NNNNNN group (those with units; the rest are
# unitless); the columns, their dtypes and units are declared once in stream.REFLECTION_TABLE
REFLECTION_FIELDS = {
    c.name: Field(c.name, "f", c.unit) for c in REFLECTION_TABLE if c.unit and c.dtype[0] == "f"
}
MILLER = tuple(c.name for c in REFLECTION_TABLE if c.dtype.startswith("int"))

# §4.10 detector extension scalars with units
DETECTOR_EXTRA_UNITS = (
    Field("detector_distance", "f", "m"),
    Field("jungfrau_conversion_factor", "f", "eV"),
)
