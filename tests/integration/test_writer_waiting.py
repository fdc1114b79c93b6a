"""The writer's waiting limits follow the start message (stream.md 4 ``number_of_images``,
``frame_time``; docs/reliability.md "Writer waiting limits"), over real ZeroMQ on loopback.

Only lower bounds are asserted ("not finalised yet"), which load cannot break: a busy machine
makes the writer slower to finalise, never quicker.
"""

from __future__ import annotations

import threading
import time

import pytest
from jfjoch_hil.stream import Pusher
from jfjoch_hil.writer import WriterService

from tests.unit.writer.writer_messages import make_run

IDLE_S = 0.3


@pytest.fixture
def service(tmp_path, request):
    per_image_wait_s = getattr(request, "param", 0.0)
    svc = WriterService(
        "tcp://127.0.0.1:0",
        tmp_path / "out",
        bind=True,
        idle_timeout_s=IDLE_S,
        start_timeout_s=60.0,
        per_image_wait_s=per_image_wait_s,
        store="local",
    )
    thread = threading.Thread(target=svc.serve, kwargs={"max_seconds": 120}, daemon=True)
    thread.start()
    pusher = Pusher(svc.endpoint, bind=False, linger_ms=1000)
    try:
        yield svc, pusher
    finally:
        pusher.close()
        svc.stop()
        thread.join(30)
        svc.close()
        assert not thread.is_alive()


def wait_for(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_late_first_image_does_not_finalise_the_run_empty(service):
    """A first image later than many idle timeouts still lands in its run."""
    svc, pusher = service
    run = make_run(3, file_format="NXmxIntegrated", prefix="late")
    pusher.send(run.start)
    assert wait_for(lambda: svc.statistics().active_run == "late")
    time.sleep(10 * IDLE_S)  # ten idle timeouts with no image: the old fixed timeout fired here
    assert svc.statistics().runs_finished == 0
    for message in run.images:
        pusher.send(message)
    pusher.send(run.end)
    assert wait_for(lambda: len(svc.results) == 1)
    assert svc.results[0].images_written == 3 and svc.results[0].end_received


def test_waiting_limit_adds_the_declared_images_still_missing(service):
    """Two of four images at a declared 2 s frame time: the run waits for the other two."""
    svc, pusher = service
    run = make_run(4, file_format="NXmxIntegrated", prefix="slow", frame_time=2.0)
    pusher.send(run.start)
    assert svc.waiting_limit_s() == svc.start_timeout_s or wait_for(
        lambda: svc.statistics().active_run == "slow"
    )
    for message in run.images[:2]:
        pusher.send(message)
    assert wait_for(lambda: svc._images_seen == 2)
    assert svc.waiting_limit_s() == pytest.approx(IDLE_S + 2 * 2.0)
    time.sleep(3 * IDLE_S)  # past the idle timeout, inside the declared frames' time
    assert svc.statistics().runs_finished == 0
    # nothing more comes: finalised without end, with what it has, once the limit passed
    assert wait_for(lambda: len(svc.results) == 1)
    assert svc.results[0].images_written == 2 and not svc.results[0].end_received


@pytest.mark.parametrize("service", [1.0], indirect=True)
def test_each_missing_image_adds_the_per_image_allowance(service):
    """A sender that processes every image slowly (jfsim run on a busy machine): with a 1 s
    allowance per image, one of four images seen and a declared frame time of 0, a gap of many
    idle timeouts does not end the run; once the last image came, only the idle timeout is left."""
    svc, pusher = service
    run = make_run(4, file_format="NXmxIntegrated", prefix="busy", frame_time=0.0)
    pusher.send(run.start)
    pusher.send(run.images[0])
    assert wait_for(lambda: svc._images_seen == 1)
    assert svc.waiting_limit_s() == pytest.approx(IDLE_S + 3 * 1.0)
    time.sleep(5 * IDLE_S)  # 1.5 s: five idle timeouts, inside the three images' allowance
    assert svc.statistics().runs_finished == 0
    for message in run.images[1:]:
        pusher.send(message)
    assert wait_for(lambda: svc._images_seen == 4)
    assert svc.waiting_limit_s() == pytest.approx(IDLE_S)  # nothing declared is missing
    assert wait_for(lambda: len(svc.results) == 1)  # no end: finalised with all four
    assert svc.results[0].images_written == 4 and not svc.results[0].end_received


def test_a_per_image_allowance_outside_its_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="per_image_wait_s -1"):
        WriterService("tcp://127.0.0.1:0", tmp_path, bind=True, per_image_wait_s=-1, store="local")


def test_non_positive_limits_are_refused(tmp_path):
    with pytest.raises(ValueError, match="start_timeout_s"):
        WriterService("tcp://127.0.0.1:0", tmp_path, bind=True, start_timeout_s=0, store="local")


def test_jfwriter_refuses_a_non_positive_start_timeout(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jfjoch_hil.writer.cli",
            "--listen",
            "tcp://127.0.0.1:0",
            "--bind",
            "--dir",
            str(tmp_path),
            "--start-timeout",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "start_timeout_s 0" in done.stderr
