"""Benchmark: scene rendering and per-image analysis.

Prints the time to render a JUNGFRAU 1M rotation scan (default 1000 images), the analysis time per
JUNGFRAU module image (ms) with its breakdown per stage (the profiling fields of
hdf5-format.md §4.6), and the spot-finding recovery of predicted strong reflections.
Run: .venv/bin/python benchmarks/bench_scenes.py [--images N] [--analyse M] [--module-only]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from jfjoch_hil.simulator.analysis import (
    AnalysisSettings,
    RoiAzim,
    RoiBox,
    RoiCircle,
    analyse_image,
    plan_for,
)
from jfjoch_hil.simulator.scenes import (
    DetectorGeometry,
    Scene,
    clear_render_cache,
    jungfrau_geometry,
    render,
    rotation_scene,
)
from scipy.spatial import cKDTree

STRONG_PHOTONS = (20.0, 40.0, 60.0)
# A box, a disc and a ring, as a beamline would set them (hdf5-format.md §4.4.1).
MODULE_ROIS = (
    RoiBox("box", 100, 299, 50, 249),
    RoiCircle("disc", 700.0, 300.0, 60.0),
    RoiAzim("ring", 1.2, 1.4),
)
# The stages the target covers, in the order analyse_image runs them: preprocessing is the valid
# mask and the image statistics, azIntTime the azimuthal profile and bkg_estimate,
# indexAnalysisTime the ROI sums and the spot list.
STAGES = (
    "preprocessingTime",
    "spotFindingTime",
    "azIntTime",
    "indexAnalysisTime",
    "indexingTime",
    "refinementTime",
    "integrationTime",
    "imageScaleTime",
)
TARGET_STAGES = ("preprocessingTime", "spotFindingTime", "azIntTime", "indexAnalysisTime")


def _module_scene(seed: int) -> Scene:
    one = jungfrau_geometry(1, 1, distance_mm=80.0)
    geometry = DetectorGeometry(
        one.width_px,
        one.height_px,
        one.pixel_size_mm,
        one.distance_mm,
        one.width_px / 2 + 10.3,
        one.height_px / 2 + 5.7,
        one.energy_kev,
    )
    return rotation_scene(200, seed=seed, geometry=geometry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000, help="rotation images to render")
    parser.add_argument("--analyse", type=int, default=50, help="module images to analyse")
    parser.add_argument(
        "--module-only", action="store_true", help="skip the 1M rendering and analysis"
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.module_only:
        _one_m_render(args.images)
    _module_analysis(args.analyse)
    if not args.module_only:
        _one_m_analysis(args.images, args.analyse)


def _one_m_render(images: int) -> None:

    scene = rotation_scene(images, seed=1)
    t0 = time.perf_counter()
    scene.truth(0)
    prediction_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for index in range(images):
        render(scene, index, cache_size=0)
    render_s = time.perf_counter() - t0
    print(
        f"JUNGFRAU 1M {scene.geometry.width_px}x{scene.geometry.height_px}, lysozyme, "
        f"{images} images of {scene.scan.increment_deg} deg"
    )
    print(f"  scan-wide Bragg prediction: {prediction_s:.2f} s")
    print(f"  render {images} images: {render_s:.1f} s ({1e3 * render_s / images:.1f} ms/image)")
    render(scene, 3)
    t0 = time.perf_counter()
    for _ in range(100):
        render(scene, 3)
    print(f"  cached re-render: {1e6 * (time.perf_counter() - t0) / 100:.1f} us/image")
    clear_render_cache(scene)


def _module_analysis(count: int) -> None:
    module = _module_scene(seed=2)
    settings = AnalysisSettings(max_spot_count=2000, rois=MODULE_ROIS)
    plan = plan_for(module.geometry, settings)
    times, cpu_times = [], []
    stages: dict[str, list[float]] = {key: [] for key in STAGES}
    recovered = dict.fromkeys(STRONG_PHOTONS, 0)
    strong_total = dict.fromkeys(STRONG_PHOTONS, 0)
    for index in range(count):
        image, truth = render(module, index), module.truth(index)
        t0, c0 = time.perf_counter(), time.thread_time()
        result = analyse_image(image, module.geometry, settings, truth, plan)
        cpu_times.append(time.thread_time() - c0)
        times.append(time.perf_counter() - t0)
        for key in STAGES:
            stages[key].append(result["profiling"][key])
        table = truth.reflections
        on_sensor = module.geometry.on_sensor(table.x_px, table.y_px, margin_px=4)
        found = np.array([[s["x"], s["y"]] for s in result["spots"]]).reshape(-1, 2)
        for threshold in STRONG_PHOTONS:
            strong = (table.photons >= threshold) & on_sensor
            if strong.any() and len(found):
                distance, _ = cKDTree(found).query(
                    np.column_stack([table.x_px, table.y_px])[strong]
                )
                recovered[threshold] += int(np.sum(distance <= 1.5))
            strong_total[threshold] += int(strong.sum())
    times_ms = 1e3 * np.array(times)
    print(f"JUNGFRAU module image {module.geometry.width_px}x{module.geometry.height_px}:")
    print(
        f"  analysis per image: median {np.median(times_ms):.1f} ms, "
        f"p90 {np.percentile(times_ms, 90):.1f} ms over {count} images; CPU time of this thread "
        f"median {1e3 * np.median(cpu_times):.1f} ms (what the load of other processes leaves out)"
    )
    target = np.sum([stages[key] for key in TARGET_STAGES], axis=0) * 1e3
    print(
        "  spot finding + ROI sums + azimuthal integration + image statistics: "
        f"median {np.median(target):.2f} ms, p90 {np.percentile(target, 90):.2f} ms"
    )
    for key in STAGES:
        values = 1e3 * np.array(stages[key])
        print(
            f"    {key:<18} median {np.median(values):6.2f} ms  p90 {np.percentile(values, 90):6.2f}"
        )
    for threshold in STRONG_PHOTONS:
        rate = recovered[threshold] / max(strong_total[threshold], 1)
        print(
            f"  spot-finding recovery of predictions >= {threshold:.0f} photons within 1.5 px: "
            f"{recovered[threshold]}/{strong_total[threshold]} = {rate:.3f}"
        )


def _one_m_analysis(images: int, count: int) -> None:
    scene = rotation_scene(images, seed=1)
    one_m_settings = AnalysisSettings(max_spot_count=2000)
    one_m_plan = plan_for(scene.geometry, one_m_settings)
    one_m_ms = []
    for index in range(min(count, 20)):
        image, truth = render(scene, index, cache_size=0), scene.truth(index)
        t0 = time.perf_counter()
        analyse_image(image, scene.geometry, one_m_settings, truth, one_m_plan)
        one_m_ms.append(1e3 * (time.perf_counter() - t0))
    print(f"JUNGFRAU 1M image: analysis median {np.median(one_m_ms):.1f} ms")


if __name__ == "__main__":
    main()
