"""The two halves of the chain on their own, for real equipment.

``jfsim detector``: the simulated detector sends a scenario's packets to any receiver (ours or a
real Jungfraujoch one) at the addresses given.  ``jfsim receiver``: our receiver listens on UDP
ports, assembles, converts, analyses and publishes the stream to any writer (ours or a real
``jfjoch_writer``).  Both build the same experiment from the same scenario and seed, so the
receiver's calibration is the one the detector used (a "loaded calibration").
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence

import jfjoch_hil.stream as stream
import numpy as np
from jfjoch_hil.harness._supervise import Bounds, RunGroup
from jfjoch_hil.harness.chain import build_experiment, has_packet_faults
from jfjoch_hil.harness.run import WINDOW_FRAMES, AnalysingPublisher, analysis_for, start_fields
from jfjoch_hil.harness.scenario import Scenario
from jfjoch_hil.harness.senders import (
    DETECTOR_MARGIN_S,
    EMITTER_POOL_BYTES,
    detector_bound_s,
    emit_frames,
    first_frame_numbered,
    max_frame_rate_hz,
    pool_experiment,
    pool_frames_for,
    send_modules,
)
from jfjoch_hil.simulator.receiver import Assembler, RingUdpReceiver, UdpReceiver

__all__ = [
    "EMITTER_POOL_BYTES",
    "READER",
    "ReceiverSession",
    "emit_frames",
    "max_frame_rate_hz",
    "pool_experiment",
    "pool_frames_for",
    "run_detector",
    "run_receiver",
]

#: Name of the reader processes of ``jfsim receiver --readers`` (``-0``, ``-1``, ...) in
#: supervision reports and pid files.
READER = "jfsim-reader"


def run_detector(
    scenario: Scenario,
    destinations: Sequence[tuple[str, int]],
    *,
    allow_remote: bool = False,
    start_at_epoch_s: float | None = None,
    first_frame_number: int = 1,
    pool_bytes: int = EMITTER_POOL_BYTES,
    margin_s: float = DETECTOR_MARGIN_S,
    gso: str = "auto",
) -> dict:
    """Send every scheduled packet of ``scenario`` (faults included) to ``destinations`` (one
    (host, port) per detector port, in port order); return the sender statistics.

    The run is bounded: from this call, it may take the scenario's images x its frame period
    plus ``margin_s`` (:func:`~jfjoch_hil.harness.senders.detector_bound_s`; the margin covers
    rendering the frames and a common start given by ``start_at_epoch_s``).  No frame is sent
    at or after that deadline, and the report then says ``stopped_by: deadline`` (else
    ``complete``), with ``bound_s`` and the frames and packets sent until then.

    ``first_frame_number`` is the frame number of the run's first frame: a real detector keeps
    counting across acquisitions unless reset (detectors.md 2.4).

    A run without packet faults goes through :class:`FrameEmitter`: a pool of at most
    ``pool_bytes`` of rendered frames, cycled, with headers made block by block, so memory does
    not grow with the run; its report has the achieved rate and the frame intervals, and
    ``gso_segments``, the datagrams per send with UDP segmentation offload (``gso``: auto, on,
    off; 0 when not used). A run with faults sends its whole planned schedule with
    :class:`UdpSender`.
    """
    began = time.time()
    if first_frame_number < 1:
        raise ValueError(f"--first-frame-number: {first_frame_number}; allowed >= 1")
    bound_s = detector_bound_s(scenario, margin_s)
    stop_at = began + bound_s
    if not has_packet_faults(scenario):
        experiment = pool_experiment(scenario, pool_bytes)
        if len(destinations) != experiment.detector.n_ports:
            raise ValueError(
                f"--to: {len(destinations)} destinations given; this detector has "
                f"{experiment.detector.n_ports} ports"
            )
        report = emit_frames(
            experiment,
            destinations,
            start_at=start_at_epoch_s,
            allow_remote=allow_remote,
            first_frame_number=first_frame_number,
            stop_at_epoch_s=stop_at,
            gso=gso,
        )
        return {"sender": "emitter", **_bounded(report, bound_s, margin_s)}
    experiment = first_frame_numbered(build_experiment(scenario), first_frame_number)
    n_ports = experiment.detector.n_ports
    if len(destinations) != n_ports:
        raise ValueError(
            f"--to: {len(destinations)} destinations given; this detector has {n_ports} ports"
        )
    s = experiment.schedule
    report = send_modules(
        experiment,
        range(experiment.detector.n_modules),
        destinations,
        s.frame,
        s.port,
        s.packet,
        start_at_epoch_s=start_at_epoch_s,
        allow_remote=allow_remote,
        stop_at_epoch_s=stop_at,
    )
    return {"sender": "schedule", **_bounded(report, bound_s, margin_s)}


def _bounded(report: dict, bound_s: float, margin_s: float) -> dict:
    """The sender's report with how it ended and the bound it had."""
    stopped = report.get("stopped_at_deadline", False)
    return {
        "stopped_by": "deadline" if stopped else "complete",
        "bound_s": bound_s,
        "margin_s": margin_s,
        **report,
    }


