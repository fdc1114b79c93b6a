"""Per-image analysis as Jungfraujoch's receiver computes it (hdf5-format.md §4.1-4.6).

``analyse_image(image, geometry, settings, truth=None)`` returns a dict keyed by the image-message
field names; ``start_message_fields(plan_for(geometry, settings), scene)`` gives the start-message
fields (ROI definitions and map, azimuthal bins and map, geometry, goniometer, unit cell).
"""

from jfjoch_hil.simulator.analysis._analyse import (
    PROFILING_KEYS,
    analyse_image,
    analyse_scene_image,
    plan_for,
)
from jfjoch_hil.simulator.analysis._indexing import (
    IndexingOutcome,
    cell_from_lattice,
    index_from_truth,
)
from jfjoch_hil.simulator.analysis._integration import REFLECTION_COLUMNS, integrate
from jfjoch_hil.simulator.analysis._pixels import (
    azimuthal_profile,
    background_estimate,
    image_statistics,
    roi_integrals,
)
from jfjoch_hil.simulator.analysis._plan import (
    NO_BIN,
    AnalysisPlan,
    build_plan,
    start_message_fields,
)
from jfjoch_hil.simulator.analysis._run import summarise_run
from jfjoch_hil.simulator.analysis._settings import (
    AnalysisSettings,
    Roi,
    RoiAzim,
    RoiBox,
    RoiCircle,
    settings_from_mapping,
    settings_from_scenario,
    settings_to_mapping,
)
from jfjoch_hil.simulator.analysis._spots import SpotList, find_spots, valid_pixels

__all__ = [
    "NO_BIN",
    "PROFILING_KEYS",
    "REFLECTION_COLUMNS",
    "AnalysisPlan",
    "AnalysisSettings",
    "IndexingOutcome",
    "Roi",
    "RoiAzim",
    "RoiBox",
    "RoiCircle",
    "SpotList",
    "analyse_image",
    "analyse_scene_image",
    "azimuthal_profile",
    "background_estimate",
    "build_plan",
    "cell_from_lattice",
    "find_spots",
    "image_statistics",
    "index_from_truth",
    "integrate",
    "plan_for",
    "roi_integrals",
    "settings_from_mapping",
    "settings_to_mapping",
    "settings_from_scenario",
    "start_message_fields",
    "summarise_run",
    "valid_pixels",
]
