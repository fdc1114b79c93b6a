"""Hypothesis strategies shared by the test suite.

Message strategies are generated from each message class's field table, so a field added to a
table is exercised by the round-trip tests without further work.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jfjoch_hil.stream import MESSAGE_TYPES, TypedArray
from jfjoch_hil.stream.compression import ALGORITHMS

#: Pixel types the stream must carry (8/16/32-bit signed and unsigned), both byte orders.
PIXEL_DTYPES = [
    np.dtype(code).newbyteorder(order)
    for code in ("u1", "i1", "u2", "i2", "u4", "i4")
    for order in ("<", ">")
]
#: Every element type with an RFC 8746 tag that we round-trip (floats and 64-bit included).
ALL_DTYPES = PIXEL_DTYPES + [
    np.dtype(code).newbyteorder(order)
    for code in ("u8", "i8", "f2", "f4", "f8")
    for order in ("<", ">")
]
COMPRESSIONS = (None, *ALGORITHMS)

uint64 = st.integers(0, 2**64 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
text = st.text(max_size=20)
keys = st.text(st.characters(codec="ascii", categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12)
offsets = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets | st.just(UTC)
)
rationals = st.tuples(st.integers(0, 2**32), st.integers(1, 2**32))
scalars = st.none() | st.booleans() | int64 | floats | text | st.binary(max_size=16)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def arrays(
    draw, *, dtypes=PIXEL_DTYPES, min_dims=2, max_dims=2, max_side=40, compressions=COMPRESSIONS
):
    """A numpy array of one of ``dtypes`` with any values, and the compression to send it with."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
    )
    elements = None
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=False)
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    compression = draw(st.sampled_from(compressions))
    return array, compression


def typed_arrays(*, multidim: bool, dtypes=ALL_DTYPES):
    """:class:`TypedArray` values, compressed or not, tag 40 or plain."""
    return arrays(dtypes=dtypes, min_dims=2 if multidim else 1, max_dims=2 if multidim else 1).map(
        lambda pair: TypedArray.from_numpy(pair[0], compression=pair[1], multidim=multidim)
    )


_KIND_STRATEGIES = {
    "uint": uint64,
    "int": int64,
    "float": floats,
    "bool": st.booleans(),
    "str": text,
    "datetime": datetimes,
    "rational": rationals,
    "multidim": typed_arrays(multidim=True),
    "typed_array": typed_arrays(multidim=False) | typed_arrays(multidim=True),
    "floats": st.lists(floats, max_size=8),
    "strs": st.lists(text, max_size=4),
    "map": st.dictionaries(keys, json_like, max_size=4),
    "maps": st.lists(st.dictionaries(keys, json_like, max_size=4), max_size=4),
    "map_of_maps": st.dictionaries(keys, st.dictionaries(keys, json_like, max_size=3), max_size=3),
    "channel_arrays": st.dictionaries(
        keys, typed_arrays(multidim=True, dtypes=PIXEL_DTYPES), max_size=3
    ),
    "channel_floats": st.dictionaries(keys, floats, max_size=3),
    "columns": st.dictionaries(keys, typed_arrays(multidim=False), max_size=3),
    "any": json_like,
}


@st.composite
def messages(draw, cls=None):
    """Any message of ``cls`` (or of any kind): required fields, a random subset of the others,
    and a few unknown keys that must survive as ``extra``."""
    if cls is None:
        cls = draw(st.sampled_from(sorted(MESSAGE_TYPES.values(), key=lambda c: c.TYPE)))
    values = {}
    for spec in cls.FIELDS:
        if spec.required or draw(st.booleans()):
            values[spec.key] = draw(_KIND_STRATEGIES[spec.kind])
    known = {spec.key for spec in cls.FIELDS} | {"type"}
    extra = draw(
        st.dictionaries(
            keys.filter(lambda k: k not in known).map(lambda k: "x_" + k), json_like, max_size=3
        )
    )
    return cls(**values, extra=extra)
