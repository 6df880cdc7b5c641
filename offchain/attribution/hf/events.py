"""Paid uses of a Hugging Face pipeline, and the JSONL log they are read from.

One line per event, a JSON object::

    {"id": "e1", "request": "the cat", "prompt": "story", "adapter": "poetry",
     "text": "sat on the mat", "revenue": 1000000000000000000,
     "commercial": true, "date": "2026-12-07"}

``prompt`` and ``adapter`` may be ``null`` or left out; ``revenue`` is an int of the
token's smallest unit (wei), written as a JSON integer or a string of decimal digits (a
JSON reader that parses numbers as doubles would round it); ``date`` is ISO 8601. The
output ``text`` is the one that earned the money: it is scored, never regenerated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from ame_core.validation import error_reason, field_path, format_problems, show_value

__all__ = ["HFEvent", "load_events", "parse_events"]


@dataclass(frozen=True)
class HFEvent:
    """One paid use of a Hugging Face pipeline (a :class:`~offchain.attribution.PipelineEvent`).

    Attributes:
        id: Event id, unique within a log.
        request: What the user asked; the prompt template's ``{request}`` slot.
        prompt: Id of the prompt template used, or None (the request alone).
        adapter: Id of the LoRA adapter used, or None (the base model alone).
        text: The output the event paid for.
        revenue: What the event paid, in wei (an int >= 0).
        commercial: Whether the use was commercial (the mapping's terms read it).
        date: The day of the use.
    """

    id: str
    request: str
    prompt: str | None
    adapter: str | None
    text: str
    revenue: int
    commercial: bool
    date: dt.date


def _wei(value: object) -> object:
    # Decimal strings carry amounts beyond 2**53 through JSON tools that parse doubles.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an int of wei (or a string of digits), got {show_value(value)}")
    return value


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, Field(min_length=1)]
    request: str
    prompt: Annotated[str, Field(min_length=1)] | None = None
    adapter: Annotated[str, Field(min_length=1)] | None = None
    text: Annotated[str, Field(min_length=1)]
    revenue: Annotated[int, BeforeValidator(_wei), Field(ge=0)]
    commercial: StrictBool
    date: Annotated[dt.date, Field(strict=False)]


def parse_events(lines: Iterable[str], *, source: str = "<events>") -> list[HFEvent]:
    """Read events from JSONL lines, all validated before any is returned.

    Blank lines are skipped; line numbers in messages count them.

    Args:
        lines: The lines of a JSONL log.
        source: Where they came from, for messages.

    Returns:
        The events, in log order.

    Raises:
        InputError: On the first bad line, naming the source, the line number, the field
            and the reason (``events.jsonl line 3: revenue: ...``); if an id repeats; or
            if there is no event.
    """
    events: list[HFEvent] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        # The guarded parser: a deeply nested line is an InputError, not a crash, and a
        # key given twice is refused rather than the last one kept.
        data = parse_json(raw, source=where, decimals=False, unique_keys=True)
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            line = _Line.model_validate(data)
        except ValidationError as err:
            problems = [
                f"{field_path(e['loc']) or '(event)'}: {error_reason(e)}" for e in err.errors()
            ]
            raise InputError(format_problems(where, problems, inline_single=True)) from None
        if line.id in seen:
            raise InputError(f"{where}: id: {line.id!r} repeats line {seen[line.id]}")
        seen[line.id] = number
        events.append(HFEvent(**line.model_dump()))
    if not events:
        raise InputError(f"{source}: no events")
    return events


def load_events(path: str | Path) -> list[HFEvent]:
    """Read a JSONL event log (see the module for a line).

    Raises:
        InputError: If the file cannot be read, or as :func:`parse_events`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the event log ({err})") from None
    return parse_events(text.splitlines(), source=str(path))
