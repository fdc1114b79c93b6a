"""The ``jfsim receiver`` logic: assembled frames -> converted, geometry-corrected images ->
start / calibration / image / end messages on the stream (detectors.md §4, §5; stream.md 5-10).

The seam between hardware and stream is :class:`ImageResult` (pixels plus per-image metadata);
:class:`RunPublisher` turns results into messages and hands them to any ``send`` callable
(a :class:`stream.Pusher`'s ``send`` in production, a list's ``append`` in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from jfjoch_hil.simulator.detector._calibration import ERROR_VALUE, Calibration
from jfjoch_hil.simulator.detector._catalogue import Detector
from jfjoch_hil.simulator.detector._geometry import assemble_image, gap_mask
from jfjoch_hil.simulator.detector._header import DET_TYPE_JUNGFRAU, det_info_get
from jfjoch_hil.simulator.detector._packetiser import FrameHeaders, Packetiser
from jfjoch_hil.simulator.detector._timing import StorageCells
from jfjoch_hil.simulator.errors import CalibrationError
from jfjoch_hil.simulator.receiver._assembler import AssembledFrame, Assembler
from jfjoch_hil.simulator.receiver._direct import DirectTransport
from jfjoch_hil.simulator.receiver._pump import pump
from jfjoch_hil.simulator.receiver._sockets import UdpReceiver
from jfjoch_hil.simulator.receiver.conversion import Converter
from jfjoch_hil.stream import (
    MAGIC_NUMBER,
    CalibrationMessage,
    EndMessage,
    ImageMessage,
    Message,
    Rational,
    StartMessage,
    StreamProfile,
    TypedArray,
    apply_profile,
)

#: Time base of the image timing fields (stream.md §8.1 Rationals): the detectors' 10 MHz clock
#: (detectors.md: exposure and timestamps count 100 ns ticks).
TICKS_PER_S = 10_000_000

__all__ = [
    "ReceiverSettings",
    "ImageResult",
    "FrameProcessor",
    "RunPublisher",
    "RunSummary",
    "receive_udp",
    "run_direct",
]


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver does with a run (detectors.md §4.4, §5.2).

    ``cell_source`` "header" reads the storage cell from ``det_spec3`` bits 11-8 (§2.7);
    "frame_number" uses Jungfraujoch's ``(frameNumber - 1) mod N``.
    """

    n_frames: int
    photon_energy_kev: float = 12.4
    convert: bool = True
    geometry: bool = True
    mirror_y: bool = True
    compression: str | None = "bslz4"
    window_frames: int = 2
    first_frame_number: int = 1
    storage_cells: StorageCells = field(default_factory=StorageCells)
    cell_source: str = "header"
    frame_time_s: float = 1e-3
    count_time_s: float = 0.98e-3
    series_id: int = 1
    series_unique_id: str = "jfsim-1"
    profile: str = StreamProfile.JUNGFRAUJOCH.value

    def __post_init__(self) -> None:
        if self.cell_source not in ("header", "frame_number"):
            raise CalibrationError(
                f"cell_source: {self.cell_source!r}; allowed 'header', 'frame_number'"
            )


@dataclass(frozen=True)
class ImageResult:
    """One image ready to publish: pixels and the per-image fields of stream.md 9 / hdf5 §4.7."""

    image_id: int
    frame_number: int
    image: np.ndarray
    packets_expected: int
    packets_received: int
    packets_received_per_module: tuple[int, ...]
    storage_cell: int
    xfel_pulse_id: int
    xfel_event_code: int
    timestamp: int
    exposure_time_s: float
    det_info: int

    @property
    def data_collection_efficiency(self) -> float:
        """received / expected packets (detectors.md §4.2)."""
        return self.packets_received / self.packets_expected


