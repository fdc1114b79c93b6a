"""Stream-to-file trace on real `jfsim run` output in every layout: a clean run traces OK and
reports ``stream_traced_ok``; targeted h5py edits of its files each give the right finding."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the image edits rewrite bitshuffle chunks
import numpy as np
import pytest

LAYOUTS = ("legacy", "vds", "integrated")
PREFIX = "quickstart"
D = "/entry/instrument/detector"


def _jfsim_run(out: Path, layout: str, *overrides: str) -> dict:
    args = [
        sys.executable,
        "-m",
        "jfjoch_hil.harness.cli",
        "run",
        "--out",
        str(out),
        "--json",
        "--no-progress",
        "--set",
        "run.images=4",
        "--set",
        "run.transport=direct",
        "--set",
        "faults.loss_rate=0",
        "--set",
        f"writer.format={layout}",
        "--set",
        "writer.images_per_file=3",
        *[a for o in overrides for a in ("--set", o)],
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.stdout, done.stderr[-3000:]
    return json.loads(done.stdout)


def _trace(run: Path) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.conformance.cli",
            str(run / f"{PREFIX}_master.h5"),
            "--stream",
            str(run / f"{PREFIX}_stream"),
            "--trace-only",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(done.stdout)
    doc["exit_code"] = done.returncode
    return doc


@pytest.fixture(scope="module", params=LAYOUTS)
def clean_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"trace-{request.param}")
    report = _jfsim_run(out, request.param)
    return request.param, out, report


def test_a_clean_run_traces_ok_and_says_so_beside_conformance(clean_run):
    layout, out, report = clean_run
    assert report["conformance_ok"] is True, report["conformance"]
    assert report["stream_traced_ok"] is True, report["stream_trace"]
    assert report["ok"] is True
    stats = report["stream_trace"]["statistics"]
    assert stats["layout"] == layout
    assert stats["images_received"] == stats["images_identical"] == 4
    assert stats["messages"]["start"] == 1 and stats["messages"]["end"] == 1
    assert (out / f"{PREFIX}_stream" / "000000.cbor").is_file()


def _per_image_file(out: Path, layout: str) -> Path:
    """Where image 1's per-image rows are stored: data file 1 (legacy, vds) or the master."""
    return out / (f"{PREFIX}_master.h5" if layout == "integrated" else f"{PREFIX}_data_000001.h5")


def _delete(f: h5py.File, path: str) -> None:
    del f[path]


def _mm_label(f: h5py.File, path: str) -> None:
    f[path].attrs["units"] = "mm"  # a translation axis labelled mm whose values are still metres


def _shift_rows(f: h5py.File, path: str) -> None:
    f[path][...] = np.roll(f[path][()], 1, axis=0)


def _alter_row_1(f: h5py.File, path: str) -> None:
    data = f[path][()]
    data[1] = data[1] * 2 + 1
    f[path][...] = data


def _flip_pixel(f: h5py.File, path: str) -> None:
    f[path][1, 10, 10] = f[path][1, 10, 10] + 1


def _move_up(f: h5py.File, path: str) -> None:
    f.move(path, "/entry/" + path.rsplit("/", 1)[1])


EDITS = [
    ("master", f"{D}/distance", _delete, "TRACE-MISSING"),
    ("master", f"{D}/detector_distance", _mm_label, "TRACE-VALUE"),
    ("master", f"{D}/beam_center_x", _move_up, "TRACE-MISSING"),
    ("master", "/entry/instrument/beam/incident_wavelength", _alter_row_1, "TRACE-VALUE"),
    ("per_image", "/entry/MX/strongPixels", _shift_rows, "TRACE-ROW"),
    ("per_image", "/entry/roi/centre/sum", _alter_row_1, "TRACE-VALUE"),
    ("per_image", "/entry/data/data", _flip_pixel, "TRACE-IMAGE"),
    ("per_image", "/entry/azint/image", _alter_row_1, "TRACE-VALUE"),
    ("master", f"{D}/calibration/pedestal_g0_sc0", _alter_row_1, "TRACE-VALUE"),
    ("master", "/entry/MX/rotationLatticeIndexed", _delete, "TRACE-MISSING"),
]


@pytest.mark.parametrize(
    ("where", "path", "edit", "finding"),
    EDITS,
    ids=[f"{e[2].__name__}-{e[1].rsplit('/', 1)[1]}" for e in EDITS],
)
def test_each_file_edit_gives_its_finding(clean_run, tmp_path, where, path, edit, finding):
    layout, out, _report = clean_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    target = run / f"{PREFIX}_master.h5" if where == "master" else _per_image_file(run, layout)
    if path == "/entry/instrument/beam/incident_wavelength":
        with h5py.File(target, "r+") as f:
            value = f[path][()]
            del f[path]
            f[path] = value * 1.001
            f[path].attrs["units"] = "angstrom"
    else:
        with h5py.File(target, "r+") as f:
            edit(f, path)
    doc = _trace(run)
    errors = {v["rule"] for v in doc["violations"] if v["severity"] == "error"}
    assert doc["exit_code"] == 1 and finding in errors, json.dumps(doc["violations"], indent=1)


