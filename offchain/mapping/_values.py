"""Mapping input (``ame.values/1``): per-event revenue and per-asset attribution values.

This is the contract between attribution and mapping: the attribution engine writes
it, :func:`~offchain.mapping.map_epoch` reads it. One document covers one epoch::

    {"format": "ame.values/1", "epoch": 7,
     "scenario": {"id": "demo", "sha256": "<hex of the attribution inputs>"},
     "events": [{"id": "gen-1", "revenue": "1000", "commercial": true,
                 "date": "2026-11-01", "values": {"model:base": 0.5, "dataset:a": "1/3"}}]}

Values are non-negative weights; only their ratios inside an event matter. They are
read exactly (``0.1`` is one tenth), see :func:`~offchain.mapping._types.parse_value`.

An event may also carry what attribution measured on the way, which mapping never
uses for payouts: ``stages`` (the value of each pipeline stage) and ``diagnostics``
(:class:`Diagnostics`: method, evaluations, standard errors). When absent they are
left out of the canonical form, so documents without them keep their digests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.documents import read_document
from ame_core.exceptions import InputError
from ame_core.validation import show_value
from offchain.mapping._errors import format_validation_error
from offchain.mapping._gc import paused_gc
from offchain.mapping._types import (
    Amount,
    AssetId,
    Day,
    EventId,
    parse_value,
)

__all__ = [
    "VALUES_FORMAT",
    "Diagnostics",
    "Event",
    "Scenario",
    "Values",
    "load_values",
    "parse_values",
]

VALUES_FORMAT: Final = "ame.values/1"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,255}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _event_id(raw: object) -> EventId:
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise ValueError(
            f"{show_value(raw)} is not an event id (1-256 characters: letters, digits and ._:/@+-)"
        )
    return EventId(raw)


def _hex64(raw: object) -> str:
    if not isinstance(raw, str) or not _HEX64.fullmatch(raw):
        raise ValueError(f"{show_value(raw)} is not a SHA-256 digest (64 lowercase hex digits)")
    return raw


def _values(raw: object) -> dict[AssetId, Fraction]:
    # One plain validator for the whole mapping: a million values are read here,
    # and a per-item pydantic validator costs twice as much.
    if not isinstance(raw, Mapping):
        raise ValueError(f"must be a mapping of asset id to value, got {type(raw).__name__}")
    out: dict[AssetId, Fraction] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"asset id {key!r} is not a non-empty string")
        try:
            out[AssetId(key)] = parse_value(value)
        except ValueError as err:
            raise ValueError(f"asset {key!r}: {err}") from None
    return out


def _numbers(raw: object) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"must be a mapping of id to number, got {type(raw).__name__}")
    out: dict[str, float] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"id {key!r} is not a non-empty string")
        if isinstance(value, bool):
            raise ValueError(f"{key!r}: must be a finite number, got {show_value(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key!r}: must be a finite number, got {show_value(value)}") from None
        if not math.isfinite(number):
            raise ValueError(f"{key!r}: must be a finite number, got {show_value(value)}")
        out[key] = number
    return out


def _stderr(raw: object) -> dict[str, float]:
    out = _numbers(raw)
    for key, number in out.items():
        if number < 0:
            raise ValueError(
                f"{key!r}: a standard error must not be negative, got {show_value(number)}"
            )
    return out


def _number_text(number: float) -> str:
    # Canonical forms hold no JSON floats: the shortest repr round-trips exactly.
    return repr(float(number))


def _ratio_text(numerator: int, denominator: int) -> str:
    # format_fraction without the Fraction property calls: run once per value.
    return str(numerator) if denominator == 1 else f"{numerator}/{denominator}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scenario(_Model):
    """The attribution run these values came from.

    Attributes:
        id: A name for the scenario.
        sha256: Digest of the attribution inputs, copied into the manifest.
    """

    id: str = Field(min_length=1)
    sha256: Annotated[str, PlainValidator(_hex64)]


class Diagnostics(_Model):
    """How attribution computed an event's values (informational; never paid on).

    Attributes:
        method: The valuation method, e.g. ``'stages=shapley/exact; within=shapley'``.
        n_evaluations: Coalitions of the event's game that were evaluated.
        utility: Worth of the whole pipeline for the event, in the method's units.
        stage_values: Value of each stage before any clipping, in those units.
        asset_values: Value of each asset within its stage before any clipping.
        stderr: Standard error of each asset's value in the document (0 when exact).
        notes: What the negative-contribution policy did, one line each.
    """

    method: str = Field(min_length=1)
    n_evaluations: StrictInt = Field(ge=0)
    utility: float | None = Field(default=None, allow_inf_nan=False)
    stage_values: Annotated[dict[str, float], PlainValidator(_numbers)] = Field(
        default_factory=dict
    )
    asset_values: Annotated[dict[str, float], PlainValidator(_numbers)] = Field(
        default_factory=dict
    )
    stderr: Annotated[dict[str, float], PlainValidator(_stderr)] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The diagnostics as canonical JSON (numbers as their shortest repr strings)."""
        return {
            "method": self.method,
            "n_evaluations": self.n_evaluations,
            "utility": None if self.utility is None else _number_text(self.utility),
            "stage_values": {k: _number_text(v) for k, v in self.stage_values.items()},
            "asset_values": {k: _number_text(v) for k, v in self.asset_values.items()},
            "stderr": {k: _number_text(v) for k, v in self.stderr.items()},
            "notes": list(self.notes),
        }


