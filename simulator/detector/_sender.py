"""The detector's UDP sender: one socket per detector port, paced by absolute deadlines, batched
with ``sendmmsg`` where the C library has it, and for whole frames optionally with UDP generic
segmentation offload (detectors.md §2.9, §2.10)."""

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
    _gso_segments,
    _message_vector,
    _sendmmsg,
    _udp_segment,
    _udp_socket,
)
from jfjoch_hil.simulator.detector._header import HEADER_DTYPE, HEADER_SIZE
from jfjoch_hil.simulator.detector._packetiser import FrameHeaders, Packetiser
from jfjoch_hil.simulator.errors import TransportError

__all__ = ["GSO_MODES", "EmitterStatistics", "FrameEmitter", "SenderStatistics", "UdpSender"]


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
    stopped_at_deadline: bool = False


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
        self._stopped = False
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
        self,
        frame: np.ndarray,
        port: np.ndarray,
        packet: np.ndarray,
        headers: FrameHeaders,
        *,
        stop_at: float | None = None,
    ) -> None:
        """Send the schedule (arrays in send order; ``frame`` indexes ``headers``).

        ``stop_at`` (on ``clock``): no frame starts, and no chunk leaves, at or after it; the
        rest of the schedule is not sent and :meth:`statistics` says ``stopped_at_deadline``.
        """
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
            if stop_at is not None and max(frame_deadline, self._clock()) >= stop_at:
                self._stopped = True
                break
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
                if stop_at is not None and lo > first and self._clock() >= stop_at:
                    self._stopped = True
                    break
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
            if self._stopped:
                break
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
            self._stopped,
        )


@dataclass(frozen=True)
class EmitterStatistics:
    """What a :class:`FrameEmitter` did: frames and datagrams sent, the achieved frame rate and
    the interval between frame starts (median, 99th percentile, largest; seconds)."""

    frames_sent: int
    packets_sent: int
    bytes_sent: int
    send_errors: int
    asked_rate_hz: float
    achieved_rate_hz: float
    interval_p50_s: float
    interval_p99_s: float
    interval_max_s: float
    deadlines_missed: int
    pool_frames: int
    sndbuf_granted_bytes: int
    elapsed_s: float
    stopped_at_deadline: bool = False
    #: Datagrams one message carried at most with UDP generic segmentation offload; 0 when each
    #: message was one datagram (GSO off, refused by the kernel, or given up after its first send).
    gso_segments: int = 0


# Frame-start intervals are histogrammed in 1 us bins up to one second (bounded memory for any
# run length); the largest interval is kept exactly.
_INTERVAL_BIN_S = 1e-6
_INTERVAL_BINS = 1_000_000


def _reduce_timer_slack() -> None:
    # The default 50 us timer slack would make every sleep up to 50 us late: a tenth of a
    # 2 kHz period. prctl(PR_SET_TIMERSLACK, 1 ns); harmless where it is not available.
    import ctypes

    from jfjoch_hil.simulator._udp import _libc_function

    prctl = _libc_function(
        "prctl", ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong
    )
    if prctl is not None:
        prctl(29, 1, 0, 0, 0)


@dataclass(frozen=True)
class _FrameMessages:
    """The ``sendmmsg`` messages of every pool frame, [pool frame, sending port, message], each
    one iovec over ``segments`` or fewer consecutive packets of one port in the pool.

    ``chunks`` lists (chunk, slot, first message, end message) in send order: chunks of packets
    alternating between the ports, the same packet ranges whatever ``segments`` is, so a send can
    go on from any packet with another table. ``first_packet[m]`` and ``datagrams[m]`` are the
    first packet (in its port) and the packet count of message ``m`` of a port; ``segments`` is
    the largest packet count of a message.
    """

    iov: np.ndarray
    msgs: np.ndarray
    per_port: int
    segments: int
    chunks: list[tuple[int, int, int, int]]
    first_packet: list[int]
    datagrams: list[int]


