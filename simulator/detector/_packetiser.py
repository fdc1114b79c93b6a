"""Frames -> packets, vectorised over whole batches (detectors.md §1, §2.3, §3.3).

Frames are rendered once into a packet array whose static header fields (packet number, module
id, row, column, type, version) are filled; :meth:`Packetiser.gather` then copies any schedule of
(rendered frame, port, packet) rows into an output buffer and writes the per-frame fields (frame
number, exposure, pulse id, timestamp, DAQ info) with one structured-dtype assignment each.
The sender, the direct transport and the tests all use this one path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._catalogue import Detector
from jfjoch_hil.simulator.detector._header import HEADER_DTYPE, HEADER_SIZE, headers_view
from jfjoch_hil.simulator.errors import PacketLayoutError

__all__ = ["FrameHeaders", "Packetiser", "PacketBatch", "natural_order"]


@dataclass(frozen=True)
class FrameHeaders:
    """Per-frame header fields, arrays of length F (detectors.md §1, §2.4, §2.5, §2.8).

    ``det_spec3`` may be ``(F,)`` or ``(F, n_modules)`` (DAQ info per module).
    """

    frame_number: np.ndarray
    exp_length: np.ndarray
    det_spec1: np.ndarray
    timestamp: np.ndarray
    det_spec3: np.ndarray

    @classmethod
    def simple(
        cls,
        n_frames: int,
        first_frame_number: int = 1,
        exp_length: int = 9800,
        frame_time_s: float = 1e-3,
    ) -> FrameHeaders:
        """Consecutive frames with timestamps at the 10 MHz clock (§2.4), no pulse id."""
        index = np.arange(n_frames, dtype=np.uint64)
        ticks = np.uint64(round(frame_time_s * 1e7))
        return cls(
            frame_number=index + np.uint64(first_frame_number),
            exp_length=np.full(n_frames, exp_length, dtype=np.uint32),
            det_spec1=np.zeros(n_frames, dtype=np.uint64),
            timestamp=index * ticks,
            det_spec3=np.zeros(n_frames, dtype=np.uint32),
        )

    def __len__(self) -> int:
        return len(self.frame_number)


@dataclass(frozen=True)
class PacketBatch:
    """Packets ready to send: ``data`` ``(n, packet_bytes)`` uint8 and the port of each row."""

    data: np.ndarray
    port_index: np.ndarray


def natural_order(n_frames: int, n_ports: int, packets_per_port: int) -> tuple[np.ndarray, ...]:
    """(frame, port, packet) arrays in send order: frame, then packet number, ports interleaved.

    The two JUNGFRAU interfaces stream concurrently in real firmware (§2.3; exact interleaving
    unconfirmed), so packet p of every port is sent before packet p+1 of any.
    """
    frame, packet, port = np.meshgrid(
        np.arange(n_frames), np.arange(packets_per_port), np.arange(n_ports), indexing="ij"
    )
    return frame.reshape(-1), port.reshape(-1), packet.reshape(-1)


class Packetiser:
    """Turns port bytes of rendered frames into UDP payloads for one :class:`Detector`."""

    def __init__(self, detector: Detector, port_bytes: np.ndarray) -> None:
        """``port_bytes``: ``(R, n_ports, port_bytes)`` uint8 from :meth:`ModuleModel.encode`."""
        model = detector.model
        shape = (detector.n_ports, model.port_bytes)
        if port_bytes.ndim != 3 or port_bytes.shape[1:] != shape:
            raise PacketLayoutError(
                f"port_bytes: shape {port_bytes.shape}; need (R, {shape[0]}, {shape[1]})"
            )
        self.detector = detector
        self.packet_bytes = model.packet_bytes
        self.packets_per_port = model.packets_per_port
        n_rendered = port_bytes.shape[0]
        k = model.packets_per_port
        rendered = np.zeros((n_rendered, detector.n_ports, k, self.packet_bytes), dtype=np.uint8)
        rendered[..., HEADER_SIZE:] = port_bytes.reshape(
            n_rendered, detector.n_ports, k, model.payload_bytes
        )
        headers = rendered[..., :HEADER_SIZE].view(HEADER_DTYPE)[..., 0]
        headers["packet_number"] = np.arange(k)[None, None, :]
        for name in ("mod_id", "row", "column", "det_spec4"):
            headers[name] = detector.port_field(name)[None, :, None]
        headers["det_type"] = model.det_type
        headers["version"] = 2
        self.rendered = rendered
        self._module_of_port = np.arange(detector.n_ports) // model.ports_per_module

    @property
    def n_rendered(self) -> int:
        """Number of pre-rendered frames the sender cycles through."""
        return self.rendered.shape[0]

    def gather(
        self,
        frame: np.ndarray,
        port: np.ndarray,
        packet: np.ndarray,
        headers: FrameHeaders,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Build packets for a schedule; ``frame`` indexes ``headers`` (run frame index).

        Payload comes from rendered frame ``frame mod R``. Returns ``out[:n]``.
        """
        n = len(frame)
        if out is None:
            out = np.empty((n, self.packet_bytes), dtype=np.uint8)
        rows = out[:n]
        np.take(
            self.rendered.reshape(-1, self.packet_bytes),
            ((frame % self.n_rendered) * self.detector.n_ports + port) * self.packets_per_port
            + packet,
            axis=0,
            out=rows,
        )
        view = headers_view(rows)
        view["frame_number"] = headers.frame_number[frame]
        view["exp_length"] = headers.exp_length[frame]
        view["det_spec1"] = headers.det_spec1[frame]
        view["timestamp"] = headers.timestamp[frame]
        spec3 = headers.det_spec3
        view["det_spec3"] = (
            spec3[frame] if spec3.ndim == 1 else spec3[frame, self._module_of_port[port]]
        )
        return rows

    def stamp(
        self, frame: np.ndarray, port: np.ndarray, packet: np.ndarray, headers: FrameHeaders
    ) -> np.ndarray | None:
        """Write the per-frame header fields straight into the rendered packets and return their
        flat row indices, so a sender can send those rows without copying payloads.

        Returns None (nothing written) when two entries of the schedule share a rendered row,
        e.g. duplicates or a late packet from ``R`` frames earlier: use :meth:`gather` then.
        """
        rows = (
            (frame % self.n_rendered) * self.detector.n_ports + port
        ) * self.packets_per_port + packet
        if np.unique(rows).size != rows.size:
            return None
        view = headers_view(self.rendered.reshape(-1, self.packet_bytes))
        view["frame_number"][rows] = headers.frame_number[frame]
        view["exp_length"][rows] = headers.exp_length[frame]
        view["det_spec1"][rows] = headers.det_spec1[frame]
        view["timestamp"][rows] = headers.timestamp[frame]
        spec3 = headers.det_spec3
        view["det_spec3"][rows] = (
            spec3[frame] if spec3.ndim == 1 else spec3[frame, self._module_of_port[port]]
        )
        return rows

    def packetise(self, headers: FrameHeaders) -> PacketBatch:
        """All packets of ``len(headers)`` frames in natural order (frame i uses rendered i mod R)."""
        frame, port, packet = natural_order(
            len(headers), self.detector.n_ports, self.packets_per_port
        )
        return PacketBatch(self.gather(frame, port, packet, headers), port)
