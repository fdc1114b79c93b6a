"""A run's declared size does not make the writer work for images that never came.

A start message may declare far more images than arrive (an aborted collection, a wrong setting).
Datasets are created for the images that came (at least one block) and grow as images arrive;
existing files are found with one listing of the folder, not one ``stat`` per planned data file.
"""

from __future__ import annotations

import dataclasses

import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jfjoch_hil.writer import RunReader, RunWriter
from jfjoch_hil.writer._store import LocalStore
from jfjoch_hil.writer.errors import FileExistsRefusedError

from tests.unit.writer.writer_messages import make_run

DECLARED = 10**8
BLOCK = 8


class RecordingStore(LocalStore):
    """The store of every run, noting the rows each dataset is created with."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[str, int]] = []

    def stack(self, key, path, dtype, rows, image_shape, compression) -> None:
        self.created.append((path, rows))
        super().stack(key, path, dtype, rows, image_shape, compression)

    def _dataset(self, handle, spec):
        if spec.path not in handle.rows:
            self.created.append((spec.path, spec.rows))
        return super()._dataset(handle, spec)


def declared(run, number):
    return dataclasses.replace(run.start, number_of_images=number)


@settings(max_examples=12, deadline=None)
@given(
    file_format=st.sampled_from(["NXmxLegacy", "NXmxVDS", "NXmxIntegrated"]),
    images_per_file=st.sampled_from([0, 5, 1000]),
    sent=st.integers(1, 12),
)
def test_datasets_are_sized_by_the_images_that_came(
    tmp_path_factory, file_format, images_per_file, sent
):
    run = make_run(sent, file_format=file_format, images_per_file=images_per_file)
    store = RecordingStore()
    out = tmp_path_factory.mktemp("run")
    writer = RunWriter(declared(run, DECLARED), out, store=store, block_images=BLOCK)
    for message in run.images:
        assert writer.put_image(message) is None
    result = writer.finish(run.end)
    assert result.error is None and result.images_written == sent
    per_file = images_per_file or sent
    largest = max(rows for _, rows in store.created)
    assert largest <= max(BLOCK, per_file if images_per_file else sent), store.created
    master = next(out / f for f in result.files if "_data_" not in f)
    with RunReader(master) as reader:
        assert reader.n_images == sent
        for index in range(sent):
            assert np.array_equal(reader.image(index), run.pixels[index])
        assert reader.array("MX/nPeaks").shape[0] == sent


@pytest.mark.parametrize("file_format", ["NXmxLegacy", "NXmxVDS"])
def test_an_existing_data_file_far_into_the_plan_refuses_the_run(tmp_path, file_format):
    run = make_run(3, file_format=file_format, images_per_file=10, prefix="scan.1+/run")
    folder = tmp_path / "scan.1+"
    folder.mkdir()
    (folder / "run_data_004567.h5").write_bytes(b"an earlier run's file")
    with pytest.raises(FileExistsRefusedError, match=r"run_data_004567\.h5: exists"):
        RunWriter(declared(run, 100_000), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["run_data_004567.h5"]


@pytest.mark.parametrize(
    "name",
    [
        "run_data_010001.h5",
        "run2_data_000002.h5",
        "run_data_000002.h5.1a2b3c4d.tmp",
        "xrun_data_000002.h5",
        "run_data_02.h5",
    ],
)
def test_files_outside_the_plan_do_not_refuse_the_run(tmp_path, name):
    # 100 000 images at 10 per file: data files 1..10 000; these names are none of them
    run = make_run(3, file_format="NXmxVDS", images_per_file=10)
    (tmp_path / name).write_bytes(b"x")
    writer = RunWriter(declared(run, 100_000), tmp_path)
    for message in run.images:
        writer.put_image(message)
    assert writer.finish(run.end).error is None
    assert (tmp_path / name).read_bytes() == b"x"
