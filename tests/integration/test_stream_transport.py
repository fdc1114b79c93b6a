"""Live ZeroMQ on 127.0.0.1: PUSH/PULL and PUB/SUB with a few hundred messages, none lost."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from jfjoch_hil.stream import (
    EndMessage,
    ImageMessage,
    Publisher,
    Puller,
    Pusher,
    StartMessage,
    Subscriber,
    TransportError,
    TypedArray,
    encode,
)

MESSAGES = 300


def run_messages(count: int):
    rng = np.random.default_rng(3)
    yield StartMessage(series_id=1, series_unique_id="run", number_of_images=count)
    for image_id in range(count):
        pixels = rng.integers(0, 1000, (64, 128), dtype=np.uint16)
        yield ImageMessage(
            image_id=image_id, data={"default": TypedArray.from_numpy(pixels, compression="bslz4")}
        )
    yield EndMessage(series_id=1, series_unique_id="run")


def test_push_pull_delivers_every_message_in_order():
    sent = list(run_messages(MESSAGES))
    with Pusher(send_hwm=50) as pusher, Puller(pusher.endpoint, receive_hwm=50) as puller:
        thread = threading.Thread(target=lambda: [pusher.send(m) for m in sent], daemon=True)
        thread.start()
        received = list(puller.iter_received(max_messages=len(sent), idle_timeout_s=5.0))
        thread.join(10)
        assert not thread.is_alive()
        assert puller.receive(timeout_ms=100) is None  # nothing beyond what was sent
    assert [r.message for r in received] == sent
    stats = puller.statistics()
    assert stats.messages_received == len(sent) and stats.decode_errors == 0
    assert dict(stats.messages_by_type) == {"start": 1, "image": MESSAGES, "end": 1}
    assert pusher.statistics().messages_sent == len(sent)


def test_bad_message_is_counted_and_the_loop_goes_on():
    with Pusher() as pusher, Puller(pusher.endpoint) as puller:
        good = encode(EndMessage(series_id=9))
        for data in (b"\xff\x00", good, b"", good):
            pusher.send(data)
        received = list(puller.iter_received(max_messages=4, idle_timeout_s=2.0))
    assert [r.ok for r in received] == [False, True, False, True]
    assert received[1].message.series_id == 9
    stats = puller.statistics()
    assert stats.decode_errors == 2 and "not valid CBOR" in stats.last_error


def test_pub_sub_delivers_every_message_to_each_subscriber():
    sent = list(run_messages(MESSAGES))
    with Publisher(send_hwm=10_000) as publisher:
        with Subscriber(publisher.endpoint) as first, Subscriber(publisher.endpoint) as second:
            assert publisher.wait_for_subscribers(2, timeout_s=5.0)
            for message in sent:
                publisher.send(message)
            for subscriber in (first, second):
                got = [
                    r.message
                    for r in subscriber.iter_received(max_messages=len(sent), idle_timeout_s=3.0)
                ]
                assert got == sent
                assert subscriber.receive(timeout_ms=100) is None


def test_send_without_a_peer_times_out_and_is_counted():
    with Pusher(send_timeout_ms=50, linger_ms=0) as pusher:
        with pytest.raises(TransportError, match="timed out after 50 ms"):
            pusher.send(b"x")
        assert pusher.statistics().send_timeouts == 1


def test_endpoint_is_validated():
    with pytest.raises(TransportError, match="expected tcp://"):
        Pusher("127.0.0.1:5500")


def test_record_then_replay_reproduces_the_stream_byte_for_byte(tmp_path):
    from jfjoch_hil.stream import record, replay

    sent = [encode(m) for m in run_messages(20)] + [b"\x00not cbor"]
    with Pusher() as pusher, Puller(pusher.endpoint) as puller:
        for data in sent:
            pusher.send(data)
        recorded = record(
            puller.receive_bytes, tmp_path / "rec", max_messages=100, idle_timeout_s=1.0
        )
    assert recorded.messages_written == len(sent)
    with Pusher() as pusher, Puller(pusher.endpoint) as puller:
        stats = replay(tmp_path / "rec", pusher.send)
        again = [puller.receive_bytes(2000) for _ in range(stats.messages_sent)]
    assert again == sent


def test_record_stops_after_the_end_message(tmp_path):
    from jfjoch_hil.stream import record

    with Pusher() as pusher, Puller(pusher.endpoint) as puller:
        for message in run_messages(3):
            pusher.send(message)
        pusher.send(encode(StartMessage(series_id=2)))  # the next run: not recorded
        recorded = record(
            puller.receive_bytes,
            tmp_path,
            max_messages=100,
            idle_timeout_s=1.0,
            stop_after_end=True,
        )
    assert recorded.messages_written == 5
