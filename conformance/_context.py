"""The state one file check shares between rules: resolver, findings, and facts found once.

Facts (entry group, layout, image datasets, frame count, image shape) are derived once here so
every rule reads them instead of re-deriving them (STYLE.md "Declare a layout once").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
from jfjoch_hil.conformance._hdf import Missing, Resolver, as_text, attr, is_dataset, is_group
from jfjoch_hil.conformance._report import Finding
from jfjoch_hil.conformance.rules import FILE_RULES

__all__ = ["Context", "ImageSource", "LEGACY_LINK", "sample_indices"]

LEGACY_LINK = re.compile(r"^data_(\d{6})$")
_SAMPLE_ROWS = 48
_DEEP_LIMIT = (
    10_000_000  # --deep reads every row up to this count; beyond it a hostile shape, so sample
)


def sample_indices(n: int, deep: bool) -> list[int]:
    """Image indices read without --deep: the first and last few and an even sample (speed)."""
    if n <= 0:
        return []
    if (deep and n <= _DEEP_LIMIT) or n <= _SAMPLE_ROWS:
        return list(range(n))
    picks = set(range(min(4, n))) | set(range(max(0, n - 4), n))
    picks |= {int(x) for x in np.linspace(0, n - 1, _SAMPLE_ROWS - 8)}
    return sorted(picks)


@dataclass
class ImageSource:
    """One image dataset: the master's /entry/data/data or one legacy data file's /entry/data/data."""

    label: str  # e.g. "/entry/data/data" or "/entry/data/data_000002"
    dataset: h5py.Dataset
    frames: int
    file_group: (
        h5py.Group
    )  # the root of the file holding it (per-image arrays live next to it in legacy)


@dataclass
class Context:
    """Everything a rule needs: resolver, options, facts, and the findings list."""

    target: str
    resolver: Resolver
    profile: str
    layout_requested: str
    deep: bool
    layout: str = "unknown"
    entry: Any = None
    entry_path: str = "/entry"
    findings: list[Finding] = field(default_factory=list)
    sources: list[ImageSource] = field(default_factory=list)
    n_frames: int | None = None
    image_shape: tuple[int, ...] | None = None
    image_dtype: np.dtype | None = None
    rules_run: set[str] = field(default_factory=set)
    unsafe_virtual: set[str] = field(default_factory=set)  # VDS whose sources must not be read

    # -- findings -------------------------------------------------------------------------------
    def applies(self, rule_id: str) -> bool:
        """True when ``rule_id`` applies to this profile and layout."""
        r = FILE_RULES[rule_id]
        if self.profile not in r.profiles:
            return False
        return self.layout == "unknown" or self.layout in r.layouts

    def add(self, rule_id: str, path: str, message: str, severity: str | None = None) -> None:
        """Record a finding of ``rule_id`` (dropped when the rule does not apply here)."""
        if not self.applies(rule_id):
            return
        r = FILE_RULES[rule_id]
        self.findings.append(Finding(rule_id, severity or r.severity, path, message, r.section))

    # -- navigation shortcuts -------------------------------------------------------------------
    @property
    def master(self) -> h5py.File:
        """The open master file."""
        return self.resolver.master

    def get(self, path: str) -> Any:
        """Resolve an absolute path of the master (see :class:`Resolver`)."""
        return self.resolver.get(path)

    def dataset(self, path: str) -> h5py.Dataset | None:
        """The dataset at ``path`` or None."""
        obj = self.get(path)
        return obj if is_dataset(obj) else None

    def group(self, path: str) -> h5py.Group | None:
        """The group at ``path`` or None."""
        obj = self.get(path)
        return obj if is_group(obj) else None

    def scalar(self, path: str) -> Any:
        """The value of a small dataset (None when absent, unreadable or larger than 64 elements)."""
        ds = self.dataset(path)
        if ds is None or ds.size > 64:
            return None
        try:
            value = ds[()]
        except Exception:  # noqa: BLE001 - unreadable value reads as absent; readability is its own rule
            return None
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        return value

    def number(self, path: str) -> float | None:
        """A numeric scalar at ``path`` as float."""
        v = self.scalar(path)
        if isinstance(v, bool | np.bool_):
            return float(v)
        if isinstance(v, int | float | np.integer | np.floating):
            return float(v)
        return None

    def text(self, path: str) -> str | None:
        """A string scalar at ``path``."""
        return as_text(self.scalar(path))

    def is_missing(self, obj: Any) -> bool:
        """True when ``obj`` is a :class:`Missing`."""
        return isinstance(obj, Missing)

    def units(self, ds: Any) -> str | None:
        """The ``units`` attribute of ``ds`` as text."""
        return as_text(attr(ds, "units"))

    def scalar_array(self, path: str) -> np.ndarray | None:
        """A small numeric dataset (<= 64 elements) as a flat int64/float array; None otherwise."""
        ds = self.dataset(path)
        if ds is None or ds.size > 64 or ds.dtype.kind not in "iuf":
            return None
        try:
            return np.asarray(ds[()]).reshape(-1)
        except Exception:  # noqa: BLE001
            return None
