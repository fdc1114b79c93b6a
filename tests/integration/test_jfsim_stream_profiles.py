"""`jfsim run` with ``stream.profile`` = dectris / jungfraujoch: what the recorded stream carries,
what the writer stores, and which scenarios the DECTRIS profile refuses (stream.md §1, §5, §8)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import cbor2
import h5py
import pytest
from jfjoch_hil.conformance._stream import DECTRIS_FIELDS, check_stream_dir
from jfjoch_hil.harness.errors import ScenarioError
from jfjoch_hil.harness.scenario import scenario_from_dict

DET = "/entry/instrument/detector"


def jfsim_run(out: Path, *overrides: str) -> tuple[dict | None, subprocess.CompletedProcess]:
    args = ["run", "--out", str(out), "--json", "--no-progress", "--record", str(out / "rec")]
    for override in ("run.images=6", *overrides):
        args += ["--set", override]
    done = subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return (json.loads(done.stdout) if done.stdout.strip() else None), done


def recorded(folder: Path) -> list[dict]:
    return [cbor2.loads(p.read_bytes()) for p in sorted(folder.glob("*.cbor"))]


def _shape(value) -> object:
    """A value's wire shape: CBOR tags by number, containers by their items' shapes."""
    if isinstance(value, cbor2.CBORTag):
        return ("tag", value.tag, _shape(value.value))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(sorted({repr(_shape(v)) for v in value})))
    if isinstance(value, dict):
        return ("map", tuple(sorted(repr(_shape(v)) for v in value.values())))
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, dt.datetime):
        return "datetime"
    return type(value).__name__


@pytest.fixture(scope="module")
def dectris_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dectris")
    report, done = jfsim_run(out, "detector.type=eiger", "stream.profile=dectris")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, report


def test_dectris_profile_stream_is_stream_v2_exactly(dectris_run):
    out, report = dectris_run
    messages = recorded(out / "rec")
    kinds = [m["type"] for m in messages]
    assert kinds == ["start", *["image"] * 6, "end"]  # no calibration or other extension
    for message in messages:
        # every field DECTRIS lists, and nothing DECTRIS does not list
        assert set(message) == {"type", *DECTRIS_FIELDS[message["type"]]}, message["type"]
    assert messages[0]["image_dtype"] in ("uint8", "uint16", "uint32")
    report_dectris = check_stream_dir(out / "rec", deep=True, profile="dectris")
    assert report_dectris.findings == (), report_dectris.to_text()
    assert report["images_written"] == 6  # the writer named the files from --prefix


def test_dectris_profile_messages_have_the_keys_and_types_of_real_dectris_messages(
    dectris_run, reference_stream_dir
):
    """Witness: the recorded DECTRIS image and end messages (stream.md §11) have the same keys in
    the same order and the same wire types as ours."""
    out, _ = dectris_run
    ours = {m["type"]: m for m in recorded(out / "rec")}
    folder = reference_stream_dir / "r500k_bm_bslz4_16bit"
    theirs = {}
    for path in sorted(folder.glob("*.cbor")):
        message = cbor2.loads(path.read_bytes())
        theirs.setdefault(message["type"], message)
    assert set(theirs) == {"image", "end"}  # the reference copy holds no start message
    for kind, real in theirs.items():
        assert list(ours[kind]) == list(real), kind
        for key in real:
            if key in ("user_data", "data"):
                continue  # user_data is any item; data compared below by its tag nesting
            assert _shape(ours[kind][key]) == _shape(real[key]), (kind, key)
    ours_data = ours["image"]["data"]["default"]
    real_data = next(iter(theirs["image"]["data"].values()))
    assert ours_data.tag == real_data.tag == 40
    assert ours_data.value[1].tag in (64, 69, 70) and ours_data.value[1].value.tag == 56500
    assert ours_data.value[1].value.value[0] == real_data.value[1].value.value[0] == "bslz4"


def test_jungfraujoch_profile_sends_and_writer_stores_the_dectris_fields(tmp_path):
    report, done = jfsim_run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    messages = recorded(tmp_path / "rec")
    assert "calibration" in {m["type"] for m in messages}  # extension messages stay
    start = messages[0]
    for key in (
        "countrate_correction_enabled",
        "detector_translation",
        "flatfield_enabled",
        "threshold_energy",
        "virtual_pixel_interpolation_enabled",
        "magic_number",
    ):
        assert key in start, key
    images = [m for m in messages if m["type"] == "image"]
    for image in images:
        for key in ("real_time", "series_date", "start_time", "stop_time"):
            assert key in image, key
        assert image["stop_time"][0] >= image["start_time"][0]
    missing = [f for f in check_stream_dir(tmp_path / "rec").findings if f.rule == "ST-JFJ-FIELD"]
    assert missing == []
    master = next(tmp_path.glob("*_master.h5"))
    with h5py.File(master, "r") as f:
        # hdf5-format.md 3 (NXdetector): the start's switches as the *_applied flags
        assert bool(f[f"{DET}/flatfield_applied"][()]) is start["flatfield_enabled"]
        assert (
            bool(f[f"{DET}/countrate_correction_applied"][()])
            is start["countrate_correction_enabled"]
        )
        assert float(f[f"{DET}/threshold_energy"][()]) == start["threshold_energy"]["default"]
        assert (
            bool(f[f"{DET}/virtual_pixel_interpolation_applied"][()])
            is start["virtual_pixel_interpolation_enabled"]
        )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"stream": {"profile": "dectris"}}, "detector.type: 'jungfrau'"),
        (
            {
                "stream": {"profile": "dectris"},
                "detector": {"type": "eiger"},
                "writer": {"compression": "bszstd"},
            },
            "writer.compression: 'bszstd'",
        ),
    ],
)
def test_dectris_profile_refuses_a_scenario_it_cannot_express(overrides, named):
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(overrides)
    assert named in str(info.value) and "stream.profile" in str(info.value)


def test_cli_refusal_names_the_setting(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.harness.cli",
            "run",
            "--out",
            str(tmp_path),
            "--stream-profile",
            "dectris",
            "--record",
            str(tmp_path / "rec"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    assert "detector.type" in done.stderr and "stream.profile" in done.stderr
    assert not (tmp_path / "rec").exists() or not list((tmp_path / "rec").iterdir())
