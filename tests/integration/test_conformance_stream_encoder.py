"""`jfcheck stream` on messages our `stream` encoder produces (a second, independent implementation
of stream.md), in a dump folder and over a loopback PULL connection."""

from __future__ import annotations

import threading

import pytest
from jfjoch_hil.conformance import check_stream_connect, check_stream_dir
from jfjoch_hil.stream.codec import encode

from tests.unit.writer.writer_messages import make_run


def _encoded_run():
    run = make_run(6, file_format="NXmxVDS", images_per_file=4)
    return [encode(m) for m in (run.start, *run.calibration, *run.images, run.end)]


def test_encoder_dump_conforms(tmp_path):
    for i, raw in enumerate(_encoded_run()):
        (tmp_path / f"{i:06d}.cbor").write_bytes(raw)
    report = check_stream_dir(tmp_path)
    assert report.errors == (), report.to_text()


def test_encoder_dump_with_a_lost_image_is_reported(tmp_path):
    messages = _encoded_run()
    del messages[3]  # one image never arrives
    for i, raw in enumerate(messages):
        (tmp_path / f"{i:06d}.cbor").write_bytes(raw)
    assert "ST-IMAGE-ID" in check_stream_dir(tmp_path).rule_ids()


def test_encoder_messages_over_loopback():
    zmq = pytest.importorskip("zmq")
    messages = _encoded_run()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    sender = threading.Thread(target=lambda: [push.send(m) for m in messages], daemon=True)
    sender.start()
    try:
        report = check_stream_connect(f"tcp://127.0.0.1:{port}", timeout_s=10.0)
    finally:
        sender.join(timeout=10)
        push.close(linger=0)
    assert report.errors == (), report.to_text()
