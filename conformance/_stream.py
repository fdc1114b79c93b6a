"""Stream checks: dumped or live CBOR messages against shared/spec/stream.md, decoded with cbor2
directly (no import of our ``stream`` package: the checker must stand on its own).

Required fields per kind, CBOR types (§3.1), image arrays (tag 40 + RFC 8746 typed array, optionally
tag 56500 compression, §4), order start -> images -> end (§1), series ids (§6), image numbers (§8.1).
Jungfraujoch extension keys are optional and not type-checked (their names are unconfirmed, §9).

``profile`` names the consumer the stream is checked for: ``dectris`` reports what a DECTRIS
Stream V2 consumer would reject or misread (message kinds other than start/image/end, fields
DECTRIS lists that are missing or of another type, signed pixel types, compressions other than
bslz4/lz4); ``jungfraujoch`` (default) reports confirmed Jungfraujoch fields that are missing.
The field lists below are written from stream.md, not taken from our encoder.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cbor2
from jfjoch_hil.conformance._report import Finding, Report
from jfjoch_hil.conformance.rules import STREAM_PROFILES, STREAM_RULES

__all__ = [
    "check_messages",
    "check_stream_dir",
    "check_stream_connect",
    "DECTRIS_FIELDS",
    "JUNGFRAUJOCH_FIELDS",
    "REQUIRED_FIELDS",
    "FIELD_TYPES",
]

_SELF_DESCRIBED = b"\xd9\xd9\xf7"
_KINDS = ("start", "image", "end", "calibration", "metadata")
_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_ALGORITHMS = {"bslz4", "lz4", "bszstd"}

# §5.1, §8.1, §10.1: fields each kind must carry (project decision for start: the five ids/sizes).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "start": (
        "type",
        "series_id",
        "series_unique_id",
        "image_size_x",
        "image_size_y",
        "number_of_images",
    ),
    "image": ("type", "series_id", "series_unique_id", "image_id", "data"),
    "end": ("type", "series_id", "series_unique_id"),
    # §10.2 provisional layout (one named MultiDimArray per message), §10.3 (K: an images array)
    "calibration": ("type", "name", "data"),
    "metadata": ("type", "images"),
}

# §3.1 / §5.1 / §8.1 DS2 types of the DECTRIS fields: uint, int, float, bool, str, date, rational,
# str_list, mdarray_map (channel -> MultiDimArray), float_map, typed (typed array), any.
FIELD_TYPES: dict[str, str] = {
    "series_id": "uint",
    "series_unique_id": "str",
    "image_id": "uint",
    "number_of_images": "uint",
    "image_size_x": "uint",
    "image_size_y": "uint",
    "channels": "str_list",
    "arm_date": "date",
    "series_date": "date",
    "beam_center_x": "float",
    "beam_center_y": "float",
    "count_time": "float",
    "frame_time": "float",
    "incident_energy": "float",
    "incident_wavelength": "float",
    "pixel_size_x": "float",
    "pixel_size_y": "float",
    "sensor_thickness": "float",
    "countrate_correction_enabled": "bool",
    "flatfield_enabled": "bool",
    "pixel_mask_enabled": "bool",
    "virtual_pixel_interpolation_enabled": "bool",
    "saturation_value": "int",
    "sensor_material": "str",
    "detector_description": "str",
    "detector_serial_number": "str",
    "image_dtype": "str",
    "real_time": "rational",
    "start_time": "rational",
    "stop_time": "rational",
    "data": "mdarray_map",
    "pixel_mask": "mdarray_map",
    "flatfield": "mdarray_map",
    "threshold_energy": "float_map",
    "detector_translation": "float_list",
    "goniometer": "map",
}
_IMAGE_DTYPES = {"uint8", "uint16", "uint32", "int8", "int16", "int32", "float32"}

# §5.1 (start), §8.1 (image), §10.1 (end): every field DECTRIS lists, with the DS2 type a DECTRIS
# consumer decodes it as (DEX: an Integer is an unsigned integer, a Float never an integer).
DECTRIS_FIELDS: dict[str, dict[str, str]] = {
    "start": {
        "series_id": "uint",
        "series_unique_id": "str",
        "arm_date": "date",
        "beam_center_x": "float",
        "beam_center_y": "float",
        "channels": "str_list",
        "count_time": "float",
        "countrate_correction_enabled": "bool",
        "countrate_correction_lookup_table": "typed",
        "detector_description": "str",
        "detector_serial_number": "str",
        "detector_translation": "float_list",
        "flatfield": "mdarray_map",
        "flatfield_enabled": "bool",
        "frame_time": "float",
        "goniometer": "map",
        "image_dtype": "str",
        "image_size_x": "uint",
        "image_size_y": "uint",
        "incident_energy": "float",
        "incident_wavelength": "float",
        "number_of_images": "uint",
        "pixel_mask": "mdarray_map",
        "pixel_mask_enabled": "bool",
        "pixel_size_x": "float",
        "pixel_size_y": "float",
        "saturation_value": "uint",
        "sensor_material": "str",
        "sensor_thickness": "float",
        "threshold_energy": "float_map",
        "user_data": "any",
        "virtual_pixel_interpolation_enabled": "bool",
    },
    "image": {
        "series_id": "uint",
        "series_unique_id": "str",
        "image_id": "uint",
        "real_time": "rational",
        "series_date": "date",
        "start_time": "rational",
        "stop_time": "rational",
        "user_data": "any",
        "data": "mdarray_map",
    },
    "end": {"series_id": "uint", "series_unique_id": "str"},
}
_DECTRIS_DTYPES = {"uint8", "uint16", "uint32"}
_DECTRIS_TAGS = {64, 65, 66, 69, 70}  # uint8, uint16/32 big- and little-endian (§4.1)
_DECTRIS_ALGORITHMS = {"bslz4", "lz4"}

# §5.2 start rows marked C (D/J or J) and the §8.1 fields Jungfraujoch keeps (§8.2): what the
# default profile expects a Jungfraujoch stream to carry.
JUNGFRAUJOCH_FIELDS: dict[str, tuple[str, ...]] = {
    "start": (
        "magic_number",
        "detector_distance",
        "detector_translation",
        "beam_center_x",
        "beam_center_y",
        "countrate_correction_enabled",
        "flatfield_enabled",
        "number_of_images",
        "image_size_x",
        "image_size_y",
        "incident_energy",
        "incident_wavelength",
        "frame_time",
        "count_time",
        "saturation_value",
        "pixel_size_x",
        "pixel_size_y",
        "sensor_thickness",
        "sensor_material",
        "arm_date",
        "pixel_mask_enabled",
        "detector_description",
        "pixel_mask",
    ),
    "image": ("real_time", "series_date", "start_time", "stop_time"),
    "end": (),
}


def _type_ok(kind: str, value) -> bool:
    if kind == "uint":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, float)  # DEX rejects an integer where a Float is expected (§3.1)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "date":
        return isinstance(value, _dt.datetime) and value.tzinfo is not None
    if kind == "rational":
        return (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
            and value[1] > 0
        )
    if kind == "str_list":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if kind == "float_list":
        return isinstance(value, list | tuple) and all(isinstance(v, float) for v in value)
    if kind in ("map", "mdarray_map", "float_map"):
        if not isinstance(value, Mapping):
            return False
        if kind == "float_map":
            return all(isinstance(v, float) for v in value.values())
        return all(isinstance(k, str) for k in value)
    return True


def _typed_element_size(tag: int) -> int | None:
    """Element size of an RFC 8746 typed-array tag (64..87, 76 reserved), §4.1."""
    if not 64 <= tag <= 87 or tag == 76:
        return None
    if tag & 0b10000:  # float: ll selects 16/32/64/128 bit
        return 2 << (tag & 0b11)
    return 1 << (tag & 0b11)


def _check_mdarray(add, where: str, item, deep: bool = False) -> None:
    if not isinstance(item, cbor2.CBORTag) or item.tag != 40:
        add("ST-ARRAY", where, "not a tag-40 multi-dimensional array")
        return
    value = item.value
    if not isinstance(value, list | tuple) or len(value) != 2:
        add("ST-ARRAY", where, "tag 40 content must be [dims, typed array]")
        return
    dims, typed = value
    if (
        not isinstance(dims, list | tuple)
        or len(dims) != 2
        or not all(isinstance(d, int) and d > 0 for d in dims)
    ):
        add("ST-ARRAY", where, f"dims {dims!r}: two positive integers [rows, columns] required")
        return
    if not isinstance(typed, cbor2.CBORTag) or _typed_element_size(typed.tag) is None:
        add(
            "ST-ARRAY",
            where,
            f"typed-array tag 64..87 required, got {getattr(typed, 'tag', type(typed).__name__)}",
        )
        return
    elem = _typed_element_size(typed.tag)
    want = dims[0] * dims[1] * elem
    payload = typed.value
    if isinstance(payload, bytes):
        if len(payload) != want:
            add(
                "ST-ARRAY",
                where,
                f"{len(payload)} bytes, dims {list(dims)} x {elem} B = {want} required",
            )
        return
    if not isinstance(payload, cbor2.CBORTag) or payload.tag != 56500:
        add(
            "ST-ARRAY",
            where,
            "typed array holds neither a byte string nor a tag-56500 compressed item",
        )
        return
    comp = payload.value
    if not (
        isinstance(comp, list | tuple)
        and len(comp) == 3
        and isinstance(comp[0], str)
        and isinstance(comp[1], int)
        and isinstance(comp[2], bytes)
    ):
        add("ST-ARRAY", where, "tag 56500 content must be [algorithm, modifier, bytes]")
        return
    algorithm, modifier, data = comp
    if algorithm not in _ALGORITHMS:
        add("ST-ARRAY", where, f"algorithm '{algorithm}', one of {sorted(_ALGORITHMS)} required")
        return
    if algorithm in ("bslz4", "bszstd") and modifier != elem:
        add("ST-ARRAY", where, f"{algorithm} modifier {modifier}, element size {elem} required")
    if len(data) < 12:
        add("ST-ARRAY", where, f"compressed payload of {len(data)} bytes has no 12-byte header")
        return
    total = int.from_bytes(data[:8], "big")
    block = int.from_bytes(data[8:12], "big")
    if total != want:
        add("ST-ARRAY", where, f"header says {total} uncompressed bytes, dims need {want}")
    if block == 0 or block % elem:
        add("ST-ARRAY", where, f"block size {block} bytes is not a positive multiple of {elem}")
        return
    if deep and total == want:
        from jfjoch_hil.conformance._payload import decompressed_size

        try:
            got = decompressed_size(algorithm, data, elem)
        except ImportError as exc:
            add("ST-ARRAY", where, f"{algorithm} payload not verified: {exc.name} is not installed")
            return
        except Exception as exc:  # noqa: BLE001 - any decoder failure is the payload's finding
            add("ST-ARRAY", where, f"{algorithm} payload does not decompress: {str(exc)[:120]}")
            return
        if got != want:
            add(
                "ST-ARRAY",
                where,
                f"{algorithm} payload decompresses to {got} bytes, {want} expected",
            )


@dataclass
class _Run:
    findings: list[Finding] = field(default_factory=list)
    start: dict | None = None
    deep: bool = False
    profile: str = "jungfraujoch"
    ended: bool = False
    image_ids: set[int] = field(default_factory=set)
    orphans: int = 0  # messages seen before any start
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, rule_id: str, where: str, message: str) -> None:
        r = STREAM_RULES[rule_id]
        self.findings.append(Finding(rule_id, r.severity, where, message, r.section))


def _check_one(run: _Run, where: str, raw: bytes) -> None:
    if not raw.startswith(_SELF_DESCRIBED):
        run.add(
            "ST-SELF-DESCRIBED", where, "no tag 55799 prefix (the DECTRIS C parser requires it)"
        )
    try:
        msg = cbor2.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any decode failure is this message's finding
        run.add(
            "ST-UNREADABLE", where, f"not one CBOR item: {type(exc).__name__}: {str(exc)[:160]}"
        )
        return
    if not isinstance(msg, Mapping):
        run.add("ST-ENVELOPE", where, f"top level is {type(msg).__name__}, a map required")
        return
    keys = list(msg.keys())
    if not all(isinstance(k, str) for k in keys):
        run.add("ST-ENVELOPE", where, "map keys must be text strings")
    if not keys or keys[0] != "type":
        run.add(
            "ST-ENVELOPE", where, f"first key is {keys[0] if keys else None!r}, 'type' required"
        )
    kind = msg.get("type")
    if kind not in _KINDS:
        run.add("ST-TYPE", where, f"type {kind!r}, one of {list(_KINDS)} required")
        return
    run.counts[kind] = run.counts.get(kind, 0) + 1
    if run.profile == "dectris":
        _check_dectris(run, where, kind, msg)
    elif kind in JUNGFRAUJOCH_FIELDS:
        missing = [n for n in JUNGFRAUJOCH_FIELDS[kind] if n not in msg]
        if missing:
            run.add("ST-JFJ-FIELD", where, f"{kind} lacks {', '.join(missing)}")
    for name in REQUIRED_FIELDS[kind]:
        if name not in msg:
            run.add("ST-REQUIRED", f"{where}:{name}", f"missing in a {kind} message")
    if kind in ("start", "image", "end"):
        for name, value in msg.items():
            want = FIELD_TYPES.get(name)
            if want and not _type_ok(want, value):
                run.add(
                    "ST-FIELD-TYPE",
                    f"{where}:{name}",
                    f"{type(value).__name__} {str(value)[:60]!r}, {want} required",
                )
    if kind == "start":
        if isinstance(msg.get("image_dtype"), str) and msg["image_dtype"] not in _IMAGE_DTYPES:
            run.add(
                "ST-FIELD-TYPE", f"{where}:image_dtype", f"'{msg['image_dtype']}' not a pixel type"
            )
        for name in ("pixel_mask", "flatfield"):
            if isinstance(msg.get(name), Mapping):
                for ch, arr in msg[name].items():
                    _check_mdarray(run.add, f"{where}:{name}.{ch}", arr, run.deep)
        if run.start is not None and not run.ended:
            run.add("ST-ORDER", where, "second start message before the previous series ended")
        run.start, run.ended, run.image_ids = dict(msg), False, set()
        return
    if kind in ("image", "end", "calibration"):
        if run.start is None:
            run.orphans += 1
            if run.orphans == 1:
                run.add(
                    "ST-ORDER", where, f"{kind} message before any start message (missing start)"
                )
        elif run.ended and kind != "end":
            run.add("ST-ORDER", where, f"{kind} message after the end message")
        elif run.ended:
            run.add("ST-ORDER", where, "second end message")
        if run.start is not None and kind in ("image", "end"):
            for name in ("series_id", "series_unique_id"):
                if name in msg and name in run.start and msg[name] != run.start[name]:
                    run.add(
                        "ST-SERIES",
                        f"{where}:{name}",
                        f"{msg[name]!r} differs from the start's {run.start[name]!r}",
                    )
    if kind == "calibration" and "data" in msg:
        _check_mdarray(run.add, f"{where}:data", msg["data"], run.deep)
    if kind == "metadata":
        images = msg.get("images")
        if "images" in msg and not (
            isinstance(images, (list, tuple)) and all(isinstance(i, Mapping) for i in images)
        ):
            run.add(
                "ST-FIELD-TYPE",
                f"{where}:images",
                f"{type(images).__name__}, an array of maps required",
            )
    if kind == "image":
        _check_image(run, where, msg)
    if kind == "end":
        run.ended = True


def _check_dectris(run: _Run, where: str, kind: str, msg: Mapping) -> None:
    """What a DECTRIS Stream V2 consumer would reject or misread in one message."""
    if kind not in DECTRIS_FIELDS:
        run.add(
            "ST-DECTRIS-TYPE",
            f"{where}:type",
            f"'{kind}' message: DECTRIS defines start, image and end only (its C client stops here)",
        )
        return
    for name, want in DECTRIS_FIELDS[kind].items():
        if name not in msg:
            run.add("ST-DECTRIS-FIELD", f"{where}:{name}", f"missing in a {kind} message")
        elif want == "typed":
            value = msg[name]
            if not isinstance(value, cbor2.CBORTag) or _typed_element_size(value.tag) is None:
                run.add(
                    "ST-DECTRIS-FIELD", f"{where}:{name}", "a typed array (tag 64..87) required"
                )
        elif not _type_ok(want, msg[name]):
            value = msg[name]
            run.add(
                "ST-DECTRIS-FIELD",
                f"{where}:{name}",
                f"{type(value).__name__} {str(value)[:60]!r}, DECTRIS type {want} required",
            )
    if kind == "start":
        dtype = msg.get("image_dtype")
        if isinstance(dtype, str) and dtype not in _DECTRIS_DTYPES:
            run.add(
                "ST-DECTRIS-DTYPE",
                f"{where}:image_dtype",
                f"'{dtype}', DECTRIS allows {sorted(_DECTRIS_DTYPES)}",
            )
    if kind == "image" and isinstance(msg.get("data"), Mapping):
        for ch, arr in msg["data"].items():
            value = arr.value if isinstance(arr, cbor2.CBORTag) and arr.tag == 40 else None
            typed = value[1] if isinstance(value, list | tuple) and len(value) == 2 else None
            if not isinstance(typed, cbor2.CBORTag):
                continue  # the array rules report the shape
            if typed.tag not in _DECTRIS_TAGS:
                run.add(
                    "ST-DECTRIS-DTYPE",
                    f"{where}:data.{ch}",
                    f"typed-array tag {typed.tag}, DECTRIS allows uint8/16/32 (tags 64, 69, 70)",
                )
            payload = typed.value
            if isinstance(payload, cbor2.CBORTag) and payload.tag == 56500:
                comp = payload.value
                algorithm = comp[0] if isinstance(comp, list | tuple) and comp else None
                if algorithm not in _DECTRIS_ALGORITHMS:
                    run.add(
                        "ST-DECTRIS-COMPRESSION",
                        f"{where}:data.{ch}",
                        f"algorithm {algorithm!r}, DECTRIS clients decode bslz4 and lz4 only",
                    )


def _check_image(run: _Run, where: str, msg: dict) -> None:
    image_id = msg.get("image_id")
    if isinstance(image_id, int):
        if image_id in run.image_ids:
            run.add("ST-IMAGE-ID", f"{where}:image_id", f"image {image_id} sent twice")
        run.image_ids.add(image_id)
        total = (run.start or {}).get("number_of_images")
        if isinstance(total, int) and not 0 <= image_id < total:
            run.add("ST-IMAGE-ID", f"{where}:image_id", f"{image_id} outside 0..{total - 1}")
    data = msg.get("data")
    if isinstance(data, Mapping):
        channels = (run.start or {}).get("channels")
        if isinstance(channels, list | tuple) and list(data.keys()) != list(channels):
            run.add(
                "ST-ARRAY",
                f"{where}:data",
                f"channels {list(data.keys())} differ from the start's {list(channels)}",
            )
        size = [(run.start or {}).get("image_size_y"), (run.start or {}).get("image_size_x")]
        for ch, arr in data.items():
            _check_mdarray(run.add, f"{where}:data.{ch}", arr, run.deep)
            dims = getattr(arr, "value", [None])[0] if isinstance(arr, cbor2.CBORTag) else None
            if None not in size and isinstance(dims, list | tuple) and list(dims) != size:
                run.add("ST-ARRAY", f"{where}:data.{ch}", f"dims {list(dims)}, start says {size}")
    times = [msg.get(n) for n in ("start_time", "stop_time")]
    if (
        all(_type_ok("rational", t) for t in times)
        and times[0][0] * times[1][1] > times[1][0] * times[0][1]
    ):
        run.add("ST-FIELD-TYPE", f"{where}:stop_time", "stop_time precedes start_time")


def check_messages(
    messages: Iterable[tuple[str, bytes]],
    target: str = "stream",
    deep: bool = False,
    profile: str = "jungfraujoch",
) -> Report:
    """Check a sequence of (label, raw CBOR bytes) messages in arrival order; ``deep`` also
    decompresses every compressed array (stream.md §4.3); ``profile`` is the consumer checked
    for (``jungfraujoch`` or ``dectris``)."""
    if profile not in STREAM_PROFILES:
        raise ValueError(f"profile: {profile!r}; allowed {', '.join(STREAM_PROFILES)}")
    run = _Run(deep=deep, profile=profile)
    n = 0
    for where, raw in messages:
        n += 1
        _check_one(run, where, raw)
    if n == 0:
        run.add("ST-ORDER", target, "no messages")
    elif run.start is None:
        run.add(
            "ST-ORDER",
            target,
            f"no start message in the stream ({run.orphans} messages without one)",
        )
    elif not run.ended:
        run.add("ST-ORDER", target, "the stream has no end message")
    if run.start is not None and isinstance(run.start.get("number_of_images"), int) and run.ended:
        missing = run.start["number_of_images"] - len(run.image_ids)
        if missing > 0:
            run.add(
                "ST-IMAGE-ID",
                target,
                f"{missing} of {run.start['number_of_images']} images never arrived",
            )
    unreadable = (
        n > 0
        and all(f.rule == "ST-UNREADABLE" for f in run.findings if f.severity == "error")
        and sum(f.rule == "ST-UNREADABLE" for f in run.findings) == n
    )
    return Report(
        target,
        "stream",
        "-",
        tuple(run.findings),
        checked=len(STREAM_RULES),
        unreadable=unreadable,
        rules_run=tuple(sorted(STREAM_RULES)),
    )


def check_stream_dir(
    folder: str | Path, deep: bool = False, profile: str = "jungfraujoch"
) -> Report:
    """Check a folder of dumped messages (``NNNNNN.cbor``, one message per file, in name order)."""
    root = Path(folder)
    if not root.is_dir():
        r = STREAM_RULES["ST-UNREADABLE"]
        return Report(
            str(folder),
            "stream",
            "-",
            (Finding(r.id, r.severity, str(folder), "not a folder", r.section),),
            checked=1,
            unreadable=True,
        )
    files = sorted(p for p in root.iterdir() if p.suffix == ".cbor" and p.is_file())

    def read():
        for p in files:
            if p.stat().st_size > _MAX_MESSAGE_BYTES:
                yield p.name, b""
                continue
            yield p.name, p.read_bytes()

    return check_messages(read(), target=str(root), deep=deep, profile=profile)


def check_stream_connect(
    endpoint: str,
    timeout_s: float = 10.0,
    max_messages: int = 100_000,
    deep: bool = False,
    profile: str = "jungfraujoch",
) -> Report:
    """Connect a PULL socket to ``endpoint`` (stream.md §2.3) and check what arrives until the end
    message, ``timeout_s`` seconds, or ``max_messages`` messages."""
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    received: list[tuple[str, bytes]] = []
    try:
        sock.connect(endpoint)
        deadline = time.monotonic() + timeout_s
        while len(received) < max_messages:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not sock.poll(left_ms):
                break
            raw = sock.recv(copy=True)
            received.append((f"#{len(received):06d}", raw))
            if raw[:64].find(b"\x64type\x63end") >= 0:
                break
    finally:
        sock.close(linger=0)
    return check_messages(received, target=endpoint, deep=deep, profile=profile)
