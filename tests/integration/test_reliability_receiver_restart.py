"""A receiver restarted mid-run resumes at the next frame; the frames lost meanwhile are reported,
and no image is shifted into a neighbour's place ("Network faults ... receiver restarted")."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from jfjoch_hil.harness.chain import build_experiment
from jfjoch_hil.harness.scenario import load_scenario
from jfjoch_hil.harness.standalone import ReceiverSession
from jfjoch_hil.harness.truth import open_written_images
from jfjoch_hil.stream import Pusher

IMAGES = 12


def test_restarted_receiver_resumes_and_reports_the_lost_frames(tmp_path):
    scenario = load_scenario(
        None, [f"run.images={IMAGES}", "faults.loss_rate=0.0", "writer.images_per_file=4"]
    )
    experiment = build_experiment(scenario)
    with Pusher() as pusher:
        writer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jfjoch_hil.writer.cli",
                "--listen",
                pusher.endpoint,
                "--dir",
                str(tmp_path),
                "--max-runs",
                "1",
                "--idle-timeout",
                "10",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = ReceiverSession(experiment, pusher.send, analysis=False)
            first.deliver(range(0, 6))
            # The receiver dies: frames still open in it are lost with it (no flush, no end), and
            # frames 7 and 8 (indices 6, 7) arrive while it is down.
            published_first = first.assembler.statistics().frames_emitted
            second = ReceiverSession(
                experiment, pusher.send, resume_after_frame=published_first, analysis=False
            )
            second.deliver(range(8, IMAGES))
            counts = second.finish()
            lines = [json.loads(line) for line in writer.communicate(timeout=120)[0].splitlines()]
        finally:
            writer.kill()
    assert 0 < published_first < 6
    lost = list(range(published_first, 8))  # image indices: open at the crash, or sent while down
    assert [tuple(r) for r in counts["lost_frame_ranges"]] == [(published_first + 1, 8)]
    assert counts["frames_lost"] == len(lost)
    assert len(first.publisher.results) + len(second.publisher.results) == IMAGES - len(lost)
    run = next(line for line in lines if line.get("event") == "run")
    assert run["images_written"] == IMAGES - len(lost) and run["end_received"]
    stack: list = []
    try:
        image = open_written_images(tmp_path, scenario.prefix, stack)
        placed = np.ones(
            (experiment.detector.n_ports, experiment.detector.model.packets_per_port), bool
        )
        for index in (
            *range(0, published_first),
            *range(8, IMAGES),
        ):  # every image in its own place
            np.testing.assert_array_equal(image(index), experiment.expected_image(index, placed))
        for index in lost:  # the lost frames hold the fill value (the error value), not a neighbour
            assert (image(index) == -32768).all()
    finally:
        for handle in stack:
            handle.close()
