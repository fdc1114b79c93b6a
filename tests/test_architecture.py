"""The layers of docs/architecture.md, checked by parsing every module (ast, function-level imports
included), and the guard that the distribution installs one top-level import name, ``jfjoch_hil``.

The same layers are import-linter contracts in pyproject.toml (the ``imports`` tox env); this test
also sees imports inside functions and checks the sub-packages for cycles.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NS = "jfjoch_hil"
PACKAGES = ("stream", "simulator", "writer", "conformance", "harness")
#: package -> packages of ours it may import (STYLE.md, "imports flow one way")
ALLOWED = {
    "stream": set(),
    "simulator": {"stream"},
    "writer": {"stream"},
    "conformance": {"stream"},
    "harness": {"stream", "simulator", "conformance"},
}
#: the old generic top-level names: a module that still imports one of them is a leftover
GENERIC = {"stream", "simulator", "writer", "conformance", "harness"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NS, *parts])


def imported_modules(path: Path) -> set[str]:
    """Every module of ours that ``path`` imports, as dotted ``jfjoch_hil.*`` names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in {NS} | GENERIC}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == NS and len(parts) > 1 else None


def test_no_module_imports_an_old_generic_top_level_name():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            bare = {m for m in imported_modules(path) if m.split(".")[0] in GENERIC}
            if bare:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bare)}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        ours = {layer(m) for m in imported_modules(path)} - {package, None}
        wrong = ours - ALLOWED[package]
        if wrong:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not offenders, "\n".join(offenders)


def test_the_rule_detects_a_wrong_arrow(tmp_path):
    # the checker itself must be able to fail
    package = tmp_path / "simulator"
    package.mkdir()
    module = package / "bad.py"
    module.write_text(
        "import jfjoch_hil.writer.service\nfrom jfjoch_hil.harness import cli\n"
        "def f():\n    from ..conformance import x\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        layers = {layer(m) for m in imported_modules(module)}
    finally:
        ROOT = saved
    assert {"writer", "harness", "conformance"} <= layers


def subpackage_graph(package: str) -> dict[str, set[str]]:
    """``jfjoch_hil.<package>.<sub>`` -> the other sub-packages of ``package`` it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        own = ".".join(module_name(path).split(".")[:3])
        targets = {
            ".".join(m.split(".")[:3]) for m in imported_modules(path) if layer(m) == package
        }
        graph.setdefault(own, set()).update(t for t in targets if t != own and t.count(".") == 2)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_sub_packages_have_no_import_cycle(package):
    # modules whose name starts with "_" at the package level (errors, _udp) are leaves shared by all
    graph = {
        k: {t for t in v if not t.rsplit(".", 1)[1].startswith(("_", "errors"))}
        for k, v in subpackage_graph(package).items()
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or ())


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_detector_side_never_imports_the_receiver_side():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "simulator" / "detector").rglob("*.py"))
        if any(m.startswith(f"{NS}.simulator.receiver") for m in imported_modules(p))
    ]
    assert not offenders


@pytest.mark.parametrize("package", PACKAGES)
def test_package_resolves_to_our_distribution(package):
    module = importlib.import_module(f"{NS}.{package}")
    origin = Path(module.__file__).resolve()
    distribution = importlib.metadata.distribution("jfjoch-hil")
    installed = {Path(distribution.locate_file(f)).resolve() for f in distribution.files or ()}
    assert origin.is_relative_to(ROOT) or origin in installed, f"{package} comes from {origin}"


def test_distribution_installs_one_top_level_name():
    owned = {
        name
        for name, dists in importlib.metadata.packages_distributions().items()
        if "jfjoch-hil" in dists and not name.startswith(("_", "__editable__"))
    }
    assert owned <= {NS}, f"jfjoch-hil installs top-level names {sorted(owned)}"


def test_console_scripts_are_declared():
    scripts = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.dist is not None and ep.dist.name == "jfjoch-hil"
    }
    assert scripts == {
        "jfsim": f"{NS}.harness.cli:main",
        "jfwriter": f"{NS}.writer.cli:main",
        "jfcheck": f"{NS}.conformance.cli:main",
    }
