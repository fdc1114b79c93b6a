"""README's two commands exist, .ci/run calls the test one verbatim, console scripts answer --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```\n(.*?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    return [b.strip() for b in blocks if "pip install" in b]


def test_readme_has_the_run_and_the_test_command():
    commands = readme_commands()
    assert len(commands) == 2
    assert "jfsim run" in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


@pytest.mark.parametrize(
    "module", ["jfjoch_hil.harness.cli", "jfjoch_hil.writer.cli", "jfjoch_hil.conformance.cli"]
)
def test_console_script_answers_help(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_ci_runs_every_habit_env_of_tox_before_the_tests():
    import configparser

    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    habits = {s.split(":", 1)[1] for s in tox.sections() if s.startswith("testenv:")} - {"py311"}
    assert habits >= {"lint", "format", "types", "imports"}
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    (line,) = [n for n, text in enumerate(ci) if "tox run" in text]
    envs = set(re.search(r"-e (\S+)", ci[line]).group(1).split(","))
    assert envs == habits
    assert line < ci.index(readme_commands()[1])


def test_no_code_or_doc_cites_a_tracker_issue():
    pattern = re.compile(r"\b[Ii]ssue #?\d+")
    roots = [
        "stream",
        "simulator",
        "writer",
        "conformance",
        "harness",
        "tests",
        "benchmarks",
        "docs",
    ]
    files = [p for r in roots for p in (ROOT / r).rglob("*") if p.suffix in (".py", ".md", ".toml")]
    files += [ROOT / "README.md", ROOT / "DEVELOPERS.md"]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and p != Path(__file__)
    ]
    assert not offenders, offenders
