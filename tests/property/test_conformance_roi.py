"""Property tests of the ROI footprint rule (hdf5-format.md §4.4.1) and of the typed-array tag table
(stream.md §4.1), each against an independent formulation."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jfjoch_hil.conformance import check_file
from jfjoch_hil.conformance._stream import _typed_element_size
from jfjoch_hil.conformance.checks import roi_footprint

from tests.unit.conformance._files import build_run, roi_mask

NY, NX = 16, 24

boxes = st.tuples(
    st.integers(-3, NX + 3), st.integers(0, 8), st.integers(-3, NY + 3), st.integers(0, 8)
).map(
    lambda t: {
        "min_x_pxl": t[0],
        "max_x_pxl": t[0] + t[1],
        "min_y_pxl": t[2],
        "max_y_pxl": t[2] + t[3],
    }
)
circles = st.tuples(st.floats(-4, NX + 4), st.floats(-4, NY + 4), st.floats(0.1, 12)).map(
    lambda t: {"center_x_pxl": t[0], "center_y_pxl": t[1], "radius_pxl": t[2]}
)


@given(params=boxes)
def test_box_footprint_matches_pixel_loop(params):
    assert np.array_equal(roi_footprint("box", params, (NY, NX)), roi_mask("box", params, NY, NX))


@given(params=circles)
def test_circle_footprint_matches_pixel_loop(params):
    assert np.array_equal(
        roi_footprint("circle", params, (NY, NX)), roi_mask("circle", params, NY, NX)
    )


@pytest.fixture(scope="module")
def integrated(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("roi") / "integrated", "integrated")


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=boxes,
    flip=st.tuples(st.integers(0, NY - 1), st.integers(0, NX - 1)),
    do_flip=st.booleans(),
)
def test_roi_map_rule_on_files(integrated, tmp_path, params, flip, do_flip):
    """A map written from the definition passes; flipping any one pixel of its bit fails JF-ROI-MAP."""
    folder = tmp_path / "f"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(integrated.parent, folder)
    master = folder / integrated.name
    with h5py.File(master, "r+") as f:
        g = f["/entry/roi_defs/box1"]
        for key, value in params.items():
            g[key][()] = value
        roi_map = f["/entry/roi_defs/roi_map"][()]
        roi_map &= np.uint16(~1 & 0xFFFF)
        roi_map |= roi_mask("box", params, NY, NX).astype(np.uint16)
        if do_flip:
            roi_map[flip] ^= np.uint16(1)
        f["/entry/roi_defs/roi_map"][()] = roi_map
    caught = "JF-ROI-MAP" in check_file(master).rule_ids()
    assert caught == do_flip


# stream.md §4.1 table, transcribed: tag -> element size in bytes
_TAG_TABLE = {
    64: 1,
    65: 2,
    66: 4,
    67: 8,
    68: 1,
    69: 2,
    70: 4,
    71: 8,
    72: 1,
    73: 2,
    74: 4,
    75: 8,
    77: 2,
    78: 4,
    79: 8,
    80: 2,
    81: 4,
    82: 8,
    83: 16,
    84: 2,
    85: 4,
    86: 8,
    87: 16,
}


@given(tag=st.integers(0, 200))
def test_typed_array_element_sizes_follow_the_table(tag):
    assert _typed_element_size(tag) == _TAG_TABLE.get(tag)
