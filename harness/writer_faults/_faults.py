"""The fault catalogue: malformed streams, hostile names and metadata.

Stream faults break stream.md 3 (CBOR framing), 4 (tags 40, typed arrays, 56500), 5 (start),
8 (image) and 10.1 (end) and the order of 1 (start, images, end); name faults break
hdf5-format.md 2 (file layout under the output folder) and 4.11 (``header_appendix``).

Each :class:`Fault` is data: a name, the outcome a conforming writer shows, the wire bytes to
send (built from a valid :func:`~simulator.faultsuite._messages.small_run`, a fault being an
override of it) and the bad-message count it must leave in the writer's statistics.  The
runner (:mod:`simulator.faultsuite._runner`) sends them through any ``send(bytes)`` callable,
so the same faults aim at our ``jfwriter`` or at a real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cbor2
import numpy as np
from jfjoch_hil.harness.writer_faults._messages import small_run
from jfjoch_hil.stream import FileFormat, RejectReason, encode

__all__ = [
    "MANY_ORPHANS",
    "Fault",
    "FaultPlan",
    "hostile_faults",
    "malformed_faults",
    "standard_faults",
]

SELF_DESCRIBED = 55799


@dataclass(frozen=True)
class FaultPlan:
    """What one fault sends and what it must leave behind.

    ``decode_errors``: messages a writer must count as undecodable; ``rejected``: images it must
    refuse, by the reason our writer names; ``run_prefix``/``run_images``: the run the fault
    contains that must still be written, with that many images (``None``: no run written);
    ``refused_prefixes``: prefixes that must not produce any file; ``forbidden_paths``: HDF5
    paths that must not exist in ``run_prefix``'s master; ``warnings``: warnings expected.
    """

    messages: list[bytes]
    decode_errors: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    run_prefix: str | None = None
    run_images: int | None = None
    refused_prefixes: tuple[str, ...] = ()
    forbidden_paths: tuple[str, ...] = ()
    warnings: int = 0


@dataclass(frozen=True)
class Fault:
    """One row of the fault table: ``build(out_dir, seed)`` gives its :class:`FaultPlan`."""

    name: str
    expected: str
    build: Callable[[Path, int], FaultPlan]


def _raw_map(data: bytes) -> dict:
    """The CBOR item of ``data`` as plain Python (tags kept as ``CBORTag``)."""
    item = cbor2.loads(data)
    return dict(item.value if isinstance(item, cbor2.CBORTag) else item)


def _dump_map(mapping: dict) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED, mapping))


def _run_with(prefix: str, seed: int, n_images: int = 4, **overrides):
    run = small_run(prefix, n_images, seed=seed, **overrides)
    return run, [encode(m) for m in run.messages()]


# --- malformed streams (stream.md 3 framing, 4 tags, 5 start, 8 image, 10.1 end) ----------------


def _truncated_cbor(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/truncated", seed)
    cut = [wire[0], wire[1], wire[2][: len(wire[2]) // 2], wire[2][:1], *wire[3:]]
    return FaultPlan(cut, decode_errors=2, run_prefix="faults/truncated", run_images=3)


def _wrong_tags(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/wrong_tag", seed)
    image = _raw_map(wire[2])
    array = image["data"]["default"]  # tag 40 [dims, typed array]
    image["data"] = {"default": cbor2.CBORTag(12345, array.value)}
    dims, typed = _raw_map(wire[3])["data"]["default"].value
    other = _raw_map(wire[3])
    other["data"] = {
        "default": cbor2.CBORTag(40, [dims, cbor2.CBORTag(86, typed.value)])
    }  # float64 tag on uint16 data
    return FaultPlan(
        [wire[0], wire[1], _dump_map(image), _dump_map(other), *wire[4:]],
        decode_errors=2,
        run_prefix="faults/wrong_tag",
        run_images=2,
    )


def _wrong_types(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/wrong_type", seed)
    bad_id = _raw_map(wire[2])
    bad_id["image_id"] = "three"
    bad_data = _raw_map(wire[3])
    bad_data["data"] = [1, 2, 3]
    bad_start = _raw_map(wire[0])
    bad_start["image_size_x"] = "wide"
    not_map = cbor2.dumps([1, 2, 3])
    return FaultPlan(
        [
            _dump_map(bad_start),
            wire[0],
            wire[1],
            _dump_map(bad_id),
            _dump_map(bad_data),
            not_map,
            *wire[4:],
        ],
        decode_errors=4,
        run_prefix="faults/wrong_type",
        run_images=2,
    )


def _random_bytes(out_dir: Path, seed: int) -> FaultPlan:
    rng = np.random.default_rng(seed)
    blobs = [
        rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 4096, 8)
    ]
    # a leading 0x80-0xBF byte is a CBOR array/map header: make sure none is a valid message by
    # prefixing a reserved initial byte (0xFC-0xFE are not well-formed, RFC 8949 3).
    blobs = [b"\xfc" + blob for blob in blobs]
    return FaultPlan(blobs, decode_errors=len(blobs))


def _images_before_start(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/early_images", seed)
    return FaultPlan(
        [wire[1], wire[2], *wire],
        rejected={"image without a run": 2},
        run_prefix="faults/early_images",
        run_images=4,
    )


#: More orphan images than the writer logs per reason (its log limit is 20), so a count taken
#: from log lines would be short; the statistics count every one.
MANY_ORPHANS = 25


def _many_images_before_start(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/many_early_images", seed, n_images=2)
    orphans = [wire[1 + i % 2] for i in range(MANY_ORPHANS)]
    return FaultPlan(
        [*orphans, *wire],
        rejected={str(RejectReason.WITHOUT_RUN): MANY_ORPHANS},
        run_prefix="faults/many_early_images",
        run_images=2,
    )


def _end_before_images(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/early_end", seed)
    return FaultPlan(
        [wire[0], wire[-1], *wire[1:-1]],
        rejected={"image without a run": 4},
        run_prefix="faults/early_end",
        run_images=0,
    )


def _two_starts(out_dir: Path, seed: int) -> FaultPlan:
    _, first = _run_with("faults/two_starts_a", seed)
    _, second = _run_with("faults/two_starts_b", seed + 1)
    return FaultPlan([first[0], first[1], *second], run_prefix="faults/two_starts_b", run_images=4)


def _huge_sizes(out_dir: Path, seed: int) -> FaultPlan:
    _, wire = _run_with("faults/huge", seed)
    start = _raw_map(wire[0])
    start.update(
        image_size_x=2**31,
        image_size_y=2**31,
        number_of_images=2**40,
        file_prefix="faults/huge_start",
    )
    image = _raw_map(wire[2])
    dims, typed = image["data"]["default"].value
    image["data"] = {"default": cbor2.CBORTag(40, [[2**31, 2**31], typed])}
    frame = _raw_map(wire[3])
    dims, typed = frame["data"]["default"].value
    codec, size, payload = typed.value.value
    # bitshuffle framing: 8-byte big-endian uncompressed size declared as 2**62
    forged = (2**62).to_bytes(8, "big") + payload[8:]
    frame["data"] = {
        "default": cbor2.CBORTag(
            40, [dims, cbor2.CBORTag(typed.tag, cbor2.CBORTag(56500, [codec, size, forged]))]
        )
    }
    return FaultPlan(
        [_dump_map(start), wire[0], wire[1], _dump_map(image), _dump_map(frame), *wire[4:]],
        decode_errors=2,
        run_prefix="faults/huge",
        run_images=2,
        refused_prefixes=("faults/huge_start",),
    )


def _huge_image_count(out_dir: Path, seed: int) -> FaultPlan:
    prefix = "faults/huge_count"
    _, wire = _run_with(
        prefix,
        seed,
        n_images=2,
        number_of_images=2**40,
        file_format=FileFormat.VDS.value,
        images_per_file=0,
    )
    return FaultPlan(wire, rejected={"run refused": 2}, refused_prefixes=(prefix,))


def malformed_faults() -> list[Fault]:
    """The malformed-stream faults, each inside or around a valid run."""
    counted = "counted as decode error, run written without it"
    return [
        Fault("truncated_cbor", f"2 truncated messages {counted}", _truncated_cbor),
        Fault(
            "wrong_tags", f"unknown array tag and float64 tag on uint16 data {counted}", _wrong_tags
        ),
        Fault("wrong_types", f"string sizes/ids, list data, non-map {counted}", _wrong_types),
        Fault("random_bytes", "8 random blobs counted as decode errors", _random_bytes),
        Fault(
            "images_before_start",
            "2 images rejected 'image without a run'; run written",
            _images_before_start,
        ),
        Fault(
            "many_images_before_start",
            f"{MANY_ORPHANS} images (more than the writer logs) rejected 'image without a run', "
            "every one counted; run written",
            _many_images_before_start,
        ),
        Fault(
            "end_before_images",
            "empty run finalised; 4 images rejected 'image without a run'",
            _end_before_images,
        ),
        Fault("two_starts", "first run finalised without end, second written", _two_starts),
        Fault(
            "huge_declared_sizes",
            "2**31 dims / 2**62 framing counted or refused, no allocation",
            _huge_sizes,
        ),
        Fault(
            "huge_image_count",
            "number_of_images 2**40: run refused (bounded), no hang",
            _huge_image_count,
        ),
    ]


# --- hostile names and metadata (hdf5-format.md 2, 4.11) -----------------------------------------


def _prefix_fault(prefix_of: Callable[[Path], str]) -> Callable[[Path, int], FaultPlan]:
    def build(out_dir: Path, seed: int) -> FaultPlan:
        prefix = prefix_of(out_dir)
        _, wire = _run_with(prefix, seed, n_images=2)
        return FaultPlan(wire, rejected={"run refused": 2}, refused_prefixes=(prefix,))

    return build


def _appendix(out_dir: Path, seed: int) -> FaultPlan:
    hdf5 = {"a/b": 1, "../up": 2, "nested": {"x": 1}, "listed": [1, 2], "flag": True, "kept": 3}
    _, wire = _run_with("faults/appendix", seed, user_data={"user": {"hdf5": hdf5}})
    return FaultPlan(
        wire,
        run_prefix="faults/appendix",
        run_images=4,
        warnings=5,
        forbidden_paths=(
            "/entry/user/a",
            "/entry/user/a/b",
            "/entry/up",
            "/entry/user/nested",
            "/entry/user/listed",
            "/entry/user/flag",
        ),
    )


def hostile_faults() -> list[Fault]:
    """Hostile ``file_prefix`` values and ``header_appendix.hdf5`` keys."""
    refused = "run refused, no file written anywhere"
    return [
        Fault(
            "prefix_dotdot",
            f"'../escape': {refused}",
            _prefix_fault(lambda d: "../faultsuite_escape"),
        ),
        Fault(
            "prefix_absolute",
            f"absolute path: {refused}",
            _prefix_fault(lambda d: str(d.parent.resolve() / "faultsuite_abs_escape")),
        ),
        Fault("prefix_nul", f"NUL byte: {refused}", _prefix_fault(lambda d: "faults/nul\x00name")),
        Fault(
            "prefix_long",
            f"5000 characters: {refused}",
            _prefix_fault(lambda d: "faults/" + "x" * 5000),
        ),
        Fault(
            "appendix_keys",
            "keys with '/', '..', map, list, bool skipped with a warning; 'kept' written",
            _appendix,
        ),
    ]


def standard_faults() -> list[Fault]:
    """Every stream fault of the table, in the order the runner sends them."""
    return malformed_faults() + hostile_faults()
