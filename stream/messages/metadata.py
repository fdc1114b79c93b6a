"""The metadata message (Jungfraujoch, stream.md section 10.3): per-image metadata, bundled.

Sent on the metadata PUB socket only.  ``images`` is an array of maps, each holding an image
message's fields without pixel data; top-level keys are common to every entry (J2B merges them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jfjoch_hil.stream.messages._base import Field, Message

__all__ = ["METADATA_FIELDS", "MetadataMessage"]

_J = {"std": "J", "status": "K", "section": "10.3"}

METADATA_FIELDS: tuple[Field, ...] = (
    Field("series_id", "uint", std="J", status="U", section="10.3", doc="as in start"),
    Field("series_unique_id", "str", std="J", status="U", section="10.3", doc="as in start"),
    Field(
        "images",
        "maps",
        required=True,
        **_J,
        doc="one map per image: image-message fields, no data",
    ),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class MetadataMessage(Message):
    """A metadata message (stream.md 10.3): metadata of many images, no pixels."""

    TYPE = "metadata"
    FIELDS = METADATA_FIELDS

    series_id: int | None = None
    series_unique_id: str | None = None
    images: Sequence[Mapping[str, Any]]
