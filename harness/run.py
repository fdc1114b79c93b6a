"""``jfsim run``: the whole chain for one scenario (issue 7).

detector (UDP or direct) -> receiver (assembly, conversion, analysis) -> stream (ZeroMQ PUSH)
-> ``jfwriter`` (its own process) -> files -> ``jfcheck`` (its own process) -> report.

The simulator talks to the writer only over ZeroMQ and to the checker only through its command
line, as the architecture demands (simulator imports only ``stream`` of ours).
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import jfjoch_hil.stream as stream
import numpy as np
import numpy.ma  # noqa: F401  (else the assembler's first push imports it mid-burst, ~80 ms of no reading)
from jfjoch_hil.harness.chain import Experiment, build_experiment
from jfjoch_hil.harness.scenario import Scenario, scenario_to_dict
from jfjoch_hil.harness.senders import module_groups, send_modules
from jfjoch_hil.harness.truth import compare_with_truth
from jfjoch_hil.simulator.analysis import (
    analyse_image,
    plan_for,
    settings_from_scenario,
    start_message_fields,
    summarise_run,
)
from jfjoch_hil.simulator.detector import DET_TYPE_JUNGFRAU
from jfjoch_hil.simulator.receiver import Assembler, DirectTransport, UdpReceiver
from jfjoch_hil.simulator.receiver._publish import FrameProcessor, ReceiverSettings, RunPublisher
from jfjoch_hil.simulator.scenes import GridScan
from jfjoch_hil.stream import (
    EndMessage,
    EventError,
    FileFormat,
    ImageMessage,
    Message,
    Pusher,
    RunFinished,
    StartMessage,
    StreamProfile,
    WriterEvent,
    WriterReady,
    apply_profile,
    event_json,
    parse_event,
)

__all__ = ["run_scenario"]
_E = TypeVar("_E", WriterReady, RunFinished)

WINDOW_FRAMES = 2


class _AnalysingPublisher(RunPublisher):
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
        self._start_fields = start_fields
        self._analyse = analyse
        self._experiment = experiment
        self._analysis: dict = {}
        self.results: list[dict] = []
        self.send_end = True

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
            message = dataclasses.replace(message, **self._start_fields)
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


def _start_fields(experiment: Experiment, plan) -> dict:
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


class _Writer:
    """``jfwriter`` as its own process, connected to our PUSH endpoint; its JSON lines read."""

    def __init__(
        self,
        endpoint: str,
        out_dir: Path,
        idle_timeout_s: float,
        nice: int = 0,
        extra: tuple[str, ...] = (),
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "jfjoch_hil.writer.cli",
            "--listen",
            endpoint,
            "--dir",
            str(out_dir),
            "--idle-timeout",
            str(idle_timeout_s),
            "--max-runs",
            "1",
            "--nice",
            str(nice),
            *extra,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(
            target=self._read, args=(self.process.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._read, args=(self.process.stderr, self.errors.append), daemon=True
        ).start()

    @staticmethod
    def _read(pipe, put) -> None:
        for line in pipe:
            put(line.rstrip("\n"))

    def wait_for(self, kind: type[_E], timeout_s: float) -> _E | None:
        """The next event record of ``kind`` (stream.writer_events) within ``timeout_s``, else
        ``None``; a malformed event line is kept in :attr:`errors`."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    return None
                continue
            try:
                record: WriterEvent | None = parse_event(line)
            except EventError as error:
                self.errors.append(f"bad writer event line: {error}")
                continue
            if isinstance(record, kind):
                return record
        return None

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _conformance(files: list[Path]) -> tuple[bool, list[dict]]:
    verdicts = []
    for path in files:
        done = subprocess.run(
            [sys.executable, "-m", "jfjoch_hil.conformance.cli", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            report = {"ok": False, "violations": [{"message": done.stderr.strip()[-500:]}]}
        verdicts.append(
            {
                "file": path.name,
                "exit_code": done.returncode,
                "errors": [
                    v for v in report.get("violations", []) if v.get("severity") != "warning"
                ][:20],
            }
        )
    return bool(files) and all(v["exit_code"] == 0 for v in verdicts), verdicts


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


def _analysis_for(experiment: Experiment):
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
    timeout_s: float = 600.0,
) -> dict:
    """Run ``scenario`` end to end; write ``<out>/<prefix>_report.json`` and return the report.

    With ``detector.storage_cells_per_run`` the scenario is run once per entry (prefixes
    ``<prefix>_run1``, ``<prefix>_run2``, ...) and the report holds every run under ``runs``.
    """
    cells_per_run = scenario.detector.storage_cells_per_run
    if not cells_per_run:
        return _run_once(
            scenario, out_dir, record_dir=record_dir, progress=progress, timeout_s=timeout_s
        )
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
            _run_once(single, out_dir, record_dir=record, progress=progress, timeout_s=timeout_s)
        )
    summed = (
        "images_sent",
        "images_written",
        "packets_expected",
        "packets_sent",
        "packets_injected_lost",
        "packets_received",
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
        truth_ok=all(r["truth_ok"] for r in reports),
        truth={"images_compared": sum(r["truth"].get("images_compared", 0) for r in reports)},
        ok=all(r["ok"] for r in reports),
    )
    path = Path(out_dir) / f"{scenario.prefix}_report.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    report["report_path"] = str(path)
    return report