def _frame_messages(
    pool: np.ndarray, ports: Sequence[int], chunk_packets: int, segments: int
) -> _FrameMessages:
    """Messages of ``segments`` packets at most (1: one message per packet), never across a chunk;
    a chunk's packets are shared out evenly between its ``ceil(n / segments)`` messages."""
    n_pool, n_ports, k, size = pool.shape
    first: list[int] = []
    counts: list[int] = []
    chunk_messages = []
    for lo in range(0, k, chunk_packets):
        packets = min(chunk_packets, k - lo)
        n = -(-packets // segments)
        start, position = len(first), lo
        for m in range(n):
            first.append(position)
            counts.append(packets // n + (m < packets % n))
            position += counts[-1]
        chunk_messages.append((start, len(first)))
    per_port = len(first)
    iov, msgs = _message_vector(n_pool * len(ports) * per_port, size)
    packet_rows = (
        (np.arange(n_pool)[:, None, None] * n_ports + np.asarray(ports)[None, :, None]) * k
        + np.asarray(first)[None, None, :]
    ).ravel()
    iov["base"] = np.uint64(pool.ctypes.data) + packet_rows.astype(np.uint64) * np.uint64(size)
    iov["len"] = np.tile(np.asarray(counts, np.uint64) * np.uint64(size), n_pool * len(ports))
    chunks = [
        (index, slot, lo, hi)
        for index, (lo, hi) in enumerate(chunk_messages)
        for slot in range(len(ports))
    ]
    return _FrameMessages(iov, msgs, per_port, max(counts), chunks, first, counts)


#: The ``gso`` settings of :class:`FrameEmitter` (``True`` / ``False`` mean "on" / "off").
GSO_MODES = ("auto", "on", "off")


class FrameEmitter:
    """Sends whole frames at a fixed rate from the packetiser's pool of rendered frames.

    Run frame ``i`` is pool frame ``i mod R`` (R rendered frames, a multiple of the storage-cell
    count, so each frame keeps its cell's data) with the per-frame header fields of run frame
    ``i`` (frame number, exposure, pulse id, timestamp, DAQ info) written into the pool's packets
    just before they leave: memory stays the pool's whatever the run length, while the headers
    keep advancing. Frame ``i`` leaves no earlier than ``t0 + i * frame_time_s`` (absolute
    deadlines); its packets go out with ``sendmmsg`` over one connected socket per port, in
    chunks of ``chunk_packets`` alternating between ports, the message vectors prepared once per
    pool frame. ``ports`` limits the sending to some detector ports (a rank's modules).

    ``gso``: with UDP generic segmentation offload (Linux 4.18+, ``UDP_SEGMENT`` in udp(7)) one
    message carries up to :attr:`gso_segments` consecutive packets of a port (one iovec over the
    pool, at most 65 507 bytes and 64 packets, never across a chunk) and the kernel splits it into
    that many ordinary datagrams, the same on the wire as sent one by one, for one pass through
    the socket layer. ``"auto"`` (default) uses it when the kernel accepts the socket option and
    goes back to one datagram per message if the first such send fails with EIO or EINVAL (e.g.
    a route whose MTU is below the datagram size); ``"on"`` raises :class:`TransportError`
    instead; ``"off"`` never uses it. Statistics count datagrams, not messages.
    """

    def __init__(
        self,
        packetiser: Packetiser,
        destinations: Sequence[tuple[str, int]],
        frame_time_s: float,
        *,
        ports: Sequence[int] | None = None,
        chunk_packets: int = 32,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        sndbuf_request_bytes: int = BUFFER_REQUEST_BYTES,
        allow_remote: bool = False,
        gso: bool | str = "auto",
    ) -> None:
        detector = packetiser.detector
        mode = ("on" if gso else "off") if isinstance(gso, bool) else gso
        if mode not in GSO_MODES:
            raise TransportError(f"gso: {gso!r}; allowed {', '.join(GSO_MODES)}, True or False")
        if len(destinations) != detector.n_ports:
            raise TransportError(
                f"destinations: {len(destinations)} given; need one per port ({detector.n_ports})"
            )
        if frame_time_s < 0:
            raise TransportError(f"frame_time_s: {frame_time_s}; allowed >= 0")
        call = _sendmmsg()
        if call is None:
            raise TransportError("FrameEmitter needs sendmmsg (Linux, 64-bit); use UdpSender")
        self.packetiser = packetiser
        self.frame_time_s = frame_time_s
        self.ports = list(range(detector.n_ports)) if ports is None else [int(p) for p in ports]
        self._call, self._clock, self._sleep = call, clock, sleep
        self._sockets = []
        granted = 0
        self.gso = mode
        self._chunk_packets = chunk_packets
        try:
            for port in self.ports:
                host, udp_port = destinations[port]
                if host not in ("127.0.0.1", "localhost") and not allow_remote:
                    raise TransportError(
                        f"destinations.host: {host!r}; allowed 127.0.0.1 (loopback only) "
                        "unless allow_remote is set"
                    )
                sock, granted = _udp_socket(socket.SO_SNDBUF, sndbuf_request_bytes)
                self._sockets.append(sock)
                sock.connect((host, udp_port))
            segments = self._enable_gso(mode) if mode != "off" else 1
        except BaseException:
            self.close()  # no socket outlives a refused set-up
            raise
        self._granted = granted
        self._table = _frame_messages(packetiser.rendered, self.ports, chunk_packets, segments)
        self._gso_proven = False
        self._counts = {"frames": 0, "sent": 0, "errors": 0, "missed": 0}
        self._histogram = np.zeros(_INTERVAL_BINS + 1, np.int64)
        self._max_interval = 0.0
        self._elapsed = 0.0
        self._stopped = False
        _reduce_timer_slack()

    def _enable_gso(self, mode: str) -> int:
        """Set UDP_SEGMENT on every socket; the packets per message (1 where it is not used)."""
        size = self.packetiser.packet_bytes
        segments = min(_gso_segments(size), self._chunk_packets)
        refused = None if segments > 1 else f"{size}-byte datagrams: one per message at most"
        for sock in self._sockets:
            refused = refused or _udp_segment(sock, size)
        if refused is None:
            return segments
        if mode == "on":
            raise TransportError(f"gso: on, but UDP segmentation offload is refused ({refused})")
        for sock in self._sockets:
            _udp_segment(sock, 0)
        return 1

    def _give_up_gso(self, error: int) -> None:
        """The first segmented send failed: one datagram per message from now on."""
        if self.gso == "on":
            raise TransportError(
                f"gso: on, but the first segmented send failed ({errno.errorcode.get(error, error)})"
            )
        for sock in self._sockets:
            _udp_segment(sock, 0)
        self._table = _frame_messages(self.packetiser.rendered, self.ports, self._chunk_packets, 1)

    @property
    def gso_segments(self) -> int:
        """Datagrams one message carries at most (a chunk's packets are shared out evenly between
        its messages, so this may be below the limit): 0 when each message is one datagram."""
        segments = self._table.segments
        return segments if segments > 1 else 0

    def close(self) -> None:
        """Close all sockets."""
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def __enter__(self) -> FrameEmitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_frame(
        self, pool_frame: int, fds: list[int], chunks: list[tuple[int, int, int, int]] | None = None
    ) -> int:
        """Send pool frame ``pool_frame`` (its ``chunks``, default all); the datagrams refused."""
        table = self._table
        datagrams = table.datagrams
        messages = len(self.ports) * table.per_port  # per pool frame
        address = table.msgs.ctypes.data
        errors = 0
        for index, slot, lo, hi in table.chunks if chunks is None else chunks:
            first = (pool_frame * messages + slot * table.per_port + lo) * _MMSGHDR.itemsize
            done = lo
            while done < hi:
                sent = self._call(fds[slot], address + first, hi - done, 0)
                if sent < 0:
                    error = ctypes.get_errno()
                    if error == errno.EINTR:
                        continue
                    if (
                        table.segments > 1
                        and not self._gso_proven
                        and error in (errno.EIO, errno.EINVAL)
                    ):
                        # GSO does not work on this route: go on from this packet, unsegmented.
                        packet = table.first_packet[done]
                        self._give_up_gso(error)
                        _, _, _, end = self._table.chunks[index * len(self.ports) + slot]
                        rest = [(index, slot, packet, end)]
                        rest += self._table.chunks[index * len(self.ports) + slot + 1 :]
                        return errors + self._send_frame(pool_frame, fds, rest)
                    # The first message failed (e.g. ECONNREFUSED from a closed port).
                    sent = 1
                    errors += datagrams[done]
                done += sent
                first += sent * _MMSGHDR.itemsize
        if chunks is None and errors < len(self.ports) * self.packetiser.packets_per_port:
            self._gso_proven = True  # some segmented sends went out: later errors are errors
        return errors

    def _stamp(self, first: int, headers: FrameHeaders) -> None:
        # Per-frame header fields of run frames first.. into their pool frames.
        pool = self.packetiser.rendered
        n_pool = pool.shape[0]
        n = len(headers)
        slots = (np.arange(first, first + n)) % n_pool
        view = pool[..., :HEADER_SIZE].view(HEADER_DTYPE)[..., 0]  # [pool frame, port, packet]
        ports = np.asarray(self.ports)
        where = (slots[:, None], ports[None, :])
        for name in ("frame_number", "exp_length", "det_spec1", "timestamp"):
            view[name][where] = getattr(headers, name)[:, None, None]
        spec3 = headers.det_spec3
        if spec3.ndim == 1:
            values = spec3[:, None, None]
        else:
            module = ports // self.packetiser.detector.model.ports_per_module
            values = spec3[:, module][:, :, None]
        view["det_spec3"][where] = values

    def run(
        self,
        n_frames: int,
        headers: Callable[[int, int], FrameHeaders],
        *,
        first_frame: int = 0,
        start_at: float | None = None,
        block_frames: int = 16,
        stop_at: float | None = None,
    ) -> EmitterStatistics:
        """Send run frames ``first_frame`` .. ``first_frame + n_frames - 1``.

        ``headers(first, count)`` gives the header fields of run frames ``first`` onwards (made
        block by block: memory does not grow with the run). ``start_at`` (on ``clock``) is when
        frame ``first_frame`` is due (default now): processes sharing a start time stay in step.
        ``stop_at`` (on ``clock``): no frame due, or started, at or after it; the frames left
        are not sent and the statistics say ``stopped_at_deadline``.
        """
        n_pool = self.packetiser.n_rendered
        block_frames = max(1, min(block_frames, n_pool))
        fds = [sock.fileno() for sock in self._sockets]
        per_frame = len(self.ports) * self.packetiser.packets_per_port
        start = self._clock() if start_at is None else start_at
        period = self.frame_time_s
        previous = None
        histogram = self._histogram
        began = self._clock()
        for block in range(first_frame, first_frame + n_frames, block_frames):
            if self._stopped:
                break
            count = min(block_frames, first_frame + n_frames - block)
            self._stamp(block, headers(block, count))
            for frame in range(block, block + count):
                deadline = start + (frame - first_frame) * period
                now = self._clock()
                if stop_at is not None and max(deadline, now) >= stop_at:
                    self._stopped = True
                    break
                if now < deadline:
                    self._sleep(deadline - now)
                    now = self._clock()
                elif period > 0 and now > deadline + period:
                    self._counts["missed"] += 1
                if previous is not None:
                    interval = now - previous
                    histogram[min(int(interval / _INTERVAL_BIN_S), _INTERVAL_BINS)] += 1
                    if interval > self._max_interval:
                        self._max_interval = interval
                previous = now
                errors = self._send_frame(frame % n_pool, fds)
                self._counts["errors"] += errors
                self._counts["sent"] += per_frame - errors
                self._counts["frames"] += 1
        if previous is not None:
            self._elapsed += previous - (start if start_at is None else max(start, began))
        return self.statistics()

    def statistics(self) -> EmitterStatistics:
        """Counters and interval figures so far (frozen)."""
        c = self._counts
        total = int(self._histogram.sum())

        def percentile(q: float) -> float:
            if total == 0:
                return float("nan")
            index = int(np.searchsorted(np.cumsum(self._histogram), q * total))
            return (index + 0.5) * _INTERVAL_BIN_S

        frames = c["frames"]
        achieved = (frames - 1) / self._elapsed if frames > 1 and self._elapsed > 0 else 0.0
        return EmitterStatistics(
            frames_sent=frames,
            packets_sent=c["sent"],
            bytes_sent=c["sent"] * self.packetiser.packet_bytes,
            send_errors=c["errors"],
            asked_rate_hz=1.0 / self.frame_time_s if self.frame_time_s > 0 else float("inf"),
            achieved_rate_hz=achieved,
            interval_p50_s=percentile(0.5),
            interval_p99_s=percentile(0.99),
            interval_max_s=self._max_interval if total else float("nan"),
            deadlines_missed=c["missed"],
            pool_frames=self.packetiser.n_rendered,
            sndbuf_granted_bytes=self._granted,
            elapsed_s=self._elapsed,
            stopped_at_deadline=self._stopped,
            gso_segments=self.gso_segments,
        )
