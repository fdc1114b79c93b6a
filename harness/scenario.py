"""Scenarios: a run described as data (STYLE.md "Runs are data").

A :class:`Scenario` is a tree of frozen dataclasses loaded from TOML with :mod:`tomllib`.  Each
section's fields carry their allowed values in the dataclass field metadata, so validation and
the error messages come from one declaration: an unknown key is refused with its dotted path and
the keys allowed there; a wrong value with the values or range allowed.  The defaults are the
built-in ``quickstart`` scenario, so ``jfsim run`` works with no file at all.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jfjoch_hil.harness.errors import ScenarioError
from jfjoch_hil.simulator.analysis import (
    AnalysisSettings,
    settings_from_mapping,
    settings_to_mapping,
)
from jfjoch_hil.simulator.detector.packet_faults import FaultPlan
from jfjoch_hil.simulator.errors import AnalysisError, FaultPlanError
from jfjoch_hil.stream import (
    DECTRIS_COMPRESSIONS,
    DECTRIS_IMAGE_DTYPES,
    LAYOUT_NAMES,
    FileFormat,
    StreamProfile,
)

__all__ = [
    "SCENARIO_DIR",
    "AnalysisSettings",
    "BeamSettings",
    "CrystalSettings",
    "DetectorSettings",
    "GeometrySettings",
    "RunSettings",
    "Scenario",
    "StreamSettings",
    "WriterSettings",
    "apply_override",
    "list_scenarios",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
]


#: Shipped scenario files: package data of ``jfjoch_hil.fixtures`` (``scenarios/*.toml``), the same
#: folder in a checkout, an editable install and a wheel.
def _shipped_scenario_dir() -> Path:
    # jfjoch_hil.fixtures is a namespace package (data only); its search path can name folders that
    # do not exist (an editable install's), so take the first that holds the scenarios.
    spec = importlib.util.find_spec("jfjoch_hil.fixtures")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        if (Path(location) / "scenarios").is_dir():
            return Path(location) / "scenarios"
    raise ScenarioError(f"jfjoch_hil.fixtures/scenarios not installed (searched {locations})")


SCENARIO_DIR = _shipped_scenario_dir()


def _opt(
    default: Any = dataclasses.MISSING,
    *,
    choices: tuple | None = None,
    low: float | None = None,
    high: float | None = None,
    length: int | None = None,
    doc: str = "",
    factory: Any = None,
):
    metadata = {"choices": choices, "low": low, "high": high, "length": length, "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DetectorSettings:
    """``[detector]``: the simulated detector (detectors.md 2, 3)."""

    type: str = _opt("jungfrau", choices=("jungfrau", "eiger"), doc="detector family")
    modules: int = _opt(1, low=1, high=32, doc="modules (JUNGFRAU) or half-module pairs (EIGER)")
    interfaces: int = _opt(2, choices=(1, 2), doc="UDP interfaces per JUNGFRAU module")
    bit_depth: int = _opt(16, choices=(4, 8, 12, 16, 32), doc="EIGER dynamic range; JUNGFRAU is 16")
    storage_cells: int = _opt(1, low=1, high=16, doc="storage cells per trigger (JUNGFRAU)")
    storage_cells_per_run: tuple[int, ...] = _opt(
        (), doc="consecutive runs with these storage-cell counts"
    )
    link: str = _opt(
        "10gbe", choices=("10gbe", "1gbe"), doc="EIGER link: 4144- or 1072-byte datagrams"
    )
    chip_version: str = _opt(
        "auto",
        choices=("auto", "1.0", "1.1"),
        doc="JUNGFRAU chip (auto: 1.0 with storage cells, else 1.1)",
    )


@dataclass(frozen=True)
class RunSettings:
    """``[run]``: what is collected and how it travels."""

    kind: str = _opt("rotation", choices=("rotation", "stills", "grid"), doc="data collection kind")
    images: int = _opt(20, low=1, high=10_000_000, doc="images in the run")
    frame_rate_hz: float = _opt(100.0, low=0.001, high=100_000.0, doc="frames per second")
    seed: int = _opt(1, low=0, doc="seed of every random choice")
    transport: str = _opt(
        "udp", choices=("udp", "direct"), doc="UDP over loopback or direct (no sockets)"
    )
    prefix: str = _opt("", doc="output file prefix (default: the scenario name)")
    pedestal_frames: int = _opt(
        0, low=0, high=10_000, doc="dark frames per gain before the run (JUNGFRAU)"
    )
    pulse_id_start: int = _opt(0, low=0, doc="first XFEL pulse id (0: not a pulsed source)")
    pulse_id_gap_every: int = _opt(0, low=0, doc="every Nth frame skips pulse ids (0: never)")
    pulse_id_gap: int = _opt(0, low=0, doc="pulse ids skipped at each gap")
    event_code: int = _opt(0, low=0, doc="event code sent with every pulse (XFEL)")
    abort_after_images: int = _opt(
        0, low=0, doc="stop the run after this many images, no end message (0: never)"
    )
    sender_processes: int = _opt(
        1, low=1, high=64, doc="UDP sender processes (one per module or port)"
    )
    processing_nice: int = _opt(
        10,
        low=0,
        high=19,
        doc=(
            "niceness added to the processing side (conversion, analysis, publishing, jfwriter) while the "
            "detector and receiver socket processes run, so they keep the CPU on a busy machine (0: off)"
        ),
    )


@dataclass(frozen=True)
class BeamSettings:
    """``[beam]``."""

    energy_kev: float = _opt(12.4, low=1.0, high=100.0, doc="photon energy")
    flux_hz: float = _opt(1e12, low=0.0, doc="total flux, photons/s")
    transmission: float = _opt(1.0, low=0.0, high=1.0, doc="attenuator transmission")


@dataclass(frozen=True)
class GeometrySettings:
    """``[geometry]``: detector position (NXmx; beam centre in pixels of the assembled image)."""

    distance_mm: float = _opt(100.0, low=1.0, high=10_000.0, doc="sample-detector distance")
    beam_center_px: tuple[float, ...] = _opt((), length=2, doc="[x, y]; empty = image centre")


@dataclass(frozen=True)
class CrystalSettings:
    """``[crystal]``: the sample."""

    cell: tuple[float, ...] = _opt(
        (79.1, 79.1, 38.0, 90.0, 90.0, 90.0), length=6, doc="a, b, c [A], alpha, beta, gamma [deg]"
    )
    space_group: int = _opt(96, low=1, high=230, doc="space group number (gives the Bravais type)")
    oscillation_deg: float = _opt(0.1, low=0.0, high=10.0, doc="rotation per image")
    start_angle_deg: float = _opt(0.0, low=-3600.0, high=3600.0, doc="goniometer angle of image 0")
    mosaicity_deg: float = _opt(0.2, low=0.0, high=10.0, doc="mosaic spread")
    resolution_limit_a: float = _opt(2.0, low=0.5, high=50.0, doc="highest resolution with spots")
    b_factor_a2: float = _opt(20.0, low=0.0, high=500.0, doc="Wilson B factor")
    hit_rate: float = _opt(
        1.0, low=0.0, high=1.0, doc="share of images with a crystal (stills, grid)"
    )
    lattices: int = _opt(1, low=1, high=8, doc="crystals per image")
    grid: tuple[int, ...] = _opt(
        (), length=2, doc="grid scan [fast, slow] points; empty = images x 1"
    )


@dataclass(frozen=True)
class WriterSettings:
    """``[writer]``: what the writer is asked to produce (hdf5-format.md 2)."""

    format: str = _opt(FileFormat.VDS.layout, choices=LAYOUT_NAMES, doc="file layout")
    images_per_file: int = _opt(10, low=0, doc="images per data file (0: all in one)")
    compression: str = _opt(
        "bslz4", choices=("bslz4", "bszstd"), doc="image compression on the stream"
    )
    send_end: bool = _opt(True, doc="send the end message (false reproduces a lost end)")
    finalize_timeout_s: float = _opt(
        5.0, low=0.1, high=3600.0, doc="writer waits this long without an end"
    )


@dataclass(frozen=True)
class StreamSettings:
    """``[stream]``: which consumer the stream is for (stream.profiles; stream.md §1, §5, §8)."""

    profile: str = _opt(
        StreamProfile.JUNGFRAUJOCH.value,
        choices=tuple(p.value for p in StreamProfile),
        doc="jungfraujoch: every message kind and field Jungfraujoch sends; dectris: DECTRIS "
        "Stream V2 exactly (start, image, end; DECTRIS fields; unsigned pixels; bslz4/lz4)",
    )


#: ``[analysis]`` defaults of a scenario: the simulator's, with 100 q bins over its q range.
SCENARIO_ANALYSIS = dataclasses.replace(
    AnalysisSettings(),
    az_int_q_spacing_recip_a=(
        AnalysisSettings().az_int_q_max_recip_a - AnalysisSettings().az_int_q_min_recip_a
    )
    / 100,
)


@dataclass(frozen=True)
class Scenario:
    """A whole run: one TOML file, or the built-in ``quickstart`` (all defaults)."""

    name: str = "quickstart"
    description: str = ""
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    run: RunSettings = field(default_factory=RunSettings)
    beam: BeamSettings = field(default_factory=BeamSettings)
    geometry: GeometrySettings = field(default_factory=GeometrySettings)
    crystal: CrystalSettings = field(default_factory=CrystalSettings)
    faults: FaultPlan = field(default_factory=FaultPlan)
    writer: WriterSettings = field(default_factory=WriterSettings)
    analysis: AnalysisSettings = field(default_factory=lambda: SCENARIO_ANALYSIS)
    stream: StreamSettings = field(default_factory=StreamSettings)

    @property
    def prefix(self) -> str:
        """The output file prefix."""
        return self.run.prefix or self.name


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _check_value(path: str, value: Any, spec: dataclasses.Field) -> Any:
    kind = typing.get_type_hints(_OWNER[path.split(".")[0]])[spec.name]
    meta = spec.metadata
    origin = typing.get_origin(kind)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(f"{path}: expected an array, got {value!r}")
        item_kind = typing.get_args(kind)[0]
        length = meta.get("length")
        if length is not None and len(value) not in (0, length):
            raise ScenarioError(f"{path}: expected {length} values, got {len(value)}")
        return tuple(_check_scalar(f"{path}[{i}]", v, item_kind, {}) for i, v in enumerate(value))
    return _check_scalar(path, value, kind, meta)


def _check_scalar(path: str, value: Any, kind: type, meta: Any) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is not bool and isinstance(value, bool) or not isinstance(value, kind):
        raise ScenarioError(f"{path}: expected {_type_name(kind)}, got {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ScenarioError(
            f"{path}: {value!r} is not allowed; allowed: {', '.join(map(str, choices))}"
        )
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low or high is not None and value > high:
        allowed = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        raise ScenarioError(f"{path}: {value!r} is out of range; allowed: {allowed}")
    return value


_OWNER = {
    f.name: f.default_factory
    for f in dataclasses.fields(Scenario)
    if f.name not in ("name", "description")
}


def scenario_from_dict(data: dict, *, name: str = "quickstart") -> Scenario:
    """Build and validate a :class:`Scenario` from a TOML-shaped dict; missing keys keep their
    defaults.  Raises :class:`ScenarioError` naming the dotted key and what is allowed."""
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a table, got {data!r}")
    top = {"name", "description", *_OWNER}
    unknown = set(data) - top
    if unknown:
        raise ScenarioError(
            f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(top))}"
        )
    base = Scenario()
    sections = {}
    for section, cls in _OWNER.items():
        given = data.get(section, {})
        if not isinstance(given, dict):
            raise ScenarioError(f"{section}: expected a table, got {given!r}")
        if (
            section == "faults"
        ):  # the simulator's packet-fault plan (one declaration); seed: run.seed
            try:
                sections[section] = FaultPlan.from_mapping(given, seed=0, path=section)
            except FaultPlanError as error:
                raise ScenarioError(str(error)) from None
            continue
        if section == "analysis":  # the simulator's own settings type (one declaration)
            try:
                sections[section] = settings_from_mapping(given, section, SCENARIO_ANALYSIS)
            except AnalysisError as error:
                raise ScenarioError(str(error)) from None
            continue
        specs = {f.name: f for f in dataclasses.fields(cls)}
        for key in given:
            if key not in specs:
                raise ScenarioError(f"{section}.{key}: unknown key; allowed: {', '.join(specs)}")
        default = getattr(base, section)
        values = {
            key: _check_value(f"{section}.{key}", value, specs[key]) for key, value in given.items()
        }
        sections[section] = dataclasses.replace(default, **values)
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise ScenarioError(f"{key}: expected a string, got {data[key]!r}")
    scenario = Scenario(
        name=data.get("name", name), description=data.get("description", ""), **sections
    )
    _check_consistency(scenario)
    return scenario


def _check_consistency(scenario: Scenario) -> None:
    detector = scenario.detector
    if detector.type == "jungfrau" and detector.bit_depth != 16:
        raise ScenarioError(
            f"detector.bit_depth: {detector.bit_depth} is not allowed for jungfrau; allowed: 16"
        )
    if detector.type == "eiger" and detector.storage_cells != 1:
        raise ScenarioError("detector.storage_cells: eiger has no storage cells; allowed: 1")
    if detector.type == "jungfrau" and detector.link != "10gbe":
        raise ScenarioError(
            f"detector.link: {detector.link} is not allowed for jungfrau; allowed: 10gbe"
        )
    if (
        detector.chip_version == "1.1"
        and max((detector.storage_cells, *detector.storage_cells_per_run)) > 1
    ):
        raise ScenarioError(
            "detector.chip_version: 1.1 has no additional storage cells; allowed with "
            "storage_cells > 1: auto, 1.0"
        )
    modules = [r.module for r in scenario.faults.loss_ranges]
    modules += [module for module, _ in scenario.faults.stopped_modules]
    for index, module in enumerate(modules):
        if not 0 <= module < detector.modules:
            raise ScenarioError(
                f"faults: module {module} of entry {index} does not exist; "
                f"allowed: 0..{detector.modules - 1}"
            )
    if not scenario.prefix or "/" in scenario.prefix or scenario.prefix in (".", ".."):
        raise ScenarioError(f"run.prefix: {scenario.prefix!r} is not a plain file name")
    _check_profile(scenario)


def _check_profile(scenario: Scenario) -> None:
    """A scenario the DECTRIS profile cannot express is refused, naming both settings."""
    if scenario.stream.profile != StreamProfile.DECTRIS:
        return
    allowed = "allowed with stream.profile = 'dectris'"
    if scenario.writer.compression not in DECTRIS_COMPRESSIONS:
        raise ScenarioError(
            f"writer.compression: {scenario.writer.compression!r} is not {allowed}: "
            f"{', '.join(DECTRIS_COMPRESSIONS)} (DECTRIS clients cannot decode it, stream.md 4.3)"
        )
    if scenario.detector.type == "jungfrau":
        raise ScenarioError(
            f"detector.type: 'jungfrau' is not {allowed}: its images are signed int16 photon "
            f"counts and DECTRIS Stream V2 carries {', '.join(DECTRIS_IMAGE_DTYPES)} only "
            "(stream.md 5.1); use detector.type = 'eiger' or stream.profile = 'jungfraujoch'"
        )


def scenario_to_dict(scenario: Scenario) -> dict:
    """The scenario as a TOML-shaped dict (for reports); inverse of :func:`scenario_from_dict`."""
    out = dataclasses.asdict(scenario)
    out["analysis"] = settings_to_mapping(scenario.analysis)
    out["faults"] = scenario.faults.to_mapping()
    return {key: (list(v) if isinstance(v, tuple) else v) for key, v in out.items()}


def _parse_override_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as vds: take it as a string


def apply_override(data: dict, assignment: str) -> dict:
    """Apply one ``--set key=value`` (dotted TOML path, TOML value) to a scenario dict in place."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(
            f"--set {assignment!r}: expected key=value, e.g. crystal.cell=[60,70,80,90,90,90]"
        )
    parts = key.split(".")
    target = data
    for part in parts[:-1]:
        node = target.setdefault(part, {})
        if not isinstance(node, dict):
            raise ScenarioError(f"--set {key}: {part} is not a table")
        target = node
    target[parts[-1]] = _parse_override_value(text.strip())
    return data


def list_scenarios(directory: Path = SCENARIO_DIR) -> list[str]:
    """Names of the shipped scenarios (files ``<name>.toml`` in ``directory``)."""
    return sorted(path.stem for path in directory.glob("*.toml"))


def load_scenario(
    name_or_path: str | Path | None = None,
    overrides: typing.Sequence[str] = (),
    *,
    directory: Path = SCENARIO_DIR,
) -> Scenario:
    """Load a scenario by shipped name or file path, apply ``--set`` overrides, validate.

    ``None`` gives the shipped ``quickstart`` scenario, the default of ``jfsim run``.
    """
    name = "quickstart" if name_or_path is None else str(name_or_path)
    path = Path(name)
    if path.suffix != ".toml":
        path = directory / f"{name}.toml"
    if not path.is_file():
        raise ScenarioError(
            f"scenario {name!r} not found; shipped: {', '.join(list_scenarios(directory))}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from None
    for assignment in overrides:
        apply_override(data, assignment)
    return scenario_from_dict(data, name=path.stem)
