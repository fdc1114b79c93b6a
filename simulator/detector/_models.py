"""Detector module models as data: JUNGFRAU and EIGER (detectors.md §2.3, §3.1-§3.3).

A model says how one module's frame (``512 x 1024`` pixels, row 0 = module bottom) is cut into
UDP *ports* (one per interface / EIGER half-module side), how each port's block is serialised into
bytes and how many packets of how many payload bytes carry it. Packetiser and assembler are
generic over this table; only :meth:`ModuleModel.encode` / :meth:`ModuleModel.decode` know
pixel packing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jfjoch_hil.simulator.detector._header import DET_TYPE_EIGER, DET_TYPE_JUNGFRAU, HEADER_SIZE
from jfjoch_hil.simulator.errors import DetectorModelError, PacketLayoutError

__all__ = [
    "MODULE_ROWS",
    "MODULE_COLS",
    "PortBlock",
    "ModuleModel",
    "jungfrau_module",
    "eiger_module",
    "pack_eiger_pixels",
    "unpack_eiger_pixels",
]

#: Raw module size, detectors.md §2.1 / §3.1.
MODULE_ROWS = 512
MODULE_COLS = 1024
_EIGER_DYNAMIC_RANGES = (4, 8, 12, 16, 32)


@dataclass(frozen=True)
class PortBlock:
    """Where one port's ``rows x cols`` pixel block sits in the module frame (§2.3, §3.1).

    Port row ``r`` is module row ``row_start + row_step * r``; port column ``c`` is module
    column ``col_start + c``. ``half`` counts half-modules / interfaces for header ``row``.
    """

    row_start: int
    row_step: int
    col_start: int
    rows: int
    cols: int
    half: int
    side: int

    def module_rows(self) -> slice:
        """The module-row slice of this block (a negative step for a rotated half-module)."""
        stop = self.row_start + self.row_step * self.rows
        return slice(self.row_start, stop if stop >= 0 else None, self.row_step)


@dataclass(frozen=True)
class ModuleModel:
    """One detector module type as data (detectors.md §2.3 JUNGFRAU table, §3.3 EIGER table)."""

    name: str
    det_type: int
    bits_per_pixel: int
    payload_bytes: int
    ports: tuple[PortBlock, ...]
    pixel_dtype: np.dtype

    @property
    def ports_per_module(self) -> int:
        """UDP ports (interfaces / half-module sides) per module."""
        return len(self.ports)

    @property
    def port_bytes(self) -> int:
        """Bytes of one port's block on the wire."""
        block = self.ports[0]
        return block.rows * block.cols * self.bits_per_pixel // 8

    @property
    def packets_per_port(self) -> int:
        """Packets per frame per port (§2.3: 128 or 64; §3.3: 16*dr or 4*dr)."""
        return self.port_bytes // self.payload_bytes

    @property
    def packets_per_module(self) -> int:
        """Packets per frame per module, all ports."""
        return self.packets_per_port * self.ports_per_module

    @property
    def packet_bytes(self) -> int:
        """UDP payload size: 48-byte header + pixel payload (8240, 1072 or 4144)."""
        return HEADER_SIZE + self.payload_bytes

    @property
    def error_value(self) -> int:
        """Value of pixels whose packet is missing: all bits set (§4.1 padding with 0xFF)."""
        return (1 << self.bits_per_pixel) - 1 if self.bits_per_pixel < 32 else 0xFFFFFFFF

    def encode(self, module_pixels: np.ndarray) -> np.ndarray:
        """Module frames ``(..., 512, 1024)`` -> port bytes ``(..., ports, port_bytes)`` uint8."""
        pixels = np.asarray(module_pixels)
        if pixels.shape[-2:] != (MODULE_ROWS, MODULE_COLS):
            raise PacketLayoutError(
                f"{self.name}.frame: shape {pixels.shape[-2:]} not allowed; need (512, 1024)"
            )
        lead = pixels.shape[:-2]
        out = np.empty(lead + (self.ports_per_module, self.port_bytes), dtype=np.uint8)
        for index, block in enumerate(self.ports):
            part = pixels[..., block.module_rows(), block.col_start : block.col_start + block.cols]
            out[..., index, :] = self._pack(part).reshape(lead + (self.port_bytes,))
        return out

    def decode(self, port_bytes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Port bytes ``(..., ports, port_bytes)`` -> module frames ``(..., 512, 1024)``.

        Without ``out``, JUNGFRAU frames are returned as a view of ``port_bytes`` (no copy).
        """
        data = np.asarray(port_bytes, dtype=np.uint8)
        if data.shape[-2:] != (self.ports_per_module, self.port_bytes):
            raise PacketLayoutError(
                f"{self.name}.ports: shape {data.shape[-2:]} not allowed; "
                f"need ({self.ports_per_module}, {self.port_bytes})"
            )
        lead = data.shape[:-2]
        if out is None and self._contiguous_rows():
            # JUNGFRAU ports carry consecutive row blocks in order: the bytes already are the
            # module frame, so a view costs nothing.
            return np.ascontiguousarray(data).view("<u2").reshape(lead + (MODULE_ROWS, MODULE_COLS))
        if out is None:
            out = np.empty(lead + (MODULE_ROWS, MODULE_COLS), dtype=self.pixel_dtype)
        for index, block in enumerate(self.ports):
            pixels = self._unpack(data[..., index, :]).reshape(lead + (block.rows, block.cols))
            out[..., block.module_rows(), block.col_start : block.col_start + block.cols] = pixels
        return out

    def _contiguous_rows(self) -> bool:
        return self.det_type == DET_TYPE_JUNGFRAU and all(
            b.row_step == 1
            and b.col_start == 0
            and b.cols == MODULE_COLS
            and b.row_start == i * b.rows
            for i, b in enumerate(self.ports)
        )

    def _pack(self, pixels: np.ndarray) -> np.ndarray:
        if self.det_type == DET_TYPE_JUNGFRAU:
            return np.ascontiguousarray(pixels, dtype="<u2").view(np.uint8)
        return pack_eiger_pixels(pixels, self.bits_per_pixel)

    def _unpack(self, data: np.ndarray) -> np.ndarray:
        if self.det_type == DET_TYPE_JUNGFRAU:
            return np.ascontiguousarray(data).view("<u2")
        return unpack_eiger_pixels(data, self.bits_per_pixel)


def jungfrau_module(interfaces: int = 2) -> ModuleModel:
    """JUNGFRAU module, 1 or 2 UDP interfaces (detectors.md §2.3 table).

    Interface 0 (outer) carries rows 0-255 (bottom half), interface 1 (inner) rows 256-511.
    """
    if interfaces not in (1, 2):
        raise DetectorModelError(f"jungfrau.interfaces: {interfaces} not allowed; allowed 1 or 2")
    rows = MODULE_ROWS // interfaces
    ports = tuple(
        PortBlock(
            row_start=rows * i, row_step=1, col_start=0, rows=rows, cols=MODULE_COLS, half=i, side=0
        )
        for i in range(interfaces)
    )
    return ModuleModel(
        f"JUNGFRAU/{interfaces}if", DET_TYPE_JUNGFRAU, 16, 8192, ports, np.dtype(np.uint16)
    )


def eiger_module(dynamic_range: int = 16, ten_giga: bool = True) -> ModuleModel:
    """EIGER module: 2 half-modules x left/right ports (detectors.md §3.1-§3.3).

    Port order (Jungfraujoch ``part = dst_port mod 4``): bottom-left-block, bottom-right-block,
    top-left-block, top-right-block, where left/right mean the block's column in the assembled
    image (§3.1: the bottom board swaps its destinations). Packet 0 of a port is at the module
    centre; the bottom half-module (rotated 180 deg) therefore fills rows 255 down to 0, the top
    one rows 256 up to 511. Columns within a row are not reversed (unconfirmed, §3.1).
    """
    if dynamic_range not in _EIGER_DYNAMIC_RANGES:
        raise DetectorModelError(
            f"eiger.dynamic_range: {dynamic_range} not allowed; allowed {_EIGER_DYNAMIC_RANGES}"
        )
    ports = (
        PortBlock(255, -1, 0, 256, 512, half=0, side=0),
        PortBlock(255, -1, 512, 256, 512, half=0, side=1),
        PortBlock(256, 1, 0, 256, 512, half=1, side=0),
        PortBlock(256, 1, 512, 256, 512, half=1, side=1),
    )
    dtype = np.dtype(np.uint32 if dynamic_range == 32 else np.uint16)
    if dynamic_range <= 8:
        dtype = np.dtype(np.uint8)
    payload = 4096 if ten_giga else 1024
    link = "10GbE" if ten_giga else "1GbE"
    return ModuleModel(
        f"EIGER/{dynamic_range}bit/{link}", DET_TYPE_EIGER, dynamic_range, payload, ports, dtype
    )


def pack_eiger_pixels(pixels: np.ndarray, dynamic_range: int) -> np.ndarray:
    """Pack counts row-major into EIGER wire bytes (detectors.md §3.2 table)."""
    flat = np.ascontiguousarray(pixels).reshape(-1)
    if dynamic_range == 4:
        pairs = flat.astype(np.uint8).reshape(-1, 2) & 0x0F
        return ((pairs[:, 0] << 4) | pairs[:, 1]).astype(np.uint8)  # first pixel in high nibble
    if dynamic_range == 8:
        return flat.astype(np.uint8)
    if dynamic_range == 12:
        pairs = flat.astype(np.uint16).reshape(-1, 2) & 0x0FFF
        out = np.empty((pairs.shape[0], 3), dtype=np.uint8)
        out[:, 0] = pairs[:, 0] & 0xFF
        out[:, 1] = ((pairs[:, 0] >> 8) | ((pairs[:, 1] & 0x0F) << 4)).astype(np.uint8)
        out[:, 2] = (pairs[:, 1] >> 4).astype(np.uint8)
        return out.reshape(-1)
    if dynamic_range == 16:
        return flat.astype("<u2").view(np.uint8)
    if dynamic_range == 32:
        return flat.astype("<u4").view(np.uint8)
    raise DetectorModelError(
        f"eiger.dynamic_range: {dynamic_range} not allowed; allowed {_EIGER_DYNAMIC_RANGES}"
    )


def unpack_eiger_pixels(data: np.ndarray, dynamic_range: int) -> np.ndarray:
    """Unpack EIGER wire bytes into counts, row-major (detectors.md §3.2 table)."""
    raw = np.ascontiguousarray(data, dtype=np.uint8).reshape(data.shape[:-1] + (-1,))
    lead = raw.shape[:-1]
    if dynamic_range == 4:
        out = np.empty(lead + (raw.shape[-1], 2), dtype=np.uint8)
        out[..., 0] = raw >> 4
        out[..., 1] = raw & 0x0F
        return out.reshape(lead + (-1,))
    if dynamic_range == 8:
        return raw
    if dynamic_range == 12:
        triples = raw.reshape(lead + (-1, 3)).astype(np.uint16)
        out = np.empty(triples.shape[:-1] + (2,), dtype=np.uint16)
        out[..., 0] = triples[..., 0] | ((triples[..., 1] & 0x0F) << 8)
        out[..., 1] = (triples[..., 1] >> 4) | (triples[..., 2] << 4)
        return out.reshape(lead + (-1,))
    if dynamic_range == 16:
        return raw.view("<u2")
    if dynamic_range == 32:
        return raw.view("<u4")
    raise DetectorModelError(
        f"eiger.dynamic_range: {dynamic_range} not allowed; allowed {_EIGER_DYNAMIC_RANGES}"
    )
