"""Dump folders and replay (stream.md §11: the recording layout)."""

from __future__ import annotations

import pytest
from jfjoch_hil.stream import DumpError, DumpWriter, dump_files, read_dump, replay


class FakeClock:
    """An explicit clock: time moves only when the replay sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_dump_writes_numbered_files_in_order(tmp_path):
    writer = DumpWriter(tmp_path / "run")
    payloads = [bytes([i]) * (i + 1) for i in range(12)]
    for payload in payloads:
        writer.write(payload)
    names = [p.name for p in dump_files(tmp_path / "run")]
    assert names == [f"{i:06d}.cbor" for i in range(12)]
    assert [data for _, data in read_dump(tmp_path / "run")] == payloads
    assert writer.bytes_written == sum(map(len, payloads))


def test_dump_never_overwrites(tmp_path):
    DumpWriter(tmp_path).write(b"first")
    with pytest.raises(DumpError, match="never overwrites"):
        DumpWriter(tmp_path).write(b"second")
    assert (tmp_path / "000000.cbor").read_bytes() == b"first"


def test_dump_files_ignores_other_names_and_sorts_numerically(tmp_path):
    for name in ("000010.cbor", "000002.cbor", "notes.txt", "12.cbor", ".000003.cbor.tmp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in dump_files(tmp_path)] == ["000002.cbor", "000010.cbor"]


def test_replay_paces_on_absolute_deadlines(tmp_path):
    writer = DumpWriter(tmp_path)
    for i in range(5):
        writer.write(bytes([i]))
    clock = FakeClock()
    sent = []
    stats = replay(tmp_path, sent.append, rate_hz=10.0, clock=clock, sleep=clock.sleep)
    assert sent == [bytes([i]) for i in range(5)]
    assert stats.messages_sent == 5
    assert clock.now == pytest.approx(100.4)  # last message leaves at t0 + 4 / 10 s


def test_replay_refuses_a_missing_folder(tmp_path):
    with pytest.raises(DumpError, match="is not a folder"):
        replay(tmp_path / "absent", print)
