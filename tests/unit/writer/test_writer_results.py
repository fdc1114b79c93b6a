"""Per-image values that cannot be stored are counted, the rest of the image kept."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
from jfjoch_hil.writer import RunWriter

from tests.unit.writer.writer_messages import MAX_SPOTS, make_image, make_start


def replace(message, **changes):
    return type(message)(**{**message.__dict__, **changes})


def test_bad_values_counted_good_ones_kept(tmp_path):
    start = make_start(4, file_format="NXmxIntegrated")
    writer = RunWriter(start, tmp_path)
    images = [make_image(start, i)[0] for i in range(4)]
    too_many = [{"x": float(k), "y": 1.0, "I": 2.0} for k in range(MAX_SPOTS + 3)]
    images[0] = replace(
        images[0], spots=too_many, profiling={"unknownTime": 1.0, "indexingTime": 0.5}
    )
    partial = [{"x": 1.5, "y": 2.5}, {"x": 3.5, "y": 4.5, "I": 7.0}]  # slow path: members missing
    images[1] = replace(
        images[1],
        spots=partial,
        az_int_profile=[1.0, 2.0, 3.0],
        roi_integrals={"bad name/x": {"sum": 1}, "ring": {"sum": 5.0}},
    )
    images[2] = replace(images[2], strong_pixel_count=None, bravais_lattice="mC")
    for message in images:
        assert writer.put_image(message) is None
    result = writer.finish(None)
    problems = dict(result.values_not_stored)
    assert problems["image.spots (beyond max_spot_count, truncated)"] == 3
    assert problems["image.profiling.unknownTime (unknown stage)"] == 1
    assert problems["image.az_int_profile (length != phi x q bins)"] == 1
    assert problems["image.roi_integrals (ROI name not a plain name)"] == 1
    with h5py.File(tmp_path / "run1" / "sample_master.h5", "r") as f:
        mx = f["/entry/MX"]
        assert mx["nPeaks"][0] == MAX_SPOTS and mx["nPeaks"][1] == 2
        assert np.array_equal(mx["peakXPosRaw"][0], np.arange(MAX_SPOTS, dtype=np.float32))
        assert np.allclose(mx["peakXPosRaw"][1][:2], [1.5, 3.5])
        assert np.isnan(mx["peakTotalIntensity"][1][0]) and mx["peakTotalIntensity"][1][1] == 7.0
        assert f["/entry/profiling/indexingTime"][0] == 0.5
        assert np.isnan(f["/entry/azint/image"][1]).all()
        assert f["/entry/azint/image"][2][0, 0] == images[2].az_int_profile[0]
        assert f["/entry/roi/ring/sum"][1] == 5.0
        assert mx["strongPixels"][2] == -1 and mx["strongPixels"][3] == images[3].strong_pixel_count
        assert mx["bravaisLattice"][2] == b"mC"


def test_big_endian_pixels_stored_as_sent(tmp_path):
    from jfjoch_hil.stream import TypedArray

    start = make_start(2, file_format="NXmxIntegrated", image_dtype=">u2")
    writer = RunWriter(start, tmp_path)
    pixels = [np.arange(16 * 24, dtype=">u2").reshape(16, 24) + i for i in range(2)]
    for index, array in enumerate(pixels):
        message = make_image(start, index)[0]
        message = replace(
            message, data={"default": TypedArray.from_numpy(array, compression="bslz4")}
        )
        assert writer.put_image(message) is None
    assert writer.finish(None).error is None
    with h5py.File(tmp_path / "run1" / "sample_master.h5", "r") as f:
        for index, array in enumerate(pixels):
            assert np.array_equal(f["/entry/data/data"][index], array)


def test_start_that_cannot_be_laid_out_is_refused(tmp_path):
    import pytest
    from jfjoch_hil.writer import LayoutError

    start = make_start(
        2, goniometer={"omega": {"start": 0.0, "increment": 1.0, "vector": [0.0, 0.0, 0.0]}}
    )
    with pytest.raises(LayoutError, match="no direction"):
        RunWriter(start, tmp_path)
    assert not any(tmp_path.iterdir())


def test_non_numeric_profile_counted_not_fatal(tmp_path):
    start = make_start(2, file_format="NXmxIntegrated")
    writer = RunWriter(start, tmp_path)
    bad, _ = make_image(start, 0)
    bad = replace(
        bad, az_int_profile=["x"] * 10
    )  # not through the decoder: a programming error upstream
    assert writer.put_image(bad) is None
    assert writer.put_image(make_image(start, 1)[0]) is None
    result = writer.finish(None)
    assert result.error is None and result.images_written == 2
    assert dict(result.values_not_stored)["image.az_int_profile"] == 1


def test_short_lattice_counted_not_fatal(tmp_path):
    start = make_start(2, file_format="NXmxIntegrated")
    writer = RunWriter(start, tmp_path)
    bad = replace(make_image(start, 1)[0], indexing_lattice=[1.0, 2.0])  # image 1 is indexed
    assert writer.put_image(bad) is None
    assert writer.put_image(make_image(start, 0)[0]) is None
    result = writer.finish(None)
    assert result.error is None and dict(result.values_not_stored)["image.indexing_lattice"] == 1
