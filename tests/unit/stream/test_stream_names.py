"""Names that cross a process boundary, declared once in stream: file formats, reflection columns,
``process_source_master`` and the writer's event records."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jfjoch_hil.stream import (
    FILE_FORMATS,
    LAYOUT_NAMES,
    REFLECTION_COLUMNS,
    REFLECTION_DTYPES,
    EventError,
    FileFormat,
    RejectReason,
    RunFinished,
    StartMessage,
    WriterExit,
    WriterReady,
    WriterStatistics,
    decode,
    encode,
    event_line,
    parse_event,
)

# --- file formats ---------------------------------------------------------------------------------


def test_file_format_values_are_the_wire_spelling_and_layouts_map_both_ways():
    assert set(FILE_FORMATS) == {"NXmxLegacy", "NXmxVDS", "NXmxIntegrated", "NXmxOnlyData"}
    assert set(LAYOUT_NAMES) == {"legacy", "vds", "integrated", "onlydata"}
    for fmt in FileFormat:
        assert FileFormat.from_layout(fmt.layout) is fmt
        assert FileFormat.parse(fmt.value) is fmt and FileFormat.parse(fmt.layout) is fmt
    assert [f.has_master for f in FileFormat] == [True, True, True, False]


def test_unknown_layout_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed legacy, vds, integrated, onlydata"):
        FileFormat.from_layout("hdf5")
    with pytest.raises(ValueError, match="NXmxLegacy"):
        FileFormat.parse("nexus")


def test_file_format_travels_as_a_plain_text_string():
    start = StartMessage(series_id=1, file_format=FileFormat.VDS.value)
    assert decode(encode(start)).file_format == "NXmxVDS"


# --- reflection columns ---------------------------------------------------------------------------


def _spec_reflection_columns(spec_dir) -> list[str]:
    """Dataset names of the hdf5-format.md §4.2 table, in order."""
    text = (spec_dir / "hdf5-format.md").read_text(encoding="utf-8")
    section = text[text.index("### 4.2") : text.index("### 4.3")]
    names: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return names


def test_reflection_columns_are_those_of_the_spec_table(spec_dir):
    assert list(REFLECTION_COLUMNS) == _spec_reflection_columns(spec_dir)


def test_reflection_dtypes_integers_only_for_miller_indices():
    # hdf5-format.md §4.2: h, k, l are Miller indices; observed_frame is the standard
    # NXreflections field (NX_FLOAT), a frame estimate, so a float like the rest
    assert {n for n, d in REFLECTION_DTYPES.items() if np.dtype(d).kind == "i"} == {"h", "k", "l"}
    assert np.dtype(REFLECTION_DTYPES["observed_frame"]).kind == "f"


def test_reflection_units_match_the_spec_table(spec_dir):
    text = (spec_dir / "hdf5-format.md").read_text(encoding="utf-8")
    section = text[text.index("### 4.2") : text.index("### 4.3")]
    units = {"Å": "Angstrom", "photons": "photons", "pixel": "pixel", "deg": "deg", "": ""}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.split("|")]
        for name in re.findall(r"`([a-z_]+)`", cells[1]):
            assert REFLECTION_COLUMNS[name].unit == units[cells[2]], name


# --- process_source_master ------------------------------------------------------------------------


def test_process_source_master_is_a_declared_start_field():
    start = StartMessage(series_id=1, process_source_master="run1/sample_master.h5")
    back = decode(encode(start))
    assert back.process_source_master == "run1/sample_master.h5" and back.extra == {}
    assert "process_source_master" in {f.key for f in StartMessage.FIELDS}


# --- writer events --------------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_counts = st.lists(st.tuples(_names, st.integers(0, 2**40)), max_size=4, unique_by=lambda p: p[0])
_statistics = st.builds(
    WriterStatistics,
    messages_received=st.integers(0, 2**40),
    decode_errors=st.integers(0, 2**20),
    messages_ignored=_counts.map(lambda p: tuple(sorted(p))),
    runs_refused=st.integers(0, 100),
    images_rejected=_counts.map(lambda p: tuple(sorted(p))),
    active_run=st.none() | _names,
)
_events = st.one_of(
    st.builds(WriterReady, endpoint=_names, dir=_names),
    st.builds(
        RunFinished,
        prefix=_names,
        layout=st.sampled_from(LAYOUT_NAMES),
        files=st.lists(_names, max_size=3).map(tuple),
        images_written=st.integers(0, 2**40),
        images_rejected=_counts.map(lambda p: tuple(sorted(p))),
        error=st.none() | _names,
        statistics=st.none() | _statistics,
    ),
    st.builds(WriterExit, statistics=_statistics),
)


@given(_events)
def test_event_lines_round_trip(event):
    line = event_line(event)
    assert "\n" not in line and json.loads(line)["event"] == event.EVENT
    assert parse_event(line) == event


def test_log_lines_are_not_events():
    assert parse_event("jfwriter: error: image 3: image without a run") is None
    assert parse_event("") is None


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('{"event": "started"}', "'started' is not one of ready, run, exit"),
        ('{"event": "ready"}', "endpoint"),
        ('{"event": "run", "prefix": "a", "colour": 1}', "unknown keys ['colour']"),
        ('{"event": "exit", "statistics": {"decode_errors": "2"}}', "statistics.decode_errors"),
        ('{"event": "run", "prefix": "a", "images_rejected": 3}', "run.images_rejected"),
    ],
)
def test_malformed_event_lines_are_refused_naming_the_field(line, named):
    with pytest.raises(EventError) as info:
        parse_event(line)
    assert named in str(info.value)


def test_statistics_difference_counts_what_happened_between_two_records():
    earlier = WriterStatistics(decode_errors=2, images_rejected=(("image without a run", 3),))
    later = WriterStatistics(
        decode_errors=5,
        images_rejected=(("image without a run", 28), ("run refused", 2)),
    )
    between = later.minus(earlier)
    assert between.decode_errors == 3
    assert between.rejected(RejectReason.WITHOUT_RUN) == 25
    assert between.rejected("run refused") == 2 and between.rejected("no image data") == 0


def test_reject_reasons_are_distinct_text():
    assert len({r.value for r in RejectReason}) == len(RejectReason)
