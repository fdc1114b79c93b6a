"""ZeroMQ transport of stream messages (stream.md section 2).

Writer path: the detector side binds a PUSH socket and a writer connects PULL (2.3).  Preview: a
PUB socket binds and SUB sockets connect with an empty subscription.  One stream message is one
single-frame ZeroMQ message.  Every endpoint defaults to 127.0.0.1; high-water marks, linger and
timeouts are settings.  Receivers never raise on a bad message: they count it and hand back the
error with the raw bytes (:class:`Received`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import zmq
from jfjoch_hil.stream.codec import decode, encode
from jfjoch_hil.stream.errors import DecodeError, TransportError
from jfjoch_hil.stream.messages import Message

__all__ = [
    "DEFAULT_ENDPOINT",
    "shutdown",
    "Publisher",
    "Puller",
    "Pusher",
    "Received",
    "ReceiverStatistics",
    "SenderStatistics",
    "Subscriber",
]

#: Bind address used when none is given: loopback, a free port chosen by the OS.
DEFAULT_ENDPOINT = "tcp://127.0.0.1:0"


def _bindable(endpoint: str) -> str:
    # libzmq spells "any free port" as '*'; accept the socket-API spelling ':0' too.
    return (
        endpoint[:-2] + ":*"
        if endpoint.startswith("tcp://") and endpoint.endswith(":0")
        else endpoint
    )


def _check_endpoint(endpoint: str) -> None:
    if not isinstance(endpoint, str) or not endpoint.startswith(("tcp://", "ipc://", "inproc://")):
        raise TransportError(
            f"endpoint {endpoint!r}: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME"
        )


def shutdown() -> None:
    """Terminate the shared ZeroMQ context once every socket is closed: waits until queued
    messages are sent (each socket's linger) and their zero-copy buffers are released.

    Call it before a process exits after zero-copy sends; an interpreter that finalises while
    ZeroMQ still holds such a buffer can crash.
    """
    context: zmq.Context = zmq.Context.instance()
    if not context.closed:
        context.term()


@dataclass(frozen=True)
class SenderStatistics:
    """What a sending socket did: messages and bytes sent, sends that timed out (dropped)."""

    messages_sent: int
    bytes_sent: int
    send_timeouts: int


@dataclass(frozen=True)
class ReceiverStatistics:
    """What a receiving socket saw (stream.md 2; nothing is dropped without being counted here).

    ``messages_by_type`` pairs each message ``type`` with its count; ``decode_errors`` counts
    messages that could not be decoded, ``last_error`` names the latest of them.
    """

    messages_received: int
    bytes_received: int
    decode_errors: int
    messages_by_type: tuple[tuple[str, int], ...]
    last_error: str | None


@dataclass(frozen=True)
class Received:
    """One received ZeroMQ message: the raw bytes and either the decoded message or the error."""

    raw: bytes
    message: Message | None
    error: DecodeError | None

    @property
    def ok(self) -> bool:
        """True when the message decoded."""
        return self.error is None


class _Socket:
    def __init__(
        self, kind: int, endpoint: str, bind: bool, linger_ms: int, context: zmq.Context | None
    ) -> None:
        _check_endpoint(endpoint)
        self._socket = (context or zmq.Context.instance()).socket(kind)
        self._socket.setsockopt(zmq.LINGER, linger_ms)
        self._configure()
        try:
            if bind:
                self._socket.bind(_bindable(endpoint))
                self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
            else:
                self._socket.connect(endpoint)
                self.endpoint = endpoint
        except zmq.ZMQError as error:
            self._socket.close(0)
            verb = "bind" if bind else "connect"
            raise TransportError(f"cannot {verb} {endpoint}: {error}") from error

    def _configure(self) -> None:
        pass

    def close(self) -> None:
        """Close the socket (pending messages are kept up to the linger time)."""
        self._socket.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._socket.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Sender(_Socket):
    def __init__(
        self,
        kind: int,
        endpoint: str,
        bind: bool,
        send_hwm: int,
        linger_ms: int,
        send_timeout_ms: int,
        context: zmq.Context | None,
    ) -> None:
        self._send_hwm = send_hwm
        self._send_timeout_ms = send_timeout_ms
        self._messages_sent = self._bytes_sent = self._send_timeouts = 0
        super().__init__(kind, endpoint, bind, linger_ms, context)

    def _configure(self) -> None:
        self._socket.setsockopt(zmq.SNDHWM, self._send_hwm)
        self._socket.setsockopt(zmq.SNDTIMEO, self._send_timeout_ms)

    def send(self, message: Message | bytes, *, copy: bool = False) -> None:
        """Send one message (a :class:`Message`, or bytes already encoded).

        Raises :class:`TransportError` when it could not be queued within the send timeout; the
        message is then counted in ``send_timeouts``.
        """
        data = message if isinstance(message, (bytes, bytearray, memoryview)) else encode(message)
        try:
            self._socket.send(data, copy=copy)
        except zmq.Again:
            self._send_timeouts += 1
            raise TransportError(
                f"send to {self.endpoint} timed out after {self._send_timeout_ms} ms "
                "(no peer, or its queue is full)"
            ) from None
        self._messages_sent += 1
        self._bytes_sent += len(data)

    def statistics(self) -> SenderStatistics:
        """Counters of this socket."""
        return SenderStatistics(self._messages_sent, self._bytes_sent, self._send_timeouts)


class _Receiver(_Socket):
    def __init__(
        self,
        kind: int,
        endpoint: str,
        bind: bool,
        receive_hwm: int,
        linger_ms: int,
        receive_timeout_ms: int,
        context: zmq.Context | None,
    ) -> None:
        self._receive_hwm = receive_hwm
        self.receive_timeout_ms = receive_timeout_ms
        self._messages_received = self._bytes_received = self._decode_errors = 0
        self._by_type: Counter[str] = Counter()
        self._last_error: str | None = None
        super().__init__(kind, endpoint, bind, linger_ms, context)

    def _configure(self) -> None:
        self._socket.setsockopt(zmq.RCVHWM, self._receive_hwm)

    def receive_bytes(self, timeout_ms: int | None = None) -> bytes | None:
        """The next raw message, or ``None`` when none arrived within the timeout."""
        wait = self.receive_timeout_ms if timeout_ms is None else timeout_ms
        if not self._socket.poll(wait, zmq.POLLIN):
            return None
        data = self._socket.recv(copy=True)
        self._messages_received += 1
        self._bytes_received += len(data)
        return data

    def receive(self, timeout_ms: int | None = None) -> Received | None:
        """The next message, decoded; ``None`` on timeout.  A bad message is counted, not raised."""
        data = self.receive_bytes(timeout_ms)
        if data is None:
            return None
        try:
            message = decode(data)
        except DecodeError as error:
            self._decode_errors += 1
            self._last_error = str(error)
            return Received(data, None, error)
        self._by_type[message.TYPE] += 1
        return Received(data, message, None)

    def iter_received(self, *, max_messages: int, idle_timeout_s: float):
        """Yield :class:`Received` items until ``max_messages`` or ``idle_timeout_s`` of silence."""
        for _ in range(max_messages):
            item = self.receive(int(idle_timeout_s * 1000))
            if item is None:
                return
            yield item

    def statistics(self) -> ReceiverStatistics:
        """Counters of this socket."""
        return ReceiverStatistics(
            self._messages_received,
            self._bytes_received,
            self._decode_errors,
            tuple(sorted(self._by_type.items())),
            self._last_error,
        )


class Pusher(_Sender):
    """PUSH socket of the writer path (stream.md 2.2-2.3): binds by default.

    ``send_timeout_ms`` bounds how long a send waits for a connected peer with room in its queue.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        bind: bool = True,
        send_hwm: int = 1000,
        linger_ms: int = 5000,
        send_timeout_ms: int = 5000,
        context: zmq.Context | None = None,
    ) -> None:
        super().__init__(zmq.PUSH, endpoint, bind, send_hwm, linger_ms, send_timeout_ms, context)


