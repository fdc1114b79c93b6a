"""The whole fault session behind ``jfsim faults``: sockets, writer, table.

``--target-writer ENDPOINT`` aims at any writer: by default the suite binds a PUSH socket there
and the writer connects (stream.md 2.3); with ``connect`` the writer binds and the suite
connects.  With ``spawn`` the suite starts our own `jfwriter` itself and also judges it by its
JSON and log lines; otherwise only the files under ``out_dir`` are observed.

Every process the suite starts is a child of one :class:`~._session.FaultSession` (one process
group, death with the parent, the pid file, ended and reaped on every way out); every case is
bounded by its own size, and a case ended by supervision is a failed row after which the suite
goes on: when our writer exited or stalled, with a fresh one (docs/reliability.md "Supervision").
"""

from __future__ import annotations

from pathlib import Path

from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.writer_faults._disk import disk_faults
from jfjoch_hil.harness.writer_faults._faults import standard_faults
from jfjoch_hil.harness.writer_faults._kill import kill_points_row
from jfjoch_hil.harness.writer_faults._runner import (
    FaultRow,
    Send,
    accounting_row,
    run_fault_table,
    slow_consumer,
)
from jfjoch_hil.harness.writer_faults._session import SEND_SLICE_MS, FaultSession
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import Pusher

__all__ = ["PID_FILE", "run_suite"]

#: Name of the pid file in the output folder unless one is given (``jfsim faults --pid-file``).
PID_FILE = "faults_pids.json"


def run_suite(
    endpoint: str,
    out_dir,
    *,
    connect: bool = False,
    spawn: bool = False,
    seed: int = 0,
    bounds: Bounds | None = None,
    faults=None,
    kill_points: int = 0,
    pid_file=None,
) -> list[FaultRow]:
    """Run every fault, the slow consumer and, with ``spawn``, the disk faults and ``kill_points``
    SIGKILLs (own writers in folders next to ``out_dir``) and the exit accounting; the rows.

    ``bounds`` (default :data:`~jfjoch_hil.harness._supervise.FAULT_BOUNDS`) bound each case;
    ``pid_file`` (optional) lists the suite's children while they live.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if pid_file is not None:
        Path(pid_file).parent.mkdir(parents=True, exist_ok=True)
    faults = standard_faults() if faults is None else faults
    with FaultSession(bounds, pid_file) as session:
        return _Suite(session, endpoint, out_dir, connect, spawn).run(faults, seed, kill_points)


class _Suite:
    """The suite's socket and writer, replaced together when a case ended the writer."""

    def __init__(
        self, session: FaultSession, endpoint: str, out_dir: Path, connect: bool, spawn: bool
    ) -> None:
        self.session, self.endpoint, self.out_dir = session, endpoint, out_dir
        self.connect, self.spawn = connect, spawn
        self.writer: WriterProcess | None = None
        self.pusher: Pusher | None = None
        self.first_on_writer = 0  # the first case the current writer saw

    def _start(self) -> tuple[str, bool]:
        """Writer (with ``spawn``) and socket; (the endpoint the stream goes to, bind)."""
        if self.spawn and self.connect:
            self.writer = WriterProcess(
                self.out_dir, listen=self.endpoint, bind=True, session=self.session
            )
            target, bind = self.writer.endpoint, False
        else:
            target, bind = self.endpoint, not self.connect
        self.pusher = Pusher(target, bind=bind, send_timeout_ms=SEND_SLICE_MS, linger_ms=5000)
        target = self.pusher.endpoint  # the real port after binding port 0
        if self.spawn and self.writer is None:
            self.writer = WriterProcess(
                self.out_dir, listen=target, bind=False, session=self.session
            )
        return target, bind

    def _send(self) -> Send:
        assert self.pusher is not None
        return self.session.sender(self.pusher, self.writer.name if self.writer else None)

    def _replace(self, index: int) -> tuple[Send, WriterProcess]:
        """Case ``index`` ended the writer (it exited or stalled): a fresh one for the next."""
        assert self.writer is not None and self.pusher is not None
        self.writer.close()
        self.first_on_writer = index + 1
        self.session.begin(f"replacing the writer after case {index}", 0)
        if self.connect:  # the writer binds: a new socket connects to the new writer
            self.pusher.close()
            self.writer = WriterProcess(
                self.out_dir, listen=self.endpoint, bind=True, session=self.session
            )
            self.pusher = Pusher(
                self.writer.endpoint, bind=False, send_timeout_ms=SEND_SLICE_MS, linger_ms=5000
            )
        else:  # the new writer connects to the socket the suite bound
            self.writer = WriterProcess(
                self.out_dir, listen=self.pusher.endpoint, bind=False, session=self.session
            )
        return self._send(), self.writer

    def run(self, faults, seed: int, kill_points: int) -> list[FaultRow]:
        try:
            target, bind = self._start()
            rows = run_fault_table(
                self._send(),
                self.out_dir,
                faults,
                writer=self.writer,
                seed=seed,
                session=self.session,
                replace=self._replace if self.spawn else None,
            )
            assert self.pusher is not None
            self.pusher.close()
            self.pusher = None
            if self.spawn and self.connect:
                assert self.writer is not None
                target = self.writer.endpoint  # a replaced writer bound a new port
            rows.append(
                slow_consumer(
                    target,
                    self.out_dir,
                    bind=bind,
                    writer=self.writer,
                    seed=seed,
                    session=self.session,
                )
            )
            if self.writer is not None:
                self.writer.idle()  # nothing more is sent to it until it is stopped
            sandbox, name = self.out_dir.parent, self.out_dir.name
            if self.spawn:
                rows += disk_faults(
                    sandbox / f"{name}_disk_faults", seed=seed, session=self.session
                )
            if self.spawn and kill_points:
                rows.append(
                    kill_points_row(
                        sandbox / f"{name}_kill_points",
                        kill_points,
                        seed=seed,
                        session=self.session,
                    )
                )
            if self.writer is not None:
                rows.append(self._accounting(faults, seed))
            return rows
        finally:
            if self.pusher is not None:
                self.pusher.close()
            if self.writer is not None:
                self.writer.close()

    def _accounting(self, faults, seed: int) -> FaultRow:
        """The writer stopped (SIGTERM): its exit statistics hold every bad message it was sent."""
        assert self.writer is not None
        self.session.begin("accounting", 0)
        status, exit_record = self.writer.stop()
        first = self.first_on_writer
        row = accounting_row(faults[first:], exit_record, self.out_dir, seed, first_index=first)
        replaced = (
            f" (writer replaced after case {faults[first - 1].name}: the cases after it)"
            if first
            else ""
        )
        return FaultRow(
            row.fault,
            row.expected,
            f"{row.observed}, exit {status}{replaced}",
            row.passed and status == 0,
        )
