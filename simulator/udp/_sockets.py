"""Real UDP on loopback: a paced sender with one socket per detector port, and a batching
receiver (detectors.md §2.9, §2.10; issue 5 "Sender", "Receiver side").

The receiver drains each socket with ``recv_into`` into a preallocated numpy array of packet
slots and hands whole batches to the :class:`Assembler`, so per-packet Python work is one
``recv_into`` call; header decoding and payload placement are vectorised.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import TransportError
from ._assembler import AssembledFrame, Assembler
from ._packetiser import FrameHeaders, Packetiser

__all__ = ["BUFFER_REQUEST_BYTES", "SenderStatistics", "UdpSender", "UdpReceiver",
           "ReceiverStatistics", "kernel_drops"]

#: Socket buffer asked for on both sides (issue 5: the 208 KiB default loses packets).
BUFFER_REQUEST_BYTES = 8 * 1024 * 1024


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
_FORCE_OPTION = {socket.SO_SNDBUF: 32, socket.SO_RCVBUF: 33}


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


def _udp_socket(option: int, request_bytes: int, force: bool = False) -> tuple[socket.socket, int]:
    """A UDP socket with the buffer ``option`` requested; returns it and the granted size.

    ``force`` first tries the ``*FORCE`` variant, which may exceed ``net.core.rmem_max`` /
    ``wmem_max`` when the process has CAP_NET_ADMIN; otherwise the plain request is capped there.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if force:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _FORCE_OPTION[option], request_bytes)
                return sock, sock.getsockopt(socket.SOL_SOCKET, option)
            except OSError:
                pass  # not permitted: fall back to the capped request below
        sock.setsockopt(socket.SOL_SOCKET, option, request_bytes)
    except OSError:
        pass  # still usable with the default size; statistics() reports what was granted
    return sock, sock.getsockopt(socket.SOL_SOCKET, option)


# struct mmsghdr / struct iovec of LP64 Linux (x86-64, aarch64): sendmmsg sends a batch of
# datagrams in one system call; the Python per-packet path costs ~5 us a packet.
_MMSGHDR = np.dtype({"names": ["iov", "iovlen", "len"], "formats": ["<u8", "<u8", "<u4"],
                     "offsets": [16, 24, 56], "itemsize": 64})
_IOVEC = np.dtype({"names": ["base", "len"], "formats": ["<u8", "<u8"], "itemsize": 16})


def _libc_function(name: str, *argtypes):
    """A libc function through ctypes (calls release the GIL), or ``None`` where it is missing
    (not Linux, not LP64): callers then keep one Python call per datagram."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or np.dtype(np.intp).itemsize != 8:
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function


def _sendmmsg():
    import ctypes

    return _libc_function("sendmmsg", ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)


def _recvmmsg():
    import ctypes

    return _libc_function("recvmmsg", ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)


_MSG_DONTWAIT = 0x40


def _message_vector(capacity: int, buffer_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(iovecs, mmsghdrs) for ``capacity`` datagrams: message i has one iovec of
    ``buffer_bytes``, iovec i; the caller sets the iovec bases."""
    iov = np.zeros(capacity, _IOVEC)
    iov["len"] = buffer_bytes
    msgs = np.zeros(capacity, _MMSGHDR)
    msgs["iov"] = iov.ctypes.data + np.arange(capacity, dtype=np.uint64) * _IOVEC.itemsize
    msgs["iovlen"] = 1
    return iov, msgs


