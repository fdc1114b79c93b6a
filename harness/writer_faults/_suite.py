"""The whole fault session behind ``jfsim faults``: sockets, writer, table.

``--target-writer ENDPOINT`` aims at any writer: by default the suite binds a PUSH socket there
and the writer connects (stream.md 2.3); with ``connect`` the writer binds and the suite
connects.  With ``spawn`` the suite starts our own `jfwriter` itself and also judges it by its
JSON and log lines; otherwise only the files under ``out_dir`` are observed.
"""

from __future__ import annotations

from pathlib import Path

from jfjoch_hil.harness.writer_faults._disk import disk_faults
from jfjoch_hil.harness.writer_faults._faults import standard_faults
from jfjoch_hil.harness.writer_faults._kill import kill_points_row
from jfjoch_hil.harness.writer_faults._runner import (
    FaultRow,
    accounting_row,
    run_fault_table,
    slow_consumer,
)
from jfjoch_hil.harness.writer_faults._writer import WriterProcess
from jfjoch_hil.stream import Pusher

__all__ = ["run_suite"]


def run_suite(
    endpoint: str,
    out_dir,
    *,
    connect: bool = False,
    spawn: bool = False,
    seed: int = 0,
    timeout_s: float = 30.0,
    faults=None,
    kill_points: int = 0,
) -> list[FaultRow]:
    """Run every fault, the slow consumer and, with ``spawn``, the disk faults and ``kill_points``
    SIGKILLs (own writers in folders next to ``out_dir``) and the exit accounting; the rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    faults = standard_faults() if faults is None else faults
    writer: WriterProcess | None = None
    pusher: Pusher | None = None
    try:
        if spawn and connect:
            writer = WriterProcess(out_dir, listen=endpoint, bind=True, timeout_s=timeout_s)
            target, bind = writer.endpoint, False
        else:
            target, bind = endpoint, not connect
        pusher = Pusher(target, bind=bind, send_timeout_ms=int(timeout_s * 1000), linger_ms=5000)
        target = pusher.endpoint  # the real port after binding port 0
        if spawn and writer is None:
            writer = WriterProcess(out_dir, listen=target, bind=False, timeout_s=timeout_s)
        rows = run_fault_table(
            pusher.send, out_dir, faults, writer=writer, seed=seed, timeout_s=timeout_s
        )
        pusher.close()
        pusher = None
        rows.append(
            slow_consumer(target, out_dir, bind=bind, writer=writer, timeout_s=timeout_s, seed=seed)
        )
        if spawn:
            rows += disk_faults(
                out_dir.parent / f"{out_dir.name}_disk_faults", timeout_s=timeout_s, seed=seed
            )
        if spawn and kill_points:
            rows.append(
                kill_points_row(
                    out_dir.parent / f"{out_dir.name}_kill_points",
                    kill_points,
                    seed=seed,
                    timeout_s=timeout_s,
                )
            )
        if writer is not None:
            status, exit_record = writer.stop()
            row = accounting_row(faults, exit_record, out_dir, seed)
            rows.append(
                FaultRow(
                    row.fault,
                    row.expected,
                    f"{row.observed}, exit {status}",
                    row.passed and status == 0,
                )
            )
        return rows
    finally:
        if pusher is not None:
            pusher.close()
        if writer is not None:
            writer.close()
