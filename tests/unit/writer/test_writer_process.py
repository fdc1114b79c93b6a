"""The ``<prefix>_process.h5`` companion (hdf5-format.md 2, "Reprocessing output")."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
from jfjoch_hil.stream import ImageMessage
from jfjoch_hil.writer import RunReader, RunWriter, image_sources

from tests.unit.writer.writer_messages import make_run


def test_process_file_links_back_to_images_and_holds_new_results(tmp_path):
    original = make_run(9, file_format="NXmxVDS", images_per_file=4)
    writer = RunWriter(original.start, tmp_path)
    for message in original.images:
        writer.put_image(message)
    writer.finish(original.end)
    master = tmp_path / "run1" / "sample_master.h5"

    sources = image_sources(master)
    assert sources[1] == original.pixels[0].shape
    process = RunWriter(original.start, tmp_path, layout="process", source_images=sources)
    for message in original.images:
        # reprocessing sends results without pixels; different spot counts than the original
        redone = ImageMessage(
            image_id=message.image_id,
            data={},
            spots=message.spots[:1],
            indexing_result=not message.indexing_result,
        )
        assert process.put_image(redone) is None
    result = process.finish(None)
    assert result.error is None and result.files == ("run1/sample_process.h5",)
    with h5py.File(tmp_path / "run1" / "sample_process.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.is_virtual
        for index in range(9):
            assert np.array_equal(data[index], original.pixels[index])
        assert f["/entry/definition"][()] == b"NXmx"
        expected = [min(len(m.spots), 1) for m in original.images]
        assert list(f["/entry/MX/nPeaks"][()]) == expected
        assert list(f["/entry/MX/imageIndexed"][()]) == [
            int(not m.indexing_result) for m in original.images
        ]
    with RunReader(tmp_path / "run1" / "sample_process.h5") as reader:
        assert reader.n_images == 9
        assert np.array_equal(reader.image(5), original.pixels[5])
        assert reader.results(5)["MX/nPeaks"] == expected[5]