def test_images_never_sent_read_as_sentinels_and_are_counted(tmp_path):
    """A frame-number jump skips image 2: its row must read as the fill value in every layout."""
    for layout in LAYOUTS:
        out = tmp_path / layout
        report = _jfsim_run(
            out, layout, "faults.frame_jumps=[{at_frame=2, skip=1}]", "run.images=6"
        )
        stats = report["stream_trace"]["statistics"]
        assert report["stream_traced_ok"] is True, report["stream_trace"]
        assert stats["images_never_sent"] == 1 and stats["images_never_sent_sentinel"] == 1
        # a writer that left a stale image in that row (image 2 = row 2 of data file 1 with three
        # images per file, or of the integrated file) fails the trace
        with h5py.File(_per_image_file(out, layout), "r+") as f:
            ds = f["/entry/data/data"]
            ds[2] = ds[0]
        errors = {v["rule"] for v in _trace(out)["violations"]}
        assert "TRACE-SENTINEL" in errors, layout


def _empty(value) -> bool:
    """An empty list or map, or NaN throughout: the stream carried nothing to store (HDF5 §4)."""
    if isinstance(value, list | tuple | dict) and not value:
        return True
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.size > 0 and bool(np.all(np.isnan(array)))


def test_every_field_the_run_streamed_is_traced_or_has_a_reason(clean_run):
    """Nothing in the recording escapes the map: each top-level key of each message is compared
    somewhere in the files or listed with the reason it has no destination."""
    from jfjoch_hil.conformance._trace import load_dir, trace_dir
    from jfjoch_hil.conformance._trace_decode import decode_message
    from jfjoch_hil.conformance.rules.stream_map import UNTRACED

    _layout, out, _report = clean_run
    folder = out / f"{PREFIX}_stream"
    carried = set()
    for _name, raw in load_dir(folder):
        message = decode_message(raw)
        carried |= {
            (message["type"], key)
            for key, value in message.items()
            if key != "type" and not _empty(value)
        }
    result = trace_dir(out / f"{PREFIX}_master.h5", folder)
    traced = {(p.kind, p.key.split(".")[0].split("[")[0]) for p in result.points}
    traced |= {("image", "data")} if result.statistics.images_identical else set()
    unaccounted = carried - traced - set(UNTRACED)
    assert not unaccounted, sorted(unaccounted)


def test_connect_traces_a_live_stream(clean_run):
    """``--connect``: jfcheck PULLs the stream itself (here the run's recording, pushed again)."""
    import zmq
    from jfjoch_hil.conformance._trace import load_dir

    _layout, out, _report = clean_run
    context = zmq.Context.instance()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    checker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.conformance.cli",
            str(out / f"{PREFIX}_master.h5"),
            "--connect",
            f"tcp://127.0.0.1:{port}",
            "--timeout",
            "60",
            "--trace-only",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        push.setsockopt(zmq.SNDTIMEO, 60_000)  # a PUSH without a peer waits for the checker
        for _name, raw in load_dir(out / f"{PREFIX}_stream"):
            push.send(raw)
        stdout, stderr = checker.communicate(timeout=300)
    finally:
        push.close(linger=0)
        if checker.poll() is None:
            checker.kill()
            checker.wait()
    doc = json.loads(stdout)
    assert checker.returncode == 0 and doc["ok"], stderr[-2000:]
    assert doc["statistics"]["images_identical"] == 4


def test_mutants_from_the_map_are_caught(clean_run):
    """A sample of the self-test: the first mutant of each mutation and message kind."""
    from jfjoch_hil.conformance._trace_selftest import run_selftest

    _layout, out, _report = clean_run
    seen: set = set()

    def first_of_each(mutant) -> bool:
        key = (mutant.mutation, mutant.point.kind)
        if key in seen:
            return False
        seen.add(key)
        return True

    result = run_selftest(
        out / f"{PREFIX}_master.h5", out / f"{PREFIX}_stream", select=first_of_each
    )
    ran = [o for o in result.outcomes if not o.equivalent and not o.error]
    assert len(ran) >= 12
    assert not result.survivors, [o.mutant.describe() for o in result.survivors]


def test_jfsim_runs_the_trace_as_a_library_call_and_says_why_one_could_not_run(clean_run, tmp_path):
    """`harness.tracing.trace_run` (what `jfsim run` calls) agrees with `jfcheck --trace-only`
    on the same run, and turns a recording it cannot read into ``False`` with the reason."""
    from jfjoch_hil.harness.tracing import trace_run

    _layout, out, _report = clean_run
    master, folder = out / f"{PREFIX}_master.h5", out / f"{PREFIX}_stream"
    ok, summary = trace_run(master, folder, timeout_s=300)
    cli = _trace(out)
    assert ok is True and cli["exit_code"] == 0, summary
    assert summary["statistics"] == cli["statistics"] and summary["errors"] == []
    # no master file: nothing to trace into, said as skipped
    none, skipped = trace_run(tmp_path / "absent_master.h5", folder, timeout_s=300)
    assert none is None and "absent_master.h5" in skipped["skipped"]
    # a recording that is not there fails the trace, naming why
    bad, failed = trace_run(master, tmp_path / "no_such_stream", timeout_s=300)
    assert bad is False and "no_such_stream" in failed["error"], failed
