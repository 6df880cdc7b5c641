"""Turn pydantic validation errors into messages that name the asset (or event) and field.

Pydantic reports a location such as ``('assets', 3, 'owners', 0, 'share')``; a person
editing the registry thinks in asset ids, so the item index is replaced by the id
read from the raw input: ``asset 'dataset:x' (assets[3]): owners[0].share: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ame_core.documents import read_document

__all__ = ["format_validation_error", "read_document"]

_MAX_LISTED = 20
# Fields whose keys are data (asset ids, addresses, use names), not field names.
_KEYED_FIELDS = frozenset({"values", "balances", "training_mining", "uses"})


def _format_path(parts: Sequence[int | str]) -> str:
    text = ""
    previous: int | str | None = None
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif previous in _KEYED_FIELDS:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
        previous = part
    return text


def _item_label(data: object, field: str, index: int, noun: str) -> str:
    item: object = None
    if isinstance(data, Mapping):
        items = data.get(field)
        if isinstance(items, Sequence) and not isinstance(items, str) and index < len(items):
            item = items[index]
    item_id = item.get("id") if isinstance(item, Mapping) else None
    if isinstance(item_id, str) and item_id:
        return f"{noun} {item_id!r} ({field}[{index}])"
    return f"{noun} at {field}[{index}] (no id)"


def _message(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    message = str(error["msg"])
    value = error.get("input")
    if error["type"] != "missing" and not isinstance(value, Mapping | list | tuple):
        message += f", got {value!r}"
    return message


def format_validation_error(
    error: ValidationError, data: object, *, source: str, groups: Mapping[str, str]
) -> str:
    """Describe every problem pydantic found, one line each, naming item ids.

    Args:
        error: The pydantic error.
        data: The raw document that was validated (to look up item ids).
        source: Where the document came from (a path or ``'<registry>'``).
        groups: Top-level list fields whose items have an ``id``, mapped to the noun
            used in messages, e.g. ``{'assets': 'asset'}``.

    Returns:
        A multi-line message; the first line names the source.
    """
    lines: list[str] = []
    for item in error.errors():
        loc = list(item["loc"])
        where = ""
        if (
            len(loc) >= 2
            and isinstance(loc[0], str)
            and loc[0] in groups
            and isinstance(loc[1], int)
        ):
            where = _item_label(data, loc[0], loc[1], groups[loc[0]])
            loc = loc[2:]
        field = _format_path(loc)
        prefix = ": ".join(part for part in (where, field) if part)
        lines.append(f"{prefix}: {_message(item)}" if prefix else _message(item))
    shown = lines[:_MAX_LISTED]
    if len(lines) > _MAX_LISTED:
        shown.append(f"... and {len(lines) - _MAX_LISTED} more")
    count = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}"
    return f"{source}: {count}:\n  " + "\n  ".join(shown)
