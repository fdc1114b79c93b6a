"""The two halves of the chain on their own, for real equipment.

``jfsim detector``: the simulated detector sends a scenario's packets to any receiver (ours or a
real Jungfraujoch one) at the addresses given.  ``jfsim receiver``: our receiver listens on UDP
ports, assembles, converts, analyses and publishes the stream to any writer (ours or a real
``jfjoch_writer``).  Both build the same experiment from the same scenario and seed, so the
receiver's calibration is the one the detector used (a "loaded calibration").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import jfjoch_hil.stream as stream
import numpy as np
from jfjoch_hil.harness._supervise import Bounds
from jfjoch_hil.harness.chain import build_experiment
from jfjoch_hil.harness.run import WINDOW_FRAMES, _AnalysingPublisher, _analysis_for, _start_fields
from jfjoch_hil.harness.scenario import Scenario
from jfjoch_hil.harness.senders import send_modules
from jfjoch_hil.simulator.receiver import Assembler, UdpReceiver

__all__ = ["ReceiverSession", "run_detector", "run_receiver"]


def run_detector(
    scenario: Scenario,
    destinations: Sequence[tuple[str, int]],
    *,
    allow_remote: bool = False,
    start_at_epoch_s: float | None = None,
) -> dict:
    """Send every scheduled packet of ``scenario`` (faults included) to ``destinations`` (one
    (host, port) per detector port, in port order); return the sender statistics."""
    experiment = build_experiment(scenario)
    n_ports = experiment.detector.n_ports
    if len(destinations) != n_ports:
        raise ValueError(
            f"--to: {len(destinations)} destinations given; this detector has {n_ports} ports"
        )
    s = experiment.schedule
    return send_modules(
        experiment,
        range(experiment.detector.n_modules),
        destinations,
        s.frame,
        s.port,
        s.packet,
        start_at_epoch_s=start_at_epoch_s,
        allow_remote=allow_remote,
    )


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
    bounds: Bounds | None = None,
) -> dict:
    """Listen on the detector's UDP ports, publish start / images / end to ``push_endpoint``.

    Ends when every frame of the scenario arrived, after ``idle_timeout_s`` without a packet once
    packets came, or after ``timeout_s`` (default: the scenario's bound,
    :meth:`Bounds.run_s` of its images at its frame period).  Every send to the writer is
    bounded by the same deadline; a writer that takes nothing until then raises
    :class:`~jfjoch_hil.stream.TransportError` naming the endpoint.  Returns the receiver's
    statistics.  ``analysis`` runs the per-image analysis in this loop (about 35 ms per module
    image): fine for tens of Hz; turn it off for rate tests.
    """
    bounds = bounds or Bounds()
    if timeout_s is None:
        timeout_s = bounds.run_s(scenario.run.images, 1.0 / scenario.run.frame_rate_hz)
    deadline = time.monotonic() + timeout_s
    experiment = build_experiment(scenario)
    detector = experiment.detector
    processor, plan, analyse = _analysis_for(experiment)
    if not analysis:
        analyse = lambda image_id, image: {}  # noqa: E731
    assembler = Assembler(detector, WINDOW_FRAMES)
    with (
        stream.Pusher(push_endpoint, bind=bind, send_timeout_ms=250) as pusher,
        UdpReceiver(assembler, udp_ports) as receiver,
    ):

        def send(data) -> None:
            while True:
                try:
                    pusher.send(data)
                    return
                except stream.TransportError:
                    if time.monotonic() > deadline:
                        raise stream.TransportError(
                            f"the writer at {pusher.endpoint} took no message within the run's "
                            f"bound of {timeout_s:.1f} s"
                        ) from None

        publisher = _AnalysingPublisher(
            processor, experiment, send, _start_fields(experiment, plan), analyse
        )
        publisher.start()
        if on_ready is not None:
            on_ready(receiver.addresses)
        expected = experiment.n_images * detector.packets_per_frame
        last = None
        got = 0
        while got < expected and time.monotonic() < deadline:
            n = receiver.poll(0.05)
            if n:
                got += n
                last = time.monotonic()
                publisher.handle(assembler.pop_frames(), assembler)
            elif last is not None and time.monotonic() - last > idle_timeout_s:
                break
        assembler.flush(int(experiment.headers.frame_number.max()))
        publisher.handle(assembler.pop_frames(), assembler)
        publisher.end(assembler.statistics().frames_lost)
        return {
            "endpoint": pusher.endpoint,
            "images_published": len(publisher.results),
            "receiver": dataclasses.asdict(receiver.statistics()),
            "assembler": dataclasses.asdict(assembler.statistics()),
            "packets_expected": expected,
            "packets_received": int(assembler.statistics().packets_accepted),
        }


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
        processor, plan, analyse = _analysis_for(experiment)
        if not analysis:
            analyse = lambda image_id, image: {}  # noqa: E731
        self.publisher = _AnalysingPublisher(
            processor, experiment, send, _start_fields(experiment, plan), analyse
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
