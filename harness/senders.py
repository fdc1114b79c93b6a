"""Per-module detector senders.

:func:`send_modules` is the unit a launcher starts: it sends the packets of some modules of a
run over UDP, paced from a common start time.  ``jfsim run`` starts one process per group of
modules when ``run.sender_processes`` > 1; across machines an MPI launcher can call the same
function once per rank (docs/scenarios.md).  Every rank builds the same experiment from the same
scenario and seed, so the packets are identical to a single-process run.
"""

from __future__ import annotations

import dataclasses
import functools
import socket
import sys
import time
from collections.abc import Sequence

import numpy as np
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.chain import Experiment, build_experiment, has_packet_faults
from jfjoch_hil.harness.scenario import Scenario
from jfjoch_hil.simulator.detector import FrameEmitter, UdpSender

__all__ = [
    "DETECTOR_MARGIN_S",
    "EMITTER_POOL_BYTES",
    "MPI_COLLECTIVE_WAIT_S",
    "detector_bound_s",
    "emit_frames",
    "first_frame_numbered",
    "max_frame_rate_hz",
    "module_groups",
    "pool_experiment",
    "pool_frames_for",
    "run_detector_mpi",
    "send_modules",
]


#: Packets of rendered frames an emitter keeps in memory at most (they are cycled).
EMITTER_POOL_BYTES = 64 << 20
#: Default start-up and lateness allowance of ``jfsim detector`` (the runs' margin, Bounds).
DETECTOR_MARGIN_S = Bounds().margin_s

# EIGER continuous readout per bit depth (detectors.md §3.5), 10 GbE; 12 bit has no figure of its
# own in §3.5: its 16-bit containers are taken.  1 GbE: §3.5 gives 16 and 32 bit, where the link
# is the limit, so the other depths are the 16-bit figure scaled by bytes per frame (12 bit packs
# two pixels in three bytes).
_EIGER_MAX_RATE_HZ = {4: 7813.0, 8: 4000.0, 12: 2000.0, 16: 2000.0, 32: 1023.0}
_EIGER_1GBE_MAX_RATE_HZ = {4: 1024.0, 8: 512.0, 12: 341.0, 16: 256.0, 32: 128.0}


def max_frame_rate_hz(scenario: Scenario) -> float:
    """Highest continuous frame rate of the scenario's detector: JUNGFRAU 2 kHz with two
    interfaces, 1 kHz with one (detectors.md §2.10); EIGER by bit depth and link (§3.5)."""
    d = scenario.detector
    if d.type == "jungfrau":
        return 2000.0 if d.interfaces == 2 else 1000.0
    if d.link == "1gbe":
        return _EIGER_1GBE_MAX_RATE_HZ[d.bit_depth]
    return _EIGER_MAX_RATE_HZ[d.bit_depth]


def detector_bound_s(scenario: Scenario, margin_s: float) -> float:
    """Seconds ``jfsim detector`` may take from its start: the run's images x its frame period
    (the time the frames are due in) plus ``margin_s`` (start-up: rendering the frame pool, a
    common start; and whatever lateness the sending may gather)."""
    if not margin_s >= 0:
        raise ValueError(f"--margin: {margin_s}; allowed >= 0 seconds")
    return scenario.run.images / scenario.run.frame_rate_hz + margin_s


def emit_frames(
    experiment,
    destinations: Sequence[tuple[str, int]],
    *,
    modules: Sequence[int] | None = None,
    start_at: float | None = None,
    allow_remote: bool = False,
    first_frame_number: int = 1,
    stop_at_epoch_s: float | None = None,
    gso: str = "auto",
) -> dict:
    """Send every frame of a fault-free run with :class:`FrameEmitter` (only the ports of
    ``modules`` when given) and return its statistics as a dict. ``start_at`` is on
    ``time.time()`` (wall clock): processes or hosts given the same value start together.
    Frame numbers count from ``first_frame_number``.  No frame starts at or after
    ``stop_at_epoch_s`` (wall clock); the statistics then say ``stopped_at_deadline``.
    ``gso`` is the emitter's UDP segmentation offload setting (auto, on, off)."""
    detector = experiment.detector
    ports = None
    if modules is not None:
        per = detector.model.ports_per_module
        ports = [m * per + p for m in modules for p in range(per)]
    clock_offset = time.perf_counter() - time.time()
    with FrameEmitter(
        experiment.packetiser,
        destinations,
        experiment.frame_time_s,
        ports=ports,
        allow_remote=allow_remote,
        gso=gso,
    ) as emitter:
        stats = emitter.run(
            experiment.n_images,
            functools.partial(experiment.header_block, first_frame_number=first_frame_number),
            start_at=None if start_at is None else start_at + clock_offset,
            stop_at=None if stop_at_epoch_s is None else stop_at_epoch_s + clock_offset,
        )
    report = dataclasses.asdict(stats)
    report["ports"] = emitter.ports
    return report