class FrameProcessor:
    """Assembled frame -> :class:`ImageResult`: decode, convert (JUNGFRAU), place modules."""

    def __init__(
        self, detector: Detector, settings: ReceiverSettings, calibration: Calibration | None = None
    ) -> None:
        self.detector = detector
        self.settings = settings
        self.calibration = calibration
        self._jungfrau = detector.model.det_type == DET_TYPE_JUNGFRAU
        self._converter = None
        if self._jungfrau and settings.convert:
            if calibration is None:
                raise CalibrationError("calibration: required for JUNGFRAU conversion (§4.3)")
            if calibration.n_modules != detector.n_modules:
                raise CalibrationError(
                    f"calibration.n_modules: {calibration.n_modules}; need {detector.n_modules}"
                )
            self._converter = Converter(calibration, settings.photon_energy_kev)
        self._raw = np.empty((detector.n_modules, 512, 1024), dtype=detector.model.pixel_dtype)

    def image_dtype(self) -> np.dtype:
        """Pixel type of published images: int16 photons when converting, else the raw type."""
        return (
            np.dtype(np.int16) if self._converter is not None else self.detector.model.pixel_dtype
        )

    def storage_positions(self, frame: AssembledFrame) -> np.ndarray:
        """Calibration index (burst position) per module (§2.7)."""
        cells = self.settings.storage_cells
        if self.settings.cell_source == "frame_number":
            position = (frame.frame_number - 1) % cells.n_cells
            return np.full(self.detector.n_modules, position)
        header = det_info_get(frame.det_spec3, "storage_cell")
        # A module with no packet has no header: use the frame-number rule for it.
        fallback = (frame.frame_number - self.settings.first_frame_number) % cells.n_cells
        return np.where(frame.module_seen, cells.burst_position(header) % cells.n_cells, fallback)

    def process(self, frame: AssembledFrame) -> ImageResult:
        """Convert one assembled frame (missing pixels -> the error value, §4.4)."""
        model = self.detector.model
        per_module = model.ports_per_module
        missing = ~frame.received
        # Missing packets are known exactly: zero their raw words (plain G0, so the converter's
        # sparse path never sees them) and write the error value into their rows afterwards.
        # Otherwise a lossy frame full of 0xFFFF words would cost the converter ~10x more.
        blank = self._converter is not None and model._contiguous_rows() and bool(missing.any())
        if blank:
            frame.port_bytes.reshape(missing.shape + (-1,))[missing] = 0
        ports = frame.port_bytes.reshape(self.detector.n_modules, per_module, -1)
        positions = self.storage_positions(frame)
        if self._converter is not None:
            modules = self._converter.convert(model.decode(ports), positions)
            if blank:
                modules.reshape(missing.shape + (-1,))[missing] = ERROR_VALUE
        else:
            modules = model.decode(ports, out=self._raw)
        if self.settings.geometry:
            low, high = (-32764, 32763) if self._converter is not None else (-1, model.error_value)
            image = assemble_image(
                modules,
                self.detector.modules_per_row,
                self.detector.gap_x_px,
                self.detector.gap_y_px,
                self.settings.mirror_y,
                divide=self._converter is not None,
                low=low,
                high=high,
            )
        elif self._converter is not None:
            image = modules.reshape(-1, 1024)  # freshly allocated by the converter
        else:
            image = modules.reshape(-1, 1024).copy()
        first = int(np.argmax(frame.module_seen))
        received = frame.received.reshape(self.detector.n_modules, -1).sum(axis=1)
        spec3 = frame.det_spec3[first]
        if self._jungfrau:  # DAQ info (detectors.md 2.5); measured exposure in expLength (2.4)
            cell, code = det_info_get(spec3, "storage_cell"), det_info_get(spec3, "event_code")
            exposure_s = int(frame.exp_length[first]) * 1e-7
        else:  # EIGER: detSpec3 is a constant, expLength a sub-frame number (3.4)
            cell, code, exposure_s = 0, 0, self.settings.count_time_s
        return ImageResult(
            image_id=frame.frame_number - self.settings.first_frame_number,
            frame_number=frame.frame_number,
            image=image,
            packets_expected=frame.packets_expected,
            packets_received=frame.packets_received,
            packets_received_per_module=tuple(int(v) for v in received),
            storage_cell=int(cell),
            xfel_pulse_id=int(frame.det_spec1[first]),
            xfel_event_code=int(code),
            timestamp=int(frame.timestamp[first]),
            exposure_time_s=exposure_s,
            det_info=int(spec3),
        )

    def pixel_mask(self) -> np.ndarray:
        """NXmx pixel mask of the published image: bit 0 in module gaps (§4.5)."""
        d = self.detector
        if not self.settings.geometry:
            return np.zeros((d.n_modules * 512, 1024), dtype=np.uint32)
        mask = gap_mask(d.n_modules, d.modules_per_row, d.gap_x_px, d.gap_y_px)
        return mask if self.settings.mirror_y else mask[::-1].copy()


@dataclass(frozen=True)
class RunSummary:
    """Totals of a published run (stream.md 10 end message, detectors.md §4.2 efficiency)."""

    images_sent: int
    packets_expected: int
    packets_received: int
    frames_lost: int

    @property
    def data_collection_efficiency(self) -> float:
        """received / expected, 1.0 when nothing was expected (§4.2)."""
        return 1.0 if self.packets_expected == 0 else self.packets_received / self.packets_expected


