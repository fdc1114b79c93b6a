"""The writer's event lines: typed records `jfwriter` prints and whoever runs it parses.

`jfwriter` prints one JSON object per line on standard output (docs/writer.md "jfwriter
protocol"): :class:`WriterReady` once the socket is up, one :class:`RunFinished` per finished
run and :class:`WriterExit` last.  Each object's ``event`` key names its kind.  The records and
the reasons an image is rejected (:class:`RejectReason`) are declared here once, so the writer
that prints them and the harness that reads them cannot spell them differently.

Counts are taken from the statistics records (:class:`WriterStatistics`), never from log lines:
the writer logs only the first few lines per reason and counts every one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

from jfjoch_hil.stream.errors import EventError

__all__ = [
    "EventError",
    "RejectReason",
    "RunFinished",
    "WriterEvent",
    "WriterExit",
    "WriterReady",
    "WriterStatistics",
    "event_json",
    "event_line",
    "parse_event",
]


class RejectReason(StrEnum):
    """Why the writer refused an image (counted per reason in :class:`WriterStatistics`)."""

    DUPLICATE = "duplicate image number"
    OUTSIDE_RUN = "image number outside the run"
    SHAPE_OR_TYPE = "image shape or type differs from the run"
    NO_DATA = "no image data"
    SERIES_MISMATCH = "series id mismatch"
    RUN_FAILED = "run failed"
    RUN_REFUSED = "run refused"
    WITHOUT_RUN = "image without a run"


def _counts(value: Any, path: str) -> tuple[tuple[str, int], ...]:
    """A JSON map (or list of pairs) of name -> count as sorted pairs."""
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = tuple(sorted((str(k), int(n)) for k, n in items))
    except (TypeError, ValueError):
        raise EventError(f"{path}: expected a map of name -> count, got {value!r:.80}") from None
    return pairs


@dataclass(frozen=True)
class WriterStatistics:
    """The writer service's counters since it started (STYLE.md: nothing logged and dropped).

    ``images_rejected`` and ``messages_ignored`` are (reason, count) pairs, sorted.
    """

    messages_received: int = 0
    decode_errors: int = 0
    messages_ignored: tuple[tuple[str, int], ...] = ()
    runs_started: int = 0
    runs_finished: int = 0
    runs_refused: int = 0
    runs_failed: int = 0
    runs_without_end: int = 0
    images_written: int = 0
    images_rejected: tuple[tuple[str, int], ...] = ()
    warnings: int = 0
    bytes_written: int = 0
    active_run: str | None = None

    def rejected(self, reason: str) -> int:
        """Images rejected for ``reason`` (0 when none)."""
        return dict(self.images_rejected).get(str(reason), 0)

    def minus(self, earlier: WriterStatistics) -> WriterStatistics:
        """The counts added since ``earlier`` (a statistics record of the same writer)."""

        def sub(a, b):
            left = dict(a)
            for key, n in b:
                left[key] = left.get(key, 0) - n
            return tuple(sorted((k, n) for k, n in left.items() if n))

        values: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(earlier, f.name)
            if f.name == "active_run":
                values[f.name] = mine
            elif isinstance(mine, tuple):
                values[f.name] = sub(mine, theirs)
            else:
                values[f.name] = mine - theirs
        return WriterStatistics(**values)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready map (pair lists become maps)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, value: Any, path: str = "statistics") -> WriterStatistics:
        """Parse :meth:`to_json`'s map; raises :class:`EventError` naming the bad key."""
        if not isinstance(value, dict):
            raise EventError(f"{path}: expected a map, got {value!r:.80}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise EventError(f"{path}: unknown keys {unknown}")
        values: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("images_rejected", "messages_ignored"):
                values[key] = _counts(item, f"{path}.{key}")
            elif key == "active_run":
                values[key] = item if item is None else str(item)
            else:
                values[key] = _int(item, f"{path}.{key}")
        return cls(**values)


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventError(f"{path}: expected an integer, got {value!r:.80}")
    return value


@dataclass(frozen=True)
class WriterReady:
    """``{"event": "ready"}``: the PULL socket is up at ``endpoint``; files go under ``dir``."""

    EVENT: ClassVar[str] = "ready"
    endpoint: str
    dir: str = ""


@dataclass(frozen=True)
class RunFinished:
    """``{"event": "run"}``: one run finalised (written, or failed with ``error``).

    ``statistics`` are the service's totals right after this run: the difference between two
    consecutive records counts exactly what happened between them.
    """

    EVENT: ClassVar[str] = "run"
    prefix: str
    layout: str = ""
    files: tuple[str, ...] = ()
    images_written: int = 0
    images_rejected: tuple[tuple[str, int], ...] = ()
    bytes: int = 0
    seconds: float = 0.0
    mb_per_s: float = 0.0
    end_received: bool = False
    error: str | None = None
    warnings: tuple[str, ...] = ()
    values_not_stored: tuple[tuple[str, int], ...] = ()
    statistics: WriterStatistics | None = None


@dataclass(frozen=True)
class WriterExit:
    """``{"event": "exit"}``: the service stopped; its final statistics."""

    EVENT: ClassVar[str] = "exit"
    statistics: WriterStatistics = field(default_factory=WriterStatistics)


#: Any writer event record.
WriterEvent = WriterReady | RunFinished | WriterExit
_KINDS: dict[str, type[WriterReady] | type[RunFinished] | type[WriterExit]] = {
    cls.EVENT: cls for cls in (WriterReady, RunFinished, WriterExit)
}


def event_line(event: WriterEvent) -> str:
    """The record as one JSON line (no newline), ``event`` first."""
    return json.dumps(event_json(event))


def event_json(event: WriterEvent) -> dict[str, Any]:
    """The record as the JSON-ready map :func:`event_line` prints."""
    out: dict[str, Any] = {"event": event.EVENT}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, WriterStatistics):
            value = value.to_json()
        elif f.name in ("images_rejected", "values_not_stored"):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def parse_event(line: str) -> WriterEvent | None:
    """The record of one output line; ``None`` for a line that is not a JSON object (a log line).

    Raises :class:`EventError` for a JSON object whose ``event`` is unknown or whose fields do
    not match the record, naming the field.
    """
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    kind = value.pop("event", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventError(f"event: {kind!r} is not one of {', '.join(_KINDS)}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise EventError(f"{kind}: unknown keys {unknown}")
    values: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{kind}.{key}"
        if key == "statistics":
            values[key] = None if item is None else WriterStatistics.from_json(item, path)
        elif key in ("images_rejected", "values_not_stored"):
            values[key] = _counts(item, path)
        elif key in ("files", "warnings"):
            if not isinstance(item, list):
                raise EventError(f"{path}: expected a list, got {item!r:.80}")
            values[key] = tuple(str(x) for x in item)
        else:
            values[key] = item
    try:
        return cls(**values)
    except TypeError as error:
        raise EventError(f"{kind}: {error}") from None
