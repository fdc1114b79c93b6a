"""Hypothesis fuzz of malformed streams against a live `jfwriter`.

Each example mutates the wire bytes of a small valid run (truncation, bit flips, random bytes,
fields replaced by arbitrary CBOR values, messages dropped, duplicated or swapped), sends them,
then a valid probe run that must be written: the writer never crashes or hangs.  At the end
every message that ``stream.decode`` rejects must be counted in the writer's exit statistics,
and nothing may be written outside the output folder.
"""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jfjoch_hil.harness.writer_faults import WriterProcess, files_outside, small_run, snapshot
from jfjoch_hil.stream import DecodeError, FileFormat, Pusher, decode, encode

CBOR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=64),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = (
    "type",
    "image_id",
    "series_id",
    "series_unique_id",
    "data",
    "file_prefix",
    "image_size_x",
    "image_size_y",
    "number_of_images",
    "image_dtype",
    "images_per_file",
    "file_format",
    "user_data",
    "pixel_mask",
    "images_collected",
    "channels",
)


#: the valid run every example mutates (2 images, VDS)
BASE = [
    encode(m)
    for m in small_run("fuzz/base", 2, seed=1, file_format=FileFormat.VDS.value).messages()
]


def _as_map(data: bytes) -> dict | None:
    try:
        item = cbor2.loads(data)
    except Exception:  # noqa: BLE001 - an earlier mutation broke it: no field to replace
        return None
    item = item.value if isinstance(item, cbor2.CBORTag) else item
    return dict(item) if isinstance(item, dict) else None


@st.composite
def mutated_streams(draw) -> list[bytes]:
    """A list of wire messages: :data:`BASE` with 1-4 mutations."""
    messages = list(BASE)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(messages) - 1)) if messages else 0
        op = draw(
            st.sampled_from(["truncate", "flip", "random", "field", "drop", "duplicate", "swap"])
        )
        if not messages or (op in ("truncate", "flip", "field") and not messages[index]):
            op = "random"
        mapping = _as_map(messages[index]) if op == "field" else None
        if op == "field" and mapping is None:
            op = "random"
        if op == "truncate":
            data = messages[index]
            messages[index] = data[: draw(st.integers(0, max(0, len(data) - 1)))]
        elif op == "flip":
            data = bytearray(messages[index])
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= draw(st.integers(1, 255))
            messages[index] = bytes(data)
        elif op == "random":
            messages.insert(index, draw(st.binary(min_size=0, max_size=256)))
        elif op == "field":
            mapping[draw(st.sampled_from(KEYS))] = draw(CBOR_VALUES)
            messages[index] = cbor2.dumps(cbor2.CBORTag(55799, mapping))
        elif op == "drop":
            messages.pop(index)
        elif op == "duplicate":
            messages.insert(index, messages[index])
        else:
            other = draw(st.integers(0, len(messages) - 1))
            messages[index], messages[other] = messages[other], messages[index]
    return messages


def _is_decode_error(data: bytes) -> bool:
    try:
        decode(data)
    except DecodeError:
        return True
    return False


def fuzz_live_writer(tmp_path, max_examples: int) -> dict:
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    totals = {"messages": 0, "decode_errors": 0, "examples": 0}
    with WriterProcess(out) as writer:
        pusher = Pusher(writer.endpoint, bind=False, linger_ms=1000, send_timeout_ms=30_000)
        try:

            @settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(mutated_streams())
            def one_example(messages):
                for data in messages:
                    pusher.send(data)
                    totals["messages"] += 1
                    totals["decode_errors"] += _is_decode_error(data)
                prefix = f"probe/p{totals['examples']:05d}"
                totals["examples"] += 1
                cursor = writer.cursor()[1]
                for message in small_run(
                    prefix, 1, seed=2, file_format=FileFormat.VDS.value
                ).messages():
                    pusher.send(message)
                    totals["messages"] += 1
                record = writer.wait_run(prefix, 30, since=cursor)
                assert writer.process.poll() is None, f"jfwriter exited: {writer.lines[-5:]}"
                assert record is not None and record.images_written == 1, (
                    record,
                    writer.lines[-5:],
                )

            one_example()
        finally:
            pusher.close()
        status, exit_record = writer.stop()
    assert status == 0 and exit_record is not None
    statistics = exit_record.statistics
    assert statistics.messages_received == totals["messages"]
    assert statistics.decode_errors == totals["decode_errors"]
    assert files_outside(before, snapshot(tmp_path), out) == []
    return totals


def test_fuzzed_streams_never_crash_or_hang_the_writer(tmp_path):
    totals = fuzz_live_writer(tmp_path, max_examples=150)
    print(f"fuzz totals: {totals}")
    assert totals["examples"] >= 1 and totals["decode_errors"] > 0


@pytest.mark.slow
def test_fuzzed_streams_thorough(tmp_path):
    print(f"fuzz totals: {fuzz_live_writer(tmp_path, max_examples=2000)}")