def run_receiver(
    scenario: Scenario,
    push_endpoint: str,
    *,
    bind: bool = False,
    udp_ports: Sequence[int] | None = None,
    analysis: bool = True,
    on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
    timeout_s: float | None = None,
    idle_timeout_s: float = 5.0,
    first_packet_timeout_s: float | None = None,
    first_frame_number: int | None = None,
    bounds: Bounds | None = None,
    readers: int = 0,
    pid_file: str | os.PathLike | None = None,
) -> dict:
    """Listen on the detector's UDP ports, publish start / images / end to ``push_endpoint``.

    ``readers`` >= 1 reads the sockets in that many reader processes, one per module group,
    feeding this process's frame builder through shared-memory rings (``RingUdpReceiver``);
    0 reads them in this process.  The reader processes are this run's supervised children
    (:class:`RunGroup`, listed in ``pid_file`` when given): they die with this process, and one
    that ends while the run needs it ends the run with a
    :class:`~jfjoch_hil.harness.errors.SupervisionError` naming it.

    Ends when every frame of the scenario arrived, after ``idle_timeout_s`` without a packet once
    packets came, after ``first_packet_timeout_s`` (None: no separate limit) when no packet came
    at all, or after ``timeout_s`` (default: the scenario's bound, :meth:`Bounds.run_s` of its
    images at its frame period).  Every send to the writer is bounded by the same deadline; a
    writer that takes nothing until then raises :class:`~jfjoch_hil.stream.TransportError` naming
    the endpoint.  Image ids count from ``first_frame_number`` (None: the first frame number
    seen, detectors.md 2.4: detectors keep counting across acquisitions).  Returns the receiver's
    statistics, with the frame numbers seen and why it stopped.  ``analysis`` runs the per-image
    analysis in this loop; turn it off for rate tests.
    """
    for name, value in (
        ("timeout", timeout_s),
        ("idle-timeout", idle_timeout_s),
        ("first-packet-timeout", first_packet_timeout_s),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"--{name}: {value}; allowed > 0 seconds")
    if readers < 0:
        raise ValueError(f"--readers: {readers}; allowed >= 0 (0: read in this process)")
    bounds = bounds or Bounds()
    if timeout_s is None:
        timeout_s = bounds.run_s(scenario.run.images, 1.0 / scenario.run.frame_rate_hz)
    started = time.monotonic()
    deadline = started + timeout_s
    experiment = build_experiment(scenario)
    detector = experiment.detector
    processor, plan, analyse = analysis_for(experiment)
    if not analysis:
        analyse = lambda image_id, image: {}  # noqa: E731
    assembler = Assembler(detector, WINDOW_FRAMES, first_frame_number=first_frame_number)
    reader_names: list[str] = []

    def start_reader(index: int, process) -> None:
        name = f"{READER}-{index}"
        # no packets before the detector starts: watched for its exit, not for progress
        group.start(name, process, watch_stall=False)
        reader_names.append(name)

    def check(what: str) -> None:
        if reader_names:
            for name, count in zip(reader_names, receiver.reader_datagrams(), strict=True):
                group.progress(name, datagrams=count)
        group.check(what=what)

    with (
        RunGroup(bounds, pid_file) as group,
        stream.Pusher(push_endpoint, bind=bind, send_timeout_ms=250) as pusher,
        (
            RingUdpReceiver(
                assembler,
                udp_ports,
                readers=readers,
                start_timeout_s=bounds.margin_s,
                start_process=start_reader,
            )
            if readers
            else UdpReceiver(assembler, udp_ports)
        ) as receiver,
    ):

        def send(data) -> None:
            while True:
                try:
                    pusher.send(data)
                    return
                except stream.TransportError:
                    check("sending to the writer")
                    if time.monotonic() > deadline:
                        raise stream.TransportError(
                            f"the writer at {pusher.endpoint} took no message within the run's "
                            f"bound of {timeout_s:.1f} s"
                        ) from None

        publisher = AnalysingPublisher(
            processor, experiment, send, start_fields(experiment, plan), analyse
        )
        publisher.start()
        if on_ready is not None:
            on_ready(receiver.addresses)
        expected = experiment.n_images * detector.packets_per_frame
        last = None
        got = 0
        stopped_by = "complete"
        beyond = 0
        while got < expected:
            now = time.monotonic()
            if now >= deadline:
                stopped_by = "timeout"
                break
            if last is None and first_packet_timeout_s is not None:
                if now - started >= first_packet_timeout_s:
                    stopped_by = "first_packet_timeout"
                    break
            check("receiving the run")
            n = receiver.poll(0.05)
            if n:
                got += n
                last = time.monotonic()
                _image_ids_from(processor, assembler)
                beyond += _publish_run_frames(publisher, assembler, experiment.n_images)
            elif last is not None and time.monotonic() - last > idle_timeout_s:
                stopped_by = "idle_timeout"
                break
        first = assembler.first_frame_number
        if first is not None:
            # the run's last frame number, counted from its first (frame jumps included)
            span = int(experiment.headers.frame_number.max() - experiment.headers.frame_number[0])
            assembler.flush(first + span)
        beyond += _publish_run_frames(publisher, assembler, experiment.n_images)
        publisher.end(assembler.statistics().frames_lost)
        stats = assembler.statistics()
        return {
            "endpoint": pusher.endpoint,
            "stopped_by": stopped_by,
            "frames_beyond_run": beyond,
            "frame_numbers": {
                "run_first": stats.first_frame_number,
                "first_seen": stats.frame_number_first_seen,
                "last_seen": stats.frame_number_last_seen,
                "count_seen": stats.frame_numbers_seen,
            },
            "images_published": len(publisher.results),
            "reader_processes": len(reader_names),
            "receiver": dataclasses.asdict(receiver.statistics()),
            "assembler": dataclasses.asdict(assembler.statistics()),
            "packets_expected": expected,
            "packets_received": int(assembler.statistics().packets_accepted),
        }


