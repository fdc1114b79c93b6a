"""Checks of HDF5 files, one module per kind; :data:`FILE_CHECKS` lists them with the rule ids each
may report (STYLE.md "Checks are library functions")."""

from __future__ import annotations

from jfjoch_hil.conformance.checks._cross import (
    check_cross_fields,
    check_file_attrs,
    check_tmp_files,
)
from jfjoch_hil.conformance.checks._extensions import (
    check_azint,
    check_collections,
    check_diagnostics,
    check_extension_units,
    check_image_count,
    check_image_numbers,
    check_mx,
    check_per_image_groups,
    check_plausible,
    check_reflections,
)
from jfjoch_hil.conformance.checks._geometry import check_geometry, check_modules
from jfjoch_hil.conformance.checks._layout import (
    check_external_links,
    check_image_dataset,
    check_integrated,
    check_layout_exposure,
    check_legacy_links,
    check_readable,
    check_virtual,
)
from jfjoch_hil.conformance.checks._nxmx import check_entry, check_nx_classes, check_nxmx_items
from jfjoch_hil.conformance.checks._readers import check_durin, check_fabio, check_neggia
from jfjoch_hil.conformance.checks._roi import check_roi, roi_footprint
from jfjoch_hil.conformance.checks._spec import check_spec_rows

__all__ = ["FILE_CHECKS", "roi_footprint"]

# (check, rule ids it reports). Order matters only where a check fills facts another reads:
# check_virtual marks unsafe virtual datasets before check_readable reads images.
FILE_CHECKS = (
    (check_entry, ("NX-ENTRY",)),
    (check_nx_classes, ("NX-CLASS",)),
    (
        check_nxmx_items,
        (
            "NX-REQUIRED",
            "NX-RECOMMENDED",
            "NX-FORBIDDEN",
            "NX-DEPRECATED",
            "NX-DTYPE",
            "NX-UNITS",
            "NX-ENUM",
            "NX-DATETIME",
            "NX-SHAPE",
            "NX-BASE-SHAPE",
        ),
    ),
    (check_geometry, ("NX-DEPENDS-ON", "NX-CHAIN", "NX-TRANSFORMATION", "NX-SHAPE")),
    (check_modules, ("NX-MODULE",)),
    (check_layout_exposure, ("JF-LAYOUT",)),
    (check_legacy_links, ("JF-LEGACY-LINKS", "JF-DATA-FILE")),
    (check_external_links, ("JF-DATA-FILE", "JF-INTEGRATED", "JF-LEGACY-LINKS")),
    (check_virtual, ("JF-VDS", "JF-DATA-FILE", "JF-INTEGRATED")),
    (check_integrated, ("JF-INTEGRATED",)),
    (check_image_dataset, ("JF-IMAGE-DATASET",)),
    (check_image_count, ("JF-IMAGE-COUNT",)),
    (check_image_numbers, ("JF-IMAGE-COUNT",)),
    (check_diagnostics, ("JF-IMAGE-COUNT",)),
    (check_collections, ("JF-COLLECTION",)),
    (check_extension_units, ("JF-UNITS",)),
    (
        check_mx,
        ("JF-MX-SHAPE", "JF-MX-SENTINEL", "JF-MX-COUNTERS", "JF-CXI", "JF-IMAGE-COUNT", "JF-UNITS"),
    ),
    (check_per_image_groups, ("JF-IMAGE-COUNT", "JF-MX-SHAPE", "JF-UNITS")),
    (check_azint, ("JF-AZINT", "JF-IMAGE-COUNT", "JF-UNITS")),
    (check_reflections, ("JF-REFLECTIONS", "JF-UNITS")),
    (check_roi, ("JF-ROI-DEFS", "JF-ROI-MAP", "JF-ROI-RESULTS")),
    (check_plausible, ("JF-PLAUSIBLE",)),
    (
        check_spec_rows,
        (
            "SPEC-PRESENT",
            "SPEC-CLASS",
            "SPEC-DTYPE",
            "SPEC-SHAPE",
            "SPEC-UNITS",
            "SPEC-DOMAIN",
        ),
    ),
    (
        check_cross_fields,
        (
            "XF-IMAGE-SHAPE",
            "XF-MODULES",
            "XF-IMAGE-NR",
            "XF-IMAGE-COUNT",
            "XF-AZINT",
            "XF-SPOTS",
            "XF-ROI",
            "XF-TIMES",
            "XF-REFLECTIONS",
            "XF-DISTANCE",
        ),
    ),
    (check_file_attrs, ("JF-FILE-ATTRS",)),
    (check_tmp_files, ("JF-TMP",)),
    (check_neggia, ("RD-NEGGIA",)),
    (check_durin, ("RD-DURIN",)),
    (check_fabio, ("RD-FABIO",)),
    (check_readable, ("DATA-READABLE",)),
)
