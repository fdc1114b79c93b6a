"""Per-module detector senders.

:func:`send_modules` is the unit a launcher starts: it sends the packets of some modules of a
run over UDP, paced from a common start time.  ``jfsim run`` starts one process per group of
modules when ``run.sender_processes`` > 1; across machines an MPI launcher can call the same
function once per rank (docs/scenarios.md).  Every rank builds the same experiment from the same
scenario and seed, so the packets are identical to a single-process run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
from jfjoch_hil.harness.chain import Experiment
from jfjoch_hil.simulator.detector import UdpSender

__all__ = ["first_frame_numbered", "module_groups", "run_detector_mpi", "send_modules"]


def module_groups(n_modules: int, processes: int) -> list[list[int]]:
    """Split modules 0..n-1 into ``processes`` contiguous groups (fewer when there are fewer modules)."""
    processes = max(1, min(processes, n_modules))
    return [list(map(int, group)) for group in np.array_split(np.arange(n_modules), processes)]


def first_frame_numbered(experiment: Experiment, first_frame_number: int) -> Experiment:
    """``experiment`` with its run's frame numbers counted from ``first_frame_number`` (a real
    detector keeps counting across acquisitions unless reset, detectors.md 2.4)."""
    if first_frame_number == 1:
        return experiment
    headers = experiment.headers
    shifted = headers.frame_number + np.uint64(first_frame_number - 1)
    return dataclasses.replace(
        experiment, headers=dataclasses.replace(headers, frame_number=shifted)
    )


def send_modules(
    experiment: Experiment,
    modules: Sequence[int],
    destinations: Sequence[tuple[str, int]],
    frame: np.ndarray,
    port: np.ndarray,
    packet: np.ndarray,
    *,
    start_at_epoch_s: float | None = None,
    allow_remote: bool = False,
) -> dict:
    """Send the scheduled packets of ``modules`` to ``destinations`` (one (host, port) per detector
    port, all of them); frame ``i`` leaves at ``start + i / frame_rate``.

    ``start_at_epoch_s`` (wall clock, ``time.time()``) lets several processes or ranks start
    together; without it the send starts at once.  Destinations off this machine need
    ``allow_remote`` (a real receiver).  Returns the sender's statistics as a dict.
    """
    ports_per_module = experiment.detector.model.ports_per_module
    mine = np.isin(port // ports_per_module, np.asarray(modules, dtype=np.int64))
    if start_at_epoch_s is not None:
        delay = start_at_epoch_s - time.time()
        if delay > 0:
            time.sleep(delay)
    with UdpSender(
        experiment.packetiser,
        destinations,
        frame_time_s=experiment.frame_time_s,
        allow_remote=allow_remote,
    ) as sender:
        sender.send(frame[mine], port[mine], packet[mine], experiment.headers)
        return dataclasses.asdict(sender.statistics())


def run_detector_mpi(
    scenario,
    destinations: Sequence[tuple[str, int]] | None,
    *,
    allow_remote: bool = False,
    pool_bytes: int | None = None,
    start_delay_s: float = 1.0,
    first_frame_number: int = 1,
) -> dict | None:
    """One rank of ``mpirun -n N jfsim detector --mpi``: rank r sends module group r of
    :func:`module_groups` (N groups), every rank building the same experiment from the same
    scenario and seed, so the packets equal those of a single-process run.

    Rank 0's ``destinations`` and a common start time (``start_delay_s`` after every rank is
    ready, on the wall clock: hosts need synchronised clocks, e.g. NTP/PTP) are broadcast; each
    rank's statistics are gathered into one report, returned on rank 0 (``None`` elsewhere).
    Frame numbers count from ``first_frame_number``.
    """
    from jfjoch_hil.harness.chain import build_experiment, has_packet_faults
    from jfjoch_hil.harness.standalone import EMITTER_POOL_BYTES, emit_frames, pool_experiment
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    destinations = comm.bcast(list(destinations) if rank == 0 else None, root=0)
    faults = has_packet_faults(scenario)
    if first_frame_number < 1:
        raise ValueError(f"--first-frame-number: {first_frame_number}; allowed >= 1")
    if faults:
        experiment = first_frame_numbered(build_experiment(scenario), first_frame_number)
    else:
        experiment = pool_experiment(
            scenario, EMITTER_POOL_BYTES if pool_bytes is None else pool_bytes
        )
    if len(destinations) != experiment.detector.n_ports:
        raise ValueError(
            f"--to: {len(destinations)} destinations given; this detector has "
            f"{experiment.detector.n_ports} ports"
        )
    groups = module_groups(experiment.detector.n_modules, size)
    mine = groups[rank] if rank < len(groups) else []
    comm.Barrier()  # every rank has rendered its pool
    start = comm.bcast(time.time() + start_delay_s if rank == 0 else None, root=0)
    if not mine:
        stats: dict = {"modules": [], "frames_sent": 0, "packets_sent": 0, "send_errors": 0}
    elif faults:
        s = experiment.schedule
        stats = send_modules(
            experiment,
            mine,
            destinations,
            s.frame,
            s.port,
            s.packet,
            start_at_epoch_s=start,
            allow_remote=allow_remote,
        )
        stats["modules"] = mine
    else:
        stats = emit_frames(
            experiment,
            destinations,
            modules=mine,
            start_at=start,
            allow_remote=allow_remote,
            first_frame_number=first_frame_number,
        )
        stats["modules"] = mine
    stats["rank"] = rank
    stats["host"] = MPI.Get_processor_name()
    gathered = comm.gather(stats, root=0)
    if rank != 0:
        return None
    rates = [r["achieved_rate_hz"] for r in gathered if r.get("achieved_rate_hz")]
    return {
        "sender": "mpi-schedule" if faults else "mpi-emitter",
        "ranks": size,
        "start_at_epoch_s": start,
        "packets_sent": sum(int(r.get("packets_sent", 0)) for r in gathered),
        "send_errors": sum(int(r.get("send_errors", 0)) for r in gathered),
        "slowest_rank_rate_hz": min(rates) if rates else None,
        "per_rank": gathered,
    }
