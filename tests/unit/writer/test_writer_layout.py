"""Layout plans without files (hdf5-format.md 2-4; STYLE.md "separate the plan from the I/O")."""

from __future__ import annotations

import numpy as np
import pytest
from jfjoch_hil.writer.errors import LayoutError, PrefixError
from jfjoch_hil.writer.layout import (
    DIALS_STACK_GROUP,
    Dataset,
    FileExtent,
    Group,
    Link,
    RunFacts,
    Virtual,
    check_prefix,
    link_items,
    metadata_items,
    per_image_fields,
    run_geometry,
    user_items,
)

from tests.unit.writer.writer_messages import make_start


@pytest.mark.parametrize(
    "prefix", ["", "/abs", "a/../b", "a//b", "./a", "a/", "..", "a\\b", "C:x", "a b", "é"]
)
def test_unsafe_prefixes_refused(prefix):
    with pytest.raises(PrefixError) as error:
        check_prefix(prefix)
    assert "file_prefix" in str(error.value)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("prefix", ["run", "a/b/c", "x-1.2_3+4"])
def test_plain_prefixes_accepted(prefix):
    assert check_prefix(prefix) == prefix


def test_geometry_splits_files_by_images_per_file():
    geometry = run_geometry(
        make_start(25, file_format="NXmxLegacy", images_per_file=10, prefix="p/q")
    )
    assert geometry.layout == "legacy" and geometry.master_name == "p/q_master.h5"
    files = [geometry.data_file(geometry.file_index(i)) for i in (0, 9, 10, 24)]
    assert [f.name for f in files] == ["p/q_data_000001.h5"] * 2 + [
        "p/q_data_000002.h5",
        "p/q_data_000003.h5",
    ]
    assert [f.capacity for f in files] == [10, 10, 10, 5]
    assert geometry.accepts(24) and not geometry.accepts(25) and not geometry.accepts(-1)


def test_integrated_single_file_and_unknown_format_refused():
    geometry = run_geometry(make_start(7, file_format="NXmxIntegrated", images_per_file=2))
    assert geometry.file_index(6) == 0 and geometry.data_file(0).capacity == 7
    with pytest.raises(LayoutError, match="file_format"):
        run_geometry(make_start(3, file_format="HDF5Magic"))
    with pytest.raises(LayoutError, match="image_size"):
        run_geometry(make_start(3, image_size_x=0))


def items_by_path(items):
    return {item.path: item for item in items}


def test_metadata_plan_units_and_geometry():
    start = make_start(5)
    items = items_by_path(metadata_items(start, None, RunFacts(5, 5, start.arm_date)))
    assert items["/entry/definition"].value == "NXmx"
    assert items["/entry/instrument/detector/distance"].units == "m"
    assert items["/entry/instrument/beam/incident_wavelength"].units == "angstrom"
    assert "/entry/end_time" not in items  # no end message: omitted
    assert "/entry/end_time_estimated" in items
    omega = items["/entry/sample/transformations/omega"]
    assert np.allclose(omega.value, [10.0, 10.1, 10.2, 10.3, 10.4])
    assert omega.attrs["depends_on"] == "."
    module = "/entry/instrument/detector/module"
    offset = items[f"{module}/module_offset"]
    origin = offset.value * offset.attrs["vector"]
    fast = items[f"{module}/fast_pixel_direction"].attrs["vector"]
    slow = items[f"{module}/slow_pixel_direction"].attrs["vector"]
    beam_pixel = (
        origin
        + start.beam_center_x * start.pixel_size_x * fast
        + start.beam_center_y * start.pixel_size_y * slow
    )
    assert np.allclose(beam_pixel, 0.0)  # the beam-centre pixel sits on the detector axis
    assert isinstance(items["/entry/sample/goniometer"], Link)


