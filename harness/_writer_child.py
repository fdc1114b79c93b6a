"""``jfwriter`` as a supervised child of a run, bounded sends to it, and the conformance check
of what it wrote (docs/reliability.md "Supervision").

The harness drives the writer only as a process over sockets: its JSON lines on standard output,
its errors on standard error, the stream over ZeroMQ.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TypeVar

from jfjoch_hil.conformance import check_file_isolated
from jfjoch_hil.harness._supervise import RunGroup
from jfjoch_hil.harness.errors import SupervisionError
from jfjoch_hil.stream import (
    EventError,
    Pusher,
    RunFinished,
    TransportError,
    WriterEvent,
    WriterReady,
    parse_event,
)

__all__ = ["SEND_SLICE_MS", "WRITER", "WriterChild", "check_files", "send_supervised"]

#: Name of the writer child in supervision reports and pid files.
WRITER = "jfwriter"
#: Longest single ZeroMQ send before the children are checked again.
SEND_SLICE_MS = 250

_E = TypeVar("_E", WriterReady, RunFinished)


class WriterChild:
    """``jfwriter`` as a supervised child, connected to our PUSH endpoint; its JSON lines read."""

    def __init__(
        self,
        group: RunGroup,
        endpoint: str,
        out_dir: Path,
        *,
        idle_timeout_s: float,
        start_timeout_s: float,
        per_image_wait_s: float = 0.0,
        nice: int = 0,
        name: str = WRITER,
        extra: tuple[str, ...] = (),
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "jfjoch_hil.writer.cli",
            "--listen",
            endpoint,
            "--dir",
            str(out_dir),
            "--idle-timeout",
            str(idle_timeout_s),
            "--start-timeout",
            str(start_timeout_s),
            "--per-image-wait",
            str(per_image_wait_s),
            "--max-runs",
            "1",
            "--nice",
            str(nice),
            *extra,
        ]
        self.group, self.name = group, name
        self.process = group.popen(
            name, command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.lines.put), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.errors.append), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        group.annotate(name, self._last_errors)

    @staticmethod
    def _read(pipe, put) -> None:
        for line in pipe:
            put(line.rstrip("\n"))

    def wait_for(self, kind: type[_E], timeout_s: float, what: str) -> _E:
        """The next event record of ``kind`` (:mod:`jfjoch_hil.stream.writer_events`) within
        ``timeout_s``; a malformed event line is kept in :attr:`errors`.

        Raises :class:`SupervisionError` when the writer (or any other required child of the
        run) ends first, or when ``timeout_s`` passes; the message names the process, its exit
        status, its last figures and its last error lines.
        """
        event = kind.__name__
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and not self._readers[0].is_alive():
                    if self.lines.empty():
                        raise SupervisionError(
                            self.group.describe(self.name, f"ended without its {event} event", what)
                        ) from None
                    continue
                self.group.check(what=what)
                if time.monotonic() > deadline:
                    raise SupervisionError(
                        self.group.describe(
                            self.name, f"sent no {event} event within {timeout_s:.1f} s", what
                        )
                    ) from None
                continue
            try:
                record: WriterEvent | None = parse_event(line)
            except EventError as error:
                self.errors.append(f"bad writer event line: {error}")
                continue
            if isinstance(record, kind):
                return record

    def _last_errors(self) -> str:
        return f"; its last error lines: {' | '.join(self.errors[-5:])}" if self.errors else ""

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped writer cannot act on SIGTERM
            self.process.terminate()
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10.0)
        for reader in self._readers:
            reader.join(5.0)
        if not any(reader.is_alive() for reader in self._readers):
            self.process.stdout.close()
            self.process.stderr.close()
        return code


def send_supervised(pusher: Pusher, data, group: RunGroup, deadline: float, what: str) -> None:
    """``pusher.send(data)`` in slices of :data:`SEND_SLICE_MS`, checking the run's children
    between slices: a dead or stalled writer ends the run at once instead of after a long
    send timeout; past ``deadline`` (monotonic) the run ends with every child's state."""
    while True:
        try:
            pusher.send(data)
        except TransportError:
            group.check(what=what)
            if time.monotonic() > deadline:
                raise group.deadline_error(what, deadline - group.started) from None
            continue
        group.progress(WRITER, messages_taken=pusher.statistics().messages_sent)
        return


def check_files(
    files: list[Path], timeout_s: float, profile: str = "jungfraujoch"
) -> tuple[bool, list[dict]]:
    """Each file checked with the conformance library in a forked child (a crash in the HDF5
    library becomes an unreadable report, exit code 2), under ``profile``: ``nxmx`` for a run
    streamed with the DECTRIS profile, whose start message carries none of the Jungfraujoch
    fields a Jungfraujoch file always holds."""
    verdicts = []
    for path in files:
        report = check_file_isolated(path, profile=profile, timeout_s=timeout_s)
        verdicts.append(
            {
                "file": path.name,
                "profile": profile,
                "exit_code": report.exit_code,
                "errors": [finding.as_dict() for finding in report.errors][:20],
            }
        )
    return bool(files) and all(v["exit_code"] == 0 for v in verdicts), verdicts