def _image_ids_from(processor, assembler: Assembler) -> None:
    """Image id 0 = the run's first frame number, once the assembler knows it."""
    first = assembler.first_frame_number
    if first is not None and processor.settings.first_frame_number != first:
        processor.settings = dataclasses.replace(processor.settings, first_frame_number=first)


def _publish_run_frames(publisher, assembler: Assembler, n_images: int) -> int:
    """Publish the closed frames of the run; frames past its last image (a detector that sends
    more than the run, as Jungfraujoch's extra frames, detectors.md 4.2) are counted, not
    published. Returns how many were past the end."""
    first = assembler.first_frame_number
    frames = assembler.pop_frames()
    if first is None:
        return 0
    keep = [f for f in frames if f.frame_number < first + n_images]
    for frame in frames:
        if frame.frame_number >= first + n_images:
            assembler.release(frame)
    publisher.handle(keep, assembler)
    return len(frames) - len(keep)


class ReceiverSession:
    """One life of a receiver process, driven through the direct transport (a receiver
    restarted mid-run).

    A first session publishes the start message; a restarted one (``resume_after_frame`` = the
    last frame number the previous session published) publishes no start, resumes at the next
    frame number, and its assembler reports every frame between that point and the first frame
    it sees as lost, so no image is shifted into a neighbour's place.
    """

    def __init__(
        self,
        experiment,
        send: Callable[[bytes], None],
        *,
        resume_after_frame: int = 0,
        analysis: bool = True,
    ) -> None:
        from jfjoch_hil.simulator.receiver import DirectTransport

        self.experiment = experiment
        processor, plan, analyse = analysis_for(experiment)
        if not analysis:
            analyse = lambda image_id, image: {}  # noqa: E731
        self.publisher = AnalysingPublisher(
            processor, experiment, send, start_fields(experiment, plan), analyse
        )
        self.assembler = Assembler(
            experiment.detector, WINDOW_FRAMES, first_frame_number=resume_after_frame + 1
        )
        self._transport = DirectTransport(experiment.packetiser, self.assembler)
        if resume_after_frame == 0:
            self.publisher.start()

    def deliver(self, frames: Sequence[int]) -> None:
        """Deliver every scheduled packet of run frames ``frames`` (indices), publishing what closes."""
        s = self.experiment.schedule
        mask = np.isin(s.frame, np.asarray(list(frames), dtype=np.int64))
        self.publisher.handle(
            self._transport.deliver(
                s.frame[mask], s.port[mask], s.packet[mask], self.experiment.headers
            ),
            self.assembler,
        )

    def finish(self, *, end: bool = True) -> dict:
        """Close the open frames, publish them and (``end``) the end message; return the counts."""
        self.assembler.flush(int(self.experiment.headers.frame_number.max()))
        self.publisher.handle(self.assembler.pop_frames(), self.assembler)
        if end:
            self.publisher.end(self.assembler.statistics().frames_lost)
        return dataclasses.asdict(self.assembler.statistics())
