"""jfcheck on our writer's real output, every layout.

The writer is driven through its public API with the writer tests' message helper. Findings the writer is known to produce today
are listed in KNOWN_WRITER_FINDINGS with the spec reason; anything outside that list fails, so a new
regression is caught while the known ones are being fixed (docs/conformance.md, "writer").
"""

from __future__ import annotations

import pytest
from jfjoch_hil.conformance import check_file
from jfjoch_hil.writer import RunWriter

from tests.unit.writer.writer_messages import make_run

# (rule, path suffix): spec reason. Reported to the writer area; remove an entry once fixed.
KNOWN_WRITER_FINDINGS = {
    # hdf5-format.md §2: the VDS maps latticeIndexedExtra onto a data file that lacks it
    # (a file whose images carry no extra lattice), so HDF5 would return fill values silently.
    ("JF-VDS", "/entry/MX/latticeIndexedExtra"),
}
# Fixed by the writer area since first reported (keep failing if they come back): unit_cell units
# (NX-UNITS), indexing-only spot columns on unindexed images (JF-MX-SENTINEL), error_value -1 in
# uint16 images (JF-PLAUSIBLE).


def _write(tmp_path, file_format):
    run = make_run(12, file_format=file_format, images_per_file=5)
    writer = RunWriter(run.start, tmp_path)
    for message in run.calibration:
        writer.put_calibration(message)
    for message in run.images:
        writer.put_image(message)
    result = writer.finish(run.end)
    assert result.error is None, result.error
    return sorted(tmp_path.rglob("*_master.h5"))


@pytest.mark.parametrize(
    ("file_format", "layout"),
    [("NXmxLegacy", "legacy"), ("NXmxVDS", "vds"), ("NXmxIntegrated", "integrated")],
)
def test_writer_output_has_only_known_findings(tmp_path, file_format, layout):
    masters = _write(tmp_path, file_format)
    assert len(masters) == 1
    report = check_file(masters[0])
    assert report.layout == layout
    assert not report.unreadable
    unknown = [
        f
        for f in report.errors
        if not any(
            f.rule == rule and f.path.endswith(suffix) for rule, suffix in KNOWN_WRITER_FINDINGS
        )
    ]
    assert unknown == [], "\n".join(f"{f.rule} {f.path}: {f.message}" for f in unknown)


def test_writer_output_nxmx_profile_is_clean_but_for_known(tmp_path):
    masters = _write(tmp_path, "NXmxVDS")
    report = check_file(masters[0], profile="nxmx")
    assert {(f.rule, f.path) for f in report.errors} <= KNOWN_WRITER_FINDINGS
