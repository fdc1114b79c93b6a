"""The rule table of ``jfcheck``: one row per rule (id, spec section, severity, layouts, profiles).

Every finding the suite reports carries one of these ids. The checks in :mod:`conformance.checks`
look rules up here, so a rule's severity, scope and spec section are declared exactly once.
Sections: ``NXmx ...`` = shared/spec/nxmx-rules.md, ``HDF5 §n`` = shared/spec/hdf5-format.md,
``Stream §n`` = shared/spec/stream.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from jfjoch_hil.stream import PROCESS_LAYOUT, FileFormat

__all__ = [
    "Rule",
    "FILE_RULES",
    "STREAM_RULES",
    "STREAM_PROFILES",
    "TRACE_RULES",
    "ALL_LAYOUTS",
    "PROFILES",
    "LAYOUTS",
    "rule",
]

#: Layouts of a file with a master (stream.FileFormat) plus the reprocessing companion.
ALL_LAYOUTS = frozenset({f.layout for f in FileFormat if f.has_master} | {PROCESS_LAYOUT})
LAYOUTS = ("auto", *(f.layout for f in FileFormat if f.has_master), PROCESS_LAYOUT)
PROFILES = ("jungfraujoch", "nxmx")
_BOTH = frozenset(PROFILES)
_JF = frozenset({"jungfraujoch"})


@dataclass(frozen=True)
class Rule:
    """One conformance rule (STYLE.md "Checks are library functions")."""

    id: str
    section: str
    severity: str  # "error" or "warning"
    title: str
    layouts: frozenset[str] = ALL_LAYOUTS
    profiles: frozenset[str] = _BOTH


def _r(
    id_: str, section: str, severity: str, title: str, layouts=ALL_LAYOUTS, profiles=_BOTH
) -> Rule:
    return Rule(id_, section, severity, title, frozenset(layouts), frozenset(profiles))


_LEGACY = {"legacy"}
_VIRTUAL = {"vds", "integrated", "process"}

FILE_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _r(
            "FILE-UNREADABLE", "HDF5 §2", "error", "the file opens as HDF5 and its root is readable"
        ),
        _r(
            "CHECK-FAILED",
            "HDF5 §2",
            "error",
            "a rule could not be evaluated on this file (corrupt content)",
        ),
        # --- NXmx, driven by nxmx-rules.json ----------------------------------------------------
        _r("NX-ENTRY", "NXmx C01", "error", "an NXentry with definition 'NXmx' exists"),
        _r(
            "NX-REQUIRED",
            "NXmx per-group requirements",
            "error",
            "required groups, fields and attributes are present",
        ),
        _r(
            "NX-RECOMMENDED",
            "NXmx per-group requirements",
            "warning",
            "recommended items are present",
        ),
        _r(
            "NX-FORBIDDEN",
            "NXmx per-group requirements",
            "error",
            "forbidden (maxOccurs=0) items are absent",
        ),
        _r(
            "NX-DEPRECATED",
            "NXmx per-group requirements",
            "warning",
            "deprecated items are not written",
        ),
        _r(
            "NX-CLASS",
            "NXmx C12",
            "error",
            "every group has an NX_class attribute naming a NeXus class",
        ),
        _r(
            "NX-DTYPE",
            "NXmx C11, how to read the rules",
            "error",
            "fields have the type class the NXDL names",
        ),
        _r(
            "NX-UNITS",
            "NXmx C10",
            "error",
            "fields with a units category carry units of that dimension",
        ),
        _r(
            "NX-ENUM",
            "NXmx per-group requirements",
            "error",
            "enumerated fields hold a listed value",
        ),
        _r(
            "NX-DATETIME",
            "NXmx C09",
            "error",
            "NX_DATE_TIME fields are ISO 8601 with an explicit zone",
        ),
        _r(
            "NX-DEPENDS-ON",
            "NXmx C02, C14",
            "error",
            "every depends_on resolves to '.' or an axis with @vector",
        ),
        _r("NX-CHAIN", "NXmx C03", "error", "depends_on chains end at '.' without a cycle"),
        _r(
            "NX-TRANSFORMATION",
            "NXmx C04, C05",
            "error",
            "axes have transformation_type, a unit 3-vector, offset, units",
        ),
        _r(
            "NX-MODULE",
            "NXmx C06",
            "error",
            "modules exist and data_origin + data_size lie inside the image",
        ),
        _r(
            "NX-SHAPE",
            "NXmx C07, C08, C13",
            "error",
            "ranks and shapes agree across fields (nP, i, j)",
        ),
        _r(
            "NX-BASE-SHAPE",
            "NXmx base-class items",
            "warning",
            "base-class items have their base-class shape",
        ),
        # --- Jungfraujoch extensions: layouts and links (hdf5-format.md §2) ----------------------
        _r(
            "JF-LAYOUT",
            "HDF5 §2",
            "error",
            "the master exposes what its layout requires",
            profiles=_JF,
        ),
        _r(
            "JF-LEGACY-LINKS",
            "HDF5 §2, §3 /entry/data; NXmx C08",
            "error",
            "legacy links data_NNNNNN are contiguous, resolve, and image_nr_low/high tile the run",
            layouts=_LEGACY,
        ),
        _r(
            "JF-DATA-FILE",
            "HDF5 §2",
            "error",
            "every data file the master refers to exists inside its folder",
        ),
        _r(
            "JF-VDS",
            "HDF5 §2",
            "error",
            "virtual datasets' sources exist and cover every image",
            layouts=_VIRTUAL,
        ),
        _r(
            "JF-INTEGRATED",
            "HDF5 §2",
            "error",
            "an integrated file refers to no other file",
            layouts={"integrated"},
            profiles=_JF,
        ),
        _r(
            "JF-IMAGE-DATASET",
            "HDF5 §2",
            "error",
            "images chunked one per chunk, bitshuffle-compressed, sentinel fill value",
            profiles=_JF,
        ),
        _r(
            "JF-IMAGE-COUNT",
            "HDF5 §4, §4.9",
            "error",
            "per-image arrays and counters agree with the frame count",
            profiles=_JF,
        ),
        _r(
            "JF-COLLECTION",
            "HDF5 §4",
            "error",
            "extension groups are declared NXcollection (or their class)",
            profiles=_JF,
        ),
        _r(
            "JF-UNITS",
            "HDF5 §4, §5",
            "error",
            "extension fields carry the units the spec lists",
            profiles=_JF,
        ),
        # --- /entry/MX ---------------------------------------------------------------------------
        _r(
            "JF-MX-SHAPE",
            "HDF5 §4.1",
            "error",
            "/entry/MX arrays have their [n_images(, max_spots)] shapes",
            profiles=_JF,
        ),
        _r(
            "JF-MX-SENTINEL",
            "HDF5 §4, §4.1, §5",
            "error",
            "unused spot slots and indexing-only fields of unindexed images hold sentinels",
            profiles=_JF,
        ),
        _r(
            "JF-MX-COUNTERS",
            "HDF5 §4.1",
            "error",
            "peakCountIndexed <= nPeaks <= max_spots, flags 0/1",
            profiles=_JF,
        ),
        _r(
            "JF-CXI",
            "HDF5 §4.1 (CrystFEL peak_list_type = cxi)",
            "error",
            "/entry/MX is a CXI peak list CrystFEL can read",
            profiles=_JF,
        ),
        # --- ROI / azint --------------------------------------------------------------------------
        _r(
            "JF-ROI-DEFS",
            "HDF5 §4.4.1",
            "error",
            "each roi_defs entry has the fields of its type",
            profiles=_JF,
        ),
        _r(
            "JF-ROI-MAP",
            "HDF5 §4.4.1",
            "error",
            "roi_map bits equal the footprint of each box/circle ROI",
            profiles=_JF,
        ),
        _r(
            "JF-ROI-RESULTS",
            "HDF5 §4.4",
            "error",
            "/entry/roi/<name> vectors exist per layout with [n_images]",
            profiles=_JF,
        ),
        _r(
            "JF-AZINT",
            "HDF5 §4.3",
            "error",
            "azint bins [phi, q], per-image profiles [n, phi, q], map [y, x]",
            profiles=_JF,
        ),
        _r(
            "JF-REFLECTIONS",
            "HDF5 §4.2",
            "error",
            "reflection groups are image_NNNNNN of an image of the run, with h, k, l; columns 1-D of one length; "
            "Miller indices integral",
            profiles=_JF,
        ),
        # --- plausibility and data ----------------------------------------------------------------
        _r(
            "JF-PLAUSIBLE",
            "HDF5 §3, §4.10",
            "error",
            "wavelength/energy agree, distance > 0, beam centre finite, count_time <= frame_time, values fit bit depth",
            profiles=_JF,
        ),
        _r(
            "DATA-READABLE",
            "HDF5 §2",
            "error",
            "first, last and sampled images decompress (--deep: all)",
        ),
        # --- spec coverage table, enforced row by row (conformance/rules/_coverage.py) ----------
        _r(
            "SPEC-PRESENT",
            "HDF5 §3-§4 (coverage table)",
            "error",
            "every spec row present where its presence column requires it",
            profiles=_JF,
        ),
        _r(
            "SPEC-CLASS",
            "HDF5 §3-§4 (coverage table)",
            "error",
            "groups of the spec declare the NX_class the spec names",
            profiles=_JF,
        ),
        _r(
            "SPEC-DTYPE",
            "HDF5 §3-§4 (coverage table)",
            "error",
            "fields have the dtype class (and width where fixed) of their row",
            profiles=_JF,
        ),
        _r(
            "SPEC-SHAPE",
            "HDF5 §3-§4 (coverage table)",
            "error",
            "fields have the rank and shape relation of their row (n, y, x, spots, phi, q, 9)",
            profiles=_JF,
        ),
        _r(
            "SPEC-UNITS",
            "HDF5 §3-§5 (coverage table)",
            "error",
            "fields carry the unit their row names (exact, or of its dimension)",
            profiles=_JF,
        ),
        _r(
            "SPEC-DOMAIN",
            "HDF5 §3-§4 (coverage table)",
            "error",
            "values lie in the domain of their row (> 0, 0/1, enum, ISO 8601, axis type)",
            profiles=_JF,
        ),
        # --- cross-field consistency -----------------------------------------------------------
        _r(
            "XF-IMAGE-SHAPE",
            "HDF5 §3, §4.9",
            "error",
            "image [y, x] equals x/y_pixels_in_detector",
            profiles=_JF,
        ),
        _r(
            "XF-MODULES",
            "HDF5 §3 module; NXmx C06",
            "error",
            "modules lie inside the image, do not overlap and reach its edges",
            profiles=_JF,
        ),
        _r(
            "XF-IMAGE-NR",
            "HDF5 §2, §3 /entry/data",
            "error",
            "image_nr_low/high of the master and of every VDS data file match the rows they fill",
            profiles=_JF,
        ),
        _r(
            "XF-IMAGE-COUNT",
            "HDF5 §4.9",
            "error",
            "nimages_written <= nimages_collected <= nimages x ntrigger",
            profiles=_JF,
        ),
        _r(
            "XF-AZINT",
            "HDF5 §4.3",
            "error",
            "azint bin arrays agree in shape and q = 4 pi sin(theta) / wavelength",
            profiles=_JF,
        ),
        _r(
            "XF-SPOTS",
            "HDF5 §4.1",
            "error",
            "spot counters agree with the spot arrays",
            profiles=_JF,
        ),
        _r(
            "XF-ROI",
            "HDF5 §4.4, §4.4.1",
            "error",
            "ROI results have definitions, boxes lie in the image, npixel <= footprint",
            profiles=_JF,
        ),
        _r(
            "XF-REFLECTIONS",
            "HDF5 §4.1, §4.2",
            "error",
            "integratedReflections of an image equals the rows of its reflections group",
            profiles=_JF,
        ),
        _r(
            "XF-TIMES",
            "HDF5 §3 /entry",
            "error",
            "end_time and end_time_estimated are not before start_time",
            profiles=_JF,
        ),
        _r(
            "XF-DISTANCE",
            "HDF5 §3 transformations, module; §4.10",
            "error",
            "translation values agree with distance and pixel sizes in their own units",
            profiles=_JF,
        ),
        _r(
            "JF-FILE-ATTRS",
            "HDF5 §3 /entry",
            "error",
            "the master carries file_name, file_time, HDF5_Version root attributes",
            profiles=_JF,
        ),
        _r(
            "JF-TMP",
            "HDF5 §2",
            "error",
            "no *.tmp file of the run is left beside the master",
            profiles=_JF,
        ),
        # --- readers (nxmx-rules.json reader_requirements) -----------------------------------------
        _r(
            "RD-NEGGIA",
            "NXmx readers: Neggia",
            "error",
            "what the DECTRIS Neggia XDS plugin needs",
            layouts=_LEGACY,
            profiles=_JF,
        ),
        _r(
            "RD-DURIN",
            "NXmx readers: Durin",
            "error",
            "what the DLS Durin XDS plugin needs",
            profiles=_JF,
        ),
        _r(
            "RD-FABIO",
            "NXmx readers: fabio EigerImage",
            "warning",
            "/entry/data holds no other member named data* than data / data_NNNNNN",
        ),
    )
}

STREAM_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _r("ST-UNREADABLE", "Stream §3", "error", "each message decodes as one CBOR item"),
        _r(
            "ST-ENVELOPE",
            "Stream §3",
            "error",
            "a message is a map with text keys whose first key is 'type'",
        ),
        _r("ST-SELF-DESCRIBED", "Stream §3, §11.1", "warning", "the message starts with tag 55799"),
        _r(
            "ST-TYPE",
            "Stream §1",
            "error",
            "'type' is one of start, image, end, calibration, metadata",
        ),
        _r(
            "ST-REQUIRED",
            "Stream §5.1, §8.1, §10.1",
            "error",
            "required fields of each message kind are present",
        ),
        _r(
            "ST-FIELD-TYPE",
            "Stream §3.1, §5, §8",
            "error",
            "fields have the CBOR type the spec gives",
        ),
        _r(
            "ST-ARRAY",
            "Stream §4, §4.2, §4.3",
            "error",
            "image data are tag 40 [dims, typed array] with consistent sizes and a known compression",
        ),
        _r(
            "ST-ORDER",
            "Stream §1",
            "error",
            "start -> images -> end, one start and one end per series",
        ),
        _r(
            "ST-SERIES", "Stream §6", "error", "image and end messages carry the start's series ids"
        ),
        _r(
            "ST-IMAGE-ID",
            "Stream §8.1",
            "error",
            "image numbers are unique and below number_of_images",
        ),
        # --profile dectris: what a DECTRIS Stream V2 consumer would reject or misread
        _r(
            "ST-DECTRIS-TYPE",
            "Stream §1, §2.1",
            "error",
            "dectris profile: only start, image and end messages (DECTRIS clients stop at others)",
        ),
        _r(
            "ST-DECTRIS-FIELD",
            "Stream §5.1, §8.1, §10.1",
            "error",
            "dectris profile: every field DECTRIS lists is present with the DECTRIS type",
        ),
        _r(
            "ST-DECTRIS-DTYPE",
            "Stream §4.1, §5.1",
            "error",
            "dectris profile: image_dtype and image typed arrays are uint8, uint16 or uint32",
        ),
        _r(
            "ST-DECTRIS-COMPRESSION",
            "Stream §4.3",
            "error",
            "dectris profile: images compressed with bslz4 or lz4 only",
        ),
        # default (jungfraujoch) profile
        _r(
            "ST-JFJ-FIELD",
            "Stream §5.2, §8.2",
            "warning",
            "jungfraujoch profile: every confirmed field Jungfraujoch sends is present",
        ),
    )
}
#: Stream profiles of ``jfcheck stream --profile`` (the consumer the stream is checked for).
STREAM_PROFILES = ("jungfraujoch", "dectris")


# Stream-to-file tracing (``jfcheck FILE --stream DIR``): what a recorded stream carried, found in
# the file where conformance/rules/stream_map.py (from stream.md and hdf5-format.md) puts it.
TRACE_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _r(
            "TRACE-INPUT",
            "Stream §1, §3",
            "error",
            "the recording decodes and holds one series: a start message, images, an end message",
        ),
        _r(
            "TRACE-MISSING",
            "Stream §5, §8, §9, §10; HDF5 §3, §4",
            "error",
            "every field the stream carried has its HDF5 destination (not dropped or moved)",
        ),
        _r(
            "TRACE-VALUE",
            "Stream §5, §9, §10; HDF5 §3, §4",
            "error",
            "a traced value equals the stream's once cast to the stored dtype and unit",
        ),
        _r(
            "TRACE-UNITS",
            "HDF5 §3, §4, §5",
            "error",
            "a traced dataset carries the units the spec gives the field",
        ),
        _r(
            "TRACE-ROW",
            "Stream §8.1; HDF5 §2, §4",
            "error",
            "each per-image value sits in the row of its image number in every layout",
        ),
        _r(
            "TRACE-SHAPE",
            "HDF5 §3, §4",
            "error",
            "a traced destination has the shape the stream's value needs",
        ),
        _r(
            "TRACE-IMAGE",
            "Stream §4.3, §8.1; HDF5 §2",
            "error",
            "each image's pixels are byte-identical to the stream's (raw chunk or decompressed)",
        ),
        _r(
            "TRACE-SENTINEL",
            "HDF5 §2, §4, §5",
            "error",
            "images never sent or lost read as the fill value; their per-image floats as NaN",
        ),
    )
}


def rule(rule_id: str) -> Rule:
    """The row of ``rule_id`` in :data:`FILE_RULES`, :data:`STREAM_RULES` or :data:`TRACE_RULES`
    (KeyError if unknown)."""
    if rule_id in FILE_RULES:
        return FILE_RULES[rule_id]
    if rule_id in TRACE_RULES:
        return TRACE_RULES[rule_id]
    return STREAM_RULES[rule_id]
