"""The stream round trip that ``jfsim run`` performs until the scenario runner lands.

Builds a small JUNGFRAU-module-sized run (start, images, end), pushes it over a real ZeroMQ
PUSH/PULL pair on 127.0.0.1, decodes every message on the receiving side and checks the pixels
against what was sent.  It exercises the whole wire contract of shared/spec/stream.md.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
from jfjoch_hil.stream import (
    EndMessage,
    ImageMessage,
    Puller,
    Pusher,
    Rational,
    StartMessage,
    TypedArray,
)

__all__ = ["RoundTripReport", "run_round_trip"]

_MODULE_SHAPE = (512, 1024)  # JUNGFRAU module, slow x fast (detectors.md)
_TICKS_PER_S = 10_000_000


@dataclass(frozen=True)
class RoundTripReport:
    """Outcome of :func:`run_round_trip`: counts, bytes, rate and whether every pixel matched."""

    images_sent: int
    images_received: int
    images_exact: int
    decode_errors: int
    bytes_sent: int
    seconds: float
    endpoint: str
    compression: str

    @property
    def ok(self) -> bool:
        """Every image arrived, decoded and matched pixel for pixel."""
        return (
            self.images_exact == self.images_sent == self.images_received and not self.decode_errors
        )

    def as_dict(self) -> dict:
        """The report as plain data (for JSON)."""
        return {
            **asdict(self),
            "ok": self.ok,
            "images_per_s": self.images_sent / max(self.seconds, 1e-9),
        }


def _frames(images: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    background = rng.poisson(0.3, _MODULE_SHAPE).astype(np.int32)
    frames = []
    for index in range(images):
        frame = background + rng.poisson(0.2, _MODULE_SHAPE).astype(np.int32)
        y, x = rng.integers(20, _MODULE_SHAPE[0] - 20), rng.integers(20, _MODULE_SHAPE[1] - 20)
        frame[y - 2 : y + 3, x - 2 : x + 3] += 50 + index  # one bright "spot" per image
        frames.append(frame)
    return frames


def run_round_trip(
    *, images: int = 20, seed: int = 1, compression: str = "bslz4", timeout_s: float = 10.0
) -> RoundTripReport:
    """Send ``images`` module-sized frames start -> images -> end over loopback and check them."""
    frames = _frames(images, seed)
    start = StartMessage(
        series_id=seed,
        series_unique_id=f"roundtrip-{seed}",
        arm_date=datetime.now(UTC),
        number_of_images=images,
        image_size_x=_MODULE_SHAPE[1],
        image_size_y=_MODULE_SHAPE[0],
        channels=["default"],
        image_dtype="int32",
        detector_type="JUNGFRAU",
        detector_description="simulated JUNGFRAU module",
        pixel_size_x=75e-6,
        pixel_size_y=75e-6,
        detector_distance=0.1,
        beam_center_x=512.0,
        beam_center_y=256.0,
        incident_energy=12400.0,
        incident_wavelength=12398.4 / 12400.0,
        count_time=0.0009,
        frame_time=0.001,
        saturation_value=2**31 - 2,
        error_value=-(2**31),
        file_prefix="roundtrip",
    )
    messages = [start]
    for index, frame in enumerate(frames):
        messages.append(
            ImageMessage(
                series_id=seed,
                series_unique_id=start.series_unique_id,
                image_id=index,
                real_time=Rational(9000, _TICKS_PER_S),
                start_time=Rational(index * 10_000, _TICKS_PER_S),
                stop_time=Rational(index * 10_000 + 9000, _TICKS_PER_S),
                data={"default": TypedArray.from_numpy(frame, compression=compression)},
                packets_expected=128,
                packets_received=128,
                data_collection_efficiency=1.0,
            )
        )
    messages.append(
        EndMessage(series_id=seed, series_unique_id=start.series_unique_id, images_collected=images)
    )

    began = time.perf_counter()
    with Pusher(send_timeout_ms=int(timeout_s * 1000)) as pusher, Puller(pusher.endpoint) as puller:
        errors: list[BaseException] = []

        def send_all() -> None:
            try:
                for message in messages:
                    pusher.send(message)
            except BaseException as error:  # reported below, never swallowed
                errors.append(error)

        sender = threading.Thread(target=send_all, name="roundtrip-sender", daemon=True)
        sender.start()
        received = exact = 0
        for item in puller.iter_received(max_messages=len(messages), idle_timeout_s=timeout_s):
            if isinstance(item.message, ImageMessage):
                received += 1
                pixels = item.message.data["default"].to_numpy()
                exact += bool(np.array_equal(pixels, frames[item.message.image_id]))
            if isinstance(item.message, EndMessage):
                break
        sender.join(timeout_s)
        if errors:
            raise errors[0]
        sent_bytes = pusher.statistics().bytes_sent
        decode_errors = puller.statistics().decode_errors
    return RoundTripReport(
        images_sent=images,
        images_received=received,
        images_exact=exact,
        decode_errors=decode_errors,
        bytes_sent=sent_bytes,
        seconds=time.perf_counter() - began,
        endpoint=pusher.endpoint,
        compression=compression,
    )