def test_user_items_keep_only_plain_scalars():
    start = make_start(
        1,
        user_data={
            "user": {
                "hdf5": {
                    "good": 1,
                    "text": "x",
                    "bad/key": 1,
                    "": 2,
                    "list": [1],
                    "flag": False,
                    "big": 2**70,
                }
            }
        },
    )
    accepted, warnings = user_items(start)
    assert accepted == [("good", 1), ("text", "x")]
    assert len(warnings) == 5 and all("start.user_data.user.hdf5." in w for w in warnings)
    assert user_items(make_start(1, user_data=None)) == ([], [])


def test_linking_differs_per_layout():
    fields = [(f, ()) for f in per_image_fields(["r1"]) if f.path == "roi/r1/sum"]
    files = [FileExtent("p_data_000001.h5", 0, 4), FileExtent("p_data_000002.h5", 4, 2)]
    args = (files, fields, [(1, "p_data_000001.h5")], "<u2", 65535, (3, 5), 1)
    legacy = items_by_path(link_items("legacy", *args))
    assert legacy["/entry/data/data_000002"].file == "p_data_000002.h5"
    assert isinstance(legacy[f"{DIALS_STACK_GROUP}/data"], Virtual)
    assert "/entry/roi/r1/sum" not in legacy
    assert "/entry/data/data_000002" not in items_by_path(link_items("vds", *args))
    vds = items_by_path(link_items("vds", *args))
    stack = vds["/entry/data/data"]
    assert stack.shape == (6, 3, 5)
    assert [(s.file, s.rows, s.dest_start) for s in stack.sources] == [
        ("p_data_000001.h5", 4, 0),
        ("p_data_000002.h5", 2, 4),
    ]
    assert stack.attrs == {"image_nr_low": 1, "image_nr_high": 6}
    assert isinstance(vds["/entry/roi/r1/sum"], Virtual)
    assert vds["/entry/reflections/image_000001"].kind == "external"
    integrated = link_items("integrated", *args)
    assert [i for i in integrated if isinstance(i, (Virtual, Link))] == []
    assert isinstance(items_by_path(integrated)["/entry/data"], Group)
    no_stack = items_by_path(link_items("legacy", *args, dials_stack=False))
    assert DIALS_STACK_GROUP not in no_stack
    assert all(not isinstance(i, Dataset) for i in no_stack.values())


def test_end_without_end_date_still_ends():
    from datetime import UTC, datetime

    from jfjoch_hil.stream import EndMessage

    start = make_start(2)
    finalised = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    items = items_by_path(metadata_items(start, EndMessage(series_id=7), RunFacts(2, 2, finalised)))
    assert items["/entry/end_time"].value == "2026-05-06T07:08:09.000000Z"
    assert items["/entry/end_time_estimated"].value == "2026-05-06T07:08:09.000000Z"


def test_optional_detector_arrays_and_space_group():
    from jfjoch_hil.stream import TypedArray

    flat = np.full((16, 24), 1.5, np.float32)
    start = make_start(
        1,
        space_group_number=96,
        flatfield={"default": TypedArray.from_numpy(flat)},
        countrate_correction_lookup_table=TypedArray.from_numpy(
            np.arange(5, dtype=np.uint32), multidim=False
        ),
    )
    items = items_by_path(metadata_items(start, None, RunFacts(1, 1, start.arm_date)))
    assert items["/entry/sample/space_group"].value == "96"
    assert np.array_equal(items["/entry/instrument/detector/flatfield"].value, flat)
    assert list(items["/entry/instrument/detector/countrate_correction_lookup_table"].value) == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_vds_maps_only_files_holding_a_field():
    field = next(f for f in per_image_fields([]) if f.path == "MX/latticeIndexedExtra")
    path = "/entry/MX/latticeIndexedExtra"
    files = [
        FileExtent("a.h5", 0, 4, 1, frozenset()),
        FileExtent("b.h5", 4, 4, 2, frozenset({path})),
    ]
    items = items_by_path(link_items("vds", files, [(field, (2, 9))], [], "<u2", 65535, (3, 5), 1))
    assert [(s.file, s.dest_start) for s in items[path].sources] == [("b.h5", 4)]
    assert items[path].shape == (8, 2, 9)
