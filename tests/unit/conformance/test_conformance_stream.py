"""`jfcheck stream`: dumped and live CBOR messages against stream.md."""

from __future__ import annotations

import datetime as dt
import shutil
import threading

import cbor2
import numpy as np
import pytest
from jfjoch_hil.conformance import STREAM_RULES
from jfjoch_hil.conformance._stream import check_messages, check_stream_connect, check_stream_dir
from jfjoch_hil.conformance.cli import main

SID, ULID = 1, "01GRXX36M4QE98SHNNEKTCR7G7"
NY, NX, N = 4, 6, 3


def _enc(msg: dict, self_described: bool = True) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(55799, msg) if self_described else msg)


def _array(values: np.ndarray, tag: int = 69) -> cbor2.CBORTag:
    return cbor2.CBORTag(
        40, [list(values.shape), cbor2.CBORTag(tag, values.astype("<u2").tobytes())]
    )


def _start(**over) -> dict:
    msg = {
        "type": "start",
        "series_id": SID,
        "series_unique_id": ULID,
        "arm_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "beam_center_x": 3.0,
        "beam_center_y": 2.0,
        "channels": ["default"],
        "count_time": 0.001,
        "frame_time": 0.001,
        "image_size_x": NX,
        "image_size_y": NY,
        "number_of_images": N,
        "incident_wavelength": 1.0,
        "pixel_mask": {
            "default": cbor2.CBORTag(40, [[NY, NX], cbor2.CBORTag(70, bytes(4 * NY * NX))])
        },
        "saturation_value": 65534,
        "sensor_material": "Si",
        "sensor_thickness": 0.00032,
        # the rest of the DECTRIS start fields (stream.md 5.1) and Jungfraujoch's (5.2)
        "countrate_correction_enabled": False,
        "countrate_correction_lookup_table": cbor2.CBORTag(70, bytes(16)),
        "detector_description": "EIGER test",
        "detector_serial_number": "E-1",
        "detector_translation": [0.0, 0.0, 0.1],
        "flatfield": {
            "default": cbor2.CBORTag(40, [[NY, NX], cbor2.CBORTag(85, bytes(4 * NY * NX))])
        },
        "flatfield_enabled": False,
        "goniometer": {"omega": {"start": 0.0, "increment": 0.1}},
        "image_dtype": "uint16",
        "incident_energy": 12400.0,
        "pixel_mask_enabled": True,
        "pixel_size_x": 75e-6,
        "pixel_size_y": 75e-6,
        "threshold_energy": {"default": 6200.0},
        "user_data": None,
        "virtual_pixel_interpolation_enabled": False,
        "magic_number": 1,
        "detector_distance": 0.1,
    }
    msg.update(over)
    return msg


def _image(i: int, **over) -> dict:
    msg = {
        "type": "image",
        "series_id": SID,
        "series_unique_id": ULID,
        "image_id": i,
        "real_time": [99, 100],
        "series_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "start_time": [i * 100, 100],
        "stop_time": [i * 100 + 99, 100],
        "user_data": None,
        "data": {"default": _array(np.full((NY, NX), i, dtype=np.uint16))},
    }
    msg.update(over)
    return msg


def _end(**over) -> dict:
    msg = {"type": "end", "series_id": SID, "series_unique_id": ULID}
    msg.update(over)
    return msg


def _series() -> list[dict]:
    return [_start(), *(_image(i) for i in range(N)), _end()]


def _check(msgs: list, raw: dict[int, bytes] | None = None, profile: str = "jungfraujoch"):
    encoded = [(f"{i:06d}.cbor", (raw or {}).get(i) or _enc(m)) for i, m in enumerate(msgs)]
    return check_messages(encoded, profile=profile)


@pytest.mark.parametrize("profile", ["jungfraujoch", "dectris"])
def test_valid_series_passes(profile):
    report = _check(_series(), profile=profile)
    assert report.findings == (), report.to_text()
    assert report.exit_code == 0


def _calibration() -> dict:
    return {
        "type": "calibration",
        "series_id": SID,
        "series_unique_id": ULID,
        "name": "pedestal_g0_sc0",
        "data": _array(np.zeros((NY, NX), np.uint16)),
    }


