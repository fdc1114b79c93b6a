"""The fault table runner: send each fault, then a probe run, and judge what the writer did.

fault, expected outcome, observed outcome, pass/fail.  Any writer is judged
by its files (the probe run after every fault must be written: the service keeps serving; no
file may appear outside the output folder); our `jfwriter`, given as a
:class:`~simulator.faultsuite._writer.WriterProcess`, also by its JSON and log lines, so every
bad message must be counted with the reason the fault expects.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
from jfjoch_hil.harness.writer_faults._faults import Fault, FaultPlan
from jfjoch_hil.harness.writer_faults._files import (
    count_images,
    count_real_images,
    files_outside,
    master_of,
    snapshot,
    wait_master,
)
from jfjoch_hil.harness.writer_faults._messages import small_run
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import Pusher, TransportError, encode

__all__ = ["FaultRow", "format_table", "run_fault_table", "slow_consumer"]

Send = Callable[[bytes], None]


@dataclass(frozen=True)
class FaultRow:
    """One judged line of the table."""

    fault: str
    expected: str
    observed: str
    passed: bool


def _log_counts(lines: list[str]) -> dict[str, int]:
    counts = {"decode": 0, "refused": 0, "warning": 0, "image without a run": 0, "run refused": 0}
    for line in lines:
        counts["decode"] += "malformed message skipped" in line
        counts["refused"] += "run refused:" in line
        counts["warning"] += ": warning:" in line or line.startswith("warning:")
        counts["image without a run"] += line.endswith(": image without a run")
        counts["run refused"] += line.endswith(": run refused")
    return counts


def _refused_left_files(out_dir: Path, prefix: str) -> list[Path]:
    stem = Path(prefix.split("\x00")[0]).name[:50]
    if not stem:
        return []
    return [p for p in Path(out_dir).rglob("*") if p.name.startswith(stem)]


def _judge(
    plan: FaultPlan,
    out_dir: Path,
    writer: WriterProcess | None,
    lines: list[str],
    runs: list[dict],
    escaped: list[Path],
    probe: str | None,
) -> tuple[str, bool]:
    observed: list[str] = []
    ok = True
    if writer is not None:
        counts = _log_counts(lines)
        observed.append(f"decode errors {counts['decode']}")
        ok &= counts["decode"] == plan.decode_errors
        for reason, n in plan.rejected.items():
            observed.append(f"'{reason}' {counts[reason]}")
            ok &= counts[reason] == n
        if plan.refused_prefixes:
            observed.append(f"runs refused {counts['refused']}")
            ok &= counts["refused"] >= len(plan.refused_prefixes)
        if plan.warnings:
            observed.append(f"warnings {counts['warning']}")
            ok &= counts["warning"] >= plan.warnings
    if plan.run_prefix is not None:
        master = master_of(out_dir, plan.run_prefix)
        if writer is not None:
            record = next((r for r in runs if r.get("prefix") == plan.run_prefix), None)
            written = None if record is None else record.get("images_written")
        else:  # files only: an empty run may leave no master at all
            written = (
                count_real_images(master)
                if master.exists()
                else (0 if plan.run_images == 0 else None)
            )
        observed.append(f"run {written} images")
        ok &= written == plan.run_images
        if plan.forbidden_paths and master.exists():
            with h5py.File(master, "r") as f:
                present = [p for p in plan.forbidden_paths if p in f]
            observed.append(f"hostile paths present {present}" if present else "no hostile path")
            ok &= not present
    for prefix in plan.refused_prefixes:
        left = _refused_left_files(out_dir, prefix)
        if left:
            observed.append(f"refused prefix left {[p.name[:40] for p in left]}")
            ok = False
    if escaped:
        observed.append(f"ESCAPED {[str(p) for p in escaped[:3]]}")
        ok = False
    observed.append(probe or "probe run written")
    ok &= probe is None
    return "; ".join(observed), ok


def _probe(
    send: Send,
    out_dir: Path,
    writer: WriterProcess | None,
    prefix: str,
    seed: int,
    timeout_s: float,
    record_cursor: int,
) -> str | None:
    """Send a valid 2-image run; ``None`` when it was written, else what went wrong."""
    for message in small_run(prefix, 2, seed=seed, file_format="NXmxVDS").messages():
        send(encode(message))
    if writer is not None:
        record = writer.wait_run(prefix, timeout_s, since=record_cursor)
        if record is None:
            alive = writer.process.poll() is None
            return f"PROBE MISSING (writer {'alive' if alive else 'exited ' + str(writer.process.poll())})"
        if record.get("images_written") != 2:
            return f"probe wrote {record.get('images_written')} of 2 images"
    master = wait_master(out_dir, prefix, timeout_s)
    if master is None:
        return "PROBE MISSING (no master file)"
    try:
        images = count_images(master)
    except (OSError, KeyError) as error:
        return f"probe master unreadable: {error}"
    return None if images == 2 else f"probe master has {images} of 2 images"


def run_fault_table(
    send: Send,
    out_dir,
    faults: Sequence[Fault],
    *,
    writer: WriterProcess | None = None,
    seed: int = 0,
    timeout_s: float = 30.0,
) -> list[FaultRow]:
    """Send every fault then a probe run; one :class:`FaultRow` per fault.

    ``out_dir`` is the writer's output folder; its parent is the sandbox watched for escapes.
    With ``writer``, a final row ``accounting`` compares the writer's exit statistics later
    (see :func:`accounting_row`).
    """
    out_dir = Path(out_dir)
    sandbox = out_dir.parent
    rows = []
    for index, fault in enumerate(faults):
        plan = fault.build(out_dir, seed + 1000 * index)
        before = snapshot(sandbox)
        line_cursor, record_cursor = writer.cursor() if writer is not None else (0, 0)
        for data in plan.messages:
            send(data)
        probe = _probe(
            send,
            out_dir,
            writer,
            f"faults/probe_{index:02d}_{fault.name}",
            seed + 1000 * index + 1,
            timeout_s,
            record_cursor,
        )
        lines = writer.log_since(line_cursor) if writer is not None else []
        runs = writer.runs_since(record_cursor) if writer is not None else []
        escaped = files_outside(before, snapshot(sandbox), out_dir)
        observed, passed = _judge(plan, out_dir, writer, lines, runs, escaped, probe)
        rows.append(FaultRow(fault.name, fault.expected, observed, passed))
    return rows


def accounting_row(
    faults: Sequence[Fault], exit_record: dict | None, out_dir, seed: int = 0
) -> FaultRow:
    """Every bad message of the table counted in the writer's exit statistics (STYLE.md "Errors")."""
    expected = sum(
        f.build(Path(out_dir), seed + 1000 * i).decode_errors for i, f in enumerate(faults)
    )
    if exit_record is None:
        return FaultRow(
            "accounting", f"exit statistics: decode_errors {expected}", "no exit record", False
        )
    stats = exit_record["statistics"]
    observed = stats.get("decode_errors")
    return FaultRow(
        "accounting",
        f"exit statistics: decode_errors {expected}, exit 0",
        f"decode_errors {observed}, runs refused {stats.get('runs_refused')}",
        observed == expected,
    )