class _BatchSender:
    """Sends rows of a packet array per socket with ``sendmmsg``, in schedule order per socket."""

    def __init__(self, sendmmsg, capacity: int, packet_bytes: int) -> None:
        self._call = sendmmsg
        self.packet_bytes = packet_bytes
        self._iov, self._msgs = _message_vector(capacity, packet_bytes)

    def send(self, fds: list[int], base_address: int, rows: np.ndarray, ports: np.ndarray) -> int:
        """Send ``rows`` of the packet array at ``base_address`` to ``fds[ports[i]]``; returns errors."""
        import ctypes

        n = len(rows)
        order = np.argsort(ports, kind="stable")  # each socket keeps the schedule's order
        sorted_ports = ports[order]
        self._iov["base"][:n] = base_address + rows[order].astype(np.uint64) * self.packet_bytes
        edges = np.flatnonzero(np.diff(sorted_ports)) + 1
        errors = 0
        address = self._msgs.ctypes.data
        for lo, hi in zip(np.concatenate(([0], edges)).tolist(), np.concatenate((edges, [n])).tolist(), strict=True):
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

    def __init__(self, packetiser: Packetiser, destinations: Sequence[tuple[str, int]],
                 frame_time_s: float = 0.0, chunk_packets: int = 256, packet_delay_s: float = 0.0,
                 clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep,
                 sndbuf_request_bytes: int = BUFFER_REQUEST_BYTES, allow_remote: bool = False,
                 batch_syscalls: bool = True) -> None:
        n_ports = packetiser.detector.n_ports
        if len(destinations) != n_ports:
            raise TransportError(f"destinations: {len(destinations)} given; need one per port ({n_ports})")
        for host, _port in destinations:
            if host not in ("127.0.0.1", "localhost") and not allow_remote:
                # Driving a real receiver on another host is an explicit choice (allow_remote).
                raise TransportError(f"destinations.host: {host!r}; allowed 127.0.0.1 (loopback only) "
                                     "unless allow_remote is set")
        self.packetiser = packetiser
        if frame_time_s < 0 or packet_delay_s < 0:
            raise TransportError(
                f"frame_time_s/packet_delay_s: {frame_time_s}/{packet_delay_s}; allowed >= 0")
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
        self._rendered_views = [memoryview(row) for row in packetiser.rendered.reshape(-1, packetiser.packet_bytes)]
        self._counts = {"sent": 0, "errors": 0, "frames": 0, "missed": 0}
        self._elapsed = 0.0
        call = _sendmmsg() if batch_syscalls else None
        self._batch = None if call is None else _BatchSender(call, chunk_packets, packetiser.packet_bytes)
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

    def send(self, frame: np.ndarray, port: np.ndarray, packet: np.ndarray, headers: FrameHeaders) -> None:
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
                    self.packetiser.gather(frame[lo:hi], port[lo:hi], packet[lo:hi], headers, out=buffer)
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
                for send, view in zip(map(sends.__getitem__, port[lo:hi].tolist()), views, strict=True):
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
        return SenderStatistics(sent, sent * self.packetiser.packet_bytes, c["errors"], c["frames"],
                                c["missed"], self._granted, self._elapsed)


class UdpReceiver:
    """Listens on one UDP socket per detector port (127.0.0.1, port 0 unless given) and feeds
    batches of datagrams to an :class:`Assembler` (detectors.md §4.1, §4.2).

    ``rcvbuf_request_bytes`` (8 MiB) is capped by ``net.core.rmem_max``; ``rcvbuf_force`` asks
    past the cap when permitted. An 8 MiB buffer holds about 500 datagrams of 8240 bytes.
    """

    def __init__(self, assembler: Assembler, ports: Sequence[int] | None = None,
                 batch_packets: int = 1024, rcvbuf_request_bytes: int = BUFFER_REQUEST_BYTES,
                 clock: Callable[[], float] = time.perf_counter, fair_chunk_packets: int = 64,
                 rcvbuf_force: bool = False, batch_syscalls: bool = True) -> None:
        n_ports = assembler.detector.n_ports
        self._fair_chunk = max(1, fair_chunk_packets)
        ports = list(ports) if ports is not None else [0] * n_ports
        if len(ports) != n_ports:
            raise TransportError(f"ports: {len(ports)} given; need one per detector port ({n_ports})")
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
            self._iov["base"] = self._slots.ctypes.data + np.arange(batch_packets, dtype=np.uint64) * self._slot_bytes

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
        import ctypes

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
                    sizes[n:n + got] = msgs["len"][n:n + got]
                    ports[n:n + got] = index
                    self._per_port[index] += got
                    n += got
                if got == want:
                    still.append((fd, index))
            ready = still
        return self._deliver(n, start)

    def run(self, until_packets: int, timeout_s: float, idle_timeout_s: float = 0.5) -> list[AssembledFrame]:
        """Receive until ``until_packets`` datagrams arrived, nothing came for ``idle_timeout_s``
        or ``timeout_s`` passed; returns the frames closed meanwhile (the caller flushes)."""
        return receive_until(self, until_packets, timeout_s, idle_timeout_s)

    def statistics(self) -> ReceiverStatistics:
        """Counters so far (frozen)."""
        ports = [address[1] for address in self.addresses] if self._sockets else []
        return ReceiverStatistics(tuple(self._per_port), self._batches, self._granted, self._elapsed,
                                  kernel_drops(ports) if ports else None)


def receive_until(receiver, until_packets: int, timeout_s: float, idle_timeout_s: float) -> list[AssembledFrame]:
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
