"""A writer under test as a process: `jfwriter` started, signalled and read.

The harness never imports the writer (STYLE.md "imports flow one way"), so what our writer did
is observed as a user would: its event lines, parsed into the records of
:mod:`stream.writer_events`, its log lines (standard error merged into standard output, which
keeps their order) and the files it leaves.  The process is a supervised child of a
:class:`~._session.FaultSession` (one process group, death with the parent, the pid file); every
wait is bounded, and a writer that exits while still needed or stops making progress raises
:class:`~jfjoch_hil.harness.errors.SupervisionError` naming it (docs/reliability.md).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jfjoch_hil.harness.errors import SupervisionError
from jfjoch_hil.harness.writer_faults._session import GRACE_S, FaultSession
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
    child before exec (resource limits).  The child belongs to ``session`` under a name based on
    ``name`` (:attr:`name`); without a session it gets one of its own, closed with it.  Progress
    figures: ``lines`` and ``records`` it printed, ``messages_taken`` (sends through
    :meth:`FaultSession.sender`), ``case`` and what the suite is ``awaiting``.  Use as a context
    manager: the child is always ended.
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
        session: FaultSession | None = None,
        name: str = "jfwriter",
    ) -> None:
        self.out_dir = Path(out_dir)
        self._own_session = session is None
        self.session = session if session is not None else FaultSession()
        self.group = self.session.group
        self.bounds = self.session.bounds
        self.name = self.session.name(name)
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
        try:
            self.process = self.group.popen(
                self.name,
                self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                preexec_fn=preexec_fn,
                watch_stall=False,  # it prints nothing before ready: its start has the margin
            )
        except BaseException:
            if self._own_session:
                self.session.close()
            raise
        self.group.annotate(self.name, self._last_lines)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            margin = self.bounds.margin_s
            ready = self.wait_record(lambda r: isinstance(r, WriterReady), margin, what="ready")
            if not isinstance(ready, WriterReady):
                raise SupervisionError(
                    self.group.describe(
                        self.name, f"sent no ready record within {margin:g} s", "starting"
                    )
                )
        except BaseException:
            self.close()
            raise
        self.group.watch(self.name)
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
        what: str = "an event record",
    ) -> WriterEvent | None:
        """The first JSON record from ``since`` matching ``predicate`` within ``timeout_s``
        (default: the session's margin), or ``None`` after it or when the writer ended after
        :meth:`stop` or :meth:`kill`.

        Raises :class:`SupervisionError` when the writer (or another required child of the
        session) exits while still needed or makes no progress for the stall limit; ``what`` (the
        record awaited) names the wait in the report and in the ``awaiting`` figure.
        """
        deadline = time.monotonic() + (self.bounds.margin_s if timeout_s is None else timeout_s)
        doing = f"waiting for {what} from {self.name}"
        self.group.progress(self.name, awaiting=what)
        with self._changed:
            while True:
                for record in self.records[since:]:
                    if predicate(record):
                        return record
                self.group.progress(self.name, lines=len(self.lines), records=len(self.records))
                exited = self.process.poll() is not None
                if exited and not self._reader.is_alive():  # every line it printed is read
                    self.group.check(what=doing)  # raises when its exit was not expected
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if not exited:  # else its last lines are still being read: judged after them
                    self.group.check(what=doing)
                self._changed.wait(min(left, 0.2))

    def wait_run(
        self, prefix: str, timeout_s: float | None = None, since: int = 0
    ) -> RunFinished | None:
        """The ``run`` record of ``prefix`` (docs/writer.md), or ``None``."""
        record = self.wait_record(
            lambda r: isinstance(r, RunFinished) and r.prefix == prefix,
            timeout_s,
            since,
            what=f"the run record of {prefix}",
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

    def _last_lines(self) -> str:
        with self._changed:
            last = [line for line in self.lines if not line.startswith("{")][-3:]
        return f"; its last log lines: {' | '.join(last)}" if last else ""

    # --- signals ----------------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """Send ``signum`` if the child still runs."""
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def idle(self) -> None:
        """The suite is done with this writer until it stops it: its exit is still watched, its
        stall clock no longer (nothing is sent to it, so it has nothing to show)."""
        self.group.quiet(self.name)

    def kill(self) -> int | None:
        """SIGKILL on purpose (a kill point): its death is no failure of the session; reaped
        within the margin.  Its exit status."""
        self.group.finished(self.name)
        self.send_signal(signal.SIGKILL)
        return self.group.wait(self.name, self.bounds.margin_s)

    def stop(
        self, signum: int = signal.SIGTERM, timeout_s: float | None = None
    ) -> tuple[int | None, WriterExit | None]:
        """Signal the child, wait up to ``timeout_s`` (default: the margin) and return (exit
        status, ``exit`` record)."""
        timeout_s = self.bounds.margin_s if timeout_s is None else timeout_s
        self.group.finished(self.name)
        self.send_signal(signal.SIGCONT)
        self.send_signal(signum)
        status = self.group.wait(self.name, timeout_s)
        self._reader.join(timeout_s if status is not None else 0.0)
        record = self.wait_record(lambda r: isinstance(r, WriterExit), 0, what="its exit record")
        return status, record if isinstance(record, WriterExit) else None

    def close(self) -> None:
        """End the child for sure (SIGTERM, SIGKILL after :data:`GRACE_S`), reap it and close the
        pipe; a session of its own is closed too."""
        self.group.finished(self.name)
        if self.process.poll() is None:
            self.send_signal(signal.SIGCONT)  # a stopped writer cannot act on SIGTERM
            self.group.end_one(self.name, GRACE_S)
        self._reader.join(GRACE_S)
        if not self._reader.is_alive():
            self.process.stdout.close()
        if self._own_session:
            self.session.close()

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
