"""An EIGER at 1 GbE (slsDetectorPackage's default link, 1072-byte datagrams, detectors.md §3.3)
runs end to end over UDP: detector -> receiver -> writer -> conformance."""

from __future__ import annotations

import json
import subprocess
import sys


def test_eiger_1gbe_runs_end_to_end_over_udp(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.harness.cli", "run", "--out", str(tmp_path)]
        + ["--json", "--no-progress", "--images", "3"]
        + ["--set", "detector.type='eiger'", "--set", "detector.link='1gbe'"]
        + ["--set", "faults.loss_rate=0.0", "--set", "run.frame_rate_hz=20.0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    # 4 ports x 256 packets (16-bit, 1 GbE) x 3 frames, every one placed
    assert report["packets_expected"] == report["packets_received"] == 3 * 4 * 256
    assert report["images_written"] == 3 and report["ok"]