def _run_once(
    scenario: Scenario,
    out_dir: str | os.PathLike,
    *,
    record_dir: str | os.PathLike | None,
    progress: bool,
    timeout_s: float,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    experiment = build_experiment(scenario)
    run, detector = scenario.run, experiment.detector
    processor, plan, analyse = _analysis_for(experiment)
    recorder = stream.DumpWriter(record_dir) if record_dir is not None else None
    send_mask = _frames_to_send(experiment)
    schedule = experiment.schedule
    frame, port, packet = (
        schedule.frame[send_mask],
        schedule.port[send_mask],
        schedule.packet[send_mask],
    )
    expected_packets = run.images * detector.packets_per_frame
    bar = _Progress(run.images, progress)

    with Pusher(send_hwm=1000, send_timeout_ms=int(timeout_s * 1000)) as pusher:
        writer = _Writer(
            pusher.endpoint,
            out_dir,
            scenario.writer.finalize_timeout_s,
            run.processing_nice,
            _writer_options(scenario),
        )
        try:
            ready = writer.wait_for(WriterReady, 60.0)
            if ready is None:
                raise RuntimeError("jfwriter did not start: " + " | ".join(writer.errors[-5:]))

            def deliver(data: bytes) -> None:
                if recorder is not None:
                    recorder.write(data)
                pusher.send(data)

            publisher = _AnalysingPublisher(
                processor, experiment, deliver, _start_fields(experiment, plan), analyse
            )
            publisher.send_end = scenario.writer.send_end and not run.abort_after_images
            moved = _transport(
                experiment, publisher, frame, port, packet, bar, expected_packets, timeout_s
            )
            published_at = time.monotonic()
            bar.update(run.images, len(publisher.results), 0, expected_packets, force=True)
            finished = writer.wait_for(RunFinished, scenario.writer.finalize_timeout_s + 60.0)
            writer_lag_s = time.monotonic() - published_at
        finally:
            writer_exit = writer.stop()
    files = sorted(out_dir.glob(f"{scenario.prefix}_*.h5"))
    master = out_dir / f"{scenario.prefix}_master.h5"
    checked = [master] if master.exists() else files
    conformance_ok, verdicts = _conformance(checked)
    placed = schedule.truth.expected_received(WINDOW_FRAMES)
    sent_frames = np.unique(frame)
    truth = compare_with_truth(experiment, out_dir, placed, sent_frames)
    fates = schedule.truth.fate
    packets_received = moved["assembler"]["packets_accepted"]
    packets_placed_truth = int(placed[sent_frames].sum())
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
        "packets_received": packets_received,
        "packets_unexplained_loss": packets_placed_truth - packets_received,
        # datagrams the kernel dropped because the receiver did not read in time (UDP only)
        "packets_kernel_drops": sum(
            (moved.get("receiver") or {}).get("kernel_drops_per_port") or ()
        ),
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
        "truth_ok": truth["ok"],
        "truth": truth,
        "seconds": round(time.monotonic() - began, 3),
    }
    report["ok"] = (
        bool(finished) and conformance_ok and truth["ok"] and report["images_written"] > 0
    )
    path = out_dir / f"{scenario.prefix}_report.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    report["report_path"] = str(path)
    return report


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _transport(
    experiment: Experiment,
    publisher: _AnalysingPublisher,
    frame,
    port,
    packet,
    bar: _Progress,
    expected_packets: int,
    timeout_s: float,
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
    # process never keep the sockets from being drained.  Frames come back through a pipe.
    context = multiprocessing.get_context("fork")
    # A queue, not a pipe: its feeder thread lets the receiver go back to its sockets at once.
    frames_queue = context.Queue()
    control_in, control_out = context.Pipe(duplex=False)
    receiving = context.Process(
        target=_receive_process,
        name="jfsim-receiver",
        daemon=True,
        args=(detector, int(headers.frame_number.max()), frames_queue, control_in, timeout_s),
    )
    receiving.start()
    control_in.close()
    stats: dict = {}
    sending: list | None = None
    niced: int | None = None
    deadline = time.monotonic() + timeout_s
    try:
        try:
            addresses = frames_queue.get(timeout=60.0)
        except queue.Empty:
            raise RuntimeError("the receiver process did not start listening") from None
        # One detector process per group of modules (run.sender_processes), started together.
        results = context.Queue()
        groups = module_groups(detector.n_modules, experiment.scenario.run.sender_processes)
        start_at = time.time() + 0.1 * len(groups)
        sending = [
            context.Process(
                target=_send_process,
                name=f"jfsim-detector-{k}",
                daemon=True,
                args=(experiment, group, addresses, frame, port, packet, start_at, results),
            )
            for k, group in enumerate(groups)
        ]
        for process in sending:
            process.start()
        # the socket processes are forked: from here this process (conversion, analysis,
        # publishing) yields the CPU to them, as a field receiver gives its packet path priority
        niced = _lower_priority(experiment.scenario.run.processing_nice)
        if niced is not None:
            stats["processing_nice"] = os.getpriority(os.PRIO_PROCESS, 0) - niced
        senders: list[dict] = []
        sender_done = False
        while time.monotonic() < deadline:
            while not sender_done and not results.empty():
                senders.append(results.get())
                if len(senders) == len(sending):
                    stats["sender"] = _merge_senders(senders)
                    sender_done = True
                    control_out.send("sender finished")
            try:
                item = frames_queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, dict):  # the receiver's last word: its statistics
                stats.update(item)
                break
            publisher.handle(item)
            bar.update(len(publisher.results), len(publisher.results), 0, expected_packets)
        else:
            raise RuntimeError(f"UDP run did not finish within {timeout_s} s")
    finally:
        for process in [*(sending or ()), receiving]:
            if process is not None:
                process.join(10.0)
                if process.is_alive():
                    process.kill()
        if niced is not None:
            stats["processing_nice_restored"] = _restore_priority(niced)
    publisher.end(stats["assembler"]["frames_lost"])
    sent = stats["sender"]
    return {"packets_sent": sent["packets_sent"], "seconds": sent["elapsed_s"], **stats}


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
    """The simulated detector (some of its modules): send, paced, then report statistics."""
    results.put(
        send_modules(experiment, modules, addresses, frame, port, packet, start_at_epoch_s=start_at)
    )


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
    )
    return merged


def _receive_process(detector, last_frame_number: int, frames, control, timeout_s: float) -> None:
    """The receiver's socket side: receive, assemble, hand frames on; statistics last."""
    assembler = Assembler(detector, WINDOW_FRAMES)
    with UdpReceiver(assembler) as receiver:
        frames.put(receiver.addresses)
        deadline = time.monotonic() + timeout_s
        sender_finished = False
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            if receiver.poll(0.02):
                idle_since = time.monotonic()
                ready = assembler.pop_frames()
                if ready:
                    frames.put(ready)
                continue
            if not sender_finished and control.poll(0):
                control.recv()
                sender_finished = True
                idle_since = time.monotonic()
            if sender_finished and time.monotonic() - idle_since > 0.3:
                break
        assembler.flush(last_frame_number)
        frames.put(assembler.pop_frames())
        frames.put(
            {
                "receiver": dataclasses.asdict(receiver.statistics()),
                "assembler": dataclasses.asdict(assembler.statistics()),
            }
        )
    frames.close()
    frames.join_thread()
