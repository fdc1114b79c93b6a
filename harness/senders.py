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

__all__ = ["module_groups", "send_modules"]


def module_groups(n_modules: int, processes: int) -> list[list[int]]:
    """Split modules 0..n-1 into ``processes`` contiguous groups (fewer when there are fewer modules)."""
    processes = max(1, min(processes, n_modules))
    return [list(map(int, group)) for group in np.array_split(np.arange(n_modules), processes)]


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
