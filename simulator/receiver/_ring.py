"""A UDP receiver split over two processes: a reader process that only ``recv_into``s datagrams
into a shared-memory ring of packet slots, and the caller's process that assembles batches from
the ring (more processes, where one cannot keep up).

The reader does almost no Python work per packet, so the scheduler wakes it as promptly as a C
receiver; the ring (default 8192 slots, 64 JUNGFRAU module frames) absorbs the assembler's and
converter's pauses, which the kernel's socket buffer (about 500 datagrams of 8240 bytes in an
8 MiB SO_RCVBUF) cannot.
"""

from __future__ import annotations

import multiprocessing as mp
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory

import numpy as np
from jfjoch_hil.simulator._udp import BUFFER_REQUEST_BYTES, _udp_socket
from jfjoch_hil.simulator.errors import TransportError
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame, Assembler
from jfjoch_hil.simulator.receiver._sockets import ReceiverStatistics, kernel_drops, receive_until

__all__ = ["RingUdpReceiver"]

# Shared counters: [written, read, stop, ring_full_waits, granted_rcvbuf, per-port counts...]
_WRITTEN, _READ, _STOP, _FULL, _GRANTED, _PORTS = range(6)


def _reader_main(
    names: tuple[str, str, str, str],
    slots: int,
    slot_bytes: int,
    n_ports: int,
    ports: list[int],
    rcvbuf: int,
    force: bool,
    ready,
) -> None:
    """Child process: bind, report ports, then fill the ring until told to stop."""
    shms = [shared_memory.SharedMemory(name=n) for n in names]
    try:
        data = np.ndarray((slots, slot_bytes), dtype=np.uint8, buffer=shms[0].buf)
        sizes = np.ndarray(slots, dtype=np.int64, buffer=shms[1].buf)
        port_of = np.ndarray(slots, dtype=np.int64, buffer=shms[2].buf)
        counters = np.ndarray(_PORTS + n_ports, dtype=np.int64, buffer=shms[3].buf)
        views = [memoryview(row) for row in data]
        socks = []
        selector = selectors.DefaultSelector()
        try:
            for index, port in enumerate(ports):
                sock, granted = _udp_socket(socket.SO_RCVBUF, rcvbuf, force)
                sock.bind(("127.0.0.1", port))
                sock.setblocking(False)
                socks.append(sock)
                selector.register(sock, selectors.EVENT_READ, index)
                counters[_GRANTED] = granted
        except OSError as exc:
            ready.send(("error", str(exc)))
            return
        ready.send(("ok", [s.getsockname()[1] for s in socks]))
        written = 0
        per_port = [0] * n_ports
        chunk = 64  # round-robin share per socket, so no port runs ahead of the others
        while not counters[_STOP]:
            ready = [(key.fileobj.recv_into, key.data) for key, _ in selector.select(0.02)]
            while ready:
                free = slots - (written - int(counters[_READ]))
                if free <= 0:
                    counters[_FULL] += 1
                    time.sleep(0.0002)  # the kernel buffer holds packets meanwhile
                    break
                still = []
                for recv_into, index in ready:
                    start = written
                    stop = written + min(chunk, free - (written - start))
                    while written < stop:
                        slot = written % slots
                        try:
                            sizes[slot] = recv_into(views[slot])
                        except BlockingIOError:
                            break
                        port_of[slot] = index
                        written += 1
                    free -= written - start
                    per_port[index] += written - start
                    counters[_PORTS + index] = per_port[index]
                    counters[_WRITTEN] = written  # after the slots (x86 keeps store order)
                    if written == stop and free > 0:
                        still.append((recv_into, index))
                ready = still
        for sock in socks:
            sock.close()
        selector.close()
        del views, data, sizes, port_of, counters
    finally:
        for shm in shms:
            shm.close()


