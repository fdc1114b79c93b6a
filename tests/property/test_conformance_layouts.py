"""Property: valid runs of any size and split pass with 0 errors in every layout; a random gap in the
legacy numbering or image_nr tiling is always reported (hdf5-format.md §2, NXmx C08)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jfjoch_hil.conformance import check_file

from tests.unit.conformance._files import RunSpec, build_run

_SETTINGS = dict(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

specs = st.builds(
    RunSpec,
    n_images=st.integers(1, 9),
    images_per_file=st.integers(1, 5),
    ny=st.integers(4, 12),
    nx=st.integers(24, 30),
    max_spots=st.integers(1, 6),
    seed=st.integers(0, 99),
)


@settings(**_SETTINGS)
@given(spec=specs, layout=st.sampled_from(["legacy", "vds", "integrated", "process"]))
def test_valid_runs_of_any_split_pass(tmp_path_factory, spec, layout):
    master = build_run(tmp_path_factory.mktemp("p"), layout, spec)
    report = check_file(master, deep=True)
    assert report.errors == (), report.to_text()


@settings(**_SETTINGS)
@given(
    spec=specs.filter(lambda s: s.n_images > s.images_per_file),
    shift=st.integers(1, 3),
    data=st.data(),
)
def test_broken_tiling_is_reported(tmp_path_factory, spec, shift, data):
    folder = tmp_path_factory.mktemp("t")
    master = build_run(folder, "legacy", spec)
    files = sorted(folder.glob("*_data_*.h5"))
    victim = data.draw(st.sampled_from(files))
    with h5py.File(victim, "r+") as f:
        ds = f["/entry/data/data"]
        ds.attrs["image_nr_low"] = np.int32(ds.attrs["image_nr_low"] + shift)
    assert "JF-LEGACY-LINKS" in check_file(master).rule_ids("error")
    shutil.rmtree(folder)
