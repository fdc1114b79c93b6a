"""The detector's UDP sender: one socket per detector port, paced by absolute deadlines, batched
with ``sendmmsg`` where the C library has it (detectors.md §2.9, §2.10)."""

from __future__ import annotations

import ctypes
import errno
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator._udp import (
    _MMSGHDR,
    BUFFER_REQUEST_BYTES,
    _message_vector,
    _sendmmsg,
    _udp_socket,
)
from jfjoch_hil.simulator.detector._packetiser import FrameHeaders, Packetiser
from jfjoch_hil.simulator.errors import TransportError

__all__ = ["SenderStatistics", "UdpSender"]


@dataclass(frozen=True)
class SenderStatistics:
    """What a :class:`UdpSender` did; ``send_errors`` counts datagrams the kernel refused."""

    packets_sent: int
    bytes_sent: int
    send_errors: int
    frames_started: int
    deadlines_missed: int
    sndbuf_granted_bytes: int
    elapsed_s: float


class _BatchSender:
    """Sends rows of a packet array per socket with ``sendmmsg``, in schedule order per socket."""

    def __init__(self, sendmmsg, capacity: int, packet_bytes: int) -> None:
        self._call = sendmmsg
        self.packet_bytes = packet_bytes
        self._iov, self._msgs = _message_vector(capacity, packet_bytes)

    def send(self, fds: list[int], base_address: int, rows: np.ndarray, ports: np.ndarray) -> int:
        """Send ``rows`` of the packet array at ``base_address`` to ``fds[ports[i]]``; returns errors."""

        n = len(rows)
        order = np.argsort(ports, kind="stable")  # each socket keeps the schedule's order
        sorted_ports = ports[order]
        self._iov["base"][:n] = base_address + rows[order].astype(np.uint64) * self.packet_bytes
        edges = np.flatnonzero(np.diff(sorted_ports)) + 1
        errors = 0
        address = self._msgs.ctypes.data
        for lo, hi in zip(
            np.concatenate(([0], edges)).tolist(),
            np.concatenate((edges, [n])).tolist(),
            strict=True,
        ):
            fd = fds[int(sorted_ports[lo])]
            while lo < hi:
                sent = self._call(fd, address + lo * _MMSGHDR.itemsize, hi - lo, 0)
                if sent < 0:  # the first datagram failed (e.g. ECONNREFUSED): count it, go on
                    if ctypes.get_errno() == errno.EINTR:  # nothing sent, try again
                        continue
                    errors += 1
                    lo += 1
                else:
                    lo += sent
        return errors


