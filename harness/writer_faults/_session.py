"""Supervision of a fault session: every child in one run group, every case bounded by its size.

A :class:`FaultSession` holds the :class:`~jfjoch_hil.harness._supervise.RunGroup` of one
``jfsim faults`` run (or of one helper called on its own): each `jfwriter`, `jfcheck` and
`chattr` the suite starts is a child of that group (one process group, death with the parent,
the pid file, ended and reaped on every way out).  Each fault case begins with
:meth:`FaultSession.begin`, which bounds it by its own size: ``margin + messages x per-image
allowance`` (:class:`~jfjoch_hil.harness._supervise.Bounds`; the defaults are
:data:`~jfjoch_hil.harness._supervise.FAULT_BOUNDS`).  Sends and waits in the case check the
children: a child that exits while still needed, or shows no progress for the stall limit,
raises :class:`~jfjoch_hil.harness.errors.SupervisionError` naming it, its exit status and its
last progress figures, and the case ends as a failed row (docs/reliability.md "Supervision").
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jfjoch_hil.harness._supervise import FAULT_BOUNDS, Bounds, RunGroup
from jfjoch_hil.stream import Pusher, TransportError

__all__ = ["GRACE_S", "SEND_SLICE_MS", "FaultSession", "given_or_own"]

#: Longest single ZeroMQ send before the children are checked again.
SEND_SLICE_MS = 250
#: Seconds a child has after SIGTERM before SIGKILL, when the suite ends it.
GRACE_S = 5.0


class FaultSession:
    """The run group of a fault session and the case under way.

    ``bounds`` (default :data:`FAULT_BOUNDS`) bound each case; ``pid_file`` (optional) lists the
    children while they live (:class:`RunGroup`).  Use as a context manager: every child is
    ended and reaped on the way out.
    """

    def __init__(self, bounds: Bounds | None = None, pid_file=None) -> None:
        self.group = RunGroup(bounds or FAULT_BOUNDS, pid_file)
        self.bounds = self.group.bounds
        self.case = "start-up"
        self.bound_s = self.bounds.margin_s
        self.deadline = time.monotonic() + self.bound_s

    # --- cases --------------------------------------------------------------------------------
    def begin(self, case: str, messages: int, extra_s: float = 0.0) -> float:
        """Case ``case`` of ``messages`` messages starts: its bound is ``margin + messages x
        per-image allowance + extra_s`` seconds from now (returned).  The figures of every child
        still running note the case, which restarts its stall clock."""
        self.case = case
        self.bound_s = self.bounds.run_s(messages, 0.0) + max(0.0, extra_s)
        self.deadline = time.monotonic() + self.bound_s
        for name, child in list(self.group.children.items()):
            if child.code is None:
                self.group.progress(name, case=case)
        return self.bound_s

    def left(self) -> float:
        """Seconds left of the current case's bound (0 once it passed)."""
        return max(0.0, self.deadline - time.monotonic())

    def name(self, base: str) -> str:
        """A child name not used yet in this session: ``base``, else ``base-2``, ``base-3``..."""
        if base not in self.group.children:
            return base
        number = 2
        while f"{base}-{number}" in self.group.children:
            number += 1
        return f"{base}-{number}"

    # --- sends --------------------------------------------------------------------------------
    def sender(self, pusher: Pusher, child: str | None = None) -> Callable[[object], None]:
        """``pusher.send`` in slices of the pusher's send timeout (:data:`SEND_SLICE_MS` for the
        suite's pushers), checking the children between slices: a dead or stalled child ends
        the case at once; a message not taken within the case's bound raises
        :class:`SupervisionError` with every child's state.  ``child`` (the writer the messages
        go to) gets the progress figure ``messages_taken``."""

        def send(data) -> None:
            what = f"sending case {self.case}"
            if child is not None:
                waiting = pusher.statistics().messages_sent + 1
                self.group.progress(child, awaiting=f"message {waiting} taken")
            while True:
                try:
                    pusher.send(data)
                except TransportError:
                    self.group.check(what=what)
                    if time.monotonic() > self.deadline:
                        raise self.group.deadline_error(what, self.bound_s) from None
                    continue
                if child is not None:
                    self.group.progress(child, messages_taken=pusher.statistics().messages_sent)
                return

        return send

    # --- short children -----------------------------------------------------------------------
    def run(self, base: str, command: list[str], timeout_s: float) -> tuple[int | None, str, str]:
        """``command`` (a one-shot tool: `jfcheck`, `chattr`) as a supervised child named after
        ``base``; (exit status, standard output, standard error).  Its exit, whatever the status,
        is its normal end; past ``timeout_s`` it is ended (SIGTERM, SIGKILL after
        :data:`GRACE_S`) and the status is ``None``."""
        name = self.name(base)
        process = self.group.popen(
            name,
            command,
            ends_itself=True,
            watch_stall=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            try:
                out, err = process.communicate(timeout=max(0.0, timeout_s))
            except subprocess.TimeoutExpired:
                self.group.finished(name)
                self.group.end_one(name, GRACE_S)
                try:
                    out, err = process.communicate(timeout=GRACE_S)
                except subprocess.TimeoutExpired:  # a grandchild holds the pipes
                    out, err = "", ""
                return None, out, f"{err}\n{name} did not finish within {timeout_s:.1f} s"
        finally:
            self.group.finished(name)
            self.group.wait(name, 0.0)  # its status into the pid file
        return process.returncode, out, err

    # --- ending -------------------------------------------------------------------------------
    def close(self) -> dict[str, str]:
        """End and reap every child (SIGTERM, SIGKILL after :data:`GRACE_S`); their states."""
        return self.group.end(GRACE_S)

    def __enter__(self) -> FaultSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def given_or_own(
    session: FaultSession | None, bounds: Bounds | None = None
) -> Iterator[FaultSession]:
    """``session``, or a new one within ``bounds`` that is closed (its children reaped) on exit."""
    if session is not None:
        yield session
        return
    with FaultSession(bounds) as own:
        yield own
