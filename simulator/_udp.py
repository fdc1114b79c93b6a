"""Low-level UDP helpers shared by the detector's sender and the receiver: sockets with large
buffers, ``sendmmsg`` / ``recvmmsg`` through ctypes, and UDP generic segmentation offload
(detectors.md §2.9, §2.10)."""

from __future__ import annotations

import socket

import numpy as np

__all__ = ["BUFFER_REQUEST_BYTES"]

#: Socket buffer asked for on both sides (the 208 KiB default loses packets).
BUFFER_REQUEST_BYTES = 8 * 1024 * 1024
_FORCE_OPTION = {socket.SO_SNDBUF: 32, socket.SO_RCVBUF: 33}


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
_MMSGHDR = np.dtype(
    {
        "names": ["iov", "iovlen", "len"],
        "formats": ["<u8", "<u8", "<u4"],
        "offsets": [16, 24, 56],
        "itemsize": 64,
    }
)
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

    return _libc_function(
        "recvmmsg", ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
    )


_MSG_DONTWAIT = 0x40


# UDP generic segmentation offload (GSO; Linux 4.18+, udp(7) "UDP_SEGMENT"): with the socket
# option set to a segment size, one send of up to UDP_MAX_SEGMENTS segments leaves as that many
# ordinary datagrams of the segment size (the last may be shorter), split by the kernel after the
# per-send work is done once. 64 segments is the limit of the first kernels (later ones take 128).
_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_SEGMENT = 103
_UDP_MAX_SEGMENTS = 64
#: The largest UDP payload one IPv4 send can carry (65535 - 20 IP - 8 UDP header bytes).
_UDP_MAX_PAYLOAD = 65507


def _udp_segment(sock: socket.socket, segment_bytes: int) -> str | None:
    """Set (``segment_bytes`` > 0) or clear (0) UDP_SEGMENT on ``sock``; ``None`` when the kernel
    took it, else why not (e.g. ENOPROTOOPT on kernels before 4.18, or not Linux)."""
    try:
        sock.setsockopt(_SOL_UDP, _UDP_SEGMENT, segment_bytes)
    except OSError as error:
        return f"setsockopt(UDP_SEGMENT): {error.strerror or error}"
    return None


def _gso_segments(packet_bytes: int) -> int:
    """Datagrams of ``packet_bytes`` one GSO send may carry: within one IPv4 UDP payload and the
    oldest kernels' segment limit."""
    return min(_UDP_MAX_SEGMENTS, _UDP_MAX_PAYLOAD // packet_bytes)


def _message_vector(capacity: int, buffer_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(iovecs, mmsghdrs) for ``capacity`` datagrams: message i has one iovec of
    ``buffer_bytes``, iovec i; the caller sets the iovec bases."""
    iov = np.zeros(capacity, _IOVEC)
    iov["len"] = buffer_bytes
    msgs = np.zeros(capacity, _MMSGHDR)
    msgs["iov"] = iov.ctypes.data + np.arange(capacity, dtype=np.uint64) * _IOVEC.itemsize
    msgs["iovlen"] = 1
    return iov, msgs
