"""`jfsim run`: the whole chain per scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from jfjoch_hil.harness.scenario import list_scenarios

REQUIRED_KEYS = {
    "images_sent",
    "images_written",
    "packets_expected",
    "packets_sent",
    "packets_injected_lost",
    "packets_received",
    "frame_rate_requested_hz",
    "frame_rate_achieved_hz",
    "writer_lag_s",
    "conformance_ok",
    "truth_ok",
    "scenario",
    "seed",
    "versions",
}


def jfsim(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jfjoch_hil.harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(out: Path, scenario: str | None = None, *overrides: str) -> dict:
    args = ["run", *([scenario] if scenario else []), "--out", str(out), "--json", "--no-progress"]
    for override in overrides:
        args += ["--set", override]
    done = jfsim(*args)
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    report["exit_code"] = done.returncode
    return report


def images_of(out: Path, prefix: str) -> list[np.ndarray]:
    from jfjoch_hil.harness.truth import open_written_images

    stack: list = []
    try:
        image = open_written_images(out, prefix, stack)
        images = []
        number = 0
        while (frame := image(number)) is not None:
            images.append(frame)
            number += 1
        return images
    finally:
        for handle in stack:
            handle.close()


def test_quickstart_runs_end_to_end_over_udp(tmp_path):
    report = run(tmp_path)
    # the processing side yields to the socket processes while they run (run.processing_nice,
    # default 10), then returns to its priority (which needs the privilege to raise it again)
    assert report["receiver"]["processing_nice"] == 10
    if os.geteuid() == 0:
        assert report["receiver"]["processing_nice_restored"] is True
    assert report["exit_code"] == 0, json.dumps(
        {k: report.get(k) for k in ("truth", "conformance", "writer_errors")}
    )
    assert REQUIRED_KEYS <= report.keys()
    assert report["scenario"] == "quickstart" and report["transport"] == "udp"
    assert report["images_written"] == report["images_sent"] == 20
    # the fault plan's ground truth and the receiver's own count agree, up to the datagrams the
    # kernel dropped on a busy machine, each of which is explained by a drop on its port
    missing = sum(report["packets_missing_per_port"])
    assert report["packets_received"] == (
        report["packets_expected"] - report["packets_injected_lost"] - missing
    )
    assert report["packets_unexplained_loss"] == 0, report["packets_unexplained_per_port"]
    assert report["packets_injected_lost"] > 0  # quickstart has light packet loss
    assert report["truth_ok"] and report["conformance_ok"]
    saved = json.loads((tmp_path / "quickstart_report.json").read_text())
    assert saved["images_written"] == 20
    assert (tmp_path / "quickstart_master.h5").exists()


def test_same_seed_gives_identical_images_and_results_across_runs_and_layouts(tmp_path):
    common = ("run.transport='direct'", "run.images=6", "writer.images_per_file=4")
    layouts = {
        "vds": tmp_path / "vds",
        "vds-again": tmp_path / "vds2",
        "legacy": tmp_path / "legacy",
        "integrated": tmp_path / "integrated",
    }
    for name, out in layouts.items():
        report = run(out, None, *common, f"writer.format='{name.split('-')[0]}'")
        assert report["exit_code"] == 0, report.get("writer_errors")
    reference = images_of(layouts["vds"], "quickstart")
    assert len(reference) == 6
    for name, out in layouts.items():
        images = images_of(out, "quickstart")
        assert len(images) == 6, name
        for a, b in zip(reference, images, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    fields = ("nPeaks", "peakXPosRaw", "peakTotalIntensity", "imageIndexed", "latticeIndexed")
    with h5py.File(layouts["vds"] / "quickstart_master.h5") as first:
        for name in ("vds-again", "integrated"):
            with h5py.File(layouts[name] / "quickstart_master.h5") as other:
                for field in fields:
                    np.testing.assert_array_equal(
                        first[f"/entry/MX/{field}"][...],
                        other[f"/entry/MX/{field}"][...],
                        err_msg=f"{name} {field}",
                    )


def _chunks(out: Path, prefix: str) -> list[bytes]:
    chunks = []
    for path in sorted(out.glob(f"{prefix}_data_*.h5")):
        with h5py.File(path) as handle:
            dataset = handle["/entry/data/data"]
            for index in range(dataset.shape[0]):
                chunks.append(dataset.id.read_direct_chunk((index, 0, 0))[1])
    return chunks


def test_replayed_recording_gives_byte_identical_image_chunks(tmp_path):
    live, replayed, recording = tmp_path / "live", tmp_path / "replayed", tmp_path / "rec"
    report = run(
        live,
        None,
        "run.transport='direct'",
        "run.images=5",
        "run.prefix='rec'",
        "writer.format='vds'",
    )
    assert report["exit_code"] == 0
    done = jfsim(
        "run",
        "--out",
        str(tmp_path / "unused"),
        "--record",
        str(recording),
        "--json",
        "--no-progress",
        "--set",
        "run.transport='direct'",
        "--set",
        "run.images=5",
        "--set",
        "run.prefix='rec'",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.writer.cli",
            "--listen",
            "tcp://127.0.0.1:0",
            "--bind",
            "--dir",
            str(replayed),
            "--max-runs",
            "1",
            "--idle-timeout",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(writer.stdout.readline())
        replay = jfsim("replay", str(recording), ready["endpoint"], "--connect")
        assert replay.returncode == 0, replay.stderr
        writer.wait(timeout=120)
    finally:
        writer.kill()
        writer.communicate()
    live_chunks, replayed_chunks = _chunks(live, "rec"), _chunks(replayed, "rec")
    assert len(live_chunks) == 5
    assert live_chunks == replayed_chunks


# Small versions of every shipped scenario (the big ones are marked slow).
SMALL = {
    "quickstart": ("run.images=4",),
    "packet-loss-burst": ("run.images=6", "run.frame_rate_hz=50.0", "run.sender_processes=2"),
    "field-module-dropout": ("run.images=14", "run.frame_rate_hz=50.0"),
    "field-out-of-order-frames": ("run.images=8",),
    "field-pulse-id-gaps": ("run.images=12", "faults.frame_jumps=[{at_frame=6, skip=2}]"),
    "field-writer-no-end": ("run.images=4",),
    "field-aborted-run": ("run.images=12",),
    "field-storage-cell-switch": ("run.images=8",),
    "eiger-serial-grid": ("run.images=4", "crystal.grid=[2,2]", "run.frame_rate_hz=50.0"),
    "jf-xfel-storage-cells": ("run.images=16", "run.frame_rate_hz=50.0"),
}
SLOW = {"jf4m-rotation": ("run.images=10", "run.frame_rate_hz=20.0")}


def test_every_shipped_scenario_has_a_small_run():
    assert set(SMALL) | set(SLOW) == set(list_scenarios())


LAYOUTS = ("legacy", "vds", "integrated")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "name",
    [*SMALL, *(pytest.param(name, marks=pytest.mark.slow) for name in SLOW)],
)
def test_shipped_scenario_runs_end_to_end(tmp_path, name, layout):
    """Every shipped scenario in every file layout (hdf5-format.md §2): written, conformant,
    traced and true to what was sent."""
    overrides = SMALL.get(name) or SLOW[name]
    report = run(tmp_path, name, *overrides, f"writer.format={layout}")
    assert report["settings"]["writer"]["format"] == layout
    assert report["exit_code"] == 0, json.dumps(
        {
            k: report.get(k)
            for k in ("truth", "conformance", "writer_errors", "packets_unexplained_loss", "runs")
        },
        default=str,
    )[:3000]
    assert report["truth_ok"] and report["conformance_ok"]
    assert report["stream_traced_ok"] is not False, report.get("stream_trace")
    assert report["packets_unexplained_loss"] == 0


def test_bad_scenario_key_is_refused_with_its_path(tmp_path):
    done = jfsim("run", "--out", str(tmp_path), "--set", "writer.format=hdf4")
    assert done.returncode == 2
    assert "writer.format: 'hdf4' is not allowed" in done.stderr


def test_stress_runs_each_rate_and_writes_table_and_plot(tmp_path):
    done = jfsim(
        "stress", "quickstart", "--rates", "40,80", "--out", str(tmp_path), "--set", "run.images=4"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = json.loads((tmp_path / "quickstart_stress.json").read_text())
    assert [row["rate_requested_hz"] for row in table["rows"]] == [40.0, 80.0]
    assert all(row["images_sent"] == 4 for row in table["rows"])
    assert table["highest_rate_without_loss_hz"] in (40.0, 80.0)
    assert (tmp_path / "quickstart_stress.csv").read_text().count("\n") == 3
    png = (tmp_path / "quickstart_stress.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_grid_scan_writes_sample_translation_axes(tmp_path):
    report = run(
        tmp_path,
        "eiger-serial-grid",
        "run.images=6",
        "crystal.grid=[3,2]",
        "run.transport='direct'",
    )
    assert report["exit_code"] == 0
    with h5py.File(tmp_path / "eiger-serial-grid_master.h5") as handle:
        transformations = handle["/entry/sample/transformations"]
        x, y = transformations["grid_x"][...], transformations["grid_y"][...]
        assert handle["/entry/sample/depends_on"][()].decode().endswith("grid_y")
    # 3 points fast, 2 slow, 10 um steps: positions follow the raster, not a rotation
    np.testing.assert_allclose(x, np.array([0, 1, 2, 0, 1, 2]) * 10e-6)
    np.testing.assert_allclose(y, np.array([0, 0, 0, 1, 1, 1]) * 10e-6)