class RingUdpReceiver:
    """Same interface as :class:`UdpReceiver` (``addresses``, ``poll``, ``run``,
    ``statistics``, ``close``), with the sockets read in a separate process."""

    def __init__(
        self,
        assembler: Assembler,
        ports: Sequence[int] | None = None,
        ring_slots: int = 8192,
        batch_packets: int = 1024,
        rcvbuf_request_bytes: int = BUFFER_REQUEST_BYTES,
        clock: Callable[[], float] = time.perf_counter,
        start_timeout_s: float = 30.0,
        rcvbuf_force: bool = False,
    ) -> None:
        n_ports = assembler.detector.n_ports
        ports = list(ports) if ports is not None else [0] * n_ports
        if len(ports) != n_ports:
            raise TransportError(
                f"ports: {len(ports)} given; need one per detector port ({n_ports})"
            )
        self.assembler = assembler
        self._clock = clock
        self._slots = ring_slots
        self._batch = batch_packets
        slot_bytes = assembler.detector.model.packet_bytes + 1  # spare byte: oversize is rejected
        sizes = (ring_slots * slot_bytes, ring_slots * 8, ring_slots * 8, (_PORTS + n_ports) * 8)
        self._shms = [shared_memory.SharedMemory(create=True, size=s) for s in sizes]
        self._data = np.ndarray((ring_slots, slot_bytes), dtype=np.uint8, buffer=self._shms[0].buf)
        self._sizes = np.ndarray(ring_slots, dtype=np.int64, buffer=self._shms[1].buf)
        self._port_of = np.ndarray(ring_slots, dtype=np.int64, buffer=self._shms[2].buf)
        self._counters = np.ndarray(_PORTS + n_ports, dtype=np.int64, buffer=self._shms[3].buf)
        self._counters[:] = 0
        self._read = 0
        self._batches = 0
        self._elapsed = 0.0
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_reader_main,
            args=(
                tuple(s.name for s in self._shms),
                ring_slots,
                slot_bytes,
                n_ports,
                ports,
                rcvbuf_request_bytes,
                rcvbuf_force,
                child,
            ),
            daemon=True,
        )
        self._process.start()
        child.close()
        if not parent.poll(start_timeout_s):
            self.close()
            raise TransportError(f"ports: reader process did not start within {start_timeout_s} s")
        status, value = parent.recv()
        parent.close()
        if status != "ok":
            self.close()
            raise TransportError(f"ports: cannot bind 127.0.0.1 ({value})")
        self._bound = value

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each detector port, in port order."""
        return [("127.0.0.1", port) for port in self._bound]

    def poll(self, timeout_s: float) -> int:
        """Push what the reader has written (in batches) to the assembler; wait up to
        ``timeout_s`` (in 1 ms naps) when the ring is empty. Returns datagrams consumed."""
        start = self._clock()
        deadline = start + timeout_s
        consumed = 0
        while True:
            written = int(self._counters[_WRITTEN])
            while self._read < written:
                lo = self._read % self._slots
                n = min(written - self._read, self._slots - lo, self._batch)
                self.assembler.push(
                    self._data[lo : lo + n], self._port_of[lo : lo + n], self._sizes[lo : lo + n]
                )
                self._read += n
                self._counters[_READ] = self._read
                self._batches += 1
                consumed += n
            if consumed or self._clock() >= deadline:
                break
            time.sleep(0.001)  # 1 ms naps: the ring holds 64 module frames, no need to spin
        self._elapsed += self._clock() - start
        return consumed

    def run(
        self, until_packets: int, timeout_s: float, idle_timeout_s: float = 0.5
    ) -> list[AssembledFrame]:
        """As :meth:`UdpReceiver.run`."""
        return receive_until(self, until_packets, timeout_s, idle_timeout_s)

    def statistics(self) -> ReceiverStatistics:
        """Datagrams read per port by the reader process, and the granted SO_RCVBUF."""
        c = self._counters
        return ReceiverStatistics(
            tuple(int(v) for v in c[_PORTS:]),
            self._batches,
            int(c[_GRANTED]),
            self._elapsed,
            kernel_drops(self._bound),
        )

    @property
    def ring_full_waits(self) -> int:
        """Times the reader found the ring full (the kernel buffer then had to hold packets)."""
        return int(self._counters[_FULL])

    def close(self) -> None:
        """Stop the reader process (bounded join) and free the shared memory."""
        if getattr(self, "_counters", None) is not None:
            self._counters[_STOP] = 1
        process = getattr(self, "_process", None)
        if process is not None:
            process.join(timeout=5.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
            process.close()
            self._process = None
        self._data = self._sizes = self._port_of = self._counters = None
        for shm in getattr(self, "_shms", []):
            shm.close()
            shm.unlink()
        self._shms = []

    def __enter__(self) -> RingUdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
