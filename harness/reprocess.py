"""``jfsim reprocess MASTER``: rerun the per-image analysis on an existing dataset and write the
``<prefix>_process.h5`` companion through ``jfwriter`` (hdf5-format.md 2 "Reprocessing
output").

The dataset is read with h5py (any layout: master links, VDS or integrated); the geometry comes
from its NXmx fields; the new results go to the writer over ZeroMQ as image messages without
pixels, after a start message naming the source master (``process_source_master``), so the
writer links ``/entry/data/data`` back to the original images.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle / LZ4 filters with HDF5)
import numpy as np
from jfjoch_hil.harness._supervise import Bounds, RunGroup
from jfjoch_hil.harness._writer_child import WRITER, WriterChild, send_supervised
from jfjoch_hil.harness.truth import open_written_images
from jfjoch_hil.simulator.analysis import (
    AnalysisSettings,
    analyse_image,
    plan_for,
    start_message_fields,
)
from jfjoch_hil.simulator.scenes import DetectorGeometry
from jfjoch_hil.stream import (
    EndMessage,
    FileFormat,
    ImageMessage,
    Pusher,
    RunFinished,
    StartMessage,
    TypedArray,
    WriterReady,
    event_json,
)

__all__ = ["read_geometry", "reprocess"]

_DET = "/entry/instrument/detector"


def _scalar(
    handle: h5py.File, path: str, scale: float = 1.0, default: float | None = None
) -> float:
    if path not in handle:
        if default is None:
            raise ValueError(f"{handle.filename}: {path} is missing; reprocessing needs it")
        return default
    return float(np.asarray(handle[path][()]).reshape(-1)[0]) * scale


def read_geometry(master: Path) -> tuple[DetectorGeometry, dict]:
    """The detector geometry and the values the analysis needs, read from an NXmx master."""
    with h5py.File(master, "r") as handle:
        mask = handle[f"{_DET}/pixel_mask"][...] if f"{_DET}/pixel_mask" in handle else None
        shape = mask.shape if mask is not None else None
        if shape is None:
            data = handle["/entry/data"]
            first = (
                data["data"]
                if "data" in data
                else data[sorted(k for k in data if k.startswith("data_"))[0]]
            )
            shape = first.shape[1:]
        wavelength_a = _scalar(handle, "/entry/instrument/beam/incident_wavelength")
        geometry = DetectorGeometry(
            width_px=int(shape[1]),
            height_px=int(shape[0]),
            pixel_size_mm=_scalar(handle, f"{_DET}/x_pixel_size", 1000.0),
            distance_mm=_scalar(handle, f"{_DET}/distance", 1000.0),
            beam_center_x_px=_scalar(handle, f"{_DET}/beam_center_x"),
            beam_center_y_px=_scalar(handle, f"{_DET}/beam_center_y"),
            energy_kev=12.398419843320026 / wavelength_a,
            gap_mask=None if mask is None else (mask & 1).astype(bool),
        )
        values = {
            "error_value": int(_scalar(handle, f"{_DET}/error_value", default=-32768)),
            "saturation_value": int(_scalar(handle, f"{_DET}/saturation_value", default=32767)),
            "number_of_images": int(_scalar(handle, f"{_DET}/detectorSpecific/nimages", default=0)),
            "mask": mask,
            # carried into the companion's start message: the run-level fields a Jungfraujoch
            # file always holds (hdf5-format.md §3), as the source master states them
            "carried": _carried(handle),
        }
    return geometry, values


#: start-message field -> (path in the source master, kind) copied into the companion
_CARRIED = {
    "count_time": (f"{_DET}/count_time", float),
    "frame_time": (f"{_DET}/frame_time", float),
    "detector_description": (f"{_DET}/description", str),
    "bit_depth_readout": (f"{_DET}/bit_depth_readout", int),
    "bit_depth_image": (f"{_DET}/bit_depth_image", int),
    "source_type": ("/entry/source/type", str),
    "source_name": ("/entry/source/name", str),
    "instrument_name": ("/entry/instrument/name", str),
    "sample_name": ("/entry/sample/name", str),
    "sensor_material": (f"{_DET}/sensor_material", str),
}


def _carried(handle: h5py.File) -> dict:
    carried: dict = {}
    for field, (path, kind) in _CARRIED.items():
        if path in handle and isinstance(handle[path], h5py.Dataset):
            value = handle[path][()]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            carried[field] = kind(value.item() if hasattr(value, "item") else value)
    return carried


def reprocess(
    master: str | Path, *, settings: AnalysisSettings | None = None, bounds: Bounds | None = None
) -> dict:
    """Analyse every image of ``master`` again and write ``<prefix>_process.h5`` next to it.

    The writer is a supervised child; the whole job is bounded by ``bounds`` for its image
    count (no frame period: the images exist already), and a writer that dies ends it with a
    :class:`~jfjoch_hil.harness.errors.SupervisionError` naming it.  Its children are listed in
    ``<prefix>_process_pids.json`` next to the master while they live."""
    bounds = bounds or Bounds()
    master = Path(master).resolve()
    if not master.name.endswith("_master.h5"):
        raise ValueError(f"{master.name}: a <prefix>_master.h5 file is required")
    prefix = master.name[: -len("_master.h5")]
    folder = master.parent
    geometry, values = read_geometry(master)
    settings = dataclasses.replace(
        settings or AnalysisSettings(),
        error_value=values["error_value"],
        saturation_value=values["saturation_value"],
    )
    plan = plan_for(geometry, settings)
    stack: list = []
    began = time.monotonic()
    try:
        image = open_written_images(folder, prefix, stack)
        count = 0
        while image(count) is not None:
            count += 1
        fields = start_message_fields(plan)  # geometry, ROI and azimuthal-integration settings
        fields.pop("pixel_mask", None)
        fields.update(
            series_id=1,
            series_unique_id=f"{prefix}-reprocessed",
            arm_date=datetime.now(UTC),
            number_of_images=count,
            channels=["default"],
            file_prefix=prefix,
            file_format=FileFormat.INTEGRATED.value,
            error_value=values["error_value"],
            saturation_value=values["saturation_value"],
            indexing_algorithm="none (reprocessing without a model)",
        )
        fields.update(values["carried"])
        start = StartMessage(**fields, process_source_master=master.name)
        if values["mask"] is not None:
            start = dataclasses.replace(
                start,
                pixel_mask={"default": TypedArray.from_numpy(values["mask"].astype(np.uint32))},
                pixel_mask_enabled=True,
            )
        limit_s = bounds.run_s(count, 0.0)
        deadline = time.monotonic() + limit_s
        with (
            RunGroup(bounds, folder / f"{prefix}_process_pids.json") as group,
            Pusher(send_timeout_ms=250) as pusher,
        ):
            writer = WriterChild(
                group,
                pusher.endpoint,
                folder,
                idle_timeout_s=10.0 + bounds.per_image_s,
                start_timeout_s=max(1.0, limit_s),
                per_image_wait_s=bounds.per_image_s,
            )

            def send(message) -> None:
                send_supervised(pusher, message, group, deadline, "sending results to the writer")

            try:
                writer.wait_for(WriterReady, bounds.margin_s, "starting the writer")
                send(start)
                for number in range(count):
                    results = analyse_image(image(number), geometry, settings, plan=plan)
                    send(
                        ImageMessage(
                            series_id=1,
                            series_unique_id=start.series_unique_id,
                            image_id=number,
                            data={},
                            **results,
                        )
                    )
                send(
                    EndMessage(
                        series_id=1,
                        series_unique_id=start.series_unique_id,
                        end_date=datetime.now(UTC),
                    )
                )
                group.quiet(WRITER)
                finished = writer.wait_for(
                    RunFinished,
                    bounds.margin_s + count * bounds.per_image_s,
                    "waiting for the writer to finish the companion file",
                )
                group.finished(WRITER)
            finally:
                writer.stop()
    finally:
        for handle in stack:
            handle.close()
    process = folder / f"{prefix}_process.h5"
    return {
        "master": str(master),
        "process_file": str(process) if process.exists() else None,
        "images": count,
        "writer": event_json(finished) if finished else None,
        "writer_errors": writer.errors[-10:],
        "seconds": round(time.monotonic() - began, 3),
        "ok": finished is not None and not finished.error and process.exists(),
    }


def main_reprocess(master: str, bounds: Bounds | None = None) -> int:
    """``jfsim reprocess MASTER``: print the outcome as JSON; exit 0 when the companion was written."""
    try:
        outcome = reprocess(master, bounds=bounds)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        print(f"jfsim reprocess: {error}", file=sys.stderr)
        return 2
    print(json.dumps(outcome, default=str))
    return 0 if outcome["ok"] else 1
