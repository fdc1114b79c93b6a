"""The fault table runner: send each fault, then a probe run, and judge what the writer did.

One row per fault: expected outcome, observed outcome, pass/fail.  Any writer is judged by its
files (the probe run after every fault must be written: the service keeps serving; no file may
appear outside the output folder); our `jfwriter`, given as a
:class:`~harness.writer_faults._writer.WriterProcess`, also by its statistics records
(:mod:`stream.writer_events`), so every bad message must be counted with the reason the fault
expects.  Counts come from the statistics, never from log lines: the writer logs only the first
lines per reason.  The probe's ``run`` record carries the service's totals after everything the
fault sent (one socket keeps the order), so the difference to the previous record is exactly
what the fault caused.

Every case is bounded by its own size (:meth:`~._session.FaultSession.begin`: the margin plus
the per-image allowance for each message of the fault and of its probe); a case that
supervision ends (the writer exited or stalled, a send passed the bound) is a failed row whose
observed text is the report, and the table goes on with the next case.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.errors import SupervisionError
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
from jfjoch_hil.harness.writer_faults._session import SEND_SLICE_MS, FaultSession, given_or_own
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import (
    FileFormat,
    Pusher,
    RejectReason,
    RunFinished,
    TransportError,
    WriterExit,
    WriterStatistics,
    encode,
)

__all__ = [
    "PROBE_MESSAGES",
    "FaultRow",
    "accounting_row",
    "format_table",
    "run_fault_table",
    "slow_consumer",
    "supervision_row",
]

Send = Callable[[bytes], None]
#: ``replace(index)``: a fresh writer after case ``index`` was ended by supervision; the new
#: ``(send, writer)``.
Replace = Callable[[int], tuple[Send, WriterProcess]]
#: Messages of the probe run sent after every fault: start, 2 images, end.
PROBE_MESSAGES = 4


@dataclass(frozen=True)
class FaultRow:
    """One judged line of the table."""

    fault: str
    expected: str
    observed: str
    passed: bool


def supervision_row(fault: str, expected: str, error: SupervisionError) -> FaultRow:
    """The failed row of a case that supervision ended: the report is what was observed."""
    return FaultRow(fault, expected, f"SUPERVISION: {error}", False)


def _refused_left_files(out_dir: Path, prefix: str) -> list[Path]:
    stem = Path(prefix.split("\x00")[0]).name[:50]
    if not stem:
        return []
    return [p for p in Path(out_dir).rglob("*") if p.name.startswith(stem)]


def _judge(
    plan: FaultPlan,
    out_dir: Path,
    writer: WriterProcess | None,
    counted: WriterStatistics | None,
    runs: list[RunFinished],
    escaped: list[Path],
    probe: str | None,
) -> tuple[str, bool]:
    observed: list[str] = []
    ok = True
    if writer is not None:
        if counted is None:
            observed.append("no statistics record after the probe")
            ok = False
            counted = WriterStatistics()
        observed.append(f"decode errors {counted.decode_errors}")
        ok &= counted.decode_errors == plan.decode_errors
        for reason, n in plan.rejected.items():
            observed.append(f"'{reason}' {counted.rejected(reason)}")
            ok &= counted.rejected(reason) == n
        unexpected = {r: n for r, n in counted.images_rejected if r not in plan.rejected}
        if unexpected:
            observed.append(f"unexpected rejects {unexpected}")
            ok = False
        if plan.refused_prefixes:
            observed.append(f"runs refused {counted.runs_refused}")
            ok &= counted.runs_refused == len(plan.refused_prefixes)
        if plan.warnings:
            observed.append(f"warnings {counted.warnings}")
            ok &= counted.warnings >= plan.warnings
    if plan.run_prefix is not None:
        master = master_of(out_dir, plan.run_prefix)
        if writer is not None:
            record = next((r for r in runs if r.prefix == plan.run_prefix), None)
            written = None if record is None else record.images_written
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
    session: FaultSession,
    record_cursor: int,
) -> tuple[str | None, RunFinished | None]:
    """Send a valid 2-image run; (``None`` when it was written within the case's bound, else
    what went wrong; its ``run`` record from our writer)."""
    for message in small_run(prefix, 2, seed=seed, file_format=FileFormat.VDS.value).messages():
        send(encode(message))
    record = None
    if writer is not None:
        record = writer.wait_run(prefix, session.left(), since=record_cursor)
        if record is None:  # alive and not stalled, else supervision raised
            where = writer.group.describe(writer.name, "alive")
            return f"PROBE MISSING within {session.bound_s:.1f} s ({where})", None
        if record.images_written != 2:
            return f"probe wrote {record.images_written} of 2 images", record
    master = wait_master(out_dir, prefix, session.left())
    if master is None:
        return "PROBE MISSING (no master file)", record
    try:
        images = count_images(master)
    except (OSError, KeyError) as error:
        return f"probe master unreadable: {error}", record
    return (None if images == 2 else f"probe master has {images} of 2 images"), record


def run_fault_table(
    send: Send,
    out_dir,
    faults: Sequence[Fault],
    *,
    writer: WriterProcess | None = None,
    seed: int = 0,
    session: FaultSession | None = None,
    bounds: Bounds | None = None,
    replace: Replace | None = None,
) -> list[FaultRow]:
    """Send every fault then a probe run; one :class:`FaultRow` per fault.

    ``out_dir`` is the writer's output folder; its parent is the sandbox watched for escapes.
    With ``writer``, a final row ``accounting`` compares the writer's exit statistics later
    (see :func:`accounting_row`).  ``session`` supervises the cases (default: the writer's, else
    one of its own within ``bounds``); each case may take the margin plus the per-image
    allowance for each of its messages and the probe's.  A case ended by supervision is a
    failed row naming the process; with ``replace`` the next case goes to the fresh writer it
    returns.
    """
    out_dir = Path(out_dir)
    sandbox = out_dir.parent
    rows = []
    given = session if session is not None else (writer.session if writer is not None else None)
    with given_or_own(given, bounds) as session:
        for index, fault in enumerate(faults):
            plan = fault.build(out_dir, seed + 1000 * index)
            session.begin(fault.name, len(plan.messages) + PROBE_MESSAGES)
            try:
                rows.append(
                    _fault_row(send, out_dir, sandbox, fault, plan, index, writer, seed, session)
                )
            except SupervisionError as error:
                rows.append(supervision_row(fault.name, fault.expected, error))
                if replace is not None:
                    send, writer = replace(index)
    return rows


def _fault_row(
    send: Send,
    out_dir: Path,
    sandbox: Path,
    fault: Fault,
    plan: FaultPlan,
    index: int,
    writer: WriterProcess | None,
    seed: int,
    session: FaultSession,
) -> FaultRow:
    before = snapshot(sandbox)
    record_cursor = writer.cursor()[1] if writer is not None else 0
    before_stats = writer.statistics() if writer is not None else None
    for data in plan.messages:
        send(data)
    probe, probe_record = _probe(
        send,
        out_dir,
        writer,
        f"faults/probe_{index:02d}_{fault.name}",
        seed + 1000 * index + 1,
        session,
        record_cursor,
    )
    counted = None
    if probe_record is not None and probe_record.statistics is not None and before_stats:
        counted = probe_record.statistics.minus(before_stats)
    runs = writer.runs_since(record_cursor) if writer is not None else []
    escaped = files_outside(before, snapshot(sandbox), out_dir)
    observed, passed = _judge(plan, out_dir, writer, counted, runs, escaped, probe)
    return FaultRow(fault.name, fault.expected, observed, passed)


def accounting_row(
    faults: Sequence[Fault],
    exit_record: WriterExit | None,
    out_dir,
    seed: int = 0,
    before: WriterStatistics | None = None,
    first_index: int = 0,
) -> FaultRow:
    """Every bad message of the table counted in the writer's exit statistics (STYLE.md "Errors").

    ``before`` is the statistics the writer had before the table was sent (other rows of a
    session); the exit statistics minus them must hold exactly the table's decode errors and
    rejected images, reason by reason.  ``faults`` are the table's cases from ``first_index``
    on (those a writer started after a replacement saw).
    """
    plans = [
        f.build(Path(out_dir), seed + 1000 * i) for i, f in enumerate(faults, start=first_index)
    ]
    decode_errors = sum(p.decode_errors for p in plans)
    rejected: dict[str, int] = {}
    for plan in plans:
        for reason, n in plan.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    expected = f"exit statistics: decode_errors {decode_errors}, rejected {rejected}"
    if exit_record is None:
        return FaultRow("accounting", expected, "no exit record", False)
    stats = exit_record.statistics.minus(before or WriterStatistics())
    observed_rejected = {
        reason: n
        for reason, n in stats.images_rejected
        if reason in rejected or reason in (RejectReason.WITHOUT_RUN, RejectReason.RUN_REFUSED)
    }
    return FaultRow(
        "accounting",
        expected,
        f"decode_errors {stats.decode_errors}, rejected {observed_rejected}, "
        f"runs refused {stats.runs_refused}",
        stats.decode_errors == decode_errors and observed_rejected == rejected,
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
    seed: int = 0,
    session: FaultSession | None = None,
    bounds: Bounds | None = None,
) -> FaultRow:
    """A consumer slower than the stream.

    With ``writer`` (ours) the writer is stopped (SIGSTOP) for ``pause_s`` while images are sent
    with a short send timeout: each image the sender could not queue is counted in its
    ``send_timeouts`` and missing from the writer's ``images_written``; the row passes when
    both sides add up to the images sent.  Against any other writer the sender blocks (waits)
    instead and every image must arrive.  The case may take the margin plus the per-image
    allowance for each message, plus ``pause_s``; supervision as in :func:`run_fault_table`.
    """
    expected = "sender waits or counts loss; sent - lost == written, nothing silent"
    given = session if session is not None else (writer.session if writer is not None else None)
    with given_or_own(given, bounds) as session:
        session.begin("slow_consumer", n_images + 2, extra_s=pause_s)
        try:
            observed, passed = _slow_consumer(
                endpoint, Path(out_dir), bind, writer, n_images, shape, hwm, pause_s, seed, session
            )
        except SupervisionError as error:
            return supervision_row("slow_consumer", expected, error)
    return FaultRow("slow_consumer", expected, observed, passed)


def _slow_consumer(
    endpoint: str,
    out_dir: Path,
    bind: bool,
    writer: WriterProcess | None,
    n_images: int,
    shape: tuple[int, int],
    hwm: int,
    pause_s: float,
    seed: int,
    session: FaultSession,
) -> tuple[str, bool]:
    prefix = "faults/slow_consumer"
    run = small_run(
        prefix,
        n_images,
        seed=seed,
        shape=shape,
        file_format=FileFormat.VDS.value,
        images_per_file=0,
        noise_max=65535,
    )
    drop = writer is not None
    timeout_ms = 100 if drop else SEND_SLICE_MS
    record_cursor = writer.cursor()[1] if writer is not None else 0
    pusher = Pusher(endpoint, bind=bind, send_hwm=hwm, send_timeout_ms=timeout_ms, linger_ms=5000)
    send = session.sender(pusher, writer.name if writer is not None else None)
    longest_wait = 0.0
    lost = 0
    try:
        send(run.start)  # a control message must not be lost: retried within the bound
        if drop:
            writer.send_signal(signal.SIGSTOP)
        resume_at = time.monotonic() + pause_s
        for image in run.images:
            began = time.monotonic()
            if drop:  # one try each, within the pause: no supervision check while it is stopped
                try:
                    pusher.send(image)
                except TransportError:
                    lost += 1  # counted in pusher.statistics().send_timeouts: the loss is visible
            else:
                send(image)
            longest_wait = max(longest_wait, time.monotonic() - began)
            if drop and time.monotonic() > resume_at:
                writer.send_signal(signal.SIGCONT)
        if drop:
            writer.send_signal(signal.SIGCONT)
        send(run.end)
    finally:
        if drop:
            writer.send_signal(signal.SIGCONT)
        pusher.close()
    if writer is not None:
        record = writer.wait_run(prefix, session.left(), since=record_cursor)
        written = None if record is None else record.images_written
    else:
        master = wait_master(out_dir, prefix, session.left())
        written = None if master is None else count_images(master)
    in_file = _nimages_written(master_of(out_dir, prefix))
    mode = "sender counted loss (send timeout)" if drop else "sender waited (blocking send)"
    observed = (
        f"{mode}: sent {n_images - lost}, send_timeouts {lost}, longest wait {longest_wait * 1000:.0f} ms; "
        f"writer images_written {written} of number_of_images {n_images}"
        + (f", master nimages_written {in_file}" if in_file is not None else "")
    )
    return observed, written is not None and written + lost == n_images and (drop or lost == 0)


def _nimages_written(master: Path) -> int | None:
    """``detectorSpecific/nimages_written`` of a Jungfraujoch master (hdf5-format.md 4.7), if any."""
    try:
        with h5py.File(master, "r") as f:
            value = f.get("/entry/instrument/detector/detectorSpecific/nimages_written")
            return None if value is None else int(value[()])
    except OSError:
        return None


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
