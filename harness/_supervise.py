"""Supervision of a run's child processes: bounds from the run's own timing, one process group,
death with the parent, a pid file, and a report naming the child that failed.

Every command that starts processes (``jfsim run``, ``stress``, ``faults``, ``reprocess``, the
standalone halves) keeps its children in one :class:`RunGroup`.  Each child

- asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``, SIGKILL), and exits at
  once if the parent is already gone, so a harness killed with SIGKILL leaves nothing running;
- joins the run's process group, so one ``killpg`` reaches it and whatever it started;
- is listed, with its pid, in the run's pid file (JSON) while it lives.

The waiting loops call :meth:`RunGroup.check` often: a child that exited while it was still
needed, or whose progress figures did not change for ``Bounds.stall_s``, raises
:class:`~jfjoch_hil.harness.errors.SupervisionError` naming the process, its exit status and
its last progress figures.  :meth:`RunGroup.end` ends and reaps every child (SIGTERM, then
SIGKILL after a grace period); ``with RunGroup(...)`` calls it on every way out, and
:func:`signals_raise` turns SIGTERM into an exception so that way out is taken on SIGTERM too.
See docs/reliability.md "Supervision".
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jfjoch_hil.harness.errors import SupervisionError

__all__ = [
    "FAULT_BOUNDS",
    "Bounds",
    "RunGroup",
    "Terminated",
    "die_with_parent",
    "exit_status",
    "signals_raise",
]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclasses.dataclass(frozen=True)
class Bounds:
    """How long a run may take, derived from its own timing (docs/reliability.md "Bounds").

    A run of ``images`` frames at ``frame_period_s`` may take
    ``margin_s + images * (frame_period_s + per_image_s)`` from start to finish; a child whose
    progress figures do not change for ``stall_s`` is stalled.  ``margin_s`` covers start-up
    (imports, socket set-up, the writer's first file) and the tail (finalising files);
    ``per_image_s`` the processing of one image (conversion, analysis, writing) on a slow CPU:
    measured up to about 5 s per image with every core busy, where the processing side runs at
    a raised niceness (docs/reliability.md "Bounds").  The bound only catches a run that
    crawls; a hung child is caught sooner, by ``stall_s``.
    """

    margin_s: float = 60.0
    per_image_s: float = 5.0
    stall_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("margin_s", "per_image_s", "stall_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and value == value):
                raise ValueError(f"bounds.{name}: {value!r}; a number of seconds >= 0 is required")
        if self.stall_s <= 0:
            raise ValueError(f"bounds.stall_s: {self.stall_s!r}; must be > 0")

    def run_s(self, images: int, frame_period_s: float) -> float:
        """Seconds a run of ``images`` frames at ``frame_period_s`` may take end to end."""
        return self.margin_s + max(0, int(images)) * (max(0.0, frame_period_s) + self.per_image_s)


#: The fault suite's bounds (``jfsim faults``; docs/reliability.md "Supervision"): a fault case
#: of ``n`` messages (its fault messages and the probe run after it) may take
#: ``margin_s + n * per_image_s``.  Its messages are small (at most one 256 x 256 image) and no
#: analysis runs, so 1 s a message is generous; the margin covers a writer's start and a run's
#: finalising and is the fixed wait the suite used before its cases were bounded by their size.
FAULT_BOUNDS = Bounds(margin_s=30.0, per_image_s=1.0, stall_s=30.0)


def die_with_parent(parent_pid: int) -> None:
    """In a freshly started child: be killed (SIGKILL) when the parent dies; if the parent died
    already (between fork and here), exit now.  A no-op where ``prctl`` is missing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def exit_status(code: int | None) -> str:
    """A child's exit status in words: ``running``, ``exit code 3``, ``killed by SIGKILL``."""
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclasses.dataclass
class _Child:
    name: str
    pid: int
    poll: Callable[[], int | None]
    wait: Callable[[float], int | None]
    required: bool = True
    ends_itself: bool = False
    watch_stall: bool = True
    figures: dict = dataclasses.field(default_factory=dict)
    notes: Callable[[], str] | None = None
    progressed_at: float = dataclasses.field(default_factory=time.monotonic)
    code: int | None = None


def _supervised_entry(parent: int, pgid: int, target, *args, **kwargs):
    """First thing a child started by :meth:`RunGroup.start` runs: die with the parent, default
    SIGTERM/SIGHUP handling (not the parent's), join the run's process group; then ``target``."""
    die_with_parent(parent)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        os.setpgid(0, pgid)
    return target(*args, **kwargs)


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: raised by :func:`signals_raise` so ``finally`` blocks run."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (SIGINT
    raises ``KeyboardInterrupt`` as always), so a run's clean-up runs.  Previous handlers come
    back on exit.  Only in the main thread; elsewhere a no-op."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame) -> None:
        raise Terminated(signum)

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class RunGroup:
    """The child processes of one run (see the module docstring).

    ``pid_file`` (optional) is rewritten whenever a child starts or ends:
    ``{"parent": pid, "pgids": [...], "children": {name: {"pid", "status", "figures"}}}``.
    """

    def __init__(self, bounds: Bounds | None = None, pid_file: str | os.PathLike | None = None):
        self.bounds = bounds or Bounds()
        self.pid_file = Path(pid_file) if pid_file is not None else None
        self.parent = os.getpid()
        self.started = time.monotonic()
        self._ended = False
        self.pgids: list[int] = []
        self.children: dict[str, _Child] = {}
        self._write()

    # --- starting -----------------------------------------------------------------------------
    def _group(self) -> int:
        """The process group a new child joins (0: make a new one)."""
        for pgid in reversed(self.pgids):
            try:
                os.killpg(pgid, 0)
                return pgid
            except (ProcessLookupError, PermissionError):
                continue
        return 0

    def _joined(self, pid: int, pgid: int) -> None:
        # set from the parent as well: whichever of the two runs first wins the race
        with contextlib.suppress(OSError):
            os.setpgid(pid, pgid or pid)
        try:
            actual = os.getpgid(pid)
        except OSError:  # it ended already
            actual = pgid or pid
        if actual == os.getpgrp():
            # Not joined yet: a spawn-context child joins after its exec, where the parent may
            # no longer move it.  Record the group it is joining, never our own (ending the run
            # signals every recorded group).
            actual = pgid or pid
        if actual not in self.pgids:
            self.pgids.append(actual)

    def popen(
        self,
        name: str,
        command: list[str],
        *,
        ends_itself: bool = False,
        watch_stall: bool = True,
        **kwargs,
    ) -> subprocess.Popen:
        """``subprocess.Popen(command)`` as a supervised child named ``name``.

        ``ends_itself``: an exit with status 0 is its normal end, not a failure;
        ``watch_stall``: its progress figures are expected to change (see :meth:`progress`).
        """
        parent, pgid = self.parent, self._group()
        extra = kwargs.pop("preexec_fn", None)

        def setup() -> None:
            die_with_parent(parent)
            with contextlib.suppress(OSError):
                os.setpgid(0, pgid)
            if extra is not None:
                extra()

        process = subprocess.Popen(command, preexec_fn=setup, **kwargs)  # noqa: PLW1509
        self._joined(process.pid, pgid)

        def wait(timeout_s: float) -> int | None:
            try:
                return process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                return None

        self._add(_Child(name, process.pid, process.poll, wait, True, ends_itself, watch_stall))
        return process

    def start(self, name: str, process, *, ends_itself: bool = False, watch_stall: bool = True):
        """Start a ``multiprocessing.Process`` (fork or spawn context) as a supervised child.

        Its target is wrapped so that the child sets its parent-death signal and joins the group
        before doing anything else; the wrapper is a module-level function bound with
        ``functools.partial``, so a spawn-context child (its target pickled) gets it too.
        """
        parent, pgid = self.parent, self._group()
        target = process._target  # noqa: SLF001 - wrapped in place, before start
        process._target = functools.partial(_supervised_entry, parent, pgid, target)  # noqa: SLF001
        process.start()
        self._joined(process.pid, pgid)

        def wait(timeout_s: float) -> int | None:
            process.join(timeout_s)
            return process.exitcode

        self._add(
            _Child(
                name, process.pid, lambda: process.exitcode, wait, True, ends_itself, watch_stall
            )
        )
        return process

    def _add(self, child: _Child) -> None:
        self.children[child.name] = child
        self._write()

    # --- watching -----------------------------------------------------------------------------
    def progress(self, name: str, **figures) -> None:
        """Record ``name``'s progress figures; a change restarts its stall clock."""
        child = self.children.get(name)
        if child is None:
            return
        if figures != {k: child.figures.get(k) for k in figures}:
            child.progressed_at = time.monotonic()
        child.figures.update(figures)

    def annotate(self, name: str, notes: Callable[[], str]) -> None:
        """Add ``notes()`` (e.g. the child's last error lines) to every report about ``name``."""
        self.children[name].notes = notes

    def finished(self, name: str) -> None:
        """``name`` may now exit: :meth:`check` no longer treats its exit as a failure."""
        child = self.children.get(name)
        if child is not None:
            child.required = False

    def quiet(self, name: str) -> None:
        """``name`` is in a phase without progress figures (a writer finalising its files): its
        exit is still watched, its stall clock no longer; the caller's own bound applies."""
        child = self.children.get(name)
        if child is not None:
            child.watch_stall = False

    def watch(self, name: str) -> None:
        """``name`` has progress figures again (after :meth:`quiet`, or started with
        ``watch_stall=False`` for a start-up without figures): its stall clock restarts now."""
        child = self.children.get(name)
        if child is not None:
            child.watch_stall = True
            child.progressed_at = time.monotonic()

    def check(self, *, what: str = "") -> None:
        """Raise :class:`SupervisionError` when a required child exited or stalled."""
        now = time.monotonic()
        for child in self.children.values():
            code = child.poll()
            if code is not None and child.code is None:
                child.code = code
                self._write()
            if not child.required:
                continue
            if code is not None:
                if child.ends_itself and code == 0:
                    child.required = False
                    continue
                raise SupervisionError(self.describe(child.name, "exited early", what))
            if child.watch_stall and now - child.progressed_at > self.bounds.stall_s:
                raise SupervisionError(
                    self.describe(
                        child.name, f"made no progress for {self.bounds.stall_s:g} s", what
                    )
                )

    def describe(self, name: str, problem: str, what: str = "") -> str:
        """``process 'jfwriter' (pid 12): exited early (killed by SIGKILL); last progress: ...``."""
        child = self.children[name]
        figures = ", ".join(f"{k} {v}" for k, v in child.figures.items()) or "none reported"
        where = f" while {what}" if what else ""
        notes = child.notes() if child.notes is not None else ""
        return (
            f"process {name!r} (pid {child.pid}): {problem}{where} "
            f"({exit_status(child.poll())}); last progress: {figures}{notes}"
        )

    def deadline_error(self, what: str, limit_s: float | None = None) -> SupervisionError:
        """The error for a run that passed its bound: every child with its state and figures."""
        if limit_s is None:
            limit_s = time.monotonic() - self.started
        states = "; ".join(self.describe(name, "at the deadline") for name in self.children)
        return SupervisionError(
            f"{what} did not finish within its bound of {limit_s:.1f} s "
            f"({self.bounds}); {states or 'no child processes'}"
        )

    def wait(self, name: str, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for ``name`` to exit; its exit code, or ``None``."""
        child = self.children[name]
        code = child.wait(max(0.0, timeout_s))
        if code is not None:
            child.code = code
            self._write()
        return code

    # --- ending -------------------------------------------------------------------------------
    def end_one(self, name: str, grace_s: float = 5.0) -> int | None:
        """End one child: SIGTERM, SIGKILL after ``grace_s``; reaped; its exit code."""
        child = self.children[name]
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if child.poll() is None:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signum)
            child.code = child.wait(grace_s)
            if child.code is not None:
                break
        self._write()
        return child.code

    def end(self, grace_s: float = 5.0) -> dict[str, str]:
        """End every child: SIGTERM to each group, SIGKILL after ``grace_s``, all reaped.
        Returns each child's exit status in words.  A second call only reports."""
        if self._ended:
            return {name: exit_status(child.code) for name, child in self.children.items()}
        self._ended = True
        for pgid in self.pgids:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGCONT)
                os.killpg(pgid, signal.SIGTERM)
        self._signal_unreaped(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children.values():
            child.code = child.wait(max(0.0, deadline - time.monotonic()))
        for pgid in self.pgids:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        self._signal_unreaped(signal.SIGKILL)
        for child in self.children.values():
            if child.code is None:
                child.code = child.wait(5.0)
        self._write()
        return {name: exit_status(child.code) for name, child in self.children.items()}

    def _signal_unreaped(self, signum: int) -> None:
        """``signum`` to each child by pid as well, in case it has not joined the group yet (a
        child not yet reaped keeps its pid, so no other process can have it)."""
        for child in self.children.values():
            if child.poll() is None:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signum)

    def __enter__(self) -> RunGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.end()

    def _write(self) -> None:
        if self.pid_file is None:
            return
        record = {
            "parent": self.parent,
            "pgids": self.pgids,
            "children": {
                c.name: {"pid": c.pid, "status": exit_status(c.code), "figures": c.figures}
                for c in self.children.values()
            },
        }
        temporary = self.pid_file.with_name(self.pid_file.name + ".tmp")
        temporary.write_text(json.dumps(record, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, self.pid_file)