class RunPublisher:
    """Sends start, calibration, image and end messages for one run through ``send``."""

    def __init__(self, processor: FrameProcessor, send: Callable[[Message], None]) -> None:
        self.processor = processor
        self._send_message = send
        self._images = 0
        self._received = 0
        self.series_date = datetime.now(UTC)

    def send(self, message: Message) -> None:
        """Hand ``message`` on as the run's stream profile sends it (not at all, if it does not)."""
        shaped = apply_profile(message, self.processor.settings.profile)
        if shaped is not None:
            self._send_message(shaped)

    def _dectris_only(self, mask: np.ndarray) -> dict:
        """Start fields only DECTRIS sends (stream.md 5.1): no count-rate correction (identity
        table), a flatfield of ones, and a goniometer at rest; Jungfraujoch sends none of them."""
        top = int(np.iinfo(self.processor.image_dtype()).max)
        return {
            "countrate_correction_lookup_table": TypedArray.from_numpy(
                np.arange(min(top, 0xFFFF) + 1, dtype=np.uint32), multidim=False
            ),
            "flatfield": {
                "default": TypedArray.from_numpy(
                    np.ones(mask.shape, np.float32), compression="bslz4"
                )
            },
            "goniometer": {"omega": {"start": 0.0, "increment": 0.0}},
            "user_data": {},
        }

    def start(self, with_calibration: bool = True) -> None:
        """Start message (geometry, mask, settings), then one calibration message per pedestal
        (name ``pedestal_g{gain}_sc{cell}``, every module's rows stacked)."""
        p = self.processor
        s, d = p.settings, p.detector
        mask = p.pixel_mask()
        jungfrau = p._jungfrau
        self.series_date = datetime.now(UTC)
        dectris = s.profile == StreamProfile.DECTRIS
        self.send(
            StartMessage(
                **(self._dectris_only(mask) if dectris else {}),
                arm_date=self.series_date,
                magic_number=MAGIC_NUMBER,
                countrate_correction_enabled=False,
                flatfield_enabled=False,
                virtual_pixel_interpolation_enabled=False,
                # a photon is counted above half its energy (JUNGFRAU conversion rounds at 0.5)
                threshold_energy={"default": s.photon_energy_kev * 500.0},
                detector_translation=[0.0, 0.0, 0.0],
                series_id=s.series_id,
                series_unique_id=s.series_unique_id,
                number_of_images=s.n_frames,
                image_size_x=int(mask.shape[1]),
                image_size_y=int(mask.shape[0]),
                image_dtype=p.image_dtype().name,
                detector_type="JUNGFRAU" if jungfrau else "EIGER",
                detector_description=f"{d.name} ({d.model.name}) simulated",
                pixel_mask={"default": TypedArray.from_numpy(mask)},
                pixel_mask_enabled=True,
                channels=["default"],
                count_time=s.count_time_s,
                frame_time=s.frame_time_s,
                incident_energy=s.photon_energy_kev * 1000.0,
                incident_wavelength=12.398419843320026 / s.photon_energy_kev,
                pixel_size_x=75e-6,
                pixel_size_y=75e-6,
                bit_depth_readout=d.model.bits_per_pixel,
                bit_depth_image=p.image_dtype().itemsize * 8,
                storage_cell_number=s.storage_cells.n_cells,
                jungfrau_conversion_enabled=p._converter is not None,
                jungfrau_conversion_factor=s.photon_energy_kev * 1000.0,
                geometry_transformation_enabled=s.geometry,
            )
        )
        if with_calibration and p.calibration is not None and not dectris:
            # one image per name: the modules stacked along the slow axis in module order, so a
            # name never repeats within a run (the file keeps one dataset per name, stream.md
            # §10.2, hdf5-format.md §4.9)
            cal = p.calibration
            for cell in range(cal.n_cells):
                for gain in range(3):
                    stacked = cal.pedestal_adu[cell, :, gain].reshape(
                        -1, cal.pedestal_adu.shape[-1]
                    )
                    self.send(
                        CalibrationMessage(
                            series_id=s.series_id,
                            series_unique_id=s.series_unique_id,
                            name=f"pedestal_g{gain}_sc{cell}",
                            data=TypedArray.from_numpy(
                                np.ascontiguousarray(stacked), compression=s.compression
                            ),
                            gain=gain,
                            storage_cell=cell,
                        )
                    )

    def publish(self, result: ImageResult) -> None:
        """One image message with its timing (stream.md 8.1), packet counters and XFEL / detector
        fields."""
        s = self.processor.settings
        exposure = round(s.count_time_s * TICKS_PER_S)
        began = (result.frame_number - s.first_frame_number) * round(s.frame_time_s * TICKS_PER_S)
        self.send(
            ImageMessage(
                series_id=s.series_id,
                series_unique_id=s.series_unique_id,
                image_id=result.image_id,
                real_time=Rational(exposure, TICKS_PER_S),
                series_date=self.series_date,
                start_time=Rational(max(began, 0), TICKS_PER_S),
                stop_time=Rational(max(began, 0) + exposure, TICKS_PER_S),
                **({"user_data": {}} if s.profile == StreamProfile.DECTRIS else {}),
                data={"default": TypedArray.from_numpy(result.image, compression=s.compression)},
                packets_expected=result.packets_expected,
                packets_received=result.packets_received,
                data_collection_efficiency=result.data_collection_efficiency,
                storage_cell=result.storage_cell,
                xfel_pulse_id=result.xfel_pulse_id,
                xfel_event_code=result.xfel_event_code,
                timestamp=result.timestamp,
                exposure_time=result.exposure_time_s,
                det_info=result.det_info,
            )
        )
        self._images += 1
        self._received += result.packets_received

    def handle(
        self, frames: list[AssembledFrame], assembler: Assembler | None = None
    ) -> list[ImageResult]:
        """Process and publish assembled frames; give their buffers back to ``assembler``."""
        results = []
        for frame in frames:
            result = self.processor.process(frame)
            self.publish(result)
            results.append(result)
            if assembler is not None:
                assembler.release(frame)
        return results

    def end(self, frames_lost: int = 0) -> RunSummary:
        """End message with the run's collection efficiency (§4.2)."""
        s, d = self.processor.settings, self.processor.detector
        summary = RunSummary(
            self._images, s.n_frames * d.packets_per_frame, self._received, frames_lost
        )
        self.send(
            EndMessage(
                series_id=s.series_id,
                series_unique_id=s.series_unique_id,
                images_collected=self._images,
                images_sent=self._images,
                data_collection_efficiency=summary.data_collection_efficiency,
            )
        )
        return summary