def slow_consumer(
    endpoint: str,
    out_dir,
    *,
    bind: bool,
    writer: WriterProcess | None,
    n_images: int = 48,
    shape: tuple[int, int] = (256, 256),
    hwm: int = 2,
    pause_s: float = 1.0,
    timeout_s: float = 30.0,
    seed: int = 0,
) -> FaultRow:
    """A consumer slower than the stream.

    With ``writer`` (ours) the writer is stopped (SIGSTOP) for ``pause_s`` while images are sent
    with a short send timeout: each image the sender could not queue is counted in its
    ``send_timeouts`` and missing from the writer's ``images_written``; the row passes when
    both sides add up to the images sent.  Against any other writer the sender blocks (waits)
    instead and every image must arrive.
    """
    prefix = "faults/slow_consumer"
    run = small_run(
        prefix,
        n_images,
        seed=seed,
        shape=shape,
        file_format="NXmxVDS",
        images_per_file=0,
        noise_max=65535,
    )
    drop = writer is not None
    timeout_ms = 100 if drop else int(timeout_s * 1000)
    record_cursor = writer.cursor()[1] if writer is not None else 0
    pusher = Pusher(endpoint, bind=bind, send_hwm=hwm, send_timeout_ms=timeout_ms, linger_ms=5000)
    longest_wait = 0.0
    try:
        _send_patiently(pusher, run.start, timeout_s)
        if drop:
            writer.send_signal(signal.SIGSTOP)
        resume_at = time.monotonic() + pause_s
        timeouts_before = pusher.statistics().send_timeouts  # the start may have been retried
        for image in run.images:
            began = time.monotonic()
            try:
                pusher.send(image)
            except TransportError:
                pass  # counted in pusher.statistics().send_timeouts: the loss is visible here
            longest_wait = max(longest_wait, time.monotonic() - began)
            if drop and time.monotonic() > resume_at:
                writer.send_signal(signal.SIGCONT)
        if drop:
            writer.send_signal(signal.SIGCONT)
        lost = pusher.statistics().send_timeouts - timeouts_before
        _send_patiently(pusher, run.end, timeout_s)
    finally:
        if drop:
            writer.send_signal(signal.SIGCONT)
        pusher.close()
    if writer is not None:
        record = writer.wait_run(prefix, timeout_s, since=record_cursor)
        written = None if record is None else record.get("images_written")
    else:
        master = wait_master(Path(out_dir), prefix, timeout_s)
        written = None if master is None else count_images(master)
    in_file = _nimages_written(master_of(Path(out_dir), prefix))
    mode = "sender counted loss (send timeout)" if drop else "sender waited (blocking send)"
    observed = (
        f"{mode}: sent {n_images - lost}, send_timeouts {lost}, longest wait {longest_wait * 1000:.0f} ms; "
        f"writer images_written {written} of number_of_images {n_images}"
        + (f", master nimages_written {in_file}" if in_file is not None else "")
    )
    passed = written is not None and written + lost == n_images and (drop or lost == 0)
    expected = "sender waits or counts loss; sent - lost == written, nothing silent"
    return FaultRow("slow_consumer", expected, observed, passed)


def _nimages_written(master: Path) -> int | None:
    """``detectorSpecific/nimages_written`` of a Jungfraujoch master (hdf5-format.md 4.7), if any."""
    try:
        with h5py.File(master, "r") as f:
            value = f.get("/entry/instrument/detector/detectorSpecific/nimages_written")
            return None if value is None else int(value[()])
    except OSError:
        return None


def _send_patiently(pusher: Pusher, message, timeout_s: float) -> None:
    """Send, retrying send timeouts until ``timeout_s`` (a control message must not be lost)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pusher.send(message)
            return
        except TransportError:
            if time.monotonic() > deadline:
                raise


def format_table(rows: Sequence[FaultRow]) -> str:
    """The rows as a fixed-width text table with a PASS/FAIL column and a summary line."""
    header = ("fault", "expected", "observed", "result")
    body = [(r.fault, r.expected, r.observed, "PASS" if r.passed else "FAIL") for r in rows]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(2)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[3]:<6}  {row[1]:<{widths[1]}}  {row[2]}"
        for row in [header, *body]
    ]
    failed = sum(not r.passed for r in rows)
    lines.append(f"{len(rows) - failed} passed, {failed} failed")
    return "\n".join(lines)
