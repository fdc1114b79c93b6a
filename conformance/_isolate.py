"""Run a file check (or a manifest) in a forked child so that a crash inside the HDF5 C library (seen with
byte-corrupted files: a segmentation fault while opening an object) becomes an ``unreadable``
report with exit code 2 instead of killing ``jfcheck``.

The child sends the pickled :class:`Report` through a pipe; the parent waits at most
``timeout_s`` seconds (a corrupt file could also make the library loop) and kills the child then.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import time

from jfjoch_hil.conformance._report import Finding, Report
from jfjoch_hil.conformance.errors import UnreadableFileError
from jfjoch_hil.conformance.rules import FILE_RULES

__all__ = ["call_isolated", "check_file_isolated"]

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


def _in_child(fn, args, kwargs, timeout_s: float):
    """``fn(*args, **kwargs)`` in a forked child; its result, or its exception re-raised here.
    Raises :class:`_Crashed` (message: what happened) when the child dies or overruns."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into the caller's stack
        code = 0
        try:
            os.close(read_fd)
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


def call_isolated(fn, *args, timeout_s: float = 600.0, what: str = "", **kwargs):
    """``fn(*args, **kwargs)`` in a forked child (in process where ``fork`` is missing).

    Returns its result; an exception it raises is raised here; a crash of the child (a signal,
    e.g. SIGSEGV inside the HDF5 library) or a run past ``timeout_s`` raises
    :class:`~conformance.errors.UnreadableFileError` naming ``what`` (``jfcheck`` exit code 2).
    """
    if not hasattr(os, "fork"):
        return fn(*args, **kwargs)
    try:
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
