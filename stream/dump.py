"""Dump folders: every message of a stream as a numbered ``.cbor`` file, and their replay.

The layout is that of shared/reference-data/dectris-stream-v2/: one file per ZeroMQ message,
byte for byte, named ``000000.cbor``, ``000001.cbor``, ... in stream order.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jfjoch_hil.stream.errors import DumpError

__all__ = ["DumpWriter", "ReplayStatistics", "dump_files", "read_dump", "record", "replay"]

_NAME = re.compile(r"^(\d{6,})\.cbor$")


class DumpWriter:
    """Writes messages into ``folder`` as ``NNNNNN.cbor``; never overwrites an existing file.

    Each file is written under a temporary name and renamed, so a reader never sees half a
    message.
    """

    def __init__(self, folder: str | os.PathLike, *, start_index: int = 0) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DumpError(f"cannot create dump folder {self.folder}: {error}") from error
        self.next_index = start_index
        self.messages_written = 0
        self.bytes_written = 0

    def write(self, data: bytes) -> Path:
        """Write one message as the next numbered file and return its path."""
        path = self.folder / f"{self.next_index:06d}.cbor"
        temporary = path.with_name(f".{path.name}.tmp")
        if path.exists():
            raise DumpError(f"{path} exists already; a dump never overwrites")
        try:
            with open(temporary, "xb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise DumpError(f"cannot write {path}: {error}") from error
        self.next_index += 1
        self.messages_written += 1
        self.bytes_written += len(data)
        return path


def dump_files(folder: str | os.PathLike) -> list[Path]:
    """The numbered ``.cbor`` files of ``folder`` in stream order (gaps allowed, others ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DumpError(f"{folder} is not a folder")
    numbered = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            numbered.append((int(match.group(1)), path))
    return [path for _, path in sorted(numbered)]


def read_dump(folder: str | os.PathLike) -> Iterator[tuple[Path, bytes]]:
    """Yield ``(path, bytes)`` of every numbered message file of ``folder`` in order."""
    for path in dump_files(folder):
        try:
            yield path, path.read_bytes()
        except OSError as error:
            raise DumpError(f"cannot read {path}: {error}") from error


@dataclass(frozen=True)
class ReplayStatistics:
    """What a replay sent: messages, bytes, elapsed seconds and the achieved rate."""

    messages_sent: int
    bytes_sent: int
    seconds: float

    @property
    def rate_hz(self) -> float:
        """Messages per second over the whole replay."""
        return self.messages_sent / self.seconds if self.seconds > 0 else float("inf")


def replay(
    folder: str | os.PathLike,
    send: Callable[[bytes], object],
    *,
    rate_hz: float | None = None,
    max_messages: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> ReplayStatistics:
    """Send every message of a dump folder through ``send`` (e.g. ``Pusher.send``).

    With ``rate_hz`` messages leave at absolute deadlines ``t0 + i / rate_hz`` (no drift); without
    it as fast as ``send`` takes them.  Files are read one at a time, so memory stays bounded.
    """
    if rate_hz is not None and rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    start = clock()
    sent = sent_bytes = 0
    for index, (_, data) in enumerate(read_dump(folder)):
        if max_messages is not None and index >= max_messages:
            break
        if rate_hz is not None:
            delay = start + index / rate_hz - clock()
            if delay > 0:
                sleep(delay)
        send(data)
        sent += 1
        sent_bytes += len(data)
    return ReplayStatistics(sent, sent_bytes, clock() - start)


def record(
    receive: Callable[[int], bytes | None],
    folder: str | os.PathLike,
    *,
    max_messages: int,
    idle_timeout_s: float,
    stop_after_end: bool = False,
) -> DumpWriter:
    """Write every message ``receive`` returns into ``folder`` as numbered files.

    ``receive`` is e.g. ``Puller.receive_bytes`` (takes a timeout in ms, returns ``None`` on
    timeout).  Stops after ``max_messages``, after ``idle_timeout_s`` without a message, or, with
    ``stop_after_end``, after a message whose ``type`` is ``end`` (found without decoding the
    whole message).  Bad messages are recorded as they came: a recording must reproduce a field
    stream byte for byte.
    """
    writer = DumpWriter(folder)
    for _ in range(max_messages):
        data = receive(int(idle_timeout_s * 1000))
        if data is None:
            break
        writer.write(data)
        if stop_after_end and _looks_like_end(data):
            break
    return writer


def _looks_like_end(data: bytes) -> bool:
    # An end message's map opens with "type": "end" (DS2 puts type first): no full decode needed.
    head = data[:16]
    return b"\x64type\x63end" in head
