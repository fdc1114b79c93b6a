"""The import rules of DEVELOPERS.md, checked by parsing every module (ast), and the guard that
our top-level names resolve to our distribution, not to same-named PyPI projects."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stream", "simulator", "writer", "conformance")
#: package -> packages of ours it may import (STYLE.md, "imports flow one way")
ALLOWED = {
    "stream": set(),
    "simulator": {"stream"},
    "writer": {"stream"},
    "conformance": {"stream"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        ours = imported_top_levels(path) & set(PACKAGES) - {package}
        wrong = ours - ALLOWED[package]
        if wrong:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not offenders, "\n".join(offenders)


def test_the_rule_detects_a_wrong_arrow(tmp_path):
    # the checker itself must be able to fail
    module = tmp_path / "bad.py"
    module.write_text("import writer.service\nfrom simulator import cli\nfrom . import sibling\n")
    assert imported_top_levels(module) == {"writer", "simulator"}


@pytest.mark.parametrize("package", PACKAGES)
def test_top_level_name_resolves_to_our_distribution(package):
    module = importlib.import_module(package)
    origin = Path(module.__file__).resolve()
    distribution = importlib.metadata.distribution("jfjoch-hil")
    owners = importlib.metadata.packages_distributions().get(package, [])
    assert set(owners) <= {"jfjoch-hil"}, f"{package} is also provided by {owners}"
    installed = {Path(distribution.locate_file(f)).resolve() for f in distribution.files or ()}
    assert origin.is_relative_to(ROOT) or origin in installed, f"{package} comes from {origin}"


def test_console_scripts_are_declared():
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")
               if ep.dist is not None and ep.dist.name == "jfjoch-hil"}
    assert scripts == {"jfsim": "simulator.cli:main", "jfwriter": "writer.cli:main", "jfcheck": "conformance.cli:main"}
