"""Shipped scenarios while every core is busy (the load tier, marker ``load``; run by
``.ci/run`` after the main suite; docs/reliability.md "Load tier").

Loss is allowed; wrong accounting is not.  For each run: every datagram sent was read or
dropped by the kernel, every packet the fault plan says a correct receiver places was accepted
or is explained by a kernel drop on its port, every image was written or counted lost by the
receiver (its missing packets at the error value: the ``accepted`` truth verdict), conformance
holds, the run ended within its own bound and nothing of it remains.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.run import run_bound_s
from jfjoch_hil.harness.scenario import load_scenario

pytestmark = [
    pytest.mark.load,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="checks /proc for leftovers"),
]

# a representative subset, small enough for about five minutes on two busy cores
SCENARIOS = {
    "quickstart": ("run.images=20",),
    "packet-loss-burst": ("run.images=10", "run.frame_rate_hz=50.0"),
    "field-module-dropout": ("run.images=14", "run.frame_rate_hz=50.0"),
    "field-writer-no-end": ("run.images=8",),
    "field-aborted-run": ("run.images=12",),
}


def _leftovers(record: dict) -> list[str]:
    left = []
    groups = set(record["pgids"])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        state, _, pgid = text[text.rindex(")") + 2 :].split()[:3]
        if state != "Z" and (int(pgid) in groups or int(entry.name) in _pids(record)):
            left.append(f"pid {entry.name} state {state} group {pgid}")
    return left


def _pids(record: dict) -> set[int]:
    return {child["pid"] for child in record["children"].values()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_under_load_accounts_for_everything(cpu_hog, tmp_path, name):
    overrides = SCENARIOS[name]
    scenario = load_scenario(name, overrides)
    bound_s = run_bound_s(scenario, Bounds())
    args = [sys.executable, "-m", "jfjoch_hil.harness.cli", "run", name, "--out", str(tmp_path)]
    for override in overrides:
        args += ["--set", override]
    done = subprocess.run(
        [*args, "--json", "--no-progress"],
        capture_output=True,
        text=True,
        # the chain ends itself within bound_s, the checks after it within their own bounds;
        # this only catches a hang of jfsim itself
        timeout=2 * bound_s + 120,
    )
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    record = json.loads(Path(report["pid_file"]).read_text())
    assert _leftovers(record) == []
    assert report["chain_seconds"] <= report["bound_s"], (
        report["chain_seconds"],
        report["bound_s"],
    )

    udp = report["receiver"].get("receiver")
    if udp is not None:  # every datagram sent was read or dropped by the kernel
        assert report["packets_sent"] == sum(udp["datagrams_per_port"]) + sum(
            report["packets_kernel_drops_per_port"]
        ), (report["packets_sent"], udp, report["packets_kernel_drops_per_port"])
    assert report["packets_unexplained_loss"] == 0, report["packets_unexplained_per_port"]
    assert report["packets_placed_unexpected"] == 0
    # every image written or counted lost (with its sentinels: the accepted verdict)
    frames_lost = report["receiver"]["assembler"]["frames_lost"]
    assert report["images_written"] == report["images_published"]
    assert report["images_published"] + frames_lost >= report["images_sent"]
    assert report["truth"]["accepted"]["ok"], report["truth"]["accepted"]
    assert report["truth_ok"], report["truth"]
    assert report["conformance_ok"], report["conformance"]
    assert done.returncode == 0, done.stderr[-3000:]