def _compressed(algorithm: str, tag: int = 69, dtype: str = "<u2") -> dict:
    """One channel of 16-bit pixels compressed with ``algorithm`` (a valid 12-byte header)."""
    size = NY * NX * np.dtype(dtype).itemsize
    payload = size.to_bytes(8, "big") + (8192).to_bytes(4, "big") + bytes(8)
    modifier = 0 if algorithm == "lz4" else np.dtype(dtype).itemsize
    inner = cbor2.CBORTag(tag, cbor2.CBORTag(56500, [algorithm, modifier, payload]))
    return {"default": cbor2.CBORTag(40, [[NY, NX], inner])}


# what a DECTRIS Stream V2 consumer would reject or misread (jfcheck stream --profile dectris)
DECTRIS_MUTATIONS = [
    ("calibration message", lambda s: s.insert(1, _calibration()), "ST-DECTRIS-TYPE"),
    (
        "metadata message",
        lambda s: s.insert(2, {"type": "metadata", "images": []}),
        "ST-DECTRIS-TYPE",
    ),
    (
        "bszstd image",
        lambda s: s[1].__setitem__("data", _compressed("bszstd")),
        "ST-DECTRIS-COMPRESSION",
    ),
    ("int32 image_dtype", lambda s: s[0].__setitem__("image_dtype", "int32"), "ST-DECTRIS-DTYPE"),
    (
        "int32 pixels",
        lambda s: s[1].__setitem__(
            "data",
            {"default": cbor2.CBORTag(40, [[NY, NX], cbor2.CBORTag(78, bytes(4 * NY * NX))])},
        ),
        "ST-DECTRIS-DTYPE",
    ),
    ("flatfield missing", lambda s: s[0].pop("flatfield"), "ST-DECTRIS-FIELD"),
    ("image real_time missing", lambda s: s[2].pop("real_time"), "ST-DECTRIS-FIELD"),
    ("image user_data missing", lambda s: s[2].pop("user_data"), "ST-DECTRIS-FIELD"),
    (
        "saturation_value negative",
        lambda s: s[0].__setitem__("saturation_value", -1),
        "ST-DECTRIS-FIELD",
    ),
    (
        "lookup table not typed",
        lambda s: s[0].__setitem__("countrate_correction_lookup_table", [0, 1]),
        "ST-DECTRIS-FIELD",
    ),
]


@pytest.mark.parametrize(
    ("name", "edit", "rule"), DECTRIS_MUTATIONS, ids=[m[0] for m in DECTRIS_MUTATIONS]
)
def test_dectris_profile_reports_what_a_dectris_consumer_rejects(name, edit, rule):
    series = _series()
    edit(series)
    report = _check(series, profile="dectris")
    assert rule in report.rule_ids(), report.to_text()
    assert report.exit_code == 1


def test_lz4_passes_the_dectris_profile():
    series = _series()
    series[1]["data"] = _compressed("lz4")
    assert not {
        r for r in _check(series, profile="dectris").rule_ids() if r.startswith("ST-DECTRIS")
    }


def test_default_profile_reports_missing_confirmed_jungfraujoch_fields():
    series = _series()
    series[0].pop("magic_number")
    series[0].pop("flatfield_enabled")
    series[1].pop("real_time")
    report = _check(series)
    messages = [f.message for f in report.findings if f.rule == "ST-JFJ-FIELD"]
    assert messages == ["start lacks flatfield_enabled, magic_number"] or sorted(
        messages
    ) == sorted(["start lacks magic_number, flatfield_enabled", "image lacks real_time"]), messages
    assert report.exit_code == 0  # warnings: Jungfraujoch consumers take the stream


def test_cli_profile_dectris_exit_code(tmp_path, capsys):
    series = _series()
    series.insert(1, _calibration())
    for i, message in enumerate(series):
        (tmp_path / f"{i:06d}.cbor").write_bytes(_enc(message))
    assert main(["stream", str(tmp_path), "--profile", "dectris"]) == 1
    assert "ST-DECTRIS-TYPE" in capsys.readouterr().out
    assert main(["stream", str(tmp_path)]) == 0


