"""Run a file check (or a manifest) in a forked child so that a crash inside the HDF5 C library (seen with
byte-corrupted files: a segmentation fault while opening an object) becomes an ``unreadable``
report with exit code 2 instead of killing ``jfcheck``.

The child sends the pickled :class:`Report` through a pipe; the parent waits at most
``timeout_s`` seconds (a corrupt file could also make the library loop) and kills the child then.
The child asks the kernel to kill it when its parent dies, so a caller killed meanwhile leaves
nothing running.

A forked child inherits the state of every library its parent loaded.  ``bitshuffle``'s Python
extension runs on the GNU OpenMP runtime, whose worker threads do not survive ``fork``: a child
forked from a process that already (de)compressed with it waits for them forever.  Work that
decompresses stream payloads (the stream-to-file trace) is therefore run in a freshly started
interpreter instead (``method="spawn"``), at the cost of its start-up.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import pickle
import select
import signal
import time

from jfjoch_hil.conformance._report import Finding, Report
from jfjoch_hil.conformance.errors import UnreadableFileError
from jfjoch_hil.conformance.rules import FILE_RULES

__all__ = ["call_isolated", "check_file_isolated", "trace_dir_isolated"]

_CHUNK = 1 << 16


def _unreadable(target: str, profile: str, layout: str, message: str) -> Report:
    r = FILE_RULES["FILE-UNREADABLE"]
    return Report(
        target,
        profile,
        layout,
        (Finding(r.id, r.severity, "/", message, r.section),),
        checked=1,
        unreadable=True,
        rules_run=(r.id,),
    )


class _Crashed(Exception):
    """The isolated call did not return: crash, timeout or a child without an answer."""


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """In a child: SIGKILL when the parent dies; exit now if it is already gone (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's timeout still bounds the child
        return
    if os.getppid() != parent:
        os._exit(3)


def _in_child(fn, args, kwargs, timeout_s: float):
    """``fn(*args, **kwargs)`` in a forked child; its result, or its exception re-raised here.
    Raises :class:`_Crashed` (message: what happened) when the child dies or overruns."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: never returns into the caller's stack
        code = 0
        try:
            os.close(read_fd)
            _die_with_parent(parent)
            faulthandler.disable()  # a library crash is the expected outcome the parent reports
            try:
                answer = ("ok", fn(*args, **kwargs))
            except Exception as error:  # noqa: BLE001 - handed to the parent as it is
                answer = ("raised", error)
            try:
                data = pickle.dumps(answer)
            except Exception as error:  # noqa: BLE001 - an unpicklable exception: its text
                data = pickle.dumps(("raised", RuntimeError(f"{type(error).__name__}: {error}")))
            view = memoryview(data)
            while view:
                written = os.write(write_fd, view[:_CHUNK])
                view = view[written:]
        except BaseException:  # noqa: BLE001 - the parent turns a silent child into an error
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(read_fd, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        raise _Crashed(f"did not finish within {timeout_s} s (killed)")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        raise _Crashed(
            f"the HDF5 library crashed (signal {signal.Signals(sig).name}) reading this file"
        )
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001
        raise _Crashed(f"ended without an answer (status {status})") from None
    if kind == "raised":
        raise value
    return value


def _spawned_entry(conn, parent: int, fn, args, kwargs) -> None:
    """Body of a spawned child: run ``fn`` and send ("ok", result) or ("raised", error)."""
    _die_with_parent(parent)
    faulthandler.disable()
    try:
        answer = ("ok", fn(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - handed to the parent as it is
        answer = ("raised", error)
    try:
        conn.send(answer)
    except Exception as error:  # noqa: BLE001 - an unpicklable answer: its text
        conn.send(("raised", RuntimeError(f"{type(error).__name__}: {error}")))
    conn.close()


def _in_spawned_child(fn, args, kwargs, timeout_s: float):
    """As :func:`_in_child`, in a freshly started interpreter (``fn`` must be importable)."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(
        target=_spawned_entry, args=(sending, os.getpid(), fn, args, kwargs), daemon=True
    )
    child.start()
    sending.close()
    answer = None
    timed_out = False
    try:
        if receiving.poll(timeout_s):  # also true at end of file: the child died silently
            try:
                answer = receiving.recv()
            except (EOFError, OSError):
                answer = None
        else:
            timed_out = True
    finally:
        receiving.close()
        if timed_out:
            child.kill()
        child.join(timeout=None if timed_out or answer is None else max(1.0, timeout_s))
        if child.is_alive():  # answered but does not end: it has nothing left to give
            child.kill()
            child.join()
    if timed_out:
        raise _Crashed(f"did not finish within {timeout_s} s (killed)")
    if answer is None:
        code = child.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            raise _Crashed(f"the HDF5 library crashed (signal {name}) reading this file")
        raise _Crashed(f"ended without an answer (status {code})")
    kind, value = answer
    if kind == "raised":
        raise value
    return value


