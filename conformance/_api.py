"""``check_file``: the library entry point of the file checks (STYLE.md "Checks are library functions")."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
from jfjoch_hil.conformance._context import Context
from jfjoch_hil.conformance._facts import derive_facts
from jfjoch_hil.conformance._hdf import Resolver
from jfjoch_hil.conformance._report import Finding, Report
from jfjoch_hil.conformance.checks import FILE_CHECKS
from jfjoch_hil.conformance.errors import UsageError
from jfjoch_hil.conformance.rules import FILE_RULES, LAYOUTS, PROFILES

__all__ = ["check_file"]


def _register_filters() -> None:
    """Register bitshuffle / LZ4 / Zstd with HDF5 (hdf5-format.md §2); without them every image is
    unreadable. Optional: absent hdf5plugin leaves HDF5_PLUGIN_PATH to the environment."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass


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


def check_file(
    path: str | os.PathLike[str],
    profile: str = "jungfraujoch",
    layout: str = "auto",
    deep: bool = False,
    allow_outside: bool = False,
) -> Report:
    """Check one NXmx master (or integrated / process) file against the rule table.

    ``profile``: ``jungfraujoch`` (NXmx + hdf5-format.md extensions) or ``nxmx`` (NXmx only).
    ``layout``: ``auto`` or one of legacy, vds, integrated, process (hdf5-format.md §2).
    ``deep``: read every image and every per-image row instead of a sample.
    ``allow_outside``: follow external links / VDS sources outside the file's folder.
    Never raises for file content: an unopenable file gives an ``unreadable`` report (exit 2), a
    rule that cannot be evaluated gives a CHECK-FAILED finding.
    """
    if profile not in PROFILES:
        raise UsageError(f"profile: {profile!r}, one of {list(PROFILES)} allowed")
    if layout not in LAYOUTS:
        raise UsageError(f"layout: {layout!r}, one of {list(LAYOUTS)} allowed")
    _register_filters()
    target = str(path)
    p = Path(path)
    if not p.is_file():
        return _unreadable(target, profile, layout, f"no such file: {target}")
    try:
        master = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 - any open failure is "unreadable", never a crash
        return _unreadable(target, profile, layout, f"not readable as HDF5: {exc}")
    resolver = Resolver(master, allow_outside=allow_outside)
    ctx = Context(
        target=target, resolver=resolver, profile=profile, layout_requested=layout, deep=deep
    )
    try:
        try:
            derive_facts(ctx)
        except Exception as exc:  # noqa: BLE001
            ctx.add("CHECK-FAILED", "/", f"facts could not be derived: {type(exc).__name__}: {exc}")
        for check, rule_ids in FILE_CHECKS:
            applicable = [r for r in rule_ids if ctx.applies(r)]
            if not applicable:
                continue
            ctx.rules_run.update(applicable)
            try:
                check(ctx)
            except Exception as exc:  # noqa: BLE001 - a corrupt item fails its rule, not the run
                ctx.add(
                    "CHECK-FAILED",
                    check.__name__,
                    f"{'/'.join(applicable)} not evaluated: {type(exc).__name__}: {str(exc)[:200]}",
                )
    finally:
        resolver.close()
        try:
            master.close()
        except Exception:  # noqa: BLE001, S110
            pass
    unique = tuple(dict.fromkeys(ctx.findings))
    return Report(
        target,
        profile,
        ctx.layout,
        unique,
        checked=len(ctx.rules_run),
        unreadable=False,
        rules_run=tuple(sorted(ctx.rules_run)),
    )
