"""Message classes a type checker sees: each class's typed attributes agree with its FIELDS table
(names and order, requiredness and defaults, the annotated type of each value kind)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from jfjoch_hil.stream import MESSAGE_TYPES, Field, Message
from jfjoch_hil.stream.messages import KIND_TYPES

CLASSES = sorted(MESSAGE_TYPES.values(), key=lambda cls: cls.TYPE)


def _declared(cls: type[Message]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.name != "extra"]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.TYPE)
def test_attributes_are_the_table_keys_in_table_order(cls):
    assert [f.name for f in _declared(cls)] == [row.key for row in cls.FIELDS]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.TYPE)
def test_required_rows_have_no_default_and_optional_rows_default_to_none(cls):
    rows = {row.key: row for row in cls.FIELDS}
    for f in _declared(cls):
        assert f.kw_only is True, f.name
        if rows[f.name].required:
            assert f.default is dataclasses.MISSING, f.name
            assert f.default_factory is dataclasses.MISSING, f.name
        else:
            assert f.default is None, f.name


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.TYPE)
def test_annotations_are_the_type_of_each_kind(cls):
    hints = typing.get_type_hints(cls)
    for row in cls.FIELDS:
        wanted = KIND_TYPES[row.kind]
        if not row.required and wanted is not Any:
            wanted = wanted | None
        assert hints[row.key] == wanted, (row.key, row.kind, hints[row.key])


def test_every_message_class_is_a_frozen_dataclass():
    for cls in CLASSES:
        message = cls.from_wire({}) if not cls._REQUIRED else None
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
        if message is not None:
            with pytest.raises(dataclasses.FrozenInstanceError):
                message.series_id = 1  # type: ignore[misc]


def test_a_class_whose_attributes_drift_from_its_table_is_refused_at_import():
    table = (Field("series_id", "uint"), Field("colour", "str"))
    with pytest.raises(
        AssertionError, match=r"attributes differ from its field table: \['colour'\]"
    ):

        class Drifted(Message):  # noqa: F841 - defining it is the test
            TYPE = "drifted"
            FIELDS = table
            series_id: int | None = None

    with pytest.raises(AssertionError, match="order"):

        class Reordered(Message):  # noqa: F841
            TYPE = "reordered"
            FIELDS = table
            colour: str | None = None
            series_id: int | None = None