def call_isolated(
    fn, *args, timeout_s: float = 600.0, what: str = "", method: str = "fork", **kwargs
):
    """``fn(*args, **kwargs)`` in a child process (in process where ``fork`` is missing).

    ``method`` is ``"fork"`` (cheap; the default) or ``"spawn"`` (a fresh interpreter, for work
    that uses a library whose threads do not survive ``fork``: see the module's docstring).
    Returns its result; an exception it raises is raised here; a crash of the child (a signal,
    e.g. SIGSEGV inside the HDF5 library) or a run past ``timeout_s`` raises
    :class:`~conformance.errors.UnreadableFileError` naming ``what`` (``jfcheck`` exit code 2).
    """
    if method not in ("fork", "spawn"):
        raise ValueError(f"method {method!r}: expected 'fork' or 'spawn'")
    if not hasattr(os, "fork"):
        return fn(*args, **kwargs)
    try:
        if method == "spawn":
            return _in_spawned_child(fn, args, kwargs, timeout_s)
        return _in_child(fn, args, kwargs, timeout_s)
    except _Crashed as error:
        raise UnreadableFileError(f"{what}: {error}" if what else str(error)) from None


def check_file_isolated(
    path,
    profile: str = "jungfraujoch",
    layout: str = "auto",
    deep: bool = False,
    allow_outside: bool = False,
    timeout_s: float = 600.0,
) -> Report:
    """:func:`conformance.check_file` in a forked child; falls back to in-process without ``fork``."""
    from jfjoch_hil.conformance._api import check_file

    if not hasattr(os, "fork"):
        return check_file(
            path, profile=profile, layout=layout, deep=deep, allow_outside=allow_outside
        )
    target = str(path)
    try:
        report = _in_child(
            check_file,
            (path,),
            {"profile": profile, "layout": layout, "deep": deep, "allow_outside": allow_outside},
            timeout_s,
        )
    except _Crashed as error:
        message = str(error)
        if message.startswith("did not finish"):
            message = f"check {message}"
        elif message.startswith("ended"):
            message = f"check process {message}"
        return _unreadable(target, profile, layout, message)
    return (
        report if isinstance(report, Report) else _unreadable(target, profile, layout, "no report")
    )


def _trace_summary(master_path, folder):
    """:func:`trace_dir` without its traced points: what a caller in another process needs (the
    points, one per destination and row, are the self-test's and would only fill the pipe)."""
    from jfjoch_hil.conformance._trace import TraceResult, trace_dir

    result = trace_dir(master_path, folder)
    return TraceResult(result.report, result.statistics, ())


def trace_dir_isolated(master_path, folder, timeout_s: float = 600.0):
    """:func:`conformance.trace_dir` in a forked child, returning its :class:`TraceResult` with
    ``points`` left empty.  A crash or a run past ``timeout_s`` raises
    :class:`~conformance.errors.UnreadableFileError`; what ``trace_dir`` raises is raised here.
    The child is a fresh interpreter: the trace decompresses with ``bitshuffle``."""
    return call_isolated(
        _trace_summary,
        master_path,
        folder,
        timeout_s=timeout_s,
        method="spawn",
        what=f"tracing {folder} into {master_path}",
    )
