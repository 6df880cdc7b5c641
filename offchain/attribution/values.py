"""The ``ame.values/1`` document of a multi-stage attribution: what mapping reads.

One writer for every pipeline and every caller (``ame attribute``, the demos, the
Python API): it takes a :class:`~offchain.attribution.multistage.MultiStageResult` and
plain metadata, the terms of each event's use (commercial or not, its day) and the id
and digest of the inputs, and returns the JSON-ready document (``docs/manifest.md``).
Per event: its revenue, ``values`` (each asset's amount in base units, a digit
string), ``stages`` (each stage's amount) and ``diagnostics`` (how they were computed).
Attribution does not import mapping; ``offchain.mapping.parse_values`` reads the
document back, and a test holds the two together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ame_core.exceptions import InputError
from offchain.attribution.multistage import EventAttribution, MultiStageResult

__all__ = ["VALUES_FORMAT", "EventTerms", "values_document"]

#: Format tag of the document.
VALUES_FORMAT: Final = "ame.values/1"


@dataclass(frozen=True)
class EventTerms:
    """The terms of one event's use, which licences are checked against in mapping.

    Attributes:
        commercial: Whether the use is commercial.
        date: The UTC day of the event.
    """

    commercial: bool
    date: dt.date


def values_document(
    result: MultiStageResult,
    *,
    epoch: int,
    terms: Mapping[str, EventTerms],
    inputs: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The ``ame.values/1`` document of an attribution (JSON-ready).

    Args:
        result: The split of the events' revenues.
        epoch: Epoch of the document, an int >= 0.
        terms: The terms of every event of ``result``, by event id.
        inputs: ``(id, sha256)`` naming the attribution's inputs (a scenario, a
            pipeline configuration and its events), copied into the manifest; None if
            unknown.

    Returns:
        The document, events in the order of ``result``.

    Raises:
        InputError: If ``epoch`` is not an int >= 0, an event has no terms (or terms of
            the wrong type), or ``inputs`` is not two strings; nothing is returned.

    """
    if not isinstance(result, MultiStageResult):
        raise InputError(f"result: expected a MultiStageResult, got {type(result).__name__}")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise InputError(f"epoch: must be an int >= 0, got {epoch!r}")
    if inputs is not None and not (
        isinstance(inputs, tuple) and len(inputs) == 2 and all(isinstance(x, str) for x in inputs)
    ):
        raise InputError(f"inputs: expected (id, sha256) strings or None, got {inputs!r}")
    events = []
    for item in result.events:
        event_id = item.event.id
        if event_id not in terms:
            raise InputError(f"terms: no terms for event {event_id!r}")
        term = terms[event_id]
        if (
            not isinstance(term, EventTerms)
            or not isinstance(term.commercial, bool)
            or not isinstance(term.date, dt.date)
        ):
            raise InputError(
                f"terms[{event_id!r}]: expected EventTerms(commercial: bool, date: date), "
                f"got {term!r}"
            )
        events.append(
            {
                "id": event_id,
                "revenue": str(item.revenue),
                "commercial": term.commercial,
                "date": term.date.isoformat(),
                "values": {a: str(v) for a, v in item.amounts.items()},
                "stages": {s: str(v) for s, v in item.stage_amounts.items()},
                "diagnostics": _diagnostics(item),
            }
        )
    return {
        "format": VALUES_FORMAT,
        "epoch": epoch,
        "scenario": None if inputs is None else {"id": inputs[0], "sha256": inputs[1]},
        "events": events,
    }


def _diagnostics(item: EventAttribution) -> dict[str, Any]:
    return {
        "method": item.method,
        "n_evaluations": item.n_evaluations,
        "utility": item.utility,
        "stage_values": {s: st.value for s, st in item.stages.items()},
        "asset_values": {
            a: st.asset_values[a]
            for st in item.stages.values()
            for a in st.assets
            if a in st.asset_values
        },
        "stderr": item.stderr,
        "notes": list(item.notes),
    }
