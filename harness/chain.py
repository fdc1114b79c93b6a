"""The simulated experiment of a scenario: detector, scene, calibration, raw frames, headers and
the seeded fault schedule (built from the hardware and physics sides).

Everything here is deterministic for a given scenario and seed: the same scenario gives the same
packets, bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jfjoch_hil.harness.scenario import Scenario
from jfjoch_hil.simulator.detector import (
    CHIP_V1_0,
    CHIP_V1_1,
    CONVERTED_MODULE_COLS,
    DET_TYPE_JUNGFRAU,
    Detector,
    FrameHeaders,
    Packetiser,
    StorageCells,
    XfelTiming,
    assemble_image,
    converted_shape,
    eiger_module,
    eiger_run_headers,
    jungfrau_module,
    module_rectangle,
    run_headers,
)
from jfjoch_hil.simulator.detector._calibration import Calibration, RawGenerator
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan, Schedule
from jfjoch_hil.simulator.receiver.conversion import Converter
from jfjoch_hil.simulator.scenes import Scene, render, render_tile, scene_from_scenario

__all__ = ["Experiment", "build_experiment", "has_packet_faults", "modules_from_image"]

#: Rendered frames kept in memory at most; longer runs cycle through them (the sender does too).
MAX_RENDERED_BYTES = 2 << 30


@dataclass
class Experiment:
    """A scenario made concrete: what the detector sends and what a correct receiver must get."""

    scenario: Scenario
    detector: Detector
    scene: Scene
    calibration: Calibration | None
    storage_cells: StorageCells
    xfel: XfelTiming | None
    headers: FrameHeaders | None
    schedule: Schedule | None
    raw: np.ndarray  # (rendered frames, modules, 512, 1024) in the module pixel type
    packetiser: Packetiser
    #: Modules whose frames were made (all, unless built for some: the others are zero).
    rendered_modules: list[int]

    @property
    def n_images(self) -> int:
        """Frames the detector sends (the scenario's image count)."""
        return self.scenario.run.images

    @property
    def frame_time_s(self) -> float:
        """Period between frames."""
        return 1.0 / self.scenario.run.frame_rate_hz

    @functools.cached_property
    def converter(self) -> Converter:
        """The truth's own converter of this calibration and energy, made once (building its
        tables costs ~15 ms, as much as converting a frame many times over)."""
        return Converter(self.calibration, self.scenario.beam.energy_kev)

    def header_block(self, first: int, count: int, first_frame_number: int = 1) -> FrameHeaders:
        """Header fields of run frames ``first`` .. ``first + count - 1`` of a run without frame
        jumps, equal to that slice of the whole run's headers (made block by block by a sender
        that keeps no per-run arrays); frame numbers count from ``first_frame_number``."""
        run = self.scenario.run
        frame_time = 1.0 / run.frame_rate_hz
        if self.detector.model.det_type == DET_TYPE_JUNGFRAU:
            return run_headers(
                count,
                frame_time,
                0.98 * frame_time,
                self.storage_cells,
                self.xfel,
                first_frame_number=first_frame_number,
                first_index=first,
            )
        return eiger_run_headers(
            count,
            frame_time,
            0.98 * frame_time,
            self.scenario.detector.bit_depth,
            first_frame_number=first_frame_number,
            first_index=first,
        )

    def raw_frame(self, image: int) -> np.ndarray:
        """The raw module frames of run frame ``image`` (rendered frames are cycled)."""
        return self.raw[image % self.raw.shape[0]]

    def storage_position(self, image: int) -> int:
        """Burst position (calibration index) of run frame ``image``."""
        return image % self.storage_cells.n_cells

    def expected_image(self, image: int, placed: np.ndarray) -> np.ndarray:
        """The image a correct receiver publishes for run frame ``image`` given which packets
        arrived (``placed``, shape (ports, packets)): lost packets' pixels at the error value.

        Built from the detector's own raw frame and the port/packet layout of the model, not
        from anything the receiver computed.
        """
        model = self.detector.model
        truth_raw = self.raw_frame(image)
        if not placed.all():
            n_modules = self.detector.n_modules
            ports = (
                model.encode(truth_raw)
                .reshape(self.detector.n_ports, model.packets_per_port, model.payload_bytes)
                .copy()
            )
            ports[~placed] = 0xFF  # a lost packet's pixels: all ones (detectors.md 4.2)
            truth_raw = model.decode(ports.reshape(n_modules, model.ports_per_module, -1))
        d = self.detector
        if model.det_type == DET_TYPE_JUNGFRAU:
            converted = self.converter.convert(truth_raw, self.storage_position(image))
            return assemble_image(converted, d.modules_per_row, d.gap_x_px, d.gap_y_px)
        return assemble_image(truth_raw, d.modules_per_row, d.gap_x_px, d.gap_y_px, divide=False)


def make_detector(scenario: Scenario, scene: Scene) -> Detector:
    """The :class:`Detector` of ``[detector]``, laid out as the scene's geometry (ports from 0:
    the receiver binds free ports)."""
    s = scenario.detector
    model = (
        jungfrau_module(s.interfaces)
        if s.type == "jungfrau"
        else eiger_module(s.bit_depth, ten_giga=s.link == "10gbe")
    )
    gap_x = 8
    modules_per_row = (scene.geometry.width_px + gap_x) // (CONVERTED_MODULE_COLS + gap_x)
    name = f"{s.type.upper()}-{s.modules}x"
    return Detector(
        name, model, s.modules, modules_per_row=modules_per_row, gap_x_px=gap_x, base_udp_port=0
    )


def modules_from_image(image: np.ndarray, detector: Detector) -> np.ndarray:
    """Photons per module pixel ``(M, 512, 1024)`` from a converted image (adjoint of assembly).

    A chip-border module pixel covers two (corner: four) converted pixels; it gets their mean,
    per unit area, which is what the raw generator expects (it scales by the pixel's area).
    """
    n = detector.n_modules
    covered, sources, per_pixel = _module_mapping(
        n, detector.modules_per_row, detector.gap_x_px, detector.gap_y_px
    )
    sums = np.bincount(sources, weights=image[covered], minlength=per_pixel.size)
    return (sums / per_pixel).reshape(n, 512, 1024).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _module_mapping(n_modules: int, modules_per_row: int, gap_x: int, gap_y: int):
    """(converted pixels covered by a module pixel, the module pixel of each, converted pixels per
    module pixel (at least 1)) of a detector layout: the same for every frame, made once."""
    size = n_modules * 512 * 1024
    index = np.arange(size, dtype=np.int64).reshape(n_modules, 512, 1024)
    mapping = assemble_image(index, modules_per_row, gap_x, gap_y, divide=False, fill_value=-1)
    covered = mapping >= 0
    sources = mapping[covered]
    per_pixel = np.maximum(np.bincount(sources, minlength=size), 1)
    for array in (covered, sources, per_pixel):
        array.setflags(write=False)
    return covered, sources, per_pixel


def _fault_plan(scenario: Scenario) -> FaultPlan:
    """The scenario's packet-fault plan, seeded from ``run.seed``."""
    return dataclasses.replace(scenario.faults, seed=scenario.run.seed)


def has_packet_faults(scenario: Scenario) -> bool:
    """Whether the scenario's fault plan changes the packets at all (loss, reordering,
    duplicates, late packets, stopped modules, frame-number jumps)."""
    return _fault_plan(scenario) != FaultPlan(seed=scenario.run.seed)


#: Seed-sequence streams of the run's per-module generators (the scene's own streams are keyed
#: by the scene seed and (stream, image, tile)).
_STREAM_CALIBRATION, _STREAM_ADC_NOISE = 101, 102


def _module_rngs(
    seed: int, stream: int, n_modules: int, modules: Sequence[int] | None
) -> list[np.random.Generator | None]:
    """One generator per module, seeded by (seed, stream, module); None for modules not made."""
    wanted = range(n_modules) if modules is None else set(modules)
    return [
        np.random.default_rng(np.random.SeedSequence([seed, stream, m])) if m in wanted else None
        for m in range(n_modules)
    ]


def _module_tiles(scene: Scene, detector: Detector) -> list[int]:
    """The scene tile of each detector module (the same rectangle of the converted image); a
    ValueError when the scene's tiles are not the detector's modules."""
    layout = (detector.n_modules, detector.modules_per_row, detector.gap_x_px, detector.gap_y_px)
    index = {tile: t for t, tile in enumerate(scene.geometry.tiles)}
    tiles = [index.get(module_rectangle(m, *layout)) for m in range(detector.n_modules)]
    if converted_shape(*layout) != scene.geometry.shape or None in tiles:
        raise ValueError(
            "render only some modules: the scene's tiles are not this detector's modules"
        )
    return tiles


def _module_photons(
    scene: Scene, detector: Detector, image: int, tile_of: dict[int, int] | None
) -> np.ndarray:
    """Photons per module pixel ``(M, 512, 1024)`` of rendered image ``image``: every module's,
    or only those of ``tile_of`` (module -> its scene tile; the others zero), each rendered
    alone from its own tile."""
    if tile_of is None:
        return modules_from_image(render(scene, image), detector)
    one = dataclasses.replace(detector, n_modules=1, modules_per_row=1, mod_ids=())
    photons = np.zeros((detector.n_modules, 512, 1024), np.float32)
    for m, tile in tile_of.items():
        photons[m] = modules_from_image(render_tile(scene, image, tile), one)[0]
    return photons


def build_experiment(
    scenario: Scenario,
    *,
    storage_cells: int | None = None,
    pool_frames: int | None = None,
    per_run_arrays: bool = True,
    modules: Sequence[int] | None = None,
) -> Experiment:
    """Render, digitise and packetise every frame of ``scenario``; plan its faults.

    At most ``pool_frames`` frames are rendered (rounded down to a multiple of the storage-cell
    count; longer runs cycle through them). ``per_run_arrays=False`` leaves out the headers and
    the packet schedule of the whole run (``None``): a sender that makes headers block by block
    (:meth:`Experiment.header_block`) then needs memory for the rendered pool only.

    ``modules`` renders, calibrates and digitises only those modules (an MPI rank's): their
    frames equal the whole detector's, since each module's tile, calibration and ADC noise come
    from generators of its own; the other modules' frames and calibration stay zero.
    """
    scene = scene_from_scenario(scenario)
    detector = make_detector(scenario, scene)
    run = scenario.run
    n_cells = storage_cells or scenario.detector.storage_cells
    chip = {"auto": None, "1.0": CHIP_V1_0, "1.1": CHIP_V1_1}[scenario.detector.chip_version]
    cells = StorageCells(n_cells=n_cells, chip_version=chip)
    tile_of = None
    if modules is not None:
        modules = sorted({int(m) for m in modules})
        if any(not 0 <= m < detector.n_modules for m in modules):
            raise ValueError(f"modules: {modules}; this detector has {detector.n_modules}")
        tiles = _module_tiles(scene, detector)
        tile_of = {m: tiles[m] for m in modules}
    frame_bytes = detector.n_modules * 512 * 1024 * detector.model.pixel_dtype.itemsize
    n_rendered = max(1, min(run.images, MAX_RENDERED_BYTES // (3 * frame_bytes)))
    if pool_frames is not None:
        n_rendered = max(1, min(n_rendered, pool_frames))
    if n_rendered < run.images:  # cycled frames must keep their storage cell
        n_rendered = max(n_cells, n_rendered - n_rendered % n_cells)
    jungfrau = detector.model.det_type == DET_TYPE_JUNGFRAU
    n = detector.n_modules
    calibration = (
        Calibration.synthetic(n, n_cells, _module_rngs(run.seed, _STREAM_CALIBRATION, n, modules))
        if jungfrau
        else None
    )
    generator = (
        RawGenerator(
            calibration,
            scenario.beam.energy_kev,
            _module_rngs(run.seed, _STREAM_ADC_NOISE, n, modules),
        )
        if calibration is not None
        else None
    )
    raw = np.zeros((n_rendered, detector.n_modules, 512, 1024), detector.model.pixel_dtype)
    top = np.iinfo(detector.model.pixel_dtype).max - 1 if not jungfrau else None
    for index in range(n_rendered):
        photons = _module_photons(scene, detector, index, tile_of)
        if generator is not None:
            raw[index] = generator.raw(photons, storage_cell=index % n_cells)
        else:
            limit = min(top, (1 << scenario.detector.bit_depth) - 2)
            raw[index] = np.clip(np.rint(photons), 0, limit).astype(raw.dtype)
    rendered = list(range(detector.n_modules)) if modules is None else list(modules)
    model = detector.model
    packetiser = Packetiser(detector, model.encode(raw).reshape(n_rendered, detector.n_ports, -1))
    xfel = None
    if run.pulse_id_start:
        xfel = XfelTiming(
            first_pulse_id=run.pulse_id_start,
            gap_every_frames=run.pulse_id_gap_every,
            gap_pulses=run.pulse_id_gap,
            event_codes=(run.event_code,),
        )
    headers = schedule = None
    if per_run_arrays:
        frame_time = 1.0 / run.frame_rate_hz
        if jungfrau:
            headers = run_headers(run.images, frame_time, 0.98 * frame_time, cells, xfel)
        else:
            headers = eiger_run_headers(
                run.images, frame_time, 0.98 * frame_time, scenario.detector.bit_depth
            )
        schedule = _fault_plan(scenario).schedule(
            run.images, detector.n_ports, model.packets_per_port, model.ports_per_module
        )
        headers = dataclasses.replace(
            headers, frame_number=schedule.frame_numbers.astype(headers.frame_number.dtype)
        )
    return Experiment(
        scenario,
        detector,
        scene,
        calibration,
        cells,
        xfel,
        headers,
        schedule,
        raw,
        packetiser,
        rendered,
    )
