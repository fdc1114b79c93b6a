"""The field tables behind every message class, and the conversions they drive.

Each message kind is declared once as a tuple of :class:`Field` rows (wire key, value kind,
required, unit, spec section, meaning).  The decoder's validation, the encoder and the field
documentation are derived from that table (STYLE.md, "declare a layout once"); each message class
declares the same fields as typed dataclass attributes, so a type checker sees them, and
:class:`Message` refuses at import a class whose attributes differ from its table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import chain
from typing import Any, ClassVar, NamedTuple, Self

import cbor2
import numpy as np
from jfjoch_hil.stream.arrays import TypedArray, array_from_tag
from jfjoch_hil.stream.errors import DecodeError, EncodeError

__all__ = ["KINDS", "KIND_TYPES", "Field", "Message", "Rational", "same_value"]


class Rational(NamedTuple):
    """A DS2 Rational: ``[numerator, denominator]`` of unsigned integers (stream.md 3.1).

    Times such as ``real_time`` are seconds = numerator / denominator (the denominator is the
    time-base frequency, 50 MHz in DECTRIS series).
    """

    numerator: int
    denominator: int

    @property
    def seconds(self) -> float:
        """The value as a float (seconds for time fields)."""
        return self.numerator / self.denominator


@dataclass(frozen=True)
class Field:
    """One row of a message field table (stream.md sections 5-10).

    ``kind`` names the wire type (see :data:`KINDS`); ``std`` is ``D`` (DECTRIS), ``J``
    (Jungfraujoch) or ``D/J``; ``status`` the spec's confirmation mark (C, O, K or U).
    """

    key: str
    kind: str
    required: bool = False
    unit: str = ""
    section: str = ""
    std: str = "J"
    status: str = "U"
    doc: str = ""


def _fail(kind: str, path: str, reason: str) -> DecodeError:
    return DecodeError(kind, path, reason)


def _describe(value: Any) -> str:
    return f"got {type(value).__name__} {value!r:.60}"


def _uint(value, msg, path):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(msg, path, f"expected an unsigned integer, {_describe(value)}")
    return value


def _int(value, msg, path):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(msg, path, f"expected an integer, {_describe(value)}")
    return value


def _float(value, msg, path):
    # DEX rejects an integer where a Float is expected; we accept it on decode (lenient reader)
    # and always write floats (strict writer).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(msg, path, f"expected a float, {_describe(value)}")
    return float(value)


def _bool(value, msg, path):
    if not isinstance(value, bool):
        raise _fail(msg, path, f"expected a boolean, {_describe(value)}")
    return value


def _str(value, msg, path):
    if not isinstance(value, str):
        raise _fail(msg, path, f"expected a text string, {_describe(value)}")
    return value


def _datetime(value, msg, path):
    if type(value) is datetime:
        return value
    if isinstance(value, str):  # tag 0 missing or not interpreted: still an RFC 3339 string
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(msg, path, f"expected an RFC 3339 date/time, got {value!r:.60}") from None
    if not isinstance(value, datetime):
        raise _fail(msg, path, f"expected a tag-0 date/time, {_describe(value)}")
    return value


def _rational(value, msg, path):
    if type(value) is Rational:
        return value
    if type(value) in (list, tuple) and len(value) == 2:
        numerator, denominator = value
        if (
            type(numerator) is int
            and type(denominator) is int
            and numerator >= 0
            and denominator > 0
        ):
            return Rational(numerator, denominator)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise _fail(msg, path, f"expected a Rational [numerator, denominator], {_describe(value)}")
    if value[1] == 0:
        raise _fail(msg, path, "Rational denominator is 0")
    return Rational(value[0], value[1])


def _array(value, msg, path, *, multidim: bool | None):
    if type(value) is cbor2.CBORTag:
        try:
            value = array_from_tag(value)
        except ValueError as error:
            raise _fail(msg, path, str(error)) from None
    elif isinstance(value, np.ndarray):
        value = TypedArray.from_numpy(value, multidim=multidim is not False)
    elif isinstance(value, (list, tuple)) and multidim is False:
        value = TypedArray.from_numpy(np.asarray(value), multidim=False)
    if not isinstance(value, TypedArray):
        wanted = "a tag-40 multi-dimensional array" if multidim else "a typed array"
        raise _fail(msg, path, f"expected {wanted}, {_describe(value)}")
    if multidim and value.dims is None:
        raise _fail(msg, path, "expected a tag-40 multi-dimensional array, got a plain typed array")
    problem = value.check()
    if problem is not None:
        raise _fail(msg, path, problem)
    return value


def _floats(value, msg, path):
    if isinstance(value, TypedArray):
        value = _array(value, msg, path, multidim=None).to_numpy().reshape(-1).tolist()
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    if not isinstance(value, (list, tuple)):
        raise _fail(msg, path, f"expected an array of floats, {_describe(value)}")
    if (
        not value or set(map(type, value)) == _FLOAT_ONLY
    ):  # the common case: C-level, no call per item
        return tuple(value)
    out = []
    for index, item in enumerate(value):
        out.append(_float(item, msg, f"{path}[{index}]"))
    return tuple(out)


def _strs(value, msg, path):
    if not isinstance(value, (list, tuple)):
        raise _fail(msg, path, f"expected an array of text strings, {_describe(value)}")
    return tuple(_str(item, msg, f"{path}[{index}]") for index, item in enumerate(value))


_PLAIN_MAPS = (dict, cbor2.frozendict)
_PLAIN_MAP_TYPES = frozenset(_PLAIN_MAPS)
_FLOAT_ONLY = {float}
_STR_ONLY = {str}


def _mapping(value, msg, path):
    if type(value) in _PLAIN_MAPS and (not value or set(map(type, value)) == _STR_ONLY):
        return value
    if not isinstance(value, Mapping):
        raise _fail(msg, path, f"expected a map, {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(msg, path, f"map keys must be text strings, got {key!r:.40}")
    return value


def _channel_arrays(value, msg, path):
    value = _mapping(value, msg, path)
    return {key: _array(item, msg, f"{path}.{key}", multidim=True) for key, item in value.items()}


def _channel_floats(value, msg, path):
    value = _mapping(value, msg, path)
    return {key: _float(item, msg, f"{path}.{key}") for key, item in value.items()}


def _columns(value, msg, path):
    value = _mapping(value, msg, path)
    return {key: _array(item, msg, f"{path}.{key}", multidim=None) for key, item in value.items()}


def _maps(value, msg, path):
    if type(value) in (list, tuple) and (
        not value
        or (
            set(map(type, value)) <= _PLAIN_MAP_TYPES
            and set(map(type, chain.from_iterable(value))) <= _STR_ONLY
        )
    ):
        return tuple(value)  # the common case (a spot list): type sets built in C, no call per key
    if not isinstance(value, (list, tuple)):
        raise _fail(msg, path, f"expected an array of maps, {_describe(value)}")
    return tuple(_mapping(item, msg, f"{path}[{index}]") for index, item in enumerate(value))


def _map_of_maps(value, msg, path):
    value = _mapping(value, msg, path)
    return {key: _mapping(item, msg, f"{path}.{key}") for key, item in value.items()}


def _any(value, msg, path):
    return value


#: Value kinds a :class:`Field` may name, with the decoder that checks and converts each.
KINDS = {
    "uint": _uint,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "str": _str,
    "datetime": _datetime,
    "rational": _rational,
    "multidim": lambda v, m, p: _array(v, m, p, multidim=True),
    "typed_array": lambda v, m, p: _array(v, m, p, multidim=None),
    "floats": _floats,
    "strs": _strs,
    "map": _mapping,
    "maps": _maps,
    "map_of_maps": _map_of_maps,
    "channel_arrays": _channel_arrays,
    "channel_floats": _channel_floats,
    "columns": _columns,
    "any": _any,
}


_EXACT_TYPES = {"uint": int, "int": int, "float": float, "bool": bool, "str": str}


def same_value(a: Any, b: Any) -> bool:
    """Equality for message values: NaN equals NaN, arrays compare by content, list == tuple."""
    if a is b:
        return True
    if isinstance(a, TypedArray) and isinstance(b, TypedArray):
        return a == b
    if isinstance(a, TypedArray) or isinstance(b, TypedArray):
        # an array given as numpy before encoding equals the typed array it decodes to
        a, b = (x.to_numpy() if isinstance(x, TypedArray) else x for x in (a, b))
        if not isinstance(a, (np.ndarray, list, tuple)) or not isinstance(
            b, (np.ndarray, list, tuple)
        ):
            return False
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
        except TypeError:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and (isinstance(a, bool) or isinstance(b, bool)):
        return False
    return bool(a == b)


#: The Python type a value of each kind has after decoding (the annotation of its attribute; an
#: optional field is this type or ``None``).  Encoding also accepts the looser forms the decoder
#: converts (a list for a tuple, a numpy array for a typed array).
KIND_TYPES: dict[str, Any] = {
    "uint": int,
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "datetime": datetime,
    "rational": Rational,
    "multidim": TypedArray,
    "typed_array": TypedArray,
    "floats": Sequence[float],
    "strs": Sequence[str],
    "map": Mapping[str, Any],
    "maps": Sequence[Mapping[str, Any]],
    "map_of_maps": Mapping[str, Mapping[str, Any]],
    "channel_arrays": Mapping[str, TypedArray],
    "channel_floats": Mapping[str, float],
    "columns": Mapping[str, TypedArray],
    "any": Any,
}


@dataclass(frozen=True, kw_only=True, eq=False)
class Message:
    """Base of every message class; the fields come from the class's ``FIELDS`` table.

    Each subclass is a frozen dataclass that declares one typed attribute per table row, in
    table order (``None`` = not sent; a required row has no default).  The class checks at
    import that its attributes are exactly the table's keys; validation, encoding and the
    docstring's field list come from the table.  ``extra`` keeps every key the table does not
    know, as received (forward compatibility, stream.md section 3).
    """

    TYPE: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    _BY_KEY: ClassVar[dict[str, Field]] = {}
    _REQUIRED: ClassVar[tuple[str, ...]] = ()
    _EXACT: ClassVar[dict[str, tuple[type, bool]]] = {}

    extra: dict[str, Any] = field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.FIELDS
        name = cls.__name__
        keys = [f.key for f in table]
        if len(set(keys)) != len(keys):
            raise AssertionError(f"{name}: duplicate keys in its field table")
        for spec in table:
            if spec.kind not in KINDS:
                raise AssertionError(f"{name}.{spec.key}: unknown kind {spec.kind!r}")
        declared = [
            key
            for key, annotation in cls.__dict__.get("__annotations__", {}).items()
            if "ClassVar" not in str(annotation)
        ]
        if declared != keys:
            drift = sorted(set(declared) ^ set(keys)) or "order"
            raise AssertionError(f"{name}: attributes differ from its field table: {drift}")
        cls._BY_KEY = {f.key: f for f in table}
        cls._REQUIRED = tuple(f.key for f in table if f.required)
        # scalar kinds whose check passes a value of exactly this type unchanged (type, negative
        # allowed); bool is not int here since type() is compared
        cls._EXACT = {
            f.key: (_EXACT_TYPES[f.kind], f.kind != "uint") for f in table if f.kind in _EXACT_TYPES
        }
        rows = "\n".join(
            f"    {f.key} ({f.kind}{', ' + f.unit if f.unit else ''}"
            f"{', required' if f.required else ''}; {f.std}/{f.status}, stream.md {f.section}):"
            f" {f.doc}"
            for f in table
        )
        cls.__doc__ = (
            f"{(cls.__doc__ or '').rstrip()}\n\n"
            f"Fields (key (kind, unit; std/status, section): meaning):\n{rows}\n"
        )

    @classmethod
    def from_wire(cls, mapping: Mapping[str, Any]) -> Self:
        """Build the message from a decoded CBOR map, checking every known field.

        Raises :class:`~stream.errors.DecodeError` naming the field path and the problem.
        """
        kind = cls.TYPE
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        by_key = cls._BY_KEY
        exact = cls._EXACT
        for key, value in mapping.items():
            wanted = exact.get(key)
            if wanted is not None and type(value) is wanted[0] and (wanted[1] or value >= 0):  # type: ignore[operator]
                values[key] = value  # already exactly what the check would return
                continue
            spec = by_key.get(key)
            if spec is None:
                if key != "type":
                    extra[key] = value
                continue
            values[key] = KINDS[spec.kind](value, kind, key)
        for key in cls._REQUIRED:
            if key not in values:
                raise DecodeError(kind, key, "required field is missing")
        # Every value is checked above, so skip the dataclass __init__ (58 frozen setattr calls
        # cost more than the rest of decoding an image message); absent fields read the class
        # default, None.
        message = object.__new__(cls)
        state = message.__dict__
        state.update(values)
        state["extra"] = extra
        return message

    def to_wire(self) -> dict[str, Any]:
        """The message as a plain map, ``type`` first; unset fields left out."""
        out: dict[str, Any] = {"type": self.TYPE}
        state = self.__dict__
        for key in self._REQUIRED:
            if state.get(key) is None:
                raise EncodeError(f"{self.TYPE}.{key}: required field is not set")
        for key, value in state.items():  # attribute order: table order (or wire order)
            if value is not None and key != "extra":
                out[key] = value
        for key, value in self.extra.items():
            if key in out:
                raise EncodeError(f"{self.TYPE}.extra: key {key!r} shadows a declared field")
            out[key] = value
        return out

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(same_value(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]
