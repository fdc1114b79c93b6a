"""The per-image analysis of Jungfraujoch's receiver, as one call returning the image-message
fields (hdf5-format.md §4.1-4.6; stream.md §9)."""

from __future__ import annotations

import time
import weakref

import numpy as np

from simulator.analysis._indexing import index_from_truth
from simulator.analysis._integration import integrate
from simulator.analysis._pixels import (
    azimuthal_profile,
    background_estimate,
    image_statistics,
    roi_integrals,
)
from simulator.analysis._plan import AnalysisPlan, build_plan
from simulator.analysis._settings import AnalysisSettings
from simulator.analysis._spots import find_spots, valid_pixels
from simulator.errors import AnalysisError
from simulator.scenes import DetectorGeometry, ImageTruth

__all__ = ["PROFILING_KEYS", "analyse_image", "plan_for"]

PROFILING_KEYS = (
    "spotFindingTime", "indexingTime", "integrationTime", "refinementTime", "processingTime",
    "braggPredictionTime", "preprocessingTime", "compressionTime", "azIntTime",
    "indexAnalysisTime", "imageScaleTime",
)
"""The /entry/profiling dataset names (hdf5-format.md §4.6), seconds."""

_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan_for(geometry: DetectorGeometry, settings: AnalysisSettings) -> AnalysisPlan:
    """The (cached) analysis plan of a geometry and settings pair."""
    per_geometry = _PLANS.setdefault(geometry, {})
    plan = per_geometry.get(id(settings))
    if plan is None or plan.settings is not settings:
        plan = build_plan(geometry, settings)
        per_geometry[id(settings)] = plan
    return plan


def _resolution_estimate(d_a: np.ndarray) -> float:
    # The 95th percentile of 1/d is robust to a few noise spots far out.
    if len(d_a) < 5:
        return float("nan")
    return float(1.0 / np.percentile(1.0 / d_a, 95))


def analyse_image(
    image: np.ndarray,
    geometry: DetectorGeometry,
    settings: AnalysisSettings,
    truth: ImageTruth | None = None,
    plan: AnalysisPlan | None = None,
) -> dict[str, object]:
    """Analyse one converted image (photons, [y, x]) and return the image-message fields.

    Spots with Miller indices when ``truth`` (the scene's prediction for this image) is given;
    ``reflections`` by summation integration at the predicted positions; azimuthal profile, ROI
    integrals, image statistics and measured per-stage times in ``profiling`` (seconds).
    """
    start = time.perf_counter()
    image = np.asarray(image)
    if image.shape != geometry.shape:
        raise AnalysisError(
            f"image: shape {image.shape}, allowed {geometry.shape} [y, x] of the geometry"
        )
    plan = plan if plan is not None else plan_for(geometry, settings)
    timings = dict.fromkeys(PROFILING_KEYS, 0.0)

    t = time.perf_counter()
    valid = valid_pixels(image, plan)
    stats = image_statistics(image, valid, plan)
    timings["preprocessingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    spots = find_spots(image, plan, valid)
    timings["spotFindingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    outcome = index_from_truth(spots, truth, settings)
    timings["indexingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    reflections, scale_fields = integrate(image, valid, truth if outcome.fields["indexing_result"] else None, settings)
    timings["integrationTime"] = time.perf_counter() - t

    t = time.perf_counter()
    az = azimuthal_profile(image, valid, plan)
    bkg = background_estimate(image, valid, spots.strong, plan)
    timings["azIntTime"] = time.perf_counter() - t

    t = time.perf_counter()
    rois = roi_integrals(image, plan)
    spot_maps = [
        {
            "x": float(spots.x[i]), "y": float(spots.y[i]), "I": float(spots.intensity[i]),
            "indexed": bool(outcome.indexed[i]),
            "h": int(outcome.hkl[i, 0]), "k": int(outcome.hkl[i, 1]), "l": int(outcome.hkl[i, 2]),
            "dist_ewald": float(outcome.dist_ewald[i]), "lattice": int(outcome.lattice[i]),
            "ice_ring": bool(spots.ice_ring[i]),
        }
        for i in range(len(spots))
    ]
    timings["indexAnalysisTime"] = time.perf_counter() - t

    result: dict[str, object] = {
        "spots": spot_maps,
        "strong_pixel_count": spots.strong_pixel_count,
        "spot_count_unfiltered": spots.spot_count_unfiltered,
        "spot_count_low_res": spots.spot_count_low_res,
        "spot_count_ice_ring": spots.spot_count_ice_ring,
        "integrated_reflection_count": len(reflections["h"]),
        "resolution_estimate": _resolution_estimate(spots.d_a),
        "bkg_estimate": bkg,
        "beam_corr_x": 0.0,
        "beam_corr_y": 0.0,
        "reflections": reflections,
        "roi_integrals": rois,
    }
    result.update(outcome.fields)
    result.update(scale_fields)
    result.update(az)
    result.update(stats)
    timings["processingTime"] = time.perf_counter() - start
    result["profiling"] = timings
    return result
