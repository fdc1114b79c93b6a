"""Findings and reports: the result of a check, rendered as text, JSON or JUnit XML."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.etree import ElementTree

__all__ = ["Finding", "Report", "ReportStatistics"]


@dataclass(frozen=True)
class ReportStatistics:
    """Counts of a report (STYLE.md "Errors": nothing dropped, everything counted)."""

    rules_checked: int
    errors: int
    warnings: int
    findings_by_rule: tuple[tuple[str, int], ...]
    unreadable: bool


@dataclass(frozen=True)
class Finding:
    """One violation or warning: rule id, severity, HDF5 path (or message file), message, spec section."""

    rule: str
    severity: str
    path: str
    message: str
    section: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form: rule, severity, path, message, section."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "section": self.section,
        }


@dataclass(frozen=True)
class Report:
    """Outcome of checking one file or stream: findings, rules evaluated, unreadable flag.

    ``ok`` is true when no finding has severity ``error``; ``exit_code`` is 0 (conformant, warnings
    allowed), 1 (violations) or 2 (unreadable).
    """

    target: str
    profile: str
    layout: str
    findings: tuple[Finding, ...] = ()
    checked: int = 0
    unreadable: bool = False
    rules_run: tuple[str, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity ``error``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings of severity ``warning``."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when the target is readable and has no error finding."""
        return not self.unreadable and not self.errors

    @property
    def exit_code(self) -> int:
        """``jfcheck`` exit code: 0 ok, 1 violations, 2 unreadable."""
        if self.unreadable:
            return 2
        return 0 if self.ok else 1

    def rule_ids(self, severity: str | None = None) -> set[str]:
        """Ids of the rules that produced findings (optionally only of one severity)."""
        return {f.rule for f in self.findings if severity is None or f.severity == severity}

    def statistics(self) -> ReportStatistics:
        """Counts of findings per severity and per rule."""
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.rule] = counts.get(f.rule, 0) + 1
        return ReportStatistics(
            self.checked,
            len(self.errors),
            len(self.warnings),
            tuple(sorted(counts.items())),
            self.unreadable,
        )

    def to_json(self) -> dict:
        """``{"ok", "violations", "checked"}`` plus target, profile, layout."""
        return {
            "ok": self.ok,
            "violations": [f.as_dict() for f in self.findings],
            "checked": self.checked,
            "target": self.target,
            "profile": self.profile,
            "layout": self.layout,
            "unreadable": self.unreadable,
        }

    def to_text(self) -> str:
        """Human output: findings grouped by rule, each with its path and spec section."""
        head = (
            f"{self.target}: profile {self.profile}, layout {self.layout}, {self.checked} rules checked, "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )
        lines = [head]
        if self.unreadable:
            lines.append("UNREADABLE")
        by_rule: dict[str, list[Finding]] = {}
        for f in self.findings:
            by_rule.setdefault(f.rule, []).append(f)
        for rule_id in sorted(by_rule, key=lambda r: (by_rule[r][0].severity != "error", r)):
            group = by_rule[rule_id]
            lines.append(
                f"[{group[0].severity.upper()}] {rule_id} ({group[0].section}): {len(group)} finding(s)"
            )
            for f in group:
                lines.append(f"    {f.path}: {f.message}")
        lines.append("OK" if self.ok else "NOT CONFORMANT")
        return "\n".join(lines)

    def to_junit(self) -> str:
        """JUnit XML: one test case per rule evaluated; a failure element per error finding."""
        suite = ElementTree.Element(
            "testsuite",
            name=f"jfcheck {self.target}",
            tests=str(max(len(self.rules_run), 1)),
            failures=str(len({f.rule for f in self.errors})),
            errors="1" if self.unreadable else "0",
        )
        by_rule: dict[str, list[Finding]] = {}
        for f in self.findings:
            by_rule.setdefault(f.rule, []).append(f)
        names = list(self.rules_run) or sorted(by_rule)
        for rule_id in sorted(set(names) | set(by_rule)):
            case = ElementTree.SubElement(suite, "testcase", classname="jfcheck", name=rule_id)
            errs = [f for f in by_rule.get(rule_id, []) if f.severity == "error"]
            warns = [f for f in by_rule.get(rule_id, []) if f.severity == "warning"]
            if errs:
                fail = ElementTree.SubElement(case, "failure", message=f"{len(errs)} violation(s)")
                fail.text = "\n".join(f"{f.path}: {f.message} [{f.section}]" for f in errs)
            if warns:
                out = ElementTree.SubElement(case, "system-out")
                out.text = "\n".join(f"WARNING {f.path}: {f.message} [{f.section}]" for f in warns)
        return ElementTree.tostring(suite, encoding="unicode")

    def to_json_text(self) -> str:
        """:meth:`to_json` serialised."""
        return json.dumps(self.to_json(), indent=1)
