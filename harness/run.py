"""``jfsim run``: the whole chain for one scenario.

detector (UDP or direct) -> receiver (assembly, conversion, analysis) -> stream (ZeroMQ PUSH)
-> ``jfwriter`` (its own process) -> files -> ``jfcheck`` (its own process) -> report.

The harness talks to the writer only over ZeroMQ and as a process, and uses the checker as a
library in a forked child (``check_file_isolated``), so a crash inside HDF5 cannot end the run.

Every child (writer, receiver socket side, detector senders) is supervised (``_supervise``):
one that exits early or stalls ends the run with a :class:`SupervisionError` naming it, and every
wait is bounded by the run's own timing (:class:`Bounds`; docs/reliability.md "Supervision").
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import platform
import queue
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import jfjoch_hil.stream as stream
import numpy as np
import numpy.ma  # noqa: F401  (else the assembler's first push imports it mid-burst, ~80 ms of no reading)
from jfjoch_hil.harness._accounting import WINDOW_FRAMES, _accepted_masks, _accounting
from jfjoch_hil.harness._supervise import Bounds, RunGroup
from jfjoch_hil.harness._writer_child import (
    SEND_SLICE_MS,
    WRITER,
    WriterChild,
    check_files,
    send_supervised,
)
from jfjoch_hil.harness.chain import Experiment, build_experiment, has_packet_faults
from jfjoch_hil.harness.errors import SupervisionError
from jfjoch_hil.harness.scenario import Scenario, scenario_to_dict
from jfjoch_hil.harness.senders import module_groups, send_modules
from jfjoch_hil.harness.tracing import stream_folder, trace_run
from jfjoch_hil.harness.truth import compare_with_truth
from jfjoch_hil.simulator.analysis import (
    analyse_image,
    plan_for,
    settings_from_scenario,
    start_message_fields,
    summarise_run,
)
from jfjoch_hil.simulator.detector import DET_TYPE_JUNGFRAU, FrameEmitter, FrameHeaders
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport, SharedFrames, UdpReceiver
from jfjoch_hil.simulator.receiver._publish import FrameProcessor, ReceiverSettings, RunPublisher
from jfjoch_hil.simulator.scenes import GridScan
from jfjoch_hil.stream import (
    EndMessage,
    FileFormat,
    ImageMessage,
    Message,
    Pusher,
    RunFinished,
    StartMessage,
    StreamProfile,
    WriterReady,
    apply_profile,
    event_json,
)

__all__ = [
    "WINDOW_FRAMES",
    "WRITER",
    "AnalysingPublisher",
    "analysis_for",
    "run_scenario",
    "start_fields",
]

#: Longest time between two checks of the children while data keeps flowing.
CHECK_EVERY_S = 0.5


class AnalysingPublisher(RunPublisher):
    """The receiver's publisher plus the per-image analysis and the scenario's run settings.

    The hardware side builds each message; this adds the analysis results to every image
    message, the geometry / analysis / file settings to the start message and the run summary to
    the end message, then hands the encoded bytes to ``deliver``.
    """

    def __init__(
        self,
        processor: FrameProcessor,
        experiment: Experiment,
        deliver: Callable[[bytes], None],
        start_fields: dict,
        analyse: Callable[[int, np.ndarray], dict],
    ) -> None:
        super().__init__(processor, self._send)
        self._deliver = deliver
        self.start_fields = start_fields
        self._analyse = analyse
        self._experiment = experiment
        self._analysis: dict = {}
        self.results: list[dict] = []
        self.send_end = True
        #: frame number -> (ports, packets) mask of the packets the assembler placed
        self.accepted: dict[int, np.ndarray] = {}

    def handle(self, frames, assembler=None):
        for frame in frames:
            self.accepted[int(frame.frame_number)] = np.array(frame.received, dtype=bool)
        return super().handle(frames, assembler)

    def publish(self, result) -> None:
        self._analysis = self._analyse(result.image_id, result.image)
        self.results.append(self._analysis)
        super().publish(result)

    def _send(self, message: Message) -> None:
        shaped = self._with_run_fields(message)
        if shaped is not None:
            shaped = apply_profile(shaped, self.processor.settings.profile)
        if shaped is not None:
            self._deliver(stream.encode(shaped))

    def _with_run_fields(self, message: Message) -> Message | None:
        if isinstance(message, ImageMessage):
            message = dataclasses.replace(message, **self._analysis)
        elif isinstance(message, StartMessage):
            message = dataclasses.replace(message, **self.start_fields)
        elif isinstance(message, EndMessage):
            if not self.send_end:
                return None
            summary = summarise_run(self.results, self._experiment.scene)
            message = dataclasses.replace(
                message,
                end_date=_now(),
                indexing_rate=summary["image_indexed_mean"],
                bkg_estimate_mean=summary["bkg_estimate_mean"],
                rotation_lattice=summary["rotation_lattice"],
                rotation_lattice_niggli_class=summary["rotation_lattice_niggli_class"],
            )
        return message


def _writer_options(scenario: Scenario) -> tuple[str, ...]:
    """What a DECTRIS stream does not carry and the writer is told instead (as a DECTRIS
    detector's file writer is configured apart from the stream): the prefix and the layout."""
    if scenario.stream.profile != StreamProfile.DECTRIS:
        return ()
    layout = FileFormat.from_layout(scenario.writer.format).value
    return (
        "--prefix",
        scenario.prefix,
        "--layout",
        layout,
        "--images-per-file",
        str(scenario.writer.images_per_file),
    )


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def start_fields(experiment: Experiment, plan) -> dict:
    scenario = experiment.scenario
    fields = start_message_fields(plan, experiment.scene)
    mask = fields.get("pixel_mask")
    if isinstance(mask, np.ndarray):  # one channel, "default", as Jungfraujoch sends it
        fields["pixel_mask"] = {"default": stream.TypedArray.from_numpy(mask.astype(np.uint32))}
    jungfrau = experiment.detector.model.det_type == DET_TYPE_JUNGFRAU
    error, saturation = _sentinels(experiment)
    if "detector_distance" in fields:  # the detector sits on the beam axis (stream.md 5.1)
        fields["detector_translation"] = [0.0, 0.0, float(fields["detector_distance"])]
    fields.update(
        file_prefix=scenario.prefix,
        file_format=FileFormat.from_layout(scenario.writer.format).value,
        images_per_file=scenario.writer.images_per_file,
        max_spot_count=scenario.analysis.max_spot_count,
        error_value=error,
        saturation_value=saturation,
        source_name="jfjoch-hil simulated source",
        source_type="Synchrotron X-ray Source" if not experiment.xfel else "Free-Electron Laser",
        instrument_name="jfjoch-hil simulated beamline",
        sample_name=scenario.name,
        total_flux=scenario.beam.flux_hz,
        attenuator_transmission=scenario.beam.transmission,
        space_group_number=scenario.crystal.space_group,
        pulsed_source=experiment.xfel is not None,
        detector_serial_number=experiment.detector.name,
        sensor_material="Si",
        sensor_thickness=320e-6,
        software_release=_version(),
        user_data={"user": {"hdf5": {"scenario": scenario.name, "seed": scenario.run.seed}}},
    )
    if not jungfrau:
        fields["sensor_thickness"] = 450e-6
    scan = experiment.scene.scan
    if isinstance(scan, GridScan):  # the sample translates: grid axes instead of a goniometer
        fields["grid_scan"] = {
            "fast_axis_images": scan.n_fast,
            "slow_axis_images": scan.n_slow,
            "step_x_m": scan.step_fast_um * 1e-6,
            "step_y_m": scan.step_slow_um * 1e-6,
            "snake": False,
        }
    return fields


def _sentinels(experiment: Experiment) -> tuple[int, int]:
    if experiment.detector.model.det_type == DET_TYPE_JUNGFRAU:
        return -32768, 32767  # int16 photons (detectors.md 4.4)
    top = int(np.iinfo(experiment.detector.model.pixel_dtype).max)
    return top, top - 1


def _version() -> str:
    try:
        return metadata.version("jfjoch-hil")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Progress:
    """One status line on stderr: images sent / published, rate, loss."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.start = time.monotonic()
        self._last = 0.0

    def update(
        self,
        sent: int,
        published: int,
        lost_packets: int,
        expected_packets: int,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        done = int(30 * published / max(self.total, 1))
        rate = published / max(now - self.start, 1e-9)
        loss = 100.0 * lost_packets / max(expected_packets, 1)
        sys.stderr.write(
            f"\r[{'#' * done}{'.' * (30 - done)}] sent {sent}/{self.total} "
            f"published {published} {rate:6.1f} img/s loss {loss:5.2f} %"
        )
        if force:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _frames_to_send(experiment: Experiment) -> np.ndarray:
    """Send-order mask: all packets, or those of the frames before an abort."""
    abort = experiment.scenario.run.abort_after_images
    schedule = experiment.schedule
    return schedule.frame < abort if abort else np.ones(len(schedule.frame), bool)


def analysis_for(experiment: Experiment):
    """The receiver's frame processor, the analysis plan and the per-image analysis of a run."""
    scenario = experiment.scenario
    run = scenario.run
    error, saturation = _sentinels(experiment)
    analysis_settings = dataclasses.replace(
        settings_from_scenario(scenario), error_value=error, saturation_value=saturation
    )
    plan = plan_for(experiment.scene.geometry, analysis_settings)
    n_rendered = experiment.raw.shape[0]

    def analyse(image_id: int, image: np.ndarray) -> dict:
        truth = experiment.scene.truth(image_id % n_rendered)
        return analyse_image(
            image, experiment.scene.geometry, analysis_settings, truth=truth, plan=plan
        )

    receiver_settings = ReceiverSettings(
        n_frames=run.images,
        photon_energy_kev=scenario.beam.energy_kev,
        compression=scenario.writer.compression,
        window_frames=WINDOW_FRAMES,
        storage_cells=experiment.storage_cells,
        frame_time_s=experiment.frame_time_s,
        count_time_s=0.98 * experiment.frame_time_s,
        series_id=run.seed,
        # the same scenario and seed give the same series ids, so a restarted receiver continues
        # the series the writer already has (stream.md 6)
        series_unique_id=f"{scenario.prefix}-{run.seed}",
        profile=scenario.stream.profile,
    )
    return (
        FrameProcessor(experiment.detector, receiver_settings, experiment.calibration),
        plan,
        analyse,
    )


def run_scenario(
    scenario: Scenario,
    out_dir: str | os.PathLike,
    *,
    record_dir: str | os.PathLike | None = None,
    progress: bool = False,
    bounds: Bounds | None = None,
) -> dict:
    """Run ``scenario`` end to end; write ``<out>/<prefix>_report.json`` and return the report.

    With ``detector.storage_cells_per_run`` the scenario is run once per entry (prefixes
    ``<prefix>_run1``, ``<prefix>_run2``, ...) and the report holds every run under ``runs``.
    Every child is supervised within ``bounds`` (default :class:`Bounds`); the pids of the
    children are kept in ``<out>/<prefix>_pids.json``.  A child that fails raises
    :class:`SupervisionError` after ``<out>/<prefix>_report.json`` recorded it (``ok`` false,
    ``supervision_error``).
    """
    bounds = bounds or Bounds()
    cells_per_run = scenario.detector.storage_cells_per_run
    if not cells_per_run:
        return _run_once(scenario, out_dir, record_dir=record_dir, progress=progress, bounds=bounds)
    reports = []
    for number, cells in enumerate(cells_per_run, start=1):
        single = dataclasses.replace(
            scenario,
            detector=dataclasses.replace(
                scenario.detector, storage_cells=cells, storage_cells_per_run=()
            ),
            run=dataclasses.replace(scenario.run, prefix=f"{scenario.prefix}_run{number}"),
        )
        record = None if record_dir is None else Path(record_dir) / f"run{number}"
        reports.append(
            _run_once(single, out_dir, record_dir=record, progress=progress, bounds=bounds)
        )
    summed = (
        "images_sent",
        "images_written",
        "packets_expected",
        "packets_sent",
        "packets_injected_lost",
        "packets_received",
        "packets_kernel_drops",
        "packets_unexplained_loss",
    )
    report = {key: sum(r[key] for r in reports) for key in summed}
    report.update(
        scenario=scenario.name,
        seed=scenario.run.seed,
        versions=reports[0]["versions"],
        settings=scenario_to_dict(scenario),
        runs=reports,
        frame_rate_requested_hz=scenario.run.frame_rate_hz,
        frame_rate_achieved_hz=min((r["frame_rate_achieved_hz"] or 0.0) for r in reports),
        writer_lag_s=max(r["writer_lag_s"] for r in reports),
        conformance_ok=all(r["conformance_ok"] for r in reports),
        stream_traced_ok=all(r["stream_traced_ok"] is not False for r in reports),
        truth_ok=all(r["truth_ok"] for r in reports),
        truth_sent_ok=all(r["truth_sent_ok"] for r in reports),
        truth={"images_compared": sum(r["truth"].get("images_compared", 0) for r in reports)},
        bound_s=sum(r["bound_s"] for r in reports),
        ok=all(r["ok"] for r in reports),
    )
    path = Path(out_dir) / f"{scenario.prefix}_report.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    report["report_path"] = str(path)
    return report


def run_bound_s(scenario: Scenario, bounds: Bounds) -> float:
    """Seconds one run of ``scenario`` may take end to end (:meth:`Bounds.run_s` of its images
    at its frame period, plus the writer's own wait for a missing end)."""
    run = scenario.run
    return (
        bounds.run_s(run.images, 1.0 / run.frame_rate_hz)
        + scenario.writer.finalize_timeout_s
        + bounds.per_image_s
    )


def _run_once(
    scenario: Scenario,
    out_dir: str | os.PathLike,
    *,
    record_dir: str | os.PathLike | None,
    progress: bool,
    bounds: Bounds,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    bound_s = run_bound_s(scenario, bounds)
    deadline = began + bound_s
    pid_file = out_dir / f"{scenario.prefix}_pids.json"
    record_dir = stream_folder(out_dir, scenario.prefix, record_dir)  # traced after the run
    try:
        with RunGroup(bounds, pid_file) as group:
            moved, publisher, finished, writer, writer_exit, writer_lag_s, experiment = _chain(
                scenario, out_dir, group, deadline, record_dir=record_dir, progress=progress
            )
            children = group.end()
        chain_seconds = time.monotonic() - began
    except SupervisionError as error:
        path = out_dir / f"{scenario.prefix}_report.json"
        failed = {
            "scenario": scenario.name,
            "seed": scenario.run.seed,
            "ok": False,
            "supervision_error": str(error),
            "bound_s": round(bound_s, 3),
            "bounds": dataclasses.asdict(bounds),
            "pid_file": str(pid_file),
            "seconds": round(time.monotonic() - began, 3),
        }
        path.write_text(json.dumps(failed, indent=2) + "\n", encoding="utf-8")
        raise
    run, detector = scenario.run, experiment.detector
    schedule = experiment.schedule
    frame = schedule.frame[_frames_to_send(experiment)]
    expected_packets = run.images * detector.packets_per_frame
    files = sorted(out_dir.glob(f"{scenario.prefix}_*.h5"))
    master = out_dir / f"{scenario.prefix}_master.h5"
    checked = [master] if master.exists() else files
    conformance_ok, verdicts = check_files(
        checked,
        timeout_s=bounds.margin_s + 60.0 * len(files),
        profile="nxmx" if scenario.stream.profile == StreamProfile.DECTRIS else "jungfraujoch",
    )
    stream_traced_ok, stream_trace = trace_run(
        master, Path(record_dir), timeout_s=bounds.margin_s + 60.0 * max(1, len(files))
    )
    placed = schedule.truth.expected_received(WINDOW_FRAMES)
    sent_frames = np.unique(frame)
    accepted = _accepted_masks(experiment, publisher.accepted, sent_frames)
    accounting = _accounting(experiment, placed, accepted, sent_frames, moved)
    truth = compare_with_truth(experiment, out_dir, placed, sent_frames, accepted=accepted)
    fates = schedule.truth.fate
    report = {
        "scenario": scenario.name,
        "seed": run.seed,
        "versions": {
            "jfjoch-hil": _version(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "settings": scenario_to_dict(scenario),
        "images_sent": int(sent_frames.size),
        "images_published": len(publisher.results),
        "images_written": finished.images_written if finished else 0,
        "packets_expected": expected_packets,
        "packets_sent": moved["packets_sent"],
        "packets_injected_lost": int((fates[sent_frames] != 0).sum()),
        "packets_received": moved["assembler"]["packets_accepted"],
        **accounting,
        "frame_rate_requested_hz": run.frame_rate_hz,
        "frame_rate_achieved_hz": sent_frames.size / moved["seconds"]
        if moved["seconds"] > 0
        else None,
        "writer_lag_s": round(writer_lag_s, 3),
        "writer": event_json(finished) if finished else None,
        "writer_exit_code": writer_exit,
        "writer_errors": writer.errors[-20:],
        "transport": run.transport,
        "receiver": moved,
        "conformance_ok": conformance_ok,
        "conformance": verdicts,
        "stream_traced_ok": stream_traced_ok,
        "stream_trace": stream_trace,
        # written images against the packets the receiver accepted, and every packet the fault
        # plan says a correct receiver places either accepted or dropped by the kernel
        "truth_ok": truth["accepted"]["ok"] and accounting["packets_unexplained_loss"] == 0,
        # written images against what the detector sent (false when the kernel dropped packets)
        "truth_sent_ok": truth["sent"]["ok"],
        "truth": truth,
        "bound_s": round(bound_s, 3),
        # the supervised part (writer, receiver, detector) ended after this; then the checks
        "chain_seconds": round(chain_seconds, 3),
        "bounds": dataclasses.asdict(bounds),
        "children": children,
        "pid_file": str(pid_file),
        "seconds": round(time.monotonic() - began, 3),
    }
    report["ok"] = (
        bool(finished) and conformance_ok and report["truth_ok"] and report["images_written"] > 0
    ) and stream_traced_ok is not False
    path = out_dir / f"{scenario.prefix}_report.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    report["report_path"] = str(path)
    return report


def _chain(scenario, out_dir, group: RunGroup, deadline: float, *, record_dir, progress):
    """Writer, detector and receiver of one run under ``group``; what each of them did."""
    experiment = build_experiment(scenario)
    run, detector = scenario.run, experiment.detector
    processor, plan, analyse = analysis_for(experiment)
    recorder = stream.DumpWriter(record_dir)
    send_mask = _frames_to_send(experiment)
    schedule = experiment.schedule
    frame, port, packet = (
        schedule.frame[send_mask],
        schedule.port[send_mask],
        schedule.packet[send_mask],
    )
    expected_packets = run.images * detector.packets_per_frame
    bar = _Progress(run.images, progress)
    bounds = group.bounds
    with Pusher(send_hwm=1000, send_timeout_ms=SEND_SLICE_MS) as pusher:
        writer = WriterChild(
            group,
            pusher.endpoint,
            out_dir,
            # a missing end is awaited the scenario's time, plus the gap one image may take on a
            # busy machine (the per-image allowance), so a slow image never ends the run early;
            # each declared image still missing adds the same allowance (a crawling processing
            # side is the supervisor's to judge, by the run's bound and stall limit)
            idle_timeout_s=scenario.writer.finalize_timeout_s + bounds.per_image_s,
            per_image_wait_s=bounds.per_image_s,
            # the writer waits for its first image as long as the whole run may take
            start_timeout_s=max(1.0, deadline - time.monotonic()),
            nice=run.processing_nice,
            extra=_writer_options(scenario),
        )
        try:
            writer.wait_for(WriterReady, bounds.margin_s, "starting the writer")
            group.progress(WRITER, messages_taken=0)  # its start-up is not a stall

            def deliver(data: bytes) -> None:
                # the writer first; the recording holds what it was sent
                send_supervised(pusher, data, group, deadline, "sending the stream to the writer")
                recorder.write(data)

            publisher = AnalysingPublisher(
                processor, experiment, deliver, start_fields(experiment, plan), analyse
            )
            publisher.send_end = scenario.writer.send_end and not run.abort_after_images
            moved = _transport(
                experiment, publisher, frame, port, packet, bar, expected_packets, group, deadline
            )
            published_at = time.monotonic()
            bar.update(run.images, len(publisher.results), 0, expected_packets, force=True)
            # the writer now finalises: no progress figures, its own waiting limit applies
            # (idle timeout plus the declared frames still missing), then the tail margin
            group.quiet(WRITER)
            finished = writer.wait_for(
                RunFinished,
                deadline - time.monotonic(),  # the run's bound holds for this phase too
                "waiting for the writer to finalise the run",
            )
            writer_lag_s = time.monotonic() - published_at
            group.finished(WRITER)
        finally:
            writer_exit = writer.stop()
    return moved, publisher, finished, writer, writer_exit, writer_lag_s, experiment


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _transport(
    experiment: Experiment,
    publisher: AnalysingPublisher,
    frame,
    port,
    packet,
    bar: _Progress,
    expected_packets: int,
    group: RunGroup,
    deadline: float,
) -> dict:
    """Move the packets to the receiver and publish every image; return what was moved: packets
    sent, seconds the detector took, assembler (and for UDP socket) statistics."""
    detector, headers = experiment.detector, experiment.headers
    assembler = Assembler(detector, WINDOW_FRAMES)
    publisher.start()
    lost = 0
    if experiment.scenario.run.transport == "direct":
        transport = DirectTransport(experiment.packetiser, assembler)
        started = time.monotonic()
        chunk = detector.packets_per_frame
        for lo in range(0, len(frame), chunk):
            frames = transport.deliver(
                frame[lo : lo + chunk], port[lo : lo + chunk], packet[lo : lo + chunk], headers
            )
            publisher.handle(frames, assembler)
            bar.update(
                int(frame[min(lo + chunk, len(frame)) - 1]) + 1,
                len(publisher.results),
                lost,
                expected_packets,
            )
            group.check(what="publishing the run (direct transport)")
            if time.monotonic() > deadline:
                raise group.deadline_error("publishing the run (direct transport)")
        seconds = time.monotonic() - started
        assembler.flush(int(headers.frame_number.max()))
        publisher.handle(assembler.pop_frames(), assembler)
        publisher.end(assembler.statistics().frames_lost)
        return {
            "packets_sent": len(frame),
            "seconds": seconds,
            "assembler": dataclasses.asdict(assembler.statistics()),
        }

    # UDP: the detector (sender) and the receiver's socket side (receive + assemble) run in
    # processes of their own, as they do in the field, so the conversion and analysis in this
    # process never keep the sockets from being drained.  Frames come back through a queue.
    context = multiprocessing.get_context("fork")
    # A queue, not a pipe: its feeder thread lets the receiver go back to its sockets at once.
    # Frames themselves stay in a shared pool: only slot numbers and headers are queued.
    frames_queue, returns = context.Queue(), context.Queue()
    pool = SharedFrames(detector, _handoff_slots(detector))
    control_in, control_out = context.Pipe(duplex=False)
    receiver_name = "jfsim-receiver"
    group.start(
        receiver_name,
        context.Process(
            target=_receive_process,
            name=receiver_name,
            daemon=True,
            args=(
                detector,
                int(headers.frame_number.max()),
                frames_queue,
                control_in,
                max(1.0, deadline - time.monotonic()),
                (pool.names, pool.slots, returns),
            ),
        ),
        # it exits 0 only after its statistics are in the queue (join_thread): a normal end
        ends_itself=True,
    )
    control_in.close()
    stats: dict = {}
    niced: int | None = None
    try:
        addresses = _get_supervised(
            frames_queue, group, group.bounds.margin_s, "waiting for the receiver to listen"
        )
        # One detector process per group of modules (run.sender_processes), started together.
        results = context.Queue()
        groups = module_groups(detector.n_modules, experiment.scenario.run.sender_processes)
        start_at = time.time() + 0.1 * len(groups)
        sender_names = [f"jfsim-detector-{k}" for k in range(len(groups))]
        for name, modules in zip(sender_names, groups, strict=True):
            # paced by the schedule; they report once, at their end: bounded by the deadline
            group.start(
                name,
                context.Process(
                    target=_send_process,
                    name=name,
                    daemon=True,
                    args=(experiment, modules, addresses, frame, port, packet, start_at, results),
                ),
                ends_itself=True,
                watch_stall=False,
            )
        # the socket processes are forked: from here this process (conversion, analysis,
        # publishing) yields the CPU to them, as a field receiver gives its packet path priority
        niced = _lower_priority(experiment.scenario.run.processing_nice)
        if niced is not None:
            stats["processing_nice"] = os.getpriority(os.PRIO_PROCESS, 0) - niced
        senders: list[dict] = []
        sender_done = False
        frames_in = 0
        checked_at = time.monotonic()
        while True:
            while not sender_done and not results.empty():
                senders.append(results.get())
                if len(senders) == len(sender_names):
                    stats["sender"] = _merge_senders(senders)
                    sender_done = True
                    control_out.send("sender finished")
            try:
                item = frames_queue.get(timeout=0.05)
            except queue.Empty:
                group.check(what="receiving the run")
                if time.monotonic() > deadline:
                    raise group.deadline_error(
                        "receiving the run", deadline - group.started
                    ) from None
                continue
            if isinstance(item, dict):  # the receiver's last word: its statistics
                stats.update(item)
                group.finished(receiver_name)
                break
            frames_in += len(item)
            group.progress(receiver_name, frames_handed_on=frames_in)
            if time.monotonic() - checked_at > CHECK_EVERY_S:  # a busy queue is no excuse
                checked_at = time.monotonic()
                group.check(what="receiving the run")
            for entry in item:
                if isinstance(entry, tuple):  # a frame in the shared pool
                    shared = pool.rebuild(entry)
                    publisher.handle([shared])
                    returns.put(shared.slot)
                else:  # a frame the receiver had to allocate (pool exhausted)
                    publisher.handle([entry])
            bar.update(len(publisher.results), len(publisher.results), 0, expected_packets)
        if "sender" not in stats:  # the receiver ended on its own deadline before the senders
            raise group.deadline_error("waiting for the detector's statistics")
        for name in [receiver_name, *sender_names]:  # all reported: each ends by itself now
            if group.wait(name, group.bounds.margin_s) is None:
                group.end_one(name)
    finally:  # on an error the run group ends every child
        if niced is not None:
            stats["processing_nice_restored"] = _restore_priority(niced)
        pool.close()
    publisher.end(stats["assembler"]["frames_lost"])
    sent = stats["sender"]
    return {"packets_sent": sent["packets_sent"], "seconds": sent["elapsed_s"], **stats}


def _get_supervised(source, group: RunGroup, timeout_s: float, what: str):
    """``source.get()`` within ``timeout_s``, checking the run's children meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return source.get(timeout=0.1)
        except queue.Empty:
            group.check(what=what)
            if time.monotonic() > deadline:
                raise group.deadline_error(what, timeout_s) from None


def _lower_priority(step: int) -> int | None:
    """Raise this process's niceness by ``step``; returns the niceness to restore (or ``None``)."""
    if step <= 0 or not hasattr(os, "getpriority"):
        return None
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, before + step))
    except OSError:
        return None
    return before


def _restore_priority(before: int | None) -> bool:
    """Back to the niceness before :func:`_lower_priority`; ``False`` where lowering it again
    needs a privilege this process lacks (it then stays niced, see docs/scenarios.md)."""
    if before is None:
        return True
    try:
        os.setpriority(os.PRIO_PROCESS, 0, before)
    except OSError:
        return False
    return True


def _send_process(
    experiment: Experiment, modules, addresses, frame, port, packet, start_at, results
) -> None:
    """The simulated detector (some of its modules): send, paced, then report statistics.

    A fault-free run sending every frame goes through the frame emitter (whole frames from the
    rendered pool, headers of the run's own header table); otherwise the schedule is sent."""
    if not has_packet_faults(experiment.scenario) and len(frame) == (
        experiment.n_images * experiment.detector.packets_per_frame
    ):
        results.put(_emit_modules(experiment, modules, addresses, start_at))
        return
    results.put(
        send_modules(experiment, modules, addresses, frame, port, packet, start_at_epoch_s=start_at)
    )


def _emit_modules(experiment: Experiment, modules, addresses, start_at: float) -> dict:
    headers = experiment.headers
    per = experiment.detector.model.ports_per_module
    ports = [m * per + p for m in modules for p in range(per)]

    def block(first: int, count: int) -> FrameHeaders:
        return FrameHeaders(
            *(getattr(headers, f.name)[first : first + count] for f in dataclasses.fields(headers))
        )

    delay = start_at - time.time()
    with FrameEmitter(
        experiment.packetiser, addresses, experiment.frame_time_s, ports=ports
    ) as emitter:
        stats = emitter.run(
            experiment.n_images, block, start_at=time.perf_counter() + max(delay, 0.0)
        )
    return {
        "packets_sent": stats.packets_sent,
        "bytes_sent": stats.bytes_sent,
        "send_errors": stats.send_errors,
        "deadlines_missed": stats.deadlines_missed,
        "frames_started": stats.frames_sent,
        "sndbuf_granted_bytes": stats.sndbuf_granted_bytes,
        "gso_segments": stats.gso_segments,
        # first frame start to last frame end, so that frames / elapsed is the frame rate
        "elapsed_s": stats.elapsed_s + experiment.frame_time_s,
    }


def _merge_senders(senders: list[dict]) -> dict:
    merged = {
        key: sum(s[key] for s in senders)
        for key in ("packets_sent", "bytes_sent", "send_errors", "deadlines_missed")
    }
    merged.update(
        processes=len(senders),
        elapsed_s=max(s["elapsed_s"] for s in senders),
        frames_started=max(s["frames_started"] for s in senders),
        sndbuf_granted_bytes=min(s["sndbuf_granted_bytes"] for s in senders),
        # datagrams one send carried (0: one per send, as the schedule sender always does)
        gso_segments=min(s.get("gso_segments", 0) for s in senders),
    )
    return merged


#: Frame buffers shared between the receiving and the processing process, in bytes at most.
HANDOFF_POOL_BYTES = 256 << 20
#: Receive buffer asked for, with SO_RCVBUFFORCE where permitted, in the run's receiver process.
RUN_RCVBUF_BYTES = 64 << 20


def _handoff_slots(detector) -> int:
    frame_bytes = detector.n_ports * detector.model.port_bytes
    return int(max(8, min(512, HANDOFF_POOL_BYTES // frame_bytes)))


def _receive_process(
    detector, last_frame_number: int, frames, control, timeout_s: float, handoff
) -> None:
    """The receiver's socket side: receive, assemble into the shared pool, hand frames on (slot
    numbers and headers; a frame allocated when the pool is exhausted goes whole); statistics
    last."""
    names, slots, returns = handoff
    pool = SharedFrames(detector, slots, names)
    assembler = Assembler(detector, WINDOW_FRAMES)
    for slot in range(slots):
        assembler.release(pool.frame(slot))

    def hand_on(ready) -> None:
        frames.put([SharedFrames.describe(f) if hasattr(f, "slot") else f for f in ready])

    def take_back() -> None:
        while True:
            try:
                slot = returns.get_nowait()
            except queue.Empty:
                return
            assembler.release(pool.frame(slot))

    with UdpReceiver(
        assembler, rcvbuf_request_bytes=RUN_RCVBUF_BYTES, rcvbuf_force=True
    ) as receiver:
        frames.put(receiver.addresses)
        deadline = time.monotonic() + timeout_s
        sender_finished = False
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            take_back()
            if receiver.poll(0.02):
                idle_since = time.monotonic()
                ready = assembler.pop_frames()
                if ready:
                    hand_on(ready)
                continue
            if not sender_finished and control.poll(0):
                control.recv()
                sender_finished = True
                idle_since = time.monotonic()
            if sender_finished and time.monotonic() - idle_since > 0.3:
                break
        assembler.flush(last_frame_number)
        hand_on(assembler.pop_frames())
        frames.put(
            {
                "receiver": dataclasses.asdict(receiver.statistics()),
                "assembler": dataclasses.asdict(assembler.statistics()),
            }
        )
    frames.close()
    frames.join_thread()
    pool.close()
