"""Detector hardware as data: the UDP header table, module models, catalogue and geometry
(shared/spec/detectors.md §1-§3, §5)."""

from ._catalogue import CATALOGUE, Detector, PortAddress, detector_by_name
from ._geometry import (
    CONVERTED_MODULE_COLS,
    CONVERTED_MODULE_LINES,
    assemble_image,
    converted_shape,
    gap_mask,
    module_origin,
)
from ._header import (
    DET_INFO_BITS,
    DET_TYPE_EIGER,
    DET_TYPE_JUNGFRAU,
    HEADER_DTYPE,
    HEADER_SIZE,
    HEADER_VERSION,
    BitField,
    det_info_get,
    det_info_set,
    headers_view,
    pack_headers,
    parse_headers,
)
from ._models import (
    MODULE_COLS,
    MODULE_ROWS,
    ModuleModel,
    PortBlock,
    eiger_module,
    jungfrau_module,
    pack_eiger_pixels,
    unpack_eiger_pixels,
)
from ._timing import StorageCells, XfelTiming, run_headers

__all__ = [
    "CATALOGUE",
    "CONVERTED_MODULE_COLS",
    "CONVERTED_MODULE_LINES",
    "DET_INFO_BITS",
    "DET_TYPE_EIGER",
    "DET_TYPE_JUNGFRAU",
    "HEADER_DTYPE",
    "HEADER_SIZE",
    "HEADER_VERSION",
    "MODULE_COLS",
    "MODULE_ROWS",
    "BitField",
    "Detector",
    "ModuleModel",
    "PortAddress",
    "PortBlock",
    "StorageCells",
    "XfelTiming",
    "assemble_image",
    "converted_shape",
    "det_info_get",
    "det_info_set",
    "detector_by_name",
    "eiger_module",
    "gap_mask",
    "headers_view",
    "jungfrau_module",
    "module_origin",
    "pack_eiger_pixels",
    "pack_headers",
    "run_headers",
    "parse_headers",
    "unpack_eiger_pixels",
]