MUTATIONS = [
    ("float written as int", lambda s: s[0].__setitem__("count_time", 1), "ST-FIELD-TYPE"),
    ("date as plain text", lambda s: s[0].__setitem__("arm_date", "2026-01-01"), "ST-FIELD-TYPE"),
    ("series_unique_id missing", lambda s: s[1].pop("series_unique_id"), "ST-REQUIRED"),
    ("number_of_images missing", lambda s: s[0].pop("number_of_images"), "ST-REQUIRED"),
    ("duplicate image id", lambda s: s[2].__setitem__("image_id", 0), "ST-IMAGE-ID"),
    ("image id out of range", lambda s: s[3].__setitem__("image_id", N), "ST-IMAGE-ID"),
    ("series mismatch", lambda s: s[2].__setitem__("series_unique_id", "OTHER"), "ST-SERIES"),
    ("image after end", lambda s: s.append(_image(1)), "ST-ORDER"),
    ("end missing", lambda s: s.pop(), "ST-ORDER"),
    ("unknown type", lambda s: s[1].__setitem__("type", "picture"), "ST-TYPE"),
    (
        "wrong byte count",
        lambda s: s[1].__setitem__("data", {"default": _array(np.zeros((NY, NX - 1), np.uint16))}),
        "ST-ARRAY",
    ),
    ("not tag 40", lambda s: s[1].__setitem__("data", {"default": b"\x00" * 48}), "ST-ARRAY"),
    (
        "unknown compression",
        lambda s: s[1].__setitem__(
            "data",
            {
                "default": cbor2.CBORTag(
                    40, [[NY, NX], cbor2.CBORTag(69, cbor2.CBORTag(56500, ["zip", 2, bytes(16)]))]
                )
            },
        ),
        "ST-ARRAY",
    ),
    (
        "bslz4 header size wrong",
        lambda s: s[1].__setitem__(
            "data",
            {
                "default": cbor2.CBORTag(
                    40,
                    [
                        [NY, NX],
                        cbor2.CBORTag(
                            69,
                            cbor2.CBORTag(
                                56500,
                                ["bslz4", 2, (47).to_bytes(8, "big") + (8192).to_bytes(4, "big")],
                            ),
                        ),
                    ],
                )
            },
        ),
        "ST-ARRAY",
    ),
    (
        "channel not in start",
        lambda s: s[1].__setitem__("data", {"other": _array(np.zeros((NY, NX), np.uint16))}),
        "ST-ARRAY",
    ),
    (
        "type not first key",
        lambda s: s.__setitem__(1, {k: s[1][k] for k in reversed(list(s[1]))}),
        "ST-ENVELOPE",
    ),
]


