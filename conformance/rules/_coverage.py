"""Spec coverage held as data: one row per field row of every table in hdf5-format.md §3-§4 and
one per normative sentence of §2 / §4 / §5.

Written by hand from shared/spec/hdf5-format.md (reviewed row by row; ``tests/unit/conformance/
test_conformance_coverage.py`` parses the spec and fails when a field row is missing here). The
table-driven check (:mod:`conformance.checks._spec`) enforces every field row from these columns;
the self-test (:mod:`conformance._selftest`) makes its mutants from them.

Columns of a :class:`SpecRow`:

``section``   hdf5-format.md section (``§3 /entry/instrument/detector``, ``§4.1`` ...).
``path``      path below the NXentry; ``*`` matches any one member name (``roi/*/max``).
``where``     ``master`` (run-level: the master file), ``results`` (per-image results: the master
              in vds / integrated / process, each data file in legacy), ``diagnostics`` (§4.7:
              ``/entry/detector`` in data files, ``detectorSpecific`` in an integrated file).
``presence``  ``always`` (Jungfraujoch always writes it), ``group`` (required whenever its parent
              group exists), ``indexed`` (an indexing result: required whenever its group's
              ``imageIndexed`` marks an image indexed, hdf5-format.md §4.1), ``spots`` (a per-spot array:
              required whenever its group's ``nPeaks`` counts a stored spot), ``input`` (written when the run had the input: checked if present),
              ``type:<t>`` (ROI definitions: required for ROIs of that type),
              ``layout:<a>|<b>`` (required in those layouts only).
``nx_class``  for group rows: the NX_class the group must declare.
``dtype``     ``f`` float, ``i`` integer, ``u`` unsigned, ``b`` 0/1 flag (bool or integer), ``n``
              any number, ``s`` string; ``u16`` etc. where the spec fixes the width.
``shape``     comma separated symbols: ``n`` images of the holder, ``y``/``x`` image size,
              ``spots`` max spots, ``phi``/``q`` azint bins, ``_`` any, digits literal; ``""``
              scalar; ``n?`` scalar or [n]; None unchecked.
``units``     the exact unit the spec names (spelling variants of that unit accepted), or a
              dimension ``@length``, ``@angle``, ``@time``, ``@energy``; None for none required.
``domain``    value domain: ``NXmx``, ``iso8601``, ``>0``, ``>=0``, ``finite``, ``01``,
              ``bravais``, ``roi-type``, ``bit``, ``triggered``, ``lattice``; None unchecked.
``rules``     further rule ids (besides the generic SPEC-* ones the columns imply) that check it.
``reason``    why a row carries no rule (required when the row has no rule at all).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SpecRow", "COVERAGE", "PROFILING_TIMES", "generic_rules", "row_rules", "SENTENCE"]

#: The per-image timing fields of /entry/profiling (hdf5-format.md §4.6), seconds each.
PROFILING_TIMES = (
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

SENTENCE = "sentence"


@dataclass(frozen=True)
class SpecRow:
    """One spec row (field or normative sentence) with what the spec fixes about it."""

    section: str
    path: str
    where: str = "master"
    presence: str = "group"
    nx_class: str | None = None
    dtype: str | None = None
    shape: str | None = None
    units: str | None = None
    domain: str | None = None
    rules: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def is_sentence(self) -> bool:
        """A normative sentence (checked by named rules), not a field row."""
        return self.where == SENTENCE

    @property
    def is_group(self) -> bool:
        """A group row (checked for NX_class)."""
        return self.nx_class is not None


def generic_rules(row: SpecRow) -> tuple[str, ...]:
    """The SPEC-* rule ids the table-driven check applies to ``row``."""
    if row.is_sentence:
        return ()
    out = ["SPEC-PRESENT"]
    if row.nx_class:
        out.append("SPEC-CLASS")
    if row.dtype:
        out.append("SPEC-DTYPE")
    if row.shape is not None:
        out.append("SPEC-SHAPE")
    if row.units:
        out.append("SPEC-UNITS")
    if row.domain:
        out.append("SPEC-DOMAIN")
    if out == ["SPEC-PRESENT"] and row.presence == "input":
        return ()  # an optional row with nothing else fixed: nothing is checked, a reason is due
    return tuple(out)


def row_rules(row: SpecRow) -> tuple[str, ...]:
    """Every rule id that checks ``row``."""
    return tuple(dict.fromkeys(generic_rules(row) + row.rules))


def _R(section, path, **kw) -> SpecRow:  # noqa: N802 - a table constructor
    return SpecRow(section, path, **kw)


def _S(section, text, rules=(), reason=None) -> SpecRow:  # noqa: N802
    return SpecRow(section, text, where=SENTENCE, presence="", rules=tuple(rules), reason=reason)


_D = "instrument/detector"
_DS = f"{_D}/detectorSpecific"
_MX = "§4.1 /entry/MX"

COVERAGE: tuple[SpecRow, ...] = (
    # ------------------------------------------------------------------ §2 normative sentences
    _S(
        "§2",
        "legacy: one external link data_NNNNNN per data file in /entry/data",
        ["JF-LAYOUT", "JF-LEGACY-LINKS", "JF-DATA-FILE"],
    ),
    _S(
        "§2",
        "vds: one virtual dataset /entry/data/data spans all data files; spot finding, azint "
        "and reflections linked the same way",
        ["JF-LAYOUT", "JF-VDS", "XF-IMAGE-NR"],
    ),
    _S(
        "§2",
        "integrated: no separate data files, images and metadata in one file",
        ["JF-INTEGRATED"],
    ),
    _S(
        "§2",
        "legacy/vds: image-indexed analysis arrays live in the data files and are exposed in "
        "the master (links / VDS)",
        ["JF-LAYOUT", "SPEC-PRESENT"],
    ),
    _S("§2", "images stored chunked, one image per chunk", ["JF-IMAGE-DATASET"]),
    _S("§2", "images compressed with bitshuffle + LZ4 or bitshuffle + Zstd", ["JF-IMAGE-DATASET"]),
    _S(
        "§2",
        "signed image datasets use INTx_MIN, unsigned UINTx_MAX as HDF5 fill value",
        ["JF-IMAGE-DATASET"],
    ),
    _S(
        "§2",
        "files written to *.<random>.tmp and renamed on successful close: no *.tmp of the run "
        "is left beside a finished master",
        ["JF-TMP"],
    ),
    _S(
        "§2",
        "<prefix>_process.h5: integrated format whose /entry/data/data is a VDS back to the "
        "original image files",
        ["JF-LAYOUT", "JF-VDS"],
    ),
    _S(
        "§2",
        "data files are named <prefix>_data_NNNNNN.h5 beside <prefix>_master.h5",
        ["JF-DATA-FILE", "JF-LEGACY-LINKS"],
    ),
    # ------------------------------------------------------------------ §3 /entry
    _R("§3 /entry", "", nx_class="NXentry", presence="always", rules=("NX-ENTRY",)),
    _R(
        "§3 /entry",
        "definition",
        presence="always",
        dtype="s",
        shape="",
        domain="NXmx",
        rules=("NX-ENTRY",),
    ),
    _R(
        "§3 /entry",
        "start_time",
        presence="always",
        dtype="s",
        shape="",
        domain="iso8601",
        rules=("NX-DATETIME", "XF-TIMES"),
    ),
    _R(
        "§3 /entry",
        "end_time",
        # nxmx-rules: optional, written only when the end was observed (omitted after an abort)
        presence="input",
        dtype="s",
        shape="",
        domain="iso8601",
        rules=("NX-DATETIME", "XF-TIMES"),
    ),
    _R(
        "§3 /entry",
        "end_time_estimated",
        presence="always",
        dtype="s",
        shape="",
        domain="iso8601",
        rules=("NX-DATETIME", "XF-TIMES"),
    ),
    _S(
        "§3 /entry",
        "file-level HDF5 attributes file_name, file_time, HDF5_Version are set",
        ["JF-FILE-ATTRS"],
    ),
    # ------------------------------------------------------------------ §3 source, instrument
    _R("§3 /entry/source", "source", nx_class="NXsource", presence="always"),
    _R("§3 /entry/source", "source/name", presence="always", dtype="s", shape=""),
    _R(
        "§3 /entry/source",
        "source/type",
        presence="always",
        dtype="s",
        shape="",
        rules=("NX-ENUM",),
    ),
    _R("§3 /entry/source", "source/current", presence="input", dtype="n", shape="", units="A"),
    _R("§3 /entry/instrument", "instrument", nx_class="NXinstrument", presence="always"),
    _R("§3 /entry/instrument", "instrument/name", presence="always", dtype="s", shape=""),
    # ------------------------------------------------------------------ §3 beam
    _R("§3 /entry/instrument/beam", "instrument/beam", nx_class="NXbeam", presence="always"),
    _R(
        "§3 /entry/instrument/beam",
        "instrument/beam/incident_wavelength",
        presence="always",
        dtype="f",
        shape="",
        units="angstrom",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/beam",
        "instrument/beam/incident_wavelength_spread",
        presence="input",
        dtype="f",
        units="angstrom",
        domain=">=0",
    ),
    _R(
        "§3 /entry/instrument/beam",
        "instrument/beam/total_flux",
        presence="input",
        dtype="n",
        shape="",
        units="Hz",
        domain=">=0",
    ),
    # ------------------------------------------------------------------ §3 attenuator
    _R(
        "§3 /entry/instrument/attenuator",
        "instrument/attenuator",
        nx_class="NXattenuator",
        presence="input",
    ),
    _R(
        "§3 /entry/instrument/attenuator",
        "instrument/attenuator/attenuator_transmission",
        presence="group",
        dtype="n",
        shape="",
        domain=">=0",
    ),
    # ------------------------------------------------------------------ §3 detector
    _R("§3 /entry/instrument/detector", _D, nx_class="NXdetector", presence="always"),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/depends_on",
        presence="always",
        dtype="s",
        shape="",
        domain="rot3",
        rules=("NX-DEPENDS-ON", "NX-CHAIN"),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/beam_center_x",
        presence="always",
        dtype="n",
        shape="",
        units="pixel",
        domain="finite",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/beam_center_y",
        presence="always",
        dtype="n",
        shape="",
        units="pixel",
        domain="finite",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/distance",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain=">0",
        rules=("JF-PLAUSIBLE", "XF-DISTANCE"),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/count_time",
        presence="always",
        dtype="f",
        shape="",
        units="s",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/frame_time",
        presence="always",
        dtype="f",
        shape="",
        units="s",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/sensor_thickness",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain=">0",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/sensor_material",
        presence="always",
        dtype="s",
        shape="",
    ),
    _R(
        "§3 /entry/instrument/detector", f"{_D}/description", presence="always", dtype="s", shape=""
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/threshold_energy",
        presence="input",
        dtype="n",
        shape="",
        units="eV",
        domain=">0",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/x_pixel_size",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/y_pixel_size",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/serial_number",
        presence="input",
        dtype="s",
        shape="",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/bit_depth_readout",
        presence="always",
        dtype="i",
        shape="",
        domain=">0",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/saturation_value",
        presence="always",
        dtype="i",
        shape="",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/flatfield_applied",
        presence="input",
        dtype="b",
        shape="",
        domain="01",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/pixel_mask",
        presence="always",
        dtype="i",
        shape="y,x",
        rules=("XF-IMAGE-SHAPE", "NX-SHAPE"),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_DS}/pixel_mask",
        presence="always",
        dtype="i",
        shape="y,x",
        rules=("XF-IMAGE-SHAPE",),
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/pixel_mask_applied",
        presence="always",
        dtype="b",
        shape="",
        domain="01",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/countrate_correction_applied",
        presence="input",
        dtype="b",
        shape="",
        domain="01",
    ),
    _R(
        "§3 /entry/instrument/detector",
        f"{_D}/number_of_cycles",
        presence="input",
        dtype="i",
        shape="",
        domain=">0",
    ),
    # ------------------------------------------------------------------ §3 transformations
    _R(
        "§3 /entry/instrument/detector/transformations",
        f"{_D}/transformations",
        nx_class="NXtransformations",
        presence="always",
        rules=("NX-CHAIN",),
    ),
    _R(
        "§3 /entry/instrument/detector/transformations",
        f"{_D}/transformations/translation",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain="translation:.",
        rules=("NX-TRANSFORMATION", "XF-DISTANCE"),
    ),
    _R(
        "§3 /entry/instrument/detector/transformations",
        f"{_D}/transformations/rot1",
        presence="always",
        dtype="f",
        shape="",
        units="rad",
        domain="rotation:translation",
        rules=("NX-TRANSFORMATION",),
    ),
    _R(
        "§3 /entry/instrument/detector/transformations",
        f"{_D}/transformations/rot2",
        presence="always",
        dtype="f",
        shape="",
        units="rad",
        domain="rotation:rot1",
        rules=("NX-TRANSFORMATION",),
    ),
    _R(
        "§3 /entry/instrument/detector/transformations",
        f"{_D}/transformations/rot3",
        presence="always",
        dtype="f",
        shape="",
        units="rad",
        domain="rotation:rot2",
        rules=("NX-TRANSFORMATION",),
    ),
    # ------------------------------------------------------------------ §3 module
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module",
        nx_class="NXdetector_module",
        presence="always",
        rules=("NX-MODULE", "XF-MODULES"),
    ),
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module/data_origin",
        presence="group",
        dtype="i",
        shape="2",
        domain=">=0",
        rules=("NX-MODULE", "XF-MODULES"),
    ),
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module/data_size",
        presence="group",
        dtype="i",
        shape="2",
        domain=">0",
        rules=("NX-MODULE", "XF-MODULES"),
    ),
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module/fast_pixel_direction",
        presence="group",
        dtype="f",
        shape=None,
        units="@length",
        domain="translation",
        rules=("NX-TRANSFORMATION",),
    ),
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module/slow_pixel_direction",
        presence="group",
        dtype="f",
        shape=None,
        units="@length",
        domain="translation",
        rules=("NX-TRANSFORMATION",),
    ),
    _R(
        "§3 /entry/instrument/detector/module",
        f"{_D}/module/module_offset",
        presence="group",
        dtype="f",
        shape=None,
        units="@length",
        domain="translation",
        rules=("NX-TRANSFORMATION",),
    ),
    # ------------------------------------------------------------------ §3 sample
    _R("§3 /entry/sample", "sample", nx_class="NXsample", presence="always"),
    _R("§3 /entry/sample", "sample/name", presence="always", dtype="s", shape=""),
    _R(
        "§3 /entry/sample",
        "sample/depends_on",
        presence="always",
        dtype="s",
        shape="",
        rules=("NX-DEPENDS-ON", "NX-CHAIN"),
    ),
    _R("§3 /entry/sample", "sample/temperature", presence="input", dtype="n", shape="", units="K"),
    _R(
        "§3 /entry/sample",
        "sample/transformations",
        nx_class="NXtransformations",
        presence="input",
        rules=("NX-CHAIN", "NX-TRANSFORMATION"),
    ),
    _R(
        "§3 /entry/sample",
        "sample/unit_cell",
        presence="input",
        dtype="f",
        shape=None,
        rules=("NX-BASE-SHAPE",),
    ),
    _R(
        "§3 /entry/sample",
        "sample/ub_matrix",
        presence="input",
        dtype="f",
        shape="1,3,3",
        units="@inverse-length",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_end",
        presence="input",
        dtype="f",
        shape="n",
        units="@angle",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_range_average",
        presence="input",
        dtype="f",
        shape="",
        units="@angle",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_range_total",
        presence="input",
        dtype="f",
        shape="",
        units="@angle",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_helical_x",
        presence="input",
        dtype="f",
        shape="n?",
        units="@length",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_helical_y",
        presence="input",
        dtype="f",
        shape="n?",
        units="@length",
    ),
    _R(
        "§3 /entry/sample",
        "sample/transformations/*_helical_z",
        presence="input",
        dtype="f",
        shape="n?",
        units="@length",
    ),
    # ------------------------------------------------------------------ §3 /entry/data
    _R("§3 /entry/data", "data", nx_class="NXdata", presence="always"),
    _R(
        "§3 /entry/data",
        "data/data",
        presence="layout:vds|integrated|process",
        dtype="i",
        shape="n,y,x",
        rules=("JF-LAYOUT", "JF-IMAGE-DATASET", "DATA-READABLE", "XF-IMAGE-SHAPE"),
    ),
    _S(
        "§3 /entry/data",
        "data carries image_nr_low / image_nr_high attributes (every layout, data files included)",
        ["JF-LEGACY-LINKS", "XF-IMAGE-NR"],
    ),
    _R(
        "§3 /entry/data",
        "data/data_*",
        presence="layout:legacy",
        dtype="i",
        shape="_,y,x",
        rules=("JF-LEGACY-LINKS", "JF-DATA-FILE"),
    ),
    # ------------------------------------------------------------------ §4 sentences
    _S("§4", "extension groups declare NX_class = NXcollection unless noted", ["JF-COLLECTION"]),
    _S(
        "§4",
        "per-image arrays are indexed by image number and padded to the run length",
        ["SPEC-SHAPE", "JF-IMAGE-COUNT", "XF-IMAGE-NR"],
    ),
    _S(
        "§4",
        "absent quantities hold sentinels: NaN for floats, -1/0 for integer indices",
        ["JF-MX-SENTINEL"],
    ),
    # ------------------------------------------------------------------ §4.1 /entry/MX
    _R(
        _MX,
        "MX",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    *(
        _R(
            _MX,
            f"MX/{name}",
            where="results",
            dtype=dt,
            shape="n,spots",
            units=u,
            rules=("JF-MX-SHAPE", "JF-MX-SENTINEL", "XF-SPOTS") + extra,
        )
        for name, dt, u, extra in (
            ("peakXPosRaw", "f", "pixel", ("JF-CXI",)),
            ("peakYPosRaw", "f", "pixel", ("JF-CXI",)),
            ("peakTotalIntensity", "f", "photons", ("JF-CXI",)),
            ("peakIceRingRes", "n", None, ()),
            ("peakH", "n", None, ()),
            ("peakK", "n", None, ()),
            ("peakL", "n", None, ()),
            ("peakDistEwaldSphere", "f", "Angstrom^-1", ()),
            ("peakIndexed", "b", None, ()),
            ("peakLattice", "i", None, ()),
        )
    ),
    *(
        _R(
            _MX,
            f"MX/{name}",
            where="results",
            dtype=dt,
            shape="n",
            units=u,
            domain=dom,
            rules=("JF-MX-SHAPE", "JF-IMAGE-COUNT") + extra,
        )
        for name, dt, u, dom, extra in (
            ("nPeaks", "i", None, ">=0", ("JF-CXI", "JF-MX-COUNTERS", "XF-SPOTS")),
            ("strongPixels", "n", None, ">=0", ()),
            ("peakCountUnfiltered", "n", None, ">=0", ("XF-SPOTS",)),
            ("peakCountLowRes", "n", None, ">=0", ()),
            ("peakCountIceRingRes", "n", None, ">=0", ()),
            ("peakCountIndexed", "n", None, ">=0", ("JF-MX-COUNTERS", "XF-SPOTS")),
            ("imageIndexed", "b", None, "01", ("JF-MX-COUNTERS",)),
            ("indexingLatticeCount", "n", None, ">=0", ()),
            ("niggliClass", "n", None, None, ()),
            ("bravaisLattice", "s", None, "bravais", ()),
            ("profileRadius", "f", "Angstrom^-1", None, ()),
            ("mosaicity", "f", "deg", None, ()),
            ("bFactor", "f", "Angstrom^2", None, ()),
            ("resolutionEstimate", "f", "Angstrom", None, ()),
            ("integratedReflections", "n", None, ">=0", ("XF-REFLECTIONS",)),
            ("bkgEstimate", "f", "photons", None, ()),
            ("beam_corr_x", "f", "pixel", None, ()),
            ("beam_corr_y", "f", "pixel", None, ()),
            ("imageScaleFactor", "f", None, None, ()),
            ("imageScaleCC", "f", None, None, ()),
            ("imageScaleMosaicity", "f", "deg", None, ()),
            ("imageScaleBFactor", "f", "Angstrom^2", None, ()),
        )
    ),
    _R(
        _MX,
        "MX/latticeIndexed",
        where="results",
        dtype="f",
        shape="n,9",
        units="Angstrom",
        rules=("JF-MX-SHAPE", "JF-MX-SENTINEL"),
    ),
    _R(
        _MX,
        "MX/latticeIndexedExtra",
        where="results",
        presence="input",
        dtype="f",
        shape="n,_,9",
        units="Angstrom",
        rules=("JF-MX-SHAPE", "JF-VDS"),
    ),
    _R(_MX, "MX/indexing_algorithm", presence="input", dtype="s", shape=""),
    _R(_MX, "MX/geom_refinement_algorithm", presence="input", dtype="s", shape=""),
    _R(_MX, "MX/rotationLatticeIndexed", presence="input", dtype="f", shape="9", units="Angstrom"),
    _R(
        _MX,
        "MX/rotationLatticeIndexedExtra",
        presence="input",
        dtype="f",
        shape="_,9",
        units="Angstrom",
    ),
    _R(_MX, "MX/rotationLatticeNiggliClass", presence="input", dtype="i", shape=""),
    _R(_MX, "MX/imageIndexedMean", presence="input", dtype="f", shape="", domain="0..1"),
    _R(_MX, "MX/bkgEstimateMean", presence="input", dtype="f", shape="", units="photons"),
    _R(_MX, "MX/indexedLatticeCount", presence="input", dtype="n", shape=None),
    _S(
        _MX, "CrystFEL reads the spots with peak_list = /entry/MX, peak_list_type = cxi", ["JF-CXI"]
    ),
    # ------------------------------------------------------------------ §4.2 reflections
    _R(
        "§4.2 /entry/reflections",
        "reflections",
        presence="input",
        where="results",
        nx_class="NXcollection",
    ),
    _R(
        "§4.2 /entry/reflections",
        "reflections/image_*",
        presence="group",
        where="results",
        nx_class="NXreflections",
        rules=("JF-REFLECTIONS", "XF-REFLECTIONS"),
    ),
    *(
        _R(
            "§4.2 /entry/reflections",
            f"reflections/image_*/{name}",
            where="results",
            dtype=dt,
            shape="_",
            units=u,
            rules=("JF-REFLECTIONS",) + (("JF-UNITS",) if u else ()),
        )
        for name, dt, u in (
            ("h", "n", None),
            ("k", "n", None),
            ("l", "n", None),
            ("d", "f", "Angstrom"),
            ("int_sum", "f", "photons"),
            ("int_err", "f", "photons"),
            ("background_mean", "f", "photons"),
            ("predicted_x", "f", "pixel"),
            ("predicted_y", "f", "pixel"),
            ("observed_x", "f", "pixel"),
            ("observed_y", "f", "pixel"),
            ("observed_frame", "n", None),
            ("lp", "f", None),
            ("partiality", "f", None),
            ("delta_phi", "f", "deg"),
            ("zeta", "f", None),
            ("image_scale_corr", "f", None),
        )
    ),
    # ------------------------------------------------------------------ §4.3 azint
    _R(
        "§4.3 /entry/azint",
        "azint",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/bin_to_q",
        dtype="f",
        shape="phi,q",
        units="Angstrom^-1",
        domain=">=0",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/bin_to_two_theta",
        dtype="f",
        shape="phi,q",
        units="deg",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/bin_to_phi",
        dtype="f",
        shape="phi,q",
        units="deg",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/image",
        where="results",
        dtype="f",
        shape="n,phi,q",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/image_std",
        where="results",
        presence="input",
        dtype="f",
        shape="n,phi,q",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/image_count",
        where="results",
        presence="input",
        dtype="n",
        shape="n,phi,q",
        rules=("JF-AZINT", "XF-AZINT"),
    ),
    _R(
        "§4.3 /entry/azint",
        "azint/map",
        dtype="i",
        shape="y,x",
        rules=("JF-AZINT", "XF-IMAGE-SHAPE"),
    ),
    # ------------------------------------------------------------------ §4.4 roi
    _R(
        "§4.4 /entry/roi",
        "roi",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.4 /entry/roi",
        "roi/*",
        nx_class="NXcollection",
        presence="group",
        where="results",
        rules=("JF-ROI-RESULTS", "XF-ROI"),
    ),
    *(
        _R(
            "§4.4 /entry/roi",
            f"roi/*/{name}",
            where="results",
            dtype="n",
            shape="n",
            domain=dom,
            rules=("JF-ROI-RESULTS", "XF-ROI"),
        )
        for name, dom in (
            ("max", None),
            ("sum", None),
            ("sum_sq", ">=0"),
            ("npixel", ">=0"),
            ("x", None),
            ("y", None),
        )
    ),
    _S(
        "§4.4 /entry/roi",
        "per-image ROI results exposed from the master in vds (VDS) and "
        "integrated; legacy keeps them in the data files",
        ["JF-ROI-RESULTS"],
    ),
    # ------------------------------------------------------------------ §4.4.1 roi_defs
    _R(
        "§4.4.1 /entry/roi_defs",
        "roi_defs",
        nx_class="NXcollection",
        presence="input",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.4.1 /entry/roi_defs",
        "roi_defs/*",
        nx_class="NXcollection",
        presence="group",
        rules=("JF-ROI-DEFS",),
    ),
    _R(
        "§4.4.1 /entry/roi_defs",
        "roi_defs/*/bit_index",
        dtype="i",
        shape="",
        domain="bit",
        rules=("JF-ROI-DEFS", "JF-ROI-MAP"),
    ),
    _R(
        "§4.4.1 /entry/roi_defs",
        "roi_defs/*/type",
        dtype="s",
        shape="",
        domain="roi-type",
        rules=("JF-ROI-DEFS",),
    ),
    *(
        _R(
            "§4.4.1 /entry/roi_defs",
            f"roi_defs/*/{name}",
            presence=pres,
            dtype="n",
            shape="",
            domain=dom,
            rules=("JF-ROI-DEFS",) + extra,
        )
        for name, pres, dom, extra in (
            ("min_x_pxl", "type:box", ">=0", ("JF-ROI-MAP", "XF-ROI")),
            ("max_x_pxl", "type:box", ">=0", ("JF-ROI-MAP", "XF-ROI")),
            ("min_y_pxl", "type:box", ">=0", ("JF-ROI-MAP", "XF-ROI")),
            ("max_y_pxl", "type:box", ">=0", ("JF-ROI-MAP", "XF-ROI")),
            ("center_x_pxl", "type:circle", None, ("JF-ROI-MAP",)),
            ("center_y_pxl", "type:circle", None, ("JF-ROI-MAP",)),
            ("radius_pxl", "type:circle", ">0", ("JF-ROI-MAP",)),
            ("q_min_recipA", "type:azim", ">=0", ()),
            ("q_max_recipA", "type:azim", ">=0", ()),
            ("phi_min_deg", "input", None, ()),
            ("phi_max_deg", "input", None, ()),
        )
    ),
    _R(
        "§4.4.1 /entry/roi_defs",
        "roi_defs/roi_map",
        dtype="u16",
        shape="y,x",
        rules=("JF-ROI-MAP", "XF-IMAGE-SHAPE"),
    ),
    # ------------------------------------------------------------------ §4.5 image
    _R(
        "§4.5 /entry/image",
        "image",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    *(
        _R(
            "§4.5 /entry/image",
            f"image/{name}",
            where="results",
            dtype="n",
            shape="n",
            domain=dom,
            rules=("JF-IMAGE-COUNT",),
        )
        for name, dom in (
            ("max_value", None),
            ("min_value", None),
            ("error_pixels", ">=0"),
            ("saturated_pixels", ">=0"),
            ("pixel_sum", None),
        )
    ),
    # ------------------------------------------------------------------ §4.6 profiling
    _R(
        "§4.6 /entry/profiling",
        "profiling",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    *(
        _R(
            "§4.6 /entry/profiling",
            f"profiling/{name}",
            where="results",
            dtype="f",
            shape="n",
            units="s",
            rules=("JF-UNITS",),
        )
        for name in PROFILING_TIMES
    ),
    # ------------------------------------------------------------------ §4.7 detector diagnostics
    _R(
        "§4.7 /entry/detector",
        "detector",
        nx_class="NXcollection",
        presence="input",
        where="diagnostics",
        rules=("JF-COLLECTION",),
    ),
    *(
        _R(
            "§4.7 /entry/detector",
            f"detector/{name}",
            where="diagnostics",
            presence=pres,
            dtype="n",
            shape="n",
            units=u,
            domain=dom,
            rules=("JF-IMAGE-COUNT",),
        )
        for name, pres, u, dom in (
            ("timestamp", "input", None, None),  # per-image, as the stream carried it (traced)
            ("exptime", "input", "@time", ">=0"),
            ("number", "input", None, ">=0"),
            ("det_info", "input", None, None),
            ("storage_cell_image", "input", None, ">=0"),
            ("rcv_delay", "input", None, None),
            ("rcv_free_send_buffers", "input", None, None),
            ("packets_expected", "input", None, ">=0"),
            ("packets_received", "input", None, ">=0"),
            ("data_collection_efficiency_image", "input", None, "0..1"),
        )
    ),
    # ------------------------------------------------------------------ §4.8 xfel
    _R(
        "§4.8 /entry/xfel",
        "xfel",
        nx_class="NXcollection",
        presence="input",
        where="results",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.8 /entry/xfel",
        "xfel/pulseID",
        where="results",
        dtype="i",
        shape="n",
        rules=("JF-IMAGE-COUNT",),
    ),
    _R(
        "§4.8 /entry/xfel",
        "xfel/eventCode",
        where="results",
        dtype="i",
        shape="n",
        rules=("JF-IMAGE-COUNT",),
    ),
    # ------------------------------------------------------------------ §4.9 detectorSpecific
    _R(
        "§4.9 other collections",
        _DS,
        nx_class="NXcollection",
        presence="always",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/x_pixels_in_detector",
        presence="always",
        dtype="i",
        shape="",
        domain=">0",
        rules=("XF-IMAGE-SHAPE",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/y_pixels_in_detector",
        presence="always",
        dtype="i",
        shape="",
        domain=">0",
        rules=("XF-IMAGE-SHAPE",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/nimages",
        presence="always",
        dtype="i",
        shape="",
        domain=">=0",
        rules=("JF-IMAGE-COUNT",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/ntrigger",
        presence="always",
        dtype="i",
        shape="",
        domain=">0",
        rules=("JF-IMAGE-COUNT",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/nimages_collected",
        presence="input",
        dtype="i",
        shape="",
        domain=">=0",
        rules=("XF-IMAGE-COUNT",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/nimages_written",
        presence="input",
        dtype="i",
        shape="",
        domain=">=0",
        rules=("JF-IMAGE-COUNT",),
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/data_collection_efficiency",
        presence="input",
        dtype="f",
        shape="",
        domain="0..1",
    ),
    _R(
        "§4.9 other collections", f"{_DS}/max_receiver_delay", presence="input", dtype="n", shape=""
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/storage_cell_number",
        presence="input",
        dtype="i",
        shape="",
        domain=">0",
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/storage_cell_delay",
        presence="input",
        dtype="n",
        shape="",
        units="ns",
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/software_git_commit",
        presence="input",
        dtype="s",
        shape="",
    ),
    _R("§4.9 other collections", f"{_DS}/software_git_date", presence="input", dtype="s", shape=""),
    _R("§4.9 other collections", f"{_DS}/jfjoch_release", presence="input", dtype="s", shape=""),
    _R(
        "§4.9 other collections",
        f"{_DS}/jfjoch_writer_release",
        presence="input",
        dtype="s",
        shape="",
    ),
    _R("§4.9 other collections", f"{_DS}/summation_mode", presence="input", shape=""),
    _R("§4.9 other collections", f"{_DS}/detect_ice_rings", presence="input", dtype="b", shape=""),
    _R("§4.9 other collections", f"{_DS}/gain_file_names", presence="input", dtype="s"),
    _R(
        "§4.9 other collections",
        f"{_DS}/data_reduction_factor_serialmx",
        presence="input",
        dtype="f",
        shape="",
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/adu_histogram",
        presence="input",
        reason="content not described by hdf5-format.md §4.9 beyond its name; presence only",
    ),
    _R(
        "§4.9 other collections",
        f"{_DS}/data_collection_efficiency_image",
        presence="input",
        dtype="n",
        shape="n",
    ),
    _R(
        "§4.9 other collections",
        f"{_D}/calibration",
        nx_class="NXcollection",
        presence="input",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.9 other collections",
        "instrument/fluorescence",
        nx_class="NXcollection",
        presence="input",
        rules=("JF-COLLECTION",),
    ),
    _R(
        "§4.9 other collections", "instrument/fluorescence/energy", dtype="f", shape="_", units="eV"
    ),
    _R("§4.9 other collections", "instrument/fluorescence/data", dtype="n", shape="_"),
    _R(
        "§4.9 other collections",
        "user",
        nx_class="NXcollection",
        presence="input",
        rules=("JF-COLLECTION",),
    ),
    _R("§4.9 other collections", "user/*", presence="input", shape=""),
    # ------------------------------------------------------------------ §4.10 detector extras
    _R(
        "§4.10 detector extensions",
        f"{_D}/detector_distance",
        presence="always",
        dtype="f",
        shape="",
        units="m",
        domain=">0",
        rules=("JF-PLAUSIBLE", "XF-DISTANCE"),
    ),
    _R("§4.10 detector extensions", f"{_D}/detector_number", presence="input", shape=""),
    _R(
        "§4.10 detector extensions",
        f"{_D}/error_value",
        presence="always",
        dtype="i",
        shape="",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§4.10 detector extensions",
        f"{_D}/bit_depth_image",
        presence="always",
        dtype="i",
        shape="",
        domain=">0",
        rules=("JF-PLAUSIBLE",),
    ),
    _R(
        "§4.10 detector extensions",
        f"{_D}/acquisition_type",
        presence="always",
        dtype="s",
        shape="",
        domain="triggered",
    ),
    _R(
        "§4.10 detector extensions",
        f"{_D}/jungfrau_conversion_applied",
        presence="input",
        dtype="b",
        shape="",
        domain="01",
    ),
    _R(
        "§4.10 detector extensions",
        f"{_D}/jungfrau_conversion_factor",
        presence="input",
        dtype="f",
        shape="",
        units="eV",
        domain=">0",
        rules=("JF-UNITS",),
    ),
    _R(
        "§4.10 detector extensions",
        f"{_D}/geometry_transformation_applied",
        presence="input",
        dtype="b",
        shape="",
        domain="01",
    ),
    # ------------------------------------------------------------------ §4.11 user metadata
    _S("§4.11", "header_appendix.hdf5 scalars are stored under /entry/user/<key>", ["SPEC-SHAPE"]),
    _S(
        "§4.11",
        "image_appendix is not persisted to HDF5",
        reason="a negative statement about content the file cannot name; the stream-to-file "
        "trace compares it with the stream",
    ),
    # ------------------------------------------------------------------ §5 notes
    _S("§5", "units are written as the HDF5 units attribute on the dataset", ["SPEC-UNITS"]),
    _S("§5", "image pixels use INTx_MIN / UINTx_MAX as sentinel", ["JF-IMAGE-DATASET"]),
    _S("§5", "saturation and error values fit the image dtype", ["JF-PLAUSIBLE"]),
)

#: hdf5-format.md §4.1: what exists only for an indexed image ("Indexing only" per-spot columns,
#: the per-image lattice and its derived quantities); required once an image was indexed.
_INDEXING_ONLY = frozenset(
    f"MX/{name}"
    for name in (
        "peakH",
        "peakK",
        "peakL",
        "peakDistEwaldSphere",
        "peakIndexed",
        "peakLattice",
        "niggliClass",
        "bravaisLattice",
        "profileRadius",
        "mosaicity",
        "bFactor",
        "latticeIndexed",
    )
)
#: hdf5-format.md §4.1 per-spot arrays [n_images, max_spots] that are not indexing-only: they
#: exist once a spot was stored (``nPeaks`` > 0 for some image).
_SPOT_ARRAYS = frozenset(
    f"MX/{name}" for name in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity", "peakIceRingRes")
)
COVERAGE = tuple(
    dataclasses.replace(row, presence="indexed")
    if row.path in _INDEXING_ONLY and row.presence == "group"
    else dataclasses.replace(row, presence="spots")
    if row.path in _SPOT_ARRAYS and row.presence == "group"
    else row
    for row in COVERAGE
)
