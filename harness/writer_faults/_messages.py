"""Small valid runs as encoded bytes, the raw material every fault starts from (stream.md 5, 8, 10.1).

A fault is an override of a valid run (STYLE.md "a fault is an override, not a second code
path"): :func:`small_run` builds the start, image and end messages of a short run and
:func:`encoded_run` the bytes on the wire, so a fault replaces, drops or reorders some of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from jfjoch_hil.stream import EndMessage, FileFormat, ImageMessage, StartMessage, TypedArray, encode

__all__ = ["IMAGE_SHAPE", "SmallRun", "encoded_run", "small_run"]

#: (y, x) of the images of a small run: big enough for a real chunk, small enough for speed.
IMAGE_SHAPE = (32, 48)


@dataclass
class SmallRun:
    """The messages of one short run and the pixels they carry."""

    start: StartMessage
    images: list[ImageMessage] = field(default_factory=list)
    end: EndMessage | None = None
    pixels: list[np.ndarray] = field(default_factory=list)

    def messages(self) -> list:
        """start, images..., end in send order."""
        return [self.start, *self.images, *([self.end] if self.end is not None else [])]


def small_run(
    prefix: str,
    n_images: int = 4,
    *,
    seed: int = 0,
    shape: tuple[int, int] = IMAGE_SHAPE,
    file_format: str = FileFormat.LEGACY.value,
    images_per_file: int = 2,
    noise_max: int = 1000,
    **start_overrides,
) -> SmallRun:
    """A valid run of ``n_images`` uint16 bslz4 images written under ``prefix`` (stream.md 5, 8, 10.1).

    ``seed`` fixes the pixels and the series ids; ``noise_max`` bounds the random pixels (65535 for
    images that do not compress); ``start_overrides`` replace start fields.
    """
    rng = np.random.default_rng(seed)
    series_unique_id = f"faultsuite-{seed:08d}-{prefix}"[:120]
    fields = dict(
        series_id=seed % 2**31,
        series_unique_id=series_unique_id,
        arm_date=datetime.now(UTC),
        number_of_images=n_images,
        image_size_x=shape[1],
        image_size_y=shape[0],
        channels=["default"],
        image_dtype="uint16",
        bit_depth_readout=16,
        bit_depth_image=16,
        detector_type="JUNGFRAU",
        detector_description="faultsuite JUNGFRAU",
        pixel_size_x=75e-6,
        pixel_size_y=75e-6,
        detector_distance=0.1,
        beam_center_x=shape[1] / 2,
        beam_center_y=shape[0] / 2,
        incident_energy=12400.0,
        incident_wavelength=12398.4 / 12400.0,
        count_time=0.0009,
        frame_time=0.001,
        saturation_value=60000,
        error_value=65535,
        file_prefix=prefix,
        file_format=file_format,
        images_per_file=images_per_file,
        sensor_material="Si",
        sensor_thickness=320e-6,
        source_name="Swiss Light Source",
        source_type="Synchrotron X-ray Source",
        instrument_name="faultsuite",
        sample_name="faultsuite sample",
        detector_serial_number="FS-1",
        pixel_mask={"default": TypedArray.from_numpy(np.zeros(shape, np.uint32))},
        pixel_mask_enabled=True,
        goniometer={"omega": {"start": 0.0, "increment": 0.1, "vector": [-1.0, 0.0, 0.0]}},
    )
    fields.update(start_overrides)
    run = SmallRun(start=StartMessage(**fields))
    for index in range(n_images):
        pixels = rng.integers(0, noise_max, shape, dtype=np.uint16)
        run.pixels.append(pixels)
        run.images.append(
            ImageMessage(
                series_id=fields["series_id"],
                series_unique_id=series_unique_id,
                image_id=index,
                data={"default": TypedArray.from_numpy(pixels, compression="bslz4")},
            )
        )
    run.end = EndMessage(
        series_id=fields["series_id"], series_unique_id=series_unique_id, images_collected=n_images
    )
    return run


def encoded_run(prefix: str, n_images: int = 4, **kwargs) -> list[bytes]:
    """The wire bytes of :func:`small_run` (start, images, end)."""
    return [encode(message) for message in small_run(prefix, n_images, **kwargs).messages()]