class Puller(_Receiver):
    """PULL socket of a writer (stream.md 2.3): connects by default."""

    def __init__(
        self,
        endpoint: str,
        *,
        bind: bool = False,
        receive_hwm: int = 1000,
        linger_ms: int = 0,
        receive_timeout_ms: int = 1000,
        context: zmq.Context | None = None,
    ) -> None:
        super().__init__(
            zmq.PULL, endpoint, bind, receive_hwm, linger_ms, receive_timeout_ms, context
        )


class Publisher(_Sender):
    """PUB side of the preview / metadata outputs (stream.md 2.2): binds, never blocks.

    An XPUB socket, which subscribers see as a plain PUB, so that :meth:`wait_for_subscribers`
    can tell when a subscription has arrived (PUB/SUB drops everything sent before that).
    ZeroMQ drops messages for a subscriber whose queue is full; that loss is visible only on the
    subscriber side (compare ``image_id`` sequences).
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        bind: bool = True,
        send_hwm: int = 1000,
        linger_ms: int = 0,
        context: zmq.Context | None = None,
    ) -> None:
        self.subscribers = 0
        super().__init__(zmq.XPUB, endpoint, bind, send_hwm, linger_ms, 0, context)

    def _configure(self) -> None:
        super()._configure()
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # report every subscriber, not each topic once

    def wait_for_subscribers(self, count: int = 1, *, timeout_s: float = 5.0) -> bool:
        """Wait until ``count`` subscriptions arrived, at most ``timeout_s``; return whether they did."""
        deadline = time.monotonic() + timeout_s
        while self.subscribers < count:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not self._socket.poll(remaining_ms, zmq.POLLIN):
                return False
            frame = self._socket.recv()
            if frame[:1] == b"\x01":
                self.subscribers += 1
            elif frame[:1] == b"\x00":
                self.subscribers -= 1
        return True


class Subscriber(_Receiver):
    """SUB socket of a preview consumer: connects, empty subscription (stream.md 2.2)."""

    def __init__(
        self,
        endpoint: str,
        *,
        bind: bool = False,
        receive_hwm: int = 1000,
        linger_ms: int = 0,
        receive_timeout_ms: int = 1000,
        conflate: bool = False,
        context: zmq.Context | None = None,
    ) -> None:
        self._conflate = conflate
        super().__init__(
            zmq.SUB, endpoint, bind, receive_hwm, linger_ms, receive_timeout_ms, context
        )

    def _configure(self) -> None:
        super()._configure()
        if self._conflate:
            self._socket.setsockopt(zmq.CONFLATE, 1)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