def pool_experiment(
    scenario: Scenario,
    pool_bytes: int = EMITTER_POOL_BYTES,
    modules: Sequence[int] | None = None,
):
    """The experiment a :class:`FrameEmitter` sends ``scenario`` from: its first frames as a pool
    of at most ``pool_bytes``, built from the scenario cut to the pool's length (the scene then
    predicts and renders those frames only), no per-run arrays. Frame ``i`` of the run is pool
    frame ``i mod R``; ``n_images`` stays the whole run's.  A pool shorter than the run holds a
    multiple of the storage-cell count, so each cycled frame keeps its cell's data.  ``modules``
    renders only those (an MPI rank's); the pool's length stays the whole detector's."""
    pool = min(scenario.run.images, pool_frames_for(scenario, pool_bytes))
    n_cells = scenario.detector.storage_cells
    if pool < scenario.run.images:
        pool = max(n_cells, pool - pool % n_cells)
    short = dataclasses.replace(scenario, run=dataclasses.replace(scenario.run, images=pool))
    experiment = build_experiment(short, pool_frames=pool, per_run_arrays=False, modules=modules)
    experiment.scenario = scenario
    return experiment


def pool_frames_for(scenario: Scenario, pool_bytes: int) -> int:
    """Rendered frames whose packets fit ``pool_bytes`` (at least one)."""
    from jfjoch_hil.simulator.detector import eiger_module, jungfrau_module

    d = scenario.detector
    model = (
        jungfrau_module(d.interfaces)
        if d.type == "jungfrau"
        else eiger_module(d.bit_depth, ten_giga=d.link == "10gbe")
    )
    frame_bytes = d.modules * model.ports_per_module * model.packets_per_port * model.packet_bytes
    return max(1, pool_bytes // frame_bytes)


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
    stop_at_epoch_s: float | None = None,
) -> dict:
    """Send the scheduled packets of ``modules`` to ``destinations`` (one (host, port) per detector
    port, all of them); frame ``i`` leaves at ``start + i / frame_rate``.

    ``start_at_epoch_s`` (wall clock, ``time.time()``) lets several processes or ranks start
    together; without it the send starts at once.  Destinations off this machine need
    ``allow_remote`` (a real receiver).  Nothing is sent at or after ``stop_at_epoch_s`` (wall
    clock; the statistics then say ``stopped_at_deadline``).  Returns the sender's statistics as
    a dict.
    """
    ports_per_module = experiment.detector.model.ports_per_module
    mine = np.isin(port // ports_per_module, np.asarray(modules, dtype=np.int64))
    if start_at_epoch_s is not None:
        until = (
            start_at_epoch_s if stop_at_epoch_s is None else min(start_at_epoch_s, stop_at_epoch_s)
        )
        delay = until - time.time()
        if delay > 0:
            time.sleep(delay)
    stop_at = None
    if stop_at_epoch_s is not None:
        stop_at = time.perf_counter() + (stop_at_epoch_s - time.time())
    with UdpSender(
        experiment.packetiser,
        destinations,
        frame_time_s=experiment.frame_time_s,
        allow_remote=allow_remote,
    ) as sender:
        sender.send(frame[mine], port[mine], packet[mine], experiment.headers, stop_at=stop_at)
        return dataclasses.asdict(sender.statistics())


#: Default of ``jfsim detector --mpi-wait``: seconds past the run's bound a rank waits for the
#: others at a collective step.
MPI_COLLECTIVE_WAIT_S = 30.0


class _Collectives:
    """The collective steps of an MPI run, each bounded: every rank first meets the others in a
    non-blocking barrier polled until ``deadline`` (``time.perf_counter()``), then takes part in
    the collective itself, which no longer waits for anyone.  A rank that does not arrive in
    time (stopped, hung, dead without ending the job) makes the waiting ranks abort the whole
    job with exit 3, naming the step."""

    def __init__(self, comm, deadline: float, wait_s: float, abort) -> None:
        self.comm = comm
        self.deadline = deadline
        self.wait_s = wait_s
        self._abort = abort

    def meet(self, step: str) -> None:
        request = self.comm.Ibarrier()
        pause = 0.0005
        while not request.Test():
            if time.perf_counter() >= self.deadline:
                rank, size = self.comm.Get_rank(), self.comm.Get_size()
                self._abort(
                    f"jfsim detector --mpi: rank {rank} of {size}: not every rank reached "
                    f"'{step}' within the run's bound + --mpi-wait {self.wait_s:g} s; "
                    "aborting the job"
                )
            time.sleep(pause)
            pause = min(2 * pause, 0.02)

    def bcast(self, value, step: str):
        self.meet(step)
        return self.comm.bcast(value, root=0)

    def gather(self, value, step: str):
        self.meet(step)
        return self.comm.gather(value, root=0)


def _abort_job(comm, message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    comm.Abort(3)


def run_detector_mpi(
    scenario,
    destinations: Sequence[tuple[str, int]] | None,
    *,
    allow_remote: bool = False,
    pool_bytes: int | None = None,
    start_delay_s: float = 1.0,
    first_frame_number: int = 1,
    margin_s: float = DETECTOR_MARGIN_S,
    collective_wait_s: float = MPI_COLLECTIVE_WAIT_S,
    gso: str = "auto",
) -> dict | None:
    """One rank of ``mpirun -n N jfsim detector --mpi``: rank r renders and sends only module
    group r of :func:`module_groups` (N groups).  Each module's frames come from generators of
    its own seeded by the scenario (:func:`build_experiment` ``modules``), so the packets equal
    those of a single-process run.

    Rank 0's ``destinations`` and a common start time (``start_delay_s`` after every rank is
    ready, on the wall clock: hosts need synchronised clocks, e.g. NTP/PTP) are broadcast; each
    rank's statistics are gathered into one report, returned on rank 0 (``None`` elsewhere).
    Frame numbers count from ``first_frame_number``.  Rank 0 also broadcasts the deadline,
    :func:`detector_bound_s` after its own start: no rank sends at or after it, and the report
    says ``stopped_by: deadline`` when any rank stopped there.  Every collective step waits at
    most until the rank's own start + that bound + ``collective_wait_s``; past it the job is
    aborted with exit 3 (a rank that never arrives cannot hang the others).  ``gso``: the
    emitter's UDP segmentation offload setting on every rank (auto, on, off).
    """
    if not collective_wait_s >= 0:
        raise ValueError(f"--mpi-wait: {collective_wait_s}; allowed >= 0 seconds")
    if first_frame_number < 1:
        raise ValueError(f"--first-frame-number: {first_frame_number}; allowed >= 1")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    host = socket.gethostname()
    began = time.time()
    bound_s = detector_bound_s(scenario, margin_s)
    collectives = _Collectives(
        comm,
        time.perf_counter() + bound_s + collective_wait_s,
        collective_wait_s,
        functools.partial(_abort_job, comm),
    )
    rank, size = comm.Get_rank(), comm.Get_size()
    destinations, stop_at = collectives.bcast(
        (list(destinations), began + bound_s) if rank == 0 else None, "destinations"
    )
    faults = has_packet_faults(scenario)
    n_modules = scenario.detector.modules
    groups = module_groups(n_modules, size)
    mine = groups[rank] if rank < len(groups) else []
    print(
        f"jfsim detector --mpi: rank {rank} of {size} on {host}: rendering modules {mine}",
        file=sys.stderr,
        flush=True,
    )
    if not mine:
        experiment = None
    elif faults:
        experiment = first_frame_numbered(
            build_experiment(scenario, modules=mine), first_frame_number
        )
    else:
        experiment = pool_experiment(
            scenario, EMITTER_POOL_BYTES if pool_bytes is None else pool_bytes, modules=mine
        )
    if experiment is not None and len(destinations) != experiment.detector.n_ports:
        raise ValueError(
            f"--to: {len(destinations)} destinations given; this detector has "
            f"{experiment.detector.n_ports} ports"
        )
    start = collectives.bcast(  # every rank has rendered its modules
        time.time() + start_delay_s if rank == 0 else None, "rendered"
    )
    if experiment is None:
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
            stop_at_epoch_s=stop_at,
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
            stop_at_epoch_s=stop_at,
            gso=gso,
        )
        stats["modules"] = mine
    stats["rendered_modules"] = [] if experiment is None else experiment.rendered_modules
    stats["rank"] = rank
    stats["host"] = host
    gathered = collectives.gather(stats, "report")
    if rank != 0:
        return None
    rates = [r["achieved_rate_hz"] for r in gathered if r.get("achieved_rate_hz")]
    stopped = any(r.get("stopped_at_deadline") for r in gathered)
    return {
        "sender": "mpi-schedule" if faults else "mpi-emitter",
        "stopped_by": "deadline" if stopped else "complete",
        "bound_s": bound_s,
        "margin_s": margin_s,
        "collective_wait_s": collective_wait_s,
        "ranks": size,
        "start_at_epoch_s": start,
        "packets_sent": sum(int(r.get("packets_sent", 0)) for r in gathered),
        "send_errors": sum(int(r.get("send_errors", 0)) for r in gathered),
        "slowest_rank_rate_hz": min(rates) if rates else None,
        "per_rank": gathered,
    }
