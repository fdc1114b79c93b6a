"""The receiver's UDP sockets: a batching receiver with one socket per detector port
(detectors.md §2.9, §2.10).

The receiver drains each socket with ``recv_into`` into a preallocated numpy array of packet
slots and hands whole batches to the :class:`Assembler`, so per-packet Python work is one
``recv_into`` call; header decoding and payload placement are vectorised.
"""

from __future__ import annotations

import ctypes
import errno
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator._udp import (
    _MMSGHDR,
    _MSG_DONTWAIT,
    BUFFER_REQUEST_BYTES,
    _message_vector,
    _recvmmsg,
    _udp_socket,
)
from jfjoch_hil.simulator.errors import TransportError
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame, Assembler

__all__ = ["ReceiverStatistics", "UdpReceiver", "kernel_drops", "receive_until"]


@dataclass(frozen=True)
class ReceiverStatistics:
    """Datagrams read per port, the kernel-granted receive buffer (bytes as getsockopt says) and
    the datagrams the kernel dropped per port because that buffer was full (``None`` where
    ``/proc/net/udp`` is not available): a loss equal to these drops is explained."""

    datagrams_per_port: tuple[int, ...]
    batches: int
    rcvbuf_granted_bytes: int
    elapsed_s: float
    kernel_drops_per_port: tuple[int, ...] | None = None

    @property
    def datagrams(self) -> int:
        """All datagrams read."""
        return sum(self.datagrams_per_port)


#: Linux ``SO_SNDBUFFORCE`` / ``SO_RCVBUFFORCE`` (asm-generic/socket.h); Python does not name them.
def kernel_drops(ports: Sequence[int], table: str = "/proc/net/udp") -> tuple[int, ...] | None:
    """Receive-buffer drops the kernel counted for the UDP sockets bound to 127.0.0.1:``port``
    (the last column of Linux ``/proc/net/udp``); ``None`` when the table cannot be read."""
    try:
        with open(table, encoding="ascii") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return None
    drops: dict[int, int] = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 13 or fields[1].split(":")[0] != "0100007F":
            continue
        drops[int(fields[1].split(":")[1], 16)] = int(fields[-1])
    return tuple(drops.get(port, 0) for port in ports)