@pytest.mark.parametrize(("name", "edit", "rule"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_message_mutation_is_reported(name, edit, rule):
    series = _series()
    edit(series)
    assert rule in _check(series).rule_ids()


def test_raw_level_faults():
    series = _series()
    report = _check(
        series,
        raw={
            1: b"\xff\xfe garbage",
            2: _enc(series[2], self_described=False),
            3: cbor2.dumps([1, 2, 3]),
        },
    )
    assert {"ST-UNREADABLE", "ST-SELF-DESCRIBED", "ST-ENVELOPE"} <= report.rule_ids()


def test_every_stream_rule_is_exercised():
    covered = {rule for _n, _e, rule in MUTATIONS + DECTRIS_MUTATIONS} | {
        "ST-UNREADABLE",
        "ST-SELF-DESCRIBED",
        "ST-ENVELOPE",
        "ST-JFJ-FIELD",
    }
    assert covered == set(STREAM_RULES)


def test_reference_folders_report_missing_start_only(reference_stream_dir):
    folders = sorted(p for p in reference_stream_dir.iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        report = check_stream_dir(folder)
        assert not report.unreadable
        assert report.rule_ids() == {"ST-ORDER"}, report.to_text()
        assert any("missing start" in f.message for f in report.findings)


def test_reference_images_pass_with_a_start_prepended(reference_stream_dir, tmp_path):
    """The real DECTRIS images and end message conform once the missing start message is supplied."""
    folder = reference_stream_dir / "r500k_bm_bslz4_16bit"
    first = cbor2.loads((folder / "000001.cbor").read_bytes())
    start = _start(
        series_id=first["series_id"],
        series_unique_id=first["series_unique_id"],
        number_of_images=10,
        image_size_x=1030,
        image_size_y=514,
        channels=list(first["data"].keys()),
    )
    for name, tag, size in (("pixel_mask", 70, 4), ("flatfield", 85, 4)):
        start[name] = {
            ch: cbor2.CBORTag(40, [[514, 1030], cbor2.CBORTag(tag, bytes(size * 514 * 1030))])
            for ch in first["data"]
        }
    start["threshold_energy"] = {ch: 6200.0 for ch in first["data"]}
    work = tmp_path / "series"
    shutil.copytree(folder, work)
    (work / "000000.cbor").write_bytes(_enc(start))
    for profile in ("jungfraujoch", "dectris"):  # real DECTRIS images: nothing to report in either
        report = check_stream_dir(work, profile=profile)
        assert report.findings == (), report.to_text()


def test_cli_stream_dir(tmp_path, capsys):
    for i, msg in enumerate(_series()):
        (tmp_path / f"{i:06d}.cbor").write_bytes(_enc(msg))
    assert main(["stream", str(tmp_path)]) == 0
    (tmp_path / "000002.cbor").write_bytes(_enc(_image(0)))
    assert main(["stream", str(tmp_path), "--json"]) == 1
    assert main(["stream"]) == 2
    assert main(["stream", str(tmp_path / "absent")]) == 2


def test_connect_checks_live_messages():
    zmq = pytest.importorskip("zmq")
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    messages = [_enc(m) for m in _series()]

    def send():
        for raw in messages:
            push.send(raw)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        report = check_stream_connect(f"tcp://127.0.0.1:{port}", timeout_s=10.0)
    finally:
        sender.join(timeout=10)
        push.close(linger=0)
    assert report.findings == (), report.to_text()


def test_connect_with_nothing_sent_times_out_with_finding():
    zmq = pytest.importorskip("zmq")
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    try:
        report = check_stream_connect(f"tcp://127.0.0.1:{port}", timeout_s=0.3)
    finally:
        push.close(linger=0)
    assert report.exit_code == 1 and "ST-ORDER" in report.rule_ids()


def test_reference_payloads_decompress_with_deep(reference_stream_dir):
    for folder in sorted(p for p in reference_stream_dir.iterdir() if p.is_dir()):
        assert check_stream_dir(folder, deep=True).rule_ids() == {"ST-ORDER"}, folder.name


def _damaged_reference(reference_stream_dir, folder_name: str, cut: int) -> bytes:
    msg = cbor2.loads((reference_stream_dir / folder_name / "000001.cbor").read_bytes())
    data = {k: v for k, v in msg.items()}
    channels = dict(data["data"])
    first = next(iter(channels))
    dims, typed = channels[first].value
    algorithm, modifier, payload = typed.value.value
    damaged = cbor2.CBORTag(typed.tag, cbor2.CBORTag(56500, [algorithm, modifier, payload[:-cut]]))
    channels[first] = cbor2.CBORTag(40, [list(dims), damaged])
    data["data"] = channels
    return _enc(data)


@pytest.mark.parametrize("folder", ["r500k_bm_bslz4_16bit", "r500k_bm_lz4_8bit"])
def test_damaged_payload_found_only_with_deep(reference_stream_dir, folder):
    raw = _damaged_reference(reference_stream_dir, folder, cut=200)
    assert "ST-ARRAY" not in check_messages([("x.cbor", raw)]).rule_ids()
    assert "ST-ARRAY" in check_messages([("x.cbor", raw)], deep=True).rule_ids()


def _rules(report) -> set[str]:
    return {finding.rule for finding in report.findings}


def test_calibration_and_metadata_messages_are_checked_by_their_fields():
    good_calibration = {
        "type": "calibration",
        "series_id": SID,
        "series_unique_id": ULID,
        "name": "pedestal_g0_sc0",
        "data": _array(np.zeros((NY, NX), np.uint16)),
    }
    good_metadata = {"type": "metadata", "images": [{"image_id": 0}]}
    clean = _check(
        [_start(), good_calibration, *(_image(i) for i in range(N)), _end(), good_metadata]
    )
    assert not {"ST-REQUIRED", "ST-ARRAY", "ST-FIELD-TYPE"} & _rules(clean)

    nameless = {k: v for k, v in good_calibration.items() if k != "name"}
    wrong_dims = {
        **good_calibration,
        "data": cbor2.CBORTag(40, [[NY, NX + 1], cbor2.CBORTag(69, bytes(2 * NY * NX))]),
    }
    bad_images = {"type": "metadata", "images": 7}
    assert "ST-REQUIRED" in _rules(
        _check([_start(), nameless, *(_image(i) for i in range(N)), _end()])
    )
    assert "ST-ARRAY" in _rules(
        _check([_start(), wrong_dims, *(_image(i) for i in range(N)), _end()])
    )
    assert "ST-FIELD-TYPE" in _rules(_check([*_series(), bad_images]))
