"""Stream-to-file trace on small hand-made runs: files written with h5py from hdf5-format.md and
messages encoded with cbor2 from stream.md (neither through our writer nor our encoder)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cbor2
import h5py
import numpy as np
import pytest
from jfjoch_hil.conformance._trace import trace_file
from jfjoch_hil.conformance._trace_decode import decode_message, typed_dtype
from jfjoch_hil.conformance.rules import TRACE_RULES, rule
from jfjoch_hil.conformance.rules.stream_map import TRACE_MAP, UNTRACED
from jfjoch_hil.stream.messages import CALIBRATION_FIELDS, END_FIELDS, IMAGE_FIELDS, START_FIELDS

NY, NX, N = 4, 6, 3
ARM = dt.datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)
D = "/entry/instrument/detector"


def _image(i: int) -> np.ndarray:
    return (np.arange(NY * NX, dtype=np.int16).reshape(NY, NX) + 100 * i).astype("<i2")


def _messages(sent=(0, 1), start=True) -> list[tuple[str, bytes]]:
    """start -> images ``sent`` -> end, tag 55799-wrapped, arrays as tag 40 + typed array 77."""
    out = []
    if start:
        out.append(
            {
                "type": "start",
                "series_id": 1,
                "series_unique_id": "u",
                "arm_date": ARM,
                "detector_distance": 0.08,
                "beam_center_x": 3.3,
                "number_of_images": N,
                "images_per_file": 2,
            }
        )
    for i in sent:
        out.append(
            {
                "type": "image",
                "series_id": 1,
                "series_unique_id": "u",
                "image_id": i,
                "data": {
                    "default": cbor2.CBORTag(40, [[NY, NX], cbor2.CBORTag(77, _image(i).tobytes())])
                },
                "strong_pixel_count": 10 + i,
                "bkg_estimate": 0.5 + i,
            }
        )
    out.append({"type": "end", "series_id": 1, "series_unique_id": "u"})
    return [(f"{k:06d}.cbor", cbor2.dumps(cbor2.CBORTag(55799, m))) for k, m in enumerate(out)]


def _per_image(g: h5py.Group, rows: list[int], n: int) -> None:
    strong = np.zeros(n, np.int64)
    bkg = np.full(n, np.nan, np.float32)
    images = np.full((n, NY, NX), -32768, np.int16)
    for r, i in enumerate(rows):
        if i is not None:
            strong[r], bkg[r], images[r] = 10 + i, 0.5 + i, _image(i)
    g.create_dataset("entry/MX/strongPixels", data=strong)
    g.create_dataset("entry/MX/bkgEstimate", data=bkg).attrs["units"] = "photons"
    g.create_dataset("entry/data/data", data=images, chunks=(1, NY, NX), fillvalue=np.int16(-32768))


def _run(folder: Path, layout: str = "integrated") -> Path:
    """A master with what the messages of :func:`_messages` carry (image 2 never sent)."""
    master = folder / "run_master.h5"
    with h5py.File(master, "w") as f:
        f["/entry/start_time"] = ARM.isoformat()
        f[f"{D}/distance"] = 0.08
        f[f"{D}/distance"].attrs["units"] = "m"
        f[f"{D}/detector_distance"] = 0.08
        f[f"{D}/detector_distance"].attrs["units"] = "m"
        f[f"{D}/beam_center_x"] = 3.3
        f[f"{D}/beam_center_x"].attrs["units"] = "pixel"
        f[f"{D}/detectorSpecific/nimages"] = np.int64(N)
        if layout == "integrated":
            _per_image(f, [0, 1, None], N)
        else:  # legacy: data files of 2 images, linked as data_NNNNNN (HDF5 §2)
            for number, rows in ((1, [0, 1]), (2, [None])):
                name = f"run_data_{number:06d}.h5"
                with h5py.File(folder / name, "w") as d:
                    _per_image(d, rows, len(rows))
                f[f"/entry/data/data_{number:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
    return master


def _trace(master: Path, **kw):
    return trace_file(master, _messages(**kw))


@pytest.mark.parametrize("layout", ["integrated", "legacy"])
def test_a_faithful_run_traces_clean_and_counts_the_image_never_sent(tmp_path, layout):
    result = _trace(_run(tmp_path, layout))
    assert result.ok, result.report.to_text()
    s = result.statistics
    assert (s.layout, s.images_expected, s.images_received, s.images_identical) == (layout, 3, 2, 2)
    assert (s.images_never_sent, s.images_never_sent_sentinel) == (1, 1)


def _edit(master: Path, path: str, fn, file: Path | None = None) -> None:
    with h5py.File(file or master, "r+") as f:
        fn(f, path)


def _delete(f, path):
    del f[path]


def _relabel_mm(f, path):
    f[path].attrs["units"] = "mm"


def _write_mm(f, path):
    f[path][()] = 80.0
    f[path].attrs["units"] = "mm"


def _swap_rows(f, path):
    data = f[path][()]
    f[path][...] = data[[1, 0, 2]]


def _flip_pixel(f, path):
    f[path][1, 2, 3] += 1


def _fill_unsent(f, path):
    f[path][2] = np.zeros((NY, NX), np.int16)


def _bkg_unsent(f, path):
    f[path][2] = 7.0


def _narrow(f, path):
    del f[path]
    f[path] = np.float16(3.3)
    f[path].attrs["units"] = "pixel"


def _late_start(f, path):
    del f[path]
    f[path] = (ARM + dt.timedelta(seconds=1)).isoformat()


def _crop(f, path):
    del f[path]
    f.create_dataset(path, data=np.zeros((N, NY, NX - 1), np.int16))


CASES = [
    (f"{D}/distance", _delete, "TRACE-MISSING"),
    (f"{D}/detector_distance", _relabel_mm, "TRACE-VALUE"),  # labelled mm, still metres
    (f"{D}/distance", _relabel_mm, "TRACE-UNITS"),
    ("/entry/MX/strongPixels", _swap_rows, "TRACE-ROW"),
    ("/entry/data/data", _flip_pixel, "TRACE-IMAGE"),
    ("/entry/data/data", _fill_unsent, "TRACE-SENTINEL"),
    ("/entry/MX/bkgEstimate", _bkg_unsent, "TRACE-SENTINEL"),
    (f"{D}/beam_center_x", _narrow, "TRACE-VALUE"),
    ("/entry/start_time", _late_start, "TRACE-VALUE"),
    ("/entry/data/data", _crop, "TRACE-SHAPE"),
]


@pytest.mark.parametrize(
    ("path", "edit", "finding"), CASES, ids=[f"{c[2]}-{c[1].__name__}" for c in CASES]
)
def test_each_file_edit_gives_its_finding(tmp_path, path, edit, finding):
    master = _run(tmp_path)
    _edit(master, path, edit)
    result = _trace(master)
    assert finding in result.report.rule_ids("error"), result.report.to_text()


def test_a_unit_converted_correctly_is_a_units_finding_only(tmp_path):
    master = _run(tmp_path)
    _edit(master, f"{D}/distance", _write_mm)
    errors = _trace(master).report.rule_ids("error")
    assert errors == {"TRACE-UNITS"}


def test_legacy_rows_are_found_in_the_data_file_of_their_image(tmp_path):
    master = _run(tmp_path, "legacy")
    # images 0 and 1 swap rows inside data_000001: each value sits one row off
    _edit(master, "/entry/MX/strongPixels", _swap_rows3, tmp_path / "run_data_000001.h5")
    result = _trace(master)
    assert "TRACE-ROW" in result.report.rule_ids("error"), result.report.to_text()
    # image 2 (never sent) is row 0 of data_000002: an image there is not a sentinel
    _edit(master, "/entry/data/data", _fill_first, tmp_path / "run_data_000002.h5")
    assert "TRACE-SENTINEL" in _trace(master).report.rule_ids("error")


def _swap_rows3(f, path):
    f[path][...] = f[path][()][[1, 0]]


def _fill_first(f, path):
    f[path][0] = _image(1)


def test_a_recording_without_start_is_an_input_finding(tmp_path):
    result = _trace(_run(tmp_path), start=False)
    assert "TRACE-INPUT" in result.report.rule_ids("error")


def test_every_trace_rule_is_registered_and_reachable_by_these_cases():
    for rule_id, row in TRACE_RULES.items():
        assert rule(rule_id) is row and row.section and row.title
    covered = {c[2] for c in CASES} | {"TRACE-INPUT", "TRACE-UNITS"}
    assert covered == set(TRACE_RULES)


def test_every_stream_field_is_mapped_or_has_a_reason():
    """The map accounts for every field of the stream's message tables (stream.md §5, §8-§10)."""
    mapped = {(r.kind, r.key.split(".")[0]) for r in TRACE_MAP}
    for kind, fields in (
        ("start", START_FIELDS),
        ("image", IMAGE_FIELDS),
        ("end", END_FIELDS),
        ("calibration", CALIBRATION_FIELDS),
    ):
        for f in fields:
            assert (kind, f.key) in mapped or (kind, f.key) in UNTRACED, (kind, f.key)
    assert not mapped & set(UNTRACED)


@pytest.mark.parametrize(
    ("tag", "dtype"),
    [
        (64, "u1"),
        (72, "i1"),
        (69, "<u2"),
        (70, "<u4"),
        (77, "<i2"),
        (78, "<i4"),
        (85, "<f4"),
        (65, ">u2"),
    ],
)
def test_typed_array_tags_follow_rfc_8746(tag, dtype):
    assert typed_dtype(tag) == np.dtype(dtype)


def test_messages_decode_with_their_arrays(tmp_path):
    raw = _messages()[1][1]
    message = decode_message(raw)
    assert message["type"] == "image"
    assert np.array_equal(message["data"]["default"].values, _image(0))
