"""`jfsim faults`: the fault table against our `jfwriter` and against a writer seen only by its
files."""

from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager

import pytest
import zmq
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.cli import main as jfsim
from jfjoch_hil.harness.writer_faults import (
    MANY_ORPHANS,
    WriterProcess,
    accounting_row,
    malformed_faults,
    run_fault_table,
    standard_faults,
)
from jfjoch_hil.harness.writer_faults._disk import disk_faults
from jfjoch_hil.harness.writer_faults._suite import run_suite
from jfjoch_hil.stream import Puller, Pusher, RejectReason

#: Lines the writer logs per reason before it only counts (writer/service.py LOG_LIMIT; the
#: harness cannot import the writer, so the documented figure is stated here).
LOG_LINES_PER_REASON = 20


@contextmanager
def discarding_sink(context=None):
    """A bound PULL socket whose thread reads and discards every message: a writer that drops all."""
    sink = Puller("tcp://127.0.0.1:0", bind=True, receive_timeout_ms=50, context=context)
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            sink.receive_bytes(50)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        done.set()
        thread.join(5)
        sink.close()


def test_cli_table_against_spawned_jfwriter_all_pass(tmp_path, capsys):
    code = jfsim(
        [
            "faults",
            "--target-writer",
            "tcp://127.0.0.1:0",
            "--spawn-writer",
            "--dir",
            str(tmp_path / "out"),
        ]
    )
    table = capsys.readouterr().out
    assert code == 0, table
    names = [line.split()[0] for line in table.splitlines()[1:-1]]
    assert names == [f.name for f in standard_faults()] + [
        "slow_consumer",
        "disk_full",
        "read_only_dir",
        "accounting",
    ]
    assert "0 failed" in table
    # nothing escaped the output folder: the sandbox holds only it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out_disk_faults"]


def test_writer_binds_and_suite_connects_with_logs(tmp_path, capsys):
    code = jfsim(
        [
            "faults",
            "--target-writer",
            "tcp://127.0.0.1:0",
            "--connect",
            "--spawn-writer",
            "--dir",
            str(tmp_path / "out"),
            "--json",
            "--seed",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"fault": "slow_consumer"' in out and "send_timeouts" in out


def test_files_only_judging_of_a_writer_we_did_not_start(tmp_path):
    """A writer started elsewhere (here our jfwriter, but the suite only sees its files)."""
    out = tmp_path / "out"
    with WriterProcess(out, bind=True) as writer:
        rows = run_suite(writer.endpoint, out, connect=True, spawn=False)
    assert all(row.passed for row in rows), [row for row in rows if not row.passed]
    slow = next(row for row in rows if row.fault == "slow_consumer")
    assert "sender waited (blocking send)" in slow.observed and "send_timeouts 0" in slow.observed


def test_table_fails_against_a_writer_that_drops_everything(tmp_path):
    """A sink that reads and discards: every probe is missing, every row fails (the table can fail)."""
    out = tmp_path / "out"
    out.mkdir()
    with discarding_sink() as sink:
        pusher = Pusher(sink.endpoint, bind=False, linger_ms=0, send_timeout_ms=2000)
        try:
            rows = run_fault_table(
                pusher.send, out, malformed_faults()[:3], bounds=Bounds(margin_s=0.5, per_image_s=0)
            )
        finally:
            pusher.close()
    assert rows and not any(row.passed for row in rows)
    assert all("PROBE MISSING" in row.observed for row in rows)


def test_cli_needs_a_dir(capsys):
    assert jfsim(["faults", "--target-writer", "tcp://127.0.0.1:0"]) == 2
    assert "--dir is required" in capsys.readouterr().err


def test_disk_full_and_read_only_rows(tmp_path):
    """RLIMIT_FSIZE and an unwritable folder: errors name the file, the service keeps serving."""
    rows = disk_faults(tmp_path)
    assert [row.fault for row in rows] == ["disk_full", "read_only_dir"]
    assert all(row.passed for row in rows), rows
    assert "run_data_000002.h5" in rows[0].observed and "ro/run_data_000001.h5" in rows[1].observed


def test_cli_kill_points_row_checks_with_the_jfcheck_process(tmp_path, capsys):
    code = jfsim(
        [
            "faults",
            "--target-writer",
            "tcp://127.0.0.1:0",
            "--spawn-writer",
            "--dir",
            str(tmp_path / "out"),
            "--kill-points",
            "2",
            "--json",
            "--seed",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"fault": "kill_points"' in out and "2/2 survived" in out and "bytes lost 0" in out


@pytest.mark.timeout(120)
def test_cli_exit_1_when_rows_fail(tmp_path, capsys):
    """`jfsim faults` against a sink that discards everything: rows FAIL, exit status 1.

    The sink has its own ZeroMQ context: `jfsim` ends the shared one on exit, which waits for
    every socket of that context to close.
    """
    context = zmq.Context()
    try:
        with discarding_sink(context) as sink:
            code = jfsim(
                [
                    "faults",
                    "--target-writer",
                    sink.endpoint,
                    "--connect",
                    "--dir",
                    str(tmp_path / "out"),
                    "--margin",
                    "0.3",
                    "--per-image",
                    "0",
                ]
            )
    finally:
        context.term()
    table = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in table and table.splitlines()[-1].startswith("0 passed")


def test_more_bad_messages_than_the_writer_logs_are_counted_exactly(tmp_path):
    """One fault sends 25 images without a run; the writer logs only 20 lines per reason, the
    row counts from its statistics records: exactly 25, and the exit statistics agree."""
    fault = next(f for f in malformed_faults() if f.name == "many_images_before_start")
    assert MANY_ORPHANS > LOG_LINES_PER_REASON
    out = tmp_path / "out"
    with WriterProcess(out, bind=True) as writer:
        before = writer.statistics()
        pusher = Pusher(writer.endpoint, bind=False, linger_ms=2000, send_timeout_ms=20000)
        try:
            rows = run_fault_table(pusher.send, out, [fault], writer=writer)
        finally:
            pusher.close()
        logged = sum(line.endswith(": image without a run") for line in writer.lines)
        status, exit_record = writer.stop()
    assert status == 0 and exit_record is not None
    assert rows[0].passed, rows[0]
    assert f"'image without a run' {MANY_ORPHANS}" in rows[0].observed
    assert logged == LOG_LINES_PER_REASON < MANY_ORPHANS  # a count from log lines would be short
    assert exit_record.statistics.rejected(RejectReason.WITHOUT_RUN) == MANY_ORPHANS
    row = accounting_row([fault], exit_record, out, before=before)
    assert row.passed, row


def test_a_miscounted_reject_fails_the_row(tmp_path):
    """The same fault judged against a plan expecting one image fewer: the row fails."""
    fault = next(f for f in malformed_faults() if f.name == "many_images_before_start")

    def build_short(out_dir, seed):
        plan = fault.build(out_dir, seed)
        return dataclasses.replace(plan, rejected={"image without a run": MANY_ORPHANS - 1})

    short = dataclasses.replace(fault, build=build_short)
    out = tmp_path / "out"
    with WriterProcess(out, bind=True) as writer:
        pusher = Pusher(writer.endpoint, bind=False, linger_ms=2000, send_timeout_ms=20000)
        try:
            rows = run_fault_table(pusher.send, out, [short], writer=writer)
        finally:
            pusher.close()
    assert not rows[0].passed and f"'image without a run' {MANY_ORPHANS}" in rows[0].observed