def receive_udp(
    detector: Detector,
    settings: ReceiverSettings,
    send: Callable[[Message], None],
    calibration: Calibration | None = None,
    ports: list[int] | None = None,
    timeout_s: float = 60.0,
    idle_timeout_s: float = 2.0,
    on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
    rcvbuf_request_bytes: int = 8 << 20,
    rcvbuf_force: bool = False,
) -> RunSummary:
    """The whole ``jfsim receiver --udp ... --push ...`` run: listen, assemble, convert, publish.

    ``on_ready`` gets the bound addresses once the sockets listen (start the detector then).
    ``rcvbuf_force`` asks for the receive buffer past ``net.core.rmem_max`` when permitted.
    Bounded by ``timeout_s`` overall and ``idle_timeout_s`` without data.
    """
    processor = FrameProcessor(detector, settings, calibration)
    publisher = RunPublisher(processor, send)
    assembler = Assembler(detector, settings.window_frames, settings.first_frame_number)
    with UdpReceiver(
        assembler, ports, rcvbuf_request_bytes=rcvbuf_request_bytes, rcvbuf_force=rcvbuf_force
    ) as receiver:
        publisher.start()
        if on_ready is not None:
            on_ready(receiver.addresses)
        pump(
            receiver,
            lambda frame: publisher.handle([frame], assembler),
            settings.n_frames * detector.packets_per_frame,
            timeout_s,
            idle_timeout_s,
        )
    assembler.flush(settings.first_frame_number + settings.n_frames - 1)
    publisher.handle(assembler.pop_frames(), assembler)
    return publisher.end(assembler.statistics().frames_lost)


def run_direct(
    packetiser: Packetiser,
    headers: FrameHeaders,
    frame: np.ndarray,
    port: np.ndarray,
    packet: np.ndarray,
    settings: ReceiverSettings,
    send: Callable[[Message], None],
    calibration: Calibration | None = None,
    chunk_packets: int = 1024,
) -> RunSummary:
    """A whole run without sockets (the direct transport): the schedule (e.g. from
    :meth:`FaultPlan.schedule`) goes through the same packetiser, assembler, converter and
    publisher as :func:`receive_udp`, at memory speed."""
    detector = packetiser.detector
    processor = FrameProcessor(detector, settings, calibration)
    publisher = RunPublisher(processor, send)
    assembler = Assembler(detector, settings.window_frames, settings.first_frame_number)
    transport = DirectTransport(packetiser, assembler, chunk_packets)
    publisher.start()
    for lo in range(0, len(frame), chunk_packets * 16):
        hi = lo + chunk_packets * 16
        publisher.handle(
            transport.deliver(frame[lo:hi], port[lo:hi], packet[lo:hi], headers), assembler
        )
    assembler.flush(settings.first_frame_number + settings.n_frames - 1)
    publisher.handle(assembler.pop_frames(), assembler)
    return publisher.end(assembler.statistics().frames_lost)