class Event(_Model):
    """One revenue event and the value each asset created in it.

    Attributes:
        id: Unique within the document.
        revenue: Revenue of the event in token base units.
        commercial: Whether the event is a commercial use (checked against licences).
        date: UTC day of the event (checked against licence expiry).
        values: Asset id to non-negative exact value; ratios decide the split.
        stages: Optional: stage id to the non-negative exact value of that pipeline
            stage (e.g. ``data``, ``base_model``, ``adapter``, ``prompt``). Not used
            for payouts.
        diagnostics: Optional: how the values were computed. Not used for payouts.
    """

    id: Annotated[EventId, PlainValidator(_event_id)]
    revenue: Amount
    commercial: StrictBool
    date: Day
    values: Annotated[dict[AssetId, Fraction], PlainValidator(_values)]
    stages: Annotated[dict[AssetId, Fraction], PlainValidator(_values)] | None = None
    diagnostics: Diagnostics | None = None

    def canonical(self) -> dict[str, Any]:
        """The event as canonical JSON; absent optional fields are left out."""
        out: dict[str, Any] = {
            "id": self.id,
            "revenue": str(self.revenue),
            "commercial": self.commercial,
            "date": self.date.isoformat(),
            "values": {a: _ratio_text(*v.as_integer_ratio()) for a, v in self.values.items()},
        }
        if self.stages is not None:
            out["stages"] = {s: _ratio_text(*v.as_integer_ratio()) for s, v in self.stages.items()}
        if self.diagnostics is not None:
            out["diagnostics"] = self.diagnostics.canonical()
        return out


class Values(_Model):
    """A whole ``ame.values/1`` document: one epoch of events.

    Attributes:
        format: Always ``'ame.values/1'``.
        epoch: The epoch number (must exceed the carried ledger's epoch).
        scenario: The attribution run these values came from, if known.
        events: Every event, in any order; ids are unique.
    """

    format: Literal["ame.values/1"]
    epoch: StrictInt = Field(ge=0)
    scenario: Scenario | None = None
    events: tuple[Event, ...]

    @model_validator(mode="after")
    def _check_unique_ids(self) -> Values:
        first: dict[str, int] = {}
        for i, event in enumerate(self.events):
            if event.id in first:
                raise ValueError(
                    f"event {event.id!r} (events[{i}]): id: already events[{first[event.id]}]"
                )
            first[event.id] = i
        return self

    def canonical(self) -> dict[str, Any]:
        """The document in canonical form (events sorted by id, values by asset)."""
        return {
            "format": self.format,
            "epoch": self.epoch,
            "scenario": None
            if self.scenario is None
            else {"id": self.scenario.id, "sha256": self.scenario.sha256},
            "events": [e.canonical() for e in sorted(self.events, key=lambda e: e.id)],
        }

    def digest(self) -> str:
        """SHA-256 of the canonical form (computed once; the document is frozen)."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        return sha256_hex(canonical_json(self.canonical()))


def parse_values(data: object, *, source: str = "<values>") -> Values:
    """Validate an ``ame.values/1`` document already read into Python objects.

    Args:
        data: The parsed document.
        source: Where it came from, for messages.

    Returns:
        The validated values.

    Raises:
        InputError: If anything is malformed; each problem names the event and field.
    """
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: the values document must be a mapping, got {type(data).__name__}"
        )
    try:
        with paused_gc():
            return Values.model_validate(data)
    except ValidationError as err:
        message = format_validation_error(err, data, source=source, groups={"events": "event"})
        raise InputError(message) from None


def load_values(path: str | Path) -> Values:
    """Read and validate an ``ame.values/1`` JSON file.

    Non-integer numbers are read as decimals, so ``0.1`` is exactly one tenth.

    Args:
        path: The file.

    Returns:
        The validated values.

    Raises:
        InputError: If the file cannot be read, parsed or validated.
    """
    return parse_values(read_document(path, unique_keys=True), source=str(path))
