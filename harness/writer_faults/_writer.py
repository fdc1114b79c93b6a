"""A writer under test as a process: `jfwriter` started, signalled and read.

The harness never imports the writer (STYLE.md "imports flow one way"), so what our writer did
is observed as a user would: its event lines, parsed into the records of
:mod:`stream.writer_events`, its log lines (standard error merged into standard output, which
keeps their order) and the files it leaves.  Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jfjoch_hil.harness._supervise import die_with_parent
from jfjoch_hil.stream import (
    EventError,
    RunFinished,
    WriterEvent,
    WriterExit,
    WriterReady,
    WriterStatistics,
    parse_event,
)

__all__ = ["WriterProcess"]


class WriterProcess:
    """One `jfwriter --dir out_dir` child process (docs/writer.md "jfwriter protocol").

    ``listen``/``bind`` are passed through; ``extra`` adds arguments; ``preexec_fn`` runs in the
    child before exec (resource limits).  Use as a context manager: the child is always ended.
    """

    def __init__(
        self,
        out_dir,
        *,
        listen: str = "tcp://127.0.0.1:0",
        bind: bool = True,
        idle_timeout_s: float = 5.0,
        extra: tuple[str, ...] = (),
        preexec_fn: Callable[[], None] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.timeout_s = timeout_s
        self.command = [
            sys.executable,
            "-m",
            "jfjoch_hil.writer.cli",
            "--listen",
            listen,
            "--dir",
            str(self.out_dir),
            "--idle-timeout",
            str(idle_timeout_s),
            *(["--bind"] if bind else []),
            *extra,
        ]
        self.lines: list[str] = []
        self.records: list[WriterEvent] = []
        self.bad_events: list[str] = []
        self._changed = threading.Condition()
        parent = os.getpid()

        def setup() -> None:  # dies with the suite, even when the suite is SIGKILLed
            die_with_parent(parent)
            if preexec_fn is not None:
                preexec_fn()

        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            preexec_fn=setup,  # noqa: PLW1509
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self.wait_record(lambda r: isinstance(r, WriterReady))
        if not isinstance(ready, WriterReady):
            self.close()
            raise RuntimeError(f"jfwriter did not report ready: {self.lines[-5:]}")
        self.endpoint: str = ready.endpoint

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            with self._changed:
                self.lines.append(line)
                try:
                    record = parse_event(line)
                except EventError as error:
                    self.bad_events.append(str(error))
                    record = None
                if record is not None:
                    self.records.append(record)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # --- reading ----------------------------------------------------------------------------------
    def cursor(self) -> tuple[int, int]:
        """Positions in (log lines, JSON records) to read from later."""
        with self._changed:
            return len(self.lines), len(self.records)

    def wait_record(
        self,
        predicate: Callable[[WriterEvent], bool],
        timeout_s: float | None = None,
        since: int = 0,
    ) -> WriterEvent | None:
        """The first JSON record from ``since`` matching ``predicate``, or ``None`` after the timeout
        or when the process ended."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        with self._changed:
            while True:
                for record in self.records[since:]:
                    if predicate(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and self.process.poll() is not None):
                    return None
                self._changed.wait(min(left, 0.2))

    def wait_run(
        self, prefix: str, timeout_s: float | None = None, since: int = 0
    ) -> RunFinished | None:
        """The ``run`` record of ``prefix`` (docs/writer.md), or ``None``."""
        record = self.wait_record(
            lambda r: isinstance(r, RunFinished) and r.prefix == prefix, timeout_s, since
        )
        return record if isinstance(record, RunFinished) else None

    def statistics(self) -> WriterStatistics:
        """The service's statistics in the newest ``run`` or ``exit`` record (zeros before any)."""
        with self._changed:
            for record in reversed(self.records):
                if isinstance(record, (RunFinished, WriterExit)) and record.statistics is not None:
                    return record.statistics
        return WriterStatistics()

    def log_since(self, line_cursor: int) -> list[str]:
        """Log lines (not JSON) after ``line_cursor``."""
        with self._changed:
            return [line for line in self.lines[line_cursor:] if not line.startswith("{")]

    def runs_since(self, record_cursor: int) -> list[RunFinished]:
        """``run`` records after ``record_cursor``."""
        with self._changed:
            return [r for r in self.records[record_cursor:] if isinstance(r, RunFinished)]

    # --- signals ----------------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """Send ``signum`` if the child still runs."""
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int | None, WriterExit | None]:
        """Signal the child, wait (bounded) and return (exit status, ``exit`` record)."""
        self.send_signal(signal.SIGCONT)
        self.send_signal(signum)
        try:
            status = self.process.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            status = None
        self._reader.join(self.timeout_s)
        record = self.wait_record(lambda r: isinstance(r, WriterExit), 0)
        return status, record if isinstance(record, WriterExit) else None

    def close(self) -> None:
        """End the child for sure (SIGKILL after SIGTERM did not end it) and close the pipe."""
        if self.process.poll() is None:
            self.send_signal(signal.SIGCONT)
            self.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        self.process.stdout.close()

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