class UdpReceiver:
    """Listens on one UDP socket per detector port (127.0.0.1, port 0 unless given) and feeds
    batches of datagrams to an :class:`Assembler` (detectors.md §4.1, §4.2).

    ``rcvbuf_request_bytes`` (8 MiB) is capped by ``net.core.rmem_max``; ``rcvbuf_force`` asks
    past the cap when permitted. An 8 MiB buffer holds about 500 datagrams of 8240 bytes.
    """

    def __init__(
        self,
        assembler: Assembler,
        ports: Sequence[int] | None = None,
        batch_packets: int = 1024,
        rcvbuf_request_bytes: int = BUFFER_REQUEST_BYTES,
        clock: Callable[[], float] = time.perf_counter,
        fair_chunk_packets: int = 64,
        rcvbuf_force: bool = False,
        batch_syscalls: bool = True,
    ) -> None:
        n_ports = assembler.detector.n_ports
        self._fair_chunk = max(1, fair_chunk_packets)
        ports = list(ports) if ports is not None else [0] * n_ports
        if len(ports) != n_ports:
            raise TransportError(
                f"ports: {len(ports)} given; need one per detector port ({n_ports})"
            )
        self.assembler = assembler
        self._clock = clock
        self._sockets: list[socket.socket] = []
        granted = 0
        try:
            for port in ports:
                sock, granted = _udp_socket(socket.SO_RCVBUF, rcvbuf_request_bytes, rcvbuf_force)
                self._sockets.append(sock)
                sock.bind(("127.0.0.1", port))
                sock.setblocking(False)
        except OSError as exc:
            self.close()
            raise TransportError(f"ports: cannot bind 127.0.0.1 ({exc})") from exc
        self._granted = granted
        packet_bytes = assembler.detector.model.packet_bytes
        # One spare byte per slot: an oversized datagram fills it and is rejected by size.
        self._slot_bytes = packet_bytes + 1
        self._slots = np.empty((batch_packets, self._slot_bytes), dtype=np.uint8)
        self._slot_views = [memoryview(row) for row in self._slots]
        self._sizes = np.empty(batch_packets, dtype=np.int64)
        self._ports = np.empty(batch_packets, dtype=np.int64)
        self._per_port = [0] * n_ports
        self._batches = 0
        self._elapsed = 0.0
        self._selector = selectors.DefaultSelector()
        for index, sock in enumerate(self._sockets):
            self._selector.register(sock, selectors.EVENT_READ, index)
        # recvmmsg: one system call reads a chunk of datagrams into consecutive slots
        self._recvmmsg = _recvmmsg() if batch_syscalls else None
        self.batched = self._recvmmsg is not None
        if self._recvmmsg is not None:  # message i reads into slot i
            self._iov, self._msgs = _message_vector(batch_packets, self._slot_bytes)
            self._iov["base"] = (
                self._slots.ctypes.data
                + np.arange(batch_packets, dtype=np.uint64) * self._slot_bytes
            )

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each detector port's socket, in port order."""
        return [sock.getsockname() for sock in self._sockets]

    def close(self) -> None:
        """Close all sockets and the selector."""
        if hasattr(self, "_selector"):
            self._selector.close()
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def __enter__(self) -> UdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for data, then drain the ready sockets into one batch.

        Sockets are read round-robin, ``fair_chunk_packets`` at a time, so one busy port cannot
        run ahead of the others by more than a chunk; at most one batch (``batch_packets``) is
        read per call, so a flood cannot starve the caller. Returns the datagrams read.
        """
        if self._recvmmsg is not None:
            return self._poll_batched(timeout_s)
        start = self._clock()
        ready = [(key.fileobj.recv_into, key.data) for key, _ in self._selector.select(timeout_s)]
        views, sizes, ports = self._slot_views, self._sizes, self._ports
        capacity, chunk = len(views), self._fair_chunk
        n = 0
        while ready and n < capacity:
            still = []
            for recv_into, index in ready:
                stop = min(n + chunk, capacity)
                first = n
                while n < stop:
                    try:
                        sizes[n] = recv_into(views[n])
                    except BlockingIOError:
                        break
                    n += 1
                if n > first:
                    ports[first:n] = index
                    self._per_port[index] += n - first
                if n == stop:
                    still.append((recv_into, index))
            ready = still
        return self._deliver(n, start)

    def _deliver(self, n: int, start: float) -> int:
        """Hand the ``n`` datagrams read into the slots to the assembler (one batch) and account
        the time since ``start``; returns ``n``."""
        if n:
            self._batches += 1
            self.assembler.push(self._slots[:n], self._ports[:n], self._sizes[:n])
        self._elapsed += self._clock() - start
        return n

    def _poll_batched(self, timeout_s: float) -> int:
        """:meth:`poll` with ``recvmmsg``: the same round-robin chunks, one call per chunk."""

        start = self._clock()
        ready = [(key.fileobj.fileno(), key.data) for key, _ in self._selector.select(timeout_s)]
        sizes, ports, msgs = self._sizes, self._ports, self._msgs
        address = msgs.ctypes.data
        capacity, chunk = len(sizes), self._fair_chunk
        n = 0
        while ready and n < capacity:
            still = []
            for fd, index in ready:
                want = min(chunk, capacity - n)
                if want <= 0:
                    break
                got = self._recvmmsg(fd, address + n * _MMSGHDR.itemsize, want, _MSG_DONTWAIT, None)
                if got < 0:
                    if ctypes.get_errno() == errno.EINTR:  # nothing read, the socket stays ready
                        still.append((fd, index))
                    continue  # EAGAIN: drained
                if got:
                    sizes[n : n + got] = msgs["len"][n : n + got]
                    ports[n : n + got] = index
                    self._per_port[index] += got
                    n += got
                if got == want:
                    still.append((fd, index))
            ready = still
        return self._deliver(n, start)

    def run(
        self, until_packets: int, timeout_s: float, idle_timeout_s: float = 0.5
    ) -> list[AssembledFrame]:
        """Receive until ``until_packets`` datagrams arrived, nothing came for ``idle_timeout_s``
        or ``timeout_s`` passed; returns the frames closed meanwhile (the caller flushes)."""
        return receive_until(self, until_packets, timeout_s, idle_timeout_s)

    def statistics(self) -> ReceiverStatistics:
        """Counters so far (frozen)."""
        ports = [address[1] for address in self.addresses] if self._sockets else []
        return ReceiverStatistics(
            tuple(self._per_port),
            self._batches,
            self._granted,
            self._elapsed,
            kernel_drops(ports) if ports else None,
        )


def receive_until(
    receiver, until_packets: int, timeout_s: float, idle_timeout_s: float
) -> list[AssembledFrame]:
    """The receive loop of every receiver kind (anything with ``poll``, ``assembler`` and
    ``_clock``): poll until ``until_packets`` datagrams, ``idle_timeout_s`` of silence or
    ``timeout_s``; return the frames closed meanwhile."""
    frames: list[AssembledFrame] = []
    start = last = receiver._clock()
    received = 0
    while received < until_packets:
        now = receiver._clock()
        if now - start > timeout_s or now - last > idle_timeout_s:
            break
        got = receiver.poll(min(0.05, idle_timeout_s))
        if got:
            received += got
            last = receiver._clock()
            frames.extend(receiver.assembler.pop_frames())
    frames.extend(receiver.assembler.pop_frames())
    return frames
