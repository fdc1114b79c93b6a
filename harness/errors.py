"""Errors of the harness package (STYLE.md "Errors"). Each subclasses the builtin a caller catches."""

from __future__ import annotations

__all__ = ["ScenarioError", "SupervisionError"]


class ScenarioError(ValueError):
    """A scenario file or ``--set`` override names an unknown key or a value that is not allowed;
    the message names the dotted key path and the allowed values."""


class SupervisionError(RuntimeError):
    """A child process of a run exited early or stopped making progress; the message names the
    process, its exit status and its last progress figures."""