class UdpSender:
    """Sends a schedule over UDP, one connected socket per detector port, paced per frame.

    Frame ``i`` of the schedule starts no earlier than ``t0 + i * frame_time_s`` (absolute
    deadlines, no drift); with ``packet_delay_s`` the j-th packet of a frame is not sent before
    ``t0 + i * frame_time_s + j * packet_delay_s`` (checked once per chunk of ``chunk_packets``,
    so a small chunk paces finely). ``clock`` and ``sleep`` are injected. Payloads come from the
    packetiser's pre-rendered frames, cycled, so the sender is limited by the socket.
    """

    def __init__(
        self,
        packetiser: Packetiser,
        destinations: Sequence[tuple[str, int]],
        frame_time_s: float = 0.0,
        chunk_packets: int = 256,
        packet_delay_s: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        sndbuf_request_bytes: int = BUFFER_REQUEST_BYTES,
        allow_remote: bool = False,
        batch_syscalls: bool = True,
    ) -> None:
        n_ports = packetiser.detector.n_ports
        if len(destinations) != n_ports:
            raise TransportError(
                f"destinations: {len(destinations)} given; need one per port ({n_ports})"
            )
        for host, _port in destinations:
            if host not in ("127.0.0.1", "localhost") and not allow_remote:
                # Driving a real receiver on another host is an explicit choice (allow_remote).
                raise TransportError(
                    f"destinations.host: {host!r}; allowed 127.0.0.1 (loopback only) "
                    "unless allow_remote is set"
                )
        self.packetiser = packetiser
        if frame_time_s < 0 or packet_delay_s < 0:
            raise TransportError(
                f"frame_time_s/packet_delay_s: {frame_time_s}/{packet_delay_s}; allowed >= 0"
            )
        self.frame_time_s = frame_time_s
        self.packet_delay_s = packet_delay_s
        self.chunk_packets = chunk_packets
        self._clock, self._sleep = clock, sleep
        self._sockets = []
        granted = 0
        for host, port in destinations:
            sock, granted = _udp_socket(socket.SO_SNDBUF, sndbuf_request_bytes)
            sock.bind(("127.0.0.1", 0))
            sock.connect((host, port))
            self._sockets.append(sock)
        self._granted = granted
        self._buffer = np.empty((chunk_packets, packetiser.packet_bytes), dtype=np.uint8)
        self._row_views = [memoryview(row) for row in self._buffer]
        # Views of every rendered packet: most chunks are sent straight from there (no copy).
        self._rendered_views = [
            memoryview(row) for row in packetiser.rendered.reshape(-1, packetiser.packet_bytes)
        ]
        self._counts = {"sent": 0, "errors": 0, "frames": 0, "missed": 0}
        self._elapsed = 0.0
        call = _sendmmsg() if batch_syscalls else None
        self._batch = (
            None if call is None else _BatchSender(call, chunk_packets, packetiser.packet_bytes)
        )
        self.batched = self._batch is not None

    def close(self) -> None:
        """Close all sockets."""
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def __enter__(self) -> UdpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, frame: np.ndarray, port: np.ndarray, packet: np.ndarray, headers: FrameHeaders
    ) -> None:
        """Send the schedule (arrays in send order; ``frame`` indexes ``headers``)."""
        start = self._clock()
        # A new frame starts where the running maximum frame index grows: wait for its deadline.
        running = np.maximum.accumulate(frame) if len(frame) else frame
        starts = np.flatnonzero(np.diff(running, prepend=-1) > 0)
        bounds = np.append(starts, len(frame))
        sends = [sock.send for sock in self._sockets]
        fds = [sock.fileno() for sock in self._sockets]
        buffer = self._buffer
        for seg in range(len(starts)):
            frame_deadline = start + float(running[bounds[seg]]) * self.frame_time_s
            if self.frame_time_s > 0:
                now = self._clock()
                if now < frame_deadline:
                    self._sleep(frame_deadline - now)
                elif now > frame_deadline + self.frame_time_s:
                    self._counts["missed"] += 1
            self._counts["frames"] += 1
            first = int(bounds[seg])
            for lo in range(first, int(bounds[seg + 1]), self.chunk_packets):
                if self.packet_delay_s > 0 and lo > first:
                    deadline = frame_deadline + (lo - first) * self.packet_delay_s
                    now = self._clock()
                    if now < deadline:
                        self._sleep(deadline - now)
                hi = min(lo + self.chunk_packets, int(bounds[seg + 1]))
                rows = self.packetiser.stamp(frame[lo:hi], port[lo:hi], packet[lo:hi], headers)
                if rows is None:
                    self.packetiser.gather(
                        frame[lo:hi], port[lo:hi], packet[lo:hi], headers, out=buffer
                    )
                if self._batch is not None:
                    if rows is None:
                        base, rows = buffer.ctypes.data, np.arange(hi - lo)
                    else:
                        base = self.packetiser.rendered.ctypes.data
                    self._counts["errors"] += self._batch.send(fds, base, rows, port[lo:hi])
                    self._counts["sent"] += hi - lo
                    continue
                if rows is None:
                    views = self._row_views[: hi - lo]
                else:
                    rendered = self._rendered_views
                    views = [rendered[r] for r in rows.tolist()]
                for send, view in zip(
                    map(sends.__getitem__, port[lo:hi].tolist()), views, strict=True
                ):
                    try:
                        send(view)
                    except OSError:
                        self._counts["errors"] += 1
                self._counts["sent"] += hi - lo
        self._elapsed += self._clock() - start

    def statistics(self) -> SenderStatistics:
        """Counters so far (frozen)."""
        c = self._counts
        sent = c["sent"] - c["errors"]
        return SenderStatistics(
            sent,
            sent * self.packetiser.packet_bytes,
            c["errors"],
            c["frames"],
            c["missed"],
            self._granted,
            self._elapsed,
        )
