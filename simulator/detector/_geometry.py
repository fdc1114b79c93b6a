"""Raw module frames into the full converted image with chip double pixels and module gaps
(detectors.md §5.1, §5.2)."""

from __future__ import annotations

import numpy as np
from jfjoch_hil.simulator.detector._models import MODULE_COLS, MODULE_ROWS
from jfjoch_hil.simulator.errors import PacketLayoutError

__all__ = [
    "CONVERTED_MODULE_COLS",
    "CONVERTED_MODULE_LINES",
    "converted_shape",
    "module_origin",
    "module_rectangle",
    "assemble_image",
    "gap_mask",
]

#: detectors.md §5.1: 1024 x 512 -> 1030 x 514.
CONVERTED_MODULE_COLS = 1030
CONVERTED_MODULE_LINES = 514
_CHIP = 256


def converted_shape(
    n_modules: int, modules_per_row: int, gap_x_px: int, gap_y_px: int
) -> tuple[int, int]:
    """(height, width) of the converted image (§5.2): ``R*514+(R-1)*gap_y``, ``H*1030+(H-1)*gap_x``."""
    rows = -(-n_modules // modules_per_row)
    width = modules_per_row * CONVERTED_MODULE_COLS + (modules_per_row - 1) * gap_x_px
    height = rows * CONVERTED_MODULE_LINES + (rows - 1) * gap_y_px
    return height, width


def module_origin(
    module: int, modules_per_row: int, gap_x_px: int, gap_y_px: int
) -> tuple[int, int]:
    """(line, column) of a module's converted line 0 / column 0 before mirroring (§5.2)."""
    mx, my = module % modules_per_row, module // modules_per_row
    return my * (CONVERTED_MODULE_LINES + gap_y_px), mx * (CONVERTED_MODULE_COLS + gap_x_px)


def module_rectangle(
    module: int, n_modules: int, modules_per_row: int, gap_x_px: int, gap_y_px: int
) -> tuple[int, int, int, int]:
    """(top line, left column, lines, columns) of a module in the stored converted image: lines
    mirrored, so module 0 is at the bottom left and an incomplete last row of modules is the
    top one (§5.2)."""
    height, _ = converted_shape(n_modules, modules_per_row, gap_x_px, gap_y_px)
    line0, col0 = module_origin(module, modules_per_row, gap_x_px, gap_y_px)
    top = height - line0 - CONVERTED_MODULE_LINES
    return top, col0, CONVERTED_MODULE_LINES, CONVERTED_MODULE_COLS


def _expand_axis(
    values: np.ndarray, axis: int, n_chips: int, divide: bool, low: float, high: float
) -> np.ndarray:
    """Insert 2 pixels at each chip border along ``axis``, splitting the edge pixels (§5.1)."""
    values = np.moveaxis(values, axis, -1)
    out = np.empty(values.shape[:-1] + (n_chips * _CHIP + 2 * (n_chips - 1),), dtype=values.dtype)
    for k in range(n_chips):
        out[..., 258 * k : 258 * k + 256] = values[..., 256 * k : 256 * k + 256]
    for k in range(n_chips - 1):
        last, first = values[..., 255 + 256 * k], values[..., 256 + 256 * k]
        if divide:
            # Only real values are split; error/saturation sentinels are copied (§5.1).
            last = np.where((last > low) & (last < high), last / 2, last).astype(values.dtype)
            first = np.where((first > low) & (first < high), first / 2, first).astype(values.dtype)
        out[..., 255 + 258 * k] = last
        out[..., 256 + 258 * k] = last
        out[..., 257 + 258 * k] = first
        out[..., 258 + 258 * k] = first
    return np.moveaxis(out, -1, axis)


def assemble_image(
    modules: np.ndarray,
    modules_per_row: int,
    gap_x_px: int = 8,
    gap_y_px: int = 36,
    mirror_y: bool = True,
    divide: bool = True,
    fill_value: float = 0,
    low: float = -32764,
    high: float = 32763,
) -> np.ndarray:
    """Place module frames ``(M, 512, 1024)`` into the converted image (§5.1, §5.2).

    Edge pixels become two (four at corners) converted pixels; with ``divide`` each gets half
    (a quarter) of the value when strictly between ``low`` and ``high`` (the summation
    sentinels, §4.4). With ``mirror_y`` raw line 0 is at the bottom of the stored image and
    module 0 at the bottom left. Gaps take ``fill_value``.
    """
    if modules.ndim != 3 or modules.shape[1:] != (MODULE_ROWS, MODULE_COLS):
        raise PacketLayoutError(f"modules: shape {modules.shape}; need (M, 512, 1024)")
    n = modules.shape[0]
    height, width = converted_shape(n, modules_per_row, gap_x_px, gap_y_px)
    # Integer halving truncates towards zero, as Jungfraujoch's int16 output does.
    image = np.full((height, width), fill_value, dtype=modules.dtype)
    expanded = _expand_axis(modules, 2, 4, divide, low, high)
    expanded = _expand_axis(expanded, 1, 2, divide, low, high)
    for m in range(n):
        block = expanded[m]
        if mirror_y:
            top, col0, lines, cols = module_rectangle(m, n, modules_per_row, gap_x_px, gap_y_px)
            image[top : top + lines, col0 : col0 + cols] = block[::-1]
        else:
            line0, col0 = module_origin(m, modules_per_row, gap_x_px, gap_y_px)
            image[line0 : line0 + CONVERTED_MODULE_LINES, col0 : col0 + CONVERTED_MODULE_COLS] = (
                block
            )
    return image


def gap_mask(
    n_modules: int, modules_per_row: int, gap_x_px: int = 8, gap_y_px: int = 36
) -> np.ndarray:
    """NXmx pixel mask (u32) of the converted image: bit 0 where no module covers (§4.5)."""
    mask = np.ones(converted_shape(n_modules, modules_per_row, gap_x_px, gap_y_px), np.uint32)
    for m in range(n_modules):
        top, col0, lines, cols = module_rectangle(m, n_modules, modules_per_row, gap_x_px, gap_y_px)
        mask[top : top + lines, col0 : col0 + cols] = 0
    return mask
