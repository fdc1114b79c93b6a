"""A writer under test as a process: `jfwriter` started, signalled and read.

The simulator imports only ``stream`` (STYLE.md "imports flow one way"), so what our writer did
is observed as a user would: its JSON lines and log lines (standard error merged into standard
output, which keeps their order) and the files it leaves.  Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jfjoch_hil.harness._supervise import die_with_parent

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
        self.records: list[dict] = []
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
        ready = self.wait_record(lambda r: r.get("event") == "ready")
        if ready is None:
            self.close()
            raise RuntimeError(f"jfwriter did not report ready: {self.lines[-5:]}")
        self.endpoint: str = ready["endpoint"]

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            with self._changed:
                self.lines.append(line)
                if line.startswith("{"):
                    try:
                        self.records.append(json.loads(line))
                    except ValueError:
                        pass
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # --- reading ----------------------------------------------------------------------------------
    def cursor(self) -> tuple[int, int]:
        """Positions in (log lines, JSON records) to read from later."""
        with self._changed:
            return len(self.lines), len(self.records)

    def wait_record(
        self, predicate: Callable[[dict], bool], timeout_s: float | None = None, since: int = 0
    ) -> dict | None:
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

    def wait_run(self, prefix: str, timeout_s: float | None = None, since: int = 0) -> dict | None:
        """The ``run`` record of ``prefix`` (docs/writer.md), or ``None``."""
        return self.wait_record(
            lambda r: r.get("event") == "run" and r.get("prefix") == prefix, timeout_s, since
        )

    def log_since(self, line_cursor: int) -> list[str]:
        """Log lines (not JSON) after ``line_cursor``."""
        with self._changed:
            return [line for line in self.lines[line_cursor:] if not line.startswith("{")]

    def runs_since(self, record_cursor: int) -> list[dict]:
        """``run`` records after ``record_cursor``."""
        with self._changed:
            return [r for r in self.records[record_cursor:] if r.get("event") == "run"]

    # --- signals ----------------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """Send ``signum`` if the child still runs."""
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int | None, dict | None]:
        """Signal the child, wait (bounded) and return (exit status, ``exit`` record)."""
        self.send_signal(signal.SIGCONT)
        self.send_signal(signum)
        try:
            status = self.process.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            status = None
        self._reader.join(self.timeout_s)
        return status, self.wait_record(lambda r: r.get("event") == "exit", 0)

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
