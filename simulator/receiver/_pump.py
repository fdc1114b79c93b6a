"""The receive loop: sockets first, one assembled frame of processing at a time (detectors.md §4).

An 8 MiB receive buffer holds about 500 datagrams, 8 ms of a JUNGFRAU module at 500 Hz. A loop
that drains a batch and then converts every frame it completed (8 frames for a 1024-packet
batch, several ms) leaves the sockets unread for longer than that; this one goes back to the
sockets after each frame it hands to ``on_frame``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from jfjoch_hil.simulator.receiver._assembler import AssembledFrame

__all__ = ["pump"]


def pump(
    receiver,
    on_frame: Callable[[AssembledFrame], None],
    until_packets: int,
    timeout_s: float,
    idle_timeout_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Receive with ``receiver`` (a :class:`UdpReceiver` or :class:`RingUdpReceiver`) until
    ``until_packets`` datagrams arrived, nothing came for ``idle_timeout_s`` or ``timeout_s``
    passed, calling ``on_frame`` for every frame its assembler closes (in frame order). Frames
    still open at the end stay in the assembler for the caller's ``flush``. Returns the number
    of datagrams read."""
    assembler = receiver.assembler
    pending: deque[AssembledFrame] = deque()
    start = last = clock()
    received = 0
    while True:
        got = receiver.poll(0.0 if pending else min(0.05, idle_timeout_s))
        now = clock()
        if got:
            received += got
            last = now
            pending.extend(assembler.pop_frames())
        if pending:
            on_frame(pending.popleft())
            continue
        if received >= until_packets or now - last > idle_timeout_s or now - start > timeout_s:
            return received
