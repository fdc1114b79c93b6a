"""The writer's fast paths store the same values as the general ones.

Decoded spot lists are ``cbor2.frozendict`` maps, read in their wire key order when every spot has
the same keys; HDF5 property lists and types are reused across datasets.  Expected values come
from the sent spots / sentinels, never from the writer's own conversion.
"""

from __future__ import annotations

import cbor2
import h5py
import numpy as np
import pytest
from jfjoch_hil.stream import decode, encode
from jfjoch_hil.writer import RunReader, RunWriter
from jfjoch_hil.writer import materialize as mat
from jfjoch_hil.writer._results import _SPOT_MEMBERS, _spot_table

from tests.unit.writer.writer_messages import make_run

SPOT = {
    "x": 1.5,
    "y": 2.5,
    "I": 30.25,
    "indexed": True,
    "h": -1,
    "k": 2,
    "l": 3,
    "dist_ewald": 0.001,
    "lattice": 0,
    "ice_ring": False,
}


def expected(spots) -> np.ndarray:
    return np.array([[float(spot[m]) for m in _SPOT_MEMBERS] for spot in spots], dtype=np.float64)


def spots_of(n: int, order=None) -> list[dict]:
    order = order or list(SPOT)
    return [
        {key: (SPOT[key] + k if isinstance(SPOT[key], float) else SPOT[key]) for key in order}
        for k in range(n)
    ]


@pytest.mark.parametrize("frozen", [False, True])
def test_spot_table_any_wire_key_order(frozen):
    reversed_keys = spots_of(5, order=list(reversed(list(SPOT))))
    spots = [cbor2.frozendict(s) for s in reversed_keys] if frozen else reversed_keys
    table = _spot_table(spots)
    assert table.shape == (5, len(_SPOT_MEMBERS))
    assert np.array_equal(table, expected(reversed_keys))


def test_spot_table_key_order_differs_between_spots():
    spots = spots_of(3) + spots_of(2, order=list(reversed(list(SPOT))))
    frozen = [cbor2.frozendict(s) for s in spots]
    assert np.array_equal(_spot_table(frozen), expected(spots))


def test_spot_table_extra_keys_ignored():
    spots = [dict(s, note="text", extra=7.0) for s in spots_of(4)]
    frozen = [cbor2.frozendict(s) for s in spots]
    assert np.array_equal(_spot_table(frozen), expected(spots))
    numeric_extra = [cbor2.frozendict(dict(s, extra=10**400)) for s in spots_of(2)]
    assert np.array_equal(_spot_table(numeric_extra), expected(spots_of(2)))


def test_spot_table_missing_member_raises_for_the_general_path():
    spots = spots_of(2)
    del spots[1]["lattice"]
    with pytest.raises(KeyError):
        _spot_table([cbor2.frozendict(s) for s in spots])


def test_decoded_messages_give_the_same_file_as_sent_ones(tmp_path):
    run = make_run(12, images_per_file=5)
    for name, convert in (("sent", lambda m: m), ("decoded", lambda m: decode(encode(m)))):
        writer = RunWriter(run.start, tmp_path / name, block_images=4)
        for message in run.images:
            assert writer.put_image(convert(message)) is None
        assert writer.finish(run.end).error is None
    decoded_spots = decode(encode(run.images[0])).spots
    if decoded_spots:
        assert type(decoded_spots[0]) is not dict  # the fast path is the one exercised
    sent = RunReader(tmp_path / "sent" / "run1" / "sample_master.h5")
    got = RunReader(tmp_path / "decoded" / "run1" / "sample_master.h5")
    for message in run.images:
        a, b = sent.results(message.image_id), got.results(message.image_id)
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(
                np.asarray(a[key]),
                np.asarray(b[key]),
                equal_nan=np.asarray(a[key]).dtype.kind == "f",
            ), key
        n = len(message.spots)
        assert np.array_equal(
            b["MX/peakXPosRaw"][:n], np.array([s["x"] for s in message.spots], np.float32)
        )


def test_reused_property_lists_keep_each_datasets_fill_and_type(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        mat.create_rows(f, "/a", "f4", 10, (3,), np.nan, "pixel", 4)
        b = mat.create_rows(f, "/b", "f4", 10, (3,), -2.0, "", 4)
        c = mat.create_rows(f, "/c", "i4", 10, (3,), -1, "", 4)
        mat.create_rows(f, "/d", "f4", 10, (3,), np.nan, "", 8)
        mat.write_rows(c, 2, np.array([[1, 2, 3]], dtype="i4"))
        mat.write_rows(b, 9, np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]], dtype="f4"))
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert np.isnan(f["a"].fillvalue) and f["b"].fillvalue == -2.0 and f["c"].fillvalue == -1
        assert f["a"].chunks == (4, 3) and f["d"].chunks == (8, 3)
        assert f["a"].attrs["units"] == b"pixel" and "units" not in f["b"].attrs
        assert (
            f["c"].dtype == np.int32
            and f["c"][2].tolist() == [1, 2, 3]
            and f["c"][0].tolist() == [-1, -1, -1]
        )
        assert (
            f["b"].shape == (11, 3)
            and f["b"][10].tolist() == [8.0, 9.0, 10.0]
            and f["b"][0, 0] == -2.0
        )


def test_array_valued_results_take_the_general_path(tmp_path):
    run = make_run(4, file_format="NXmxIntegrated")
    writer = RunWriter(run.start, tmp_path)
    lattices = {}
    for message in run.images:
        lattice = np.arange(9.0) + message.image_id
        lattices[message.image_id] = lattice
        changed = type(message)(
            **{**message.__dict__, "indexing_lattice": lattice, "indexing_result": True}
        )
        assert writer.put_image(changed) is None
    result = writer.finish(run.end)
    assert result.error is None
    with h5py.File(tmp_path / "run1" / "sample_master.h5", "r") as f:
        stored = f["/entry/MX/latticeIndexed"][()]
    for image_id, lattice in lattices.items():
        assert np.array_equal(stored[image_id], lattice.astype(np.float32))
