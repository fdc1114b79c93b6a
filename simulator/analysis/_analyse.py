"""The per-image analysis of Jungfraujoch's receiver, as one call returning the image-message
fields (hdf5-format.md §4.1-4.6; stream.md §9)."""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np
from jfjoch_hil.simulator.analysis._indexing import cell_from_lattice, index_from_truth
from jfjoch_hil.simulator.analysis._integration import integrate
from jfjoch_hil.simulator.analysis._pixels import (
    classify_pixels,
    reduce_pixels,
    roi_values,
    statistics_of,
)
from jfjoch_hil.simulator.analysis._plan import AnalysisPlan, build_plan
from jfjoch_hil.simulator.analysis._settings import AnalysisSettings
from jfjoch_hil.simulator.analysis._spots import SpotList, spots_of
from jfjoch_hil.simulator.errors import AnalysisError
from jfjoch_hil.simulator.scenes import DetectorGeometry, ImageTruth, Scene, render
from jfjoch_hil.stream import PROFILING_KEYS  # the /entry/profiling names (hdf5-format.md §4.6)

__all__ = ["PROFILING_KEYS", "analyse_image", "analyse_scene_image", "plan_for"]

# Keyed by identity: geometries that compare equal may still differ in their gap masks.
_PLANS: dict[tuple[int, int], tuple[weakref.ref, AnalysisPlan]] = {}
_MAX_PLANS = 8
_PLANS_LOCK = threading.Lock()


def plan_for(geometry: DetectorGeometry, settings: AnalysisSettings) -> AnalysisPlan:
    """The (cached) analysis plan of this geometry and settings object."""
    key = (id(geometry), id(settings))
    with _PLANS_LOCK:
        entry = _PLANS.get(key)
        if entry is not None and entry[0]() is geometry and entry[1].settings is settings:
            return entry[1]
    plan = build_plan(geometry, settings)
    with _PLANS_LOCK:
        _PLANS[key] = (weakref.ref(geometry), plan)
        while len(_PLANS) > _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
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
    classes = classify_pixels(image, plan)
    valid = classes.valid
    stats = statistics_of(classes, plan)
    timings["preprocessingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    spots = spots_of(classes, plan) if settings.spot_finding else SpotList.empty(image.shape)
    timings["spotFindingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    outcome = index_from_truth(spots, truth if settings.indexing else None, settings)
    timings["indexingTime"] = time.perf_counter() - t

    t = time.perf_counter()
    if outcome.fields["indexing_result"]:
        # The reported cell is derived from the lattice, as a refinement would report it.
        lattice = np.asarray(outcome.fields["indexing_lattice"]).reshape(3, 3)
        unit_cell: dict[str, float] | None = cell_from_lattice(lattice)
    else:
        unit_cell = None
    timings["refinementTime"] = time.perf_counter() - t

    t = time.perf_counter()
    indexed_truth = truth if outcome.fields["indexing_result"] and settings.integration else None
    reflections, scale_fields = integrate(image, valid, indexed_truth, settings)
    timings["imageScaleTime"] = scale_fields.pop("image_scale_time_s", 0.0)
    timings["integrationTime"] = time.perf_counter() - t - timings["imageScaleTime"]

    t = time.perf_counter()
    az, bkg = reduce_pixels(classes, plan, spots.spot_pixel_indices, settings.azint)
    timings["azIntTime"] = time.perf_counter() - t

    t = time.perf_counter()
    rois = roi_values(classes, plan)
    # One tolist() per column: plain Python numbers for the CBOR encoder, without a float()
    # call per field per spot.
    columns = zip(
        spots.x.tolist(),
        spots.y.tolist(),
        spots.intensity.tolist(),
        outcome.indexed.tolist(),
        outcome.hkl.tolist(),
        outcome.dist_ewald.tolist(),
        outcome.lattice.tolist(),
        spots.ice_ring.tolist(),
        strict=True,
    )
    spot_maps = [
        {
            "x": x,
            "y": y,
            "I": intensity,
            "indexed": indexed,
            "h": h,
            "k": k,
            "l": l_index,
            "dist_ewald": dist_ewald,
            "lattice": lattice,
            "ice_ring": ice,
        }
        for x, y, intensity, indexed, (h, k, l_index), dist_ewald, lattice, ice in columns
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
    if unit_cell is not None:
        result["indexing_unit_cell"] = unit_cell
    result.update(scale_fields)
    result.update(az)
    result.update(stats)
    timings["processingTime"] = time.perf_counter() - start
    result["profiling"] = timings
    return result


def analyse_scene_image(
    scene: Scene,
    image_index: int,
    settings: AnalysisSettings,
    image: np.ndarray | None = None,
    plan: AnalysisPlan | None = None,
) -> dict[str, object]:
    """Analyse image ``image_index`` of ``scene`` with its ground truth (analyse_image).

    ``image`` defaults to the rendered image; pass the receiver's converted image instead when it
    went through the detector. The Bragg prediction is timed as ``braggPredictionTime``.
    """
    t = time.perf_counter()
    truth = scene.truth(image_index)
    prediction_s = time.perf_counter() - t
    if image is None:
        image = render(scene, image_index)
    result = analyse_image(image, scene.geometry, settings, truth, plan)
    profiling = result["profiling"]
    profiling["braggPredictionTime"] = prediction_s
    profiling["processingTime"] += prediction_s
    return result
