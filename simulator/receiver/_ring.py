"""A UDP receiver split over processes: reader processes that only ``recv_into`` datagrams into
shared-memory rings of packet slots (one reader per module group), and the caller's process that
assembles batches from the rings into frames.

The reader does almost no Python work per packet, so the scheduler wakes it as promptly as a C
receiver; the ring (default 8192 slots, 64 JUNGFRAU module frames) absorbs the assembler's and
converter's pauses, which the kernel's socket buffer (about 500 datagrams of 8240 bytes in an
8 MiB SO_RCVBUF) cannot.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from multiprocessing.process import BaseProcess

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


class _Ring:
    """One reader process and its shared-memory ring, for some of the detector's ports."""

    def __init__(
        self,
        port_indices: list[int],
        ports: list[int],
        ring_slots: int,
        slot_bytes: int,
        rcvbuf_request_bytes: int,
        rcvbuf_force: bool,
        start_timeout_s: float,
        start_process: Callable[[BaseProcess], object] | None = None,
    ) -> None:
        n = len(port_indices)
        self.port_indices = np.asarray(port_indices, dtype=np.int64)
        self.slots = ring_slots
        sizes = (ring_slots * slot_bytes, ring_slots * 8, ring_slots * 8, (_PORTS + n) * 8)
        self.shms = [shared_memory.SharedMemory(create=True, size=size) for size in sizes]
        self.data = np.ndarray((ring_slots, slot_bytes), dtype=np.uint8, buffer=self.shms[0].buf)
        self.sizes = np.ndarray(ring_slots, dtype=np.int64, buffer=self.shms[1].buf)
        self.port_of = np.ndarray(ring_slots, dtype=np.int64, buffer=self.shms[2].buf)
        self.counters = np.ndarray(_PORTS + n, dtype=np.int64, buffer=self.shms[3].buf)
        self.counters[:] = 0
        self.read = 0
        self.bound: list[int] = []
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_reader_main,
            args=(
                tuple(shm.name for shm in self.shms),
                ring_slots,
                slot_bytes,
                n,
                ports,
                rcvbuf_request_bytes,
                rcvbuf_force,
                child,
            ),
            daemon=True,
        )
        if start_process is None:
            self.process.start()
        else:
            start_process(self.process)
        child.close()
        if not parent.poll(start_timeout_s):
            self.close()
            raise TransportError(f"ports: reader process did not start within {start_timeout_s} s")
        try:
            status, value = parent.recv()
        except EOFError:  # it ended before reporting its ports
            self.process.join(timeout=5.0)
            code = self.process.exitcode
            self.close()
            raise TransportError(
                f"ports: reader process ended before binding (exit code {code})"
            ) from None
        finally:
            parent.close()
        if status != "ok":
            self.close()
            raise TransportError(f"ports: cannot bind 127.0.0.1 ({value})")
        self.bound = value

    def close(self) -> None:
        if getattr(self, "counters", None) is not None:
            self.counters[_STOP] = 1
        process = getattr(self, "process", None)
        if process is not None:
            process.join(timeout=5.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
            # not process.close(): a supervisor may still ask the process object for its exit
            self.process = None
        self.data = self.sizes = self.port_of = self.counters = None
        for shm in getattr(self, "shms", []):
            shm.close()
            shm.unlink()
        self.shms = []


class RingUdpReceiver:
    """Same interface as :class:`UdpReceiver` (``addresses``, ``poll``, ``run``,
    ``statistics``, ``close``), with the sockets read in separate processes.

    ``readers`` > 1 splits the detector's modules into that many contiguous groups, one reader
    process (with its own ring) per group, as slsReceiver runs one process per port: all of them
    feed the one assembler (the frame builder) in this process.

    ``start_process(index, process)``, when given, starts reader process ``index`` instead of
    ``process.start()`` (a supervisor that keeps the readers in its process group and has them
    die with their parent); the readers are spawn-context processes with a module-level target.
    """

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
        readers: int = 1,
        start_process: Callable[[int, BaseProcess], object] | None = None,
    ) -> None:
        detector = assembler.detector
        n_ports = detector.n_ports
        ports = list(ports) if ports is not None else [0] * n_ports
        if len(ports) != n_ports:
            raise TransportError(
                f"ports: {len(ports)} given; need one per detector port ({n_ports})"
            )
        if readers < 1:
            raise TransportError(f"readers: {readers}; allowed >= 1")
        self.assembler = assembler
        self._clock = clock
        self._batch = batch_packets
        slot_bytes = detector.model.packet_bytes + 1  # spare byte: oversize is rejected
        per_module = detector.model.ports_per_module
        groups = np.array_split(np.arange(detector.n_modules), min(readers, detector.n_modules))
        self._rings: list[_Ring] = []
        self._batches = 0
        self._elapsed = 0.0
        try:
            for number, modules in enumerate(groups):
                indices = [int(m) * per_module + p for m in modules for p in range(per_module)]
                self._rings.append(
                    _Ring(
                        indices,
                        [ports[i] for i in indices],
                        ring_slots,
                        slot_bytes,
                        rcvbuf_request_bytes,
                        rcvbuf_force,
                        start_timeout_s,
                        None if start_process is None else functools.partial(start_process, number),
                    )
                )
        except BaseException:
            self.close()
            raise
        self._bound = [0] * n_ports
        for ring in self._rings:
            for index, port in zip(ring.port_indices.tolist(), ring.bound, strict=True):
                self._bound[index] = port

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each detector port, in port order."""
        return [("127.0.0.1", port) for port in self._bound]

    @property
    def reader_pids(self) -> list[int]:
        """Process id of each reader process."""
        return [ring.process.pid for ring in self._rings if ring.process is not None]

    def reader_datagrams(self) -> list[int]:
        """Datagrams each reader process has written into its ring so far."""
        return [int(ring.counters[_WRITTEN]) for ring in self._rings]

    def poll(self, timeout_s: float) -> int:
        """Push what the readers have written (in batches) to the assembler; wait up to
        ``timeout_s`` (in 1 ms naps) when every ring is empty. Returns datagrams consumed."""
        start = self._clock()
        deadline = start + timeout_s
        consumed = 0
        while True:
            for ring in self._rings:
                written = int(ring.counters[_WRITTEN])
                while ring.read < written:
                    lo = ring.read % ring.slots
                    n = min(written - ring.read, ring.slots - lo, self._batch)
                    self.assembler.push(
                        ring.data[lo : lo + n],
                        ring.port_indices[ring.port_of[lo : lo + n]],
                        ring.sizes[lo : lo + n],
                    )
                    ring.read += n
                    ring.counters[_READ] = ring.read
                    self._batches += 1
                    consumed += n
            if consumed or self._clock() >= deadline:
                break
            time.sleep(0.001)  # 1 ms naps: a ring holds 64 module frames, no need to spin
        self._elapsed += self._clock() - start
        return consumed

    def run(
        self, until_packets: int, timeout_s: float, idle_timeout_s: float = 0.5
    ) -> list[AssembledFrame]:
        """As :meth:`UdpReceiver.run`."""
        return receive_until(self, until_packets, timeout_s, idle_timeout_s)

    def statistics(self) -> ReceiverStatistics:
        """Datagrams read per port by the reader processes, and the granted SO_RCVBUF."""
        per_port = [0] * len(self._bound)
        granted = 0
        for ring in self._rings:
            counts = ring.counters[_PORTS:].tolist()
            for index, count in zip(ring.port_indices.tolist(), counts, strict=True):
                per_port[index] = int(count)
            granted = int(ring.counters[_GRANTED])
        return ReceiverStatistics(
            tuple(per_port), self._batches, granted, self._elapsed, kernel_drops(self._bound)
        )

    @property
    def ring_full_waits(self) -> int:
        """Times a reader found its ring full (the kernel buffer then had to hold packets)."""
        return sum(int(ring.counters[_FULL]) for ring in self._rings)

    def close(self) -> None:
        """Stop the reader processes (bounded joins) and free the shared memory."""
        for ring in getattr(self, "_rings", []):
            ring.close()
        self._rings = []

    def __enter__(self) -> RingUdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
