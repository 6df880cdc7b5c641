"""Turn pydantic validation errors into messages that name the asset (or event) and field.

Pydantic reports a location such as ``('assets', 3, 'owners', 0, 'share')``; a person
editing the registry thinks in asset ids, so the item index is replaced by the id
read from the raw input: ``asset 'dataset:x' (assets[3]): owners[0].share: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from ame_core.validation import error_reason, field_path, format_problems

__all__ = ["format_validation_error"]

_MAX_LISTED = 20
# Fields whose keys are data (asset ids, addresses, use names), not field names.
_KEYED_FIELDS = frozenset({"values", "balances", "training_mining", "uses"})


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
        field = field_path(loc, keyed=_KEYED_FIELDS)
        prefix = ": ".join(part for part in (where, field) if part)
        reason = error_reason(item)
        lines.append(f"{prefix}: {reason}" if prefix else reason)
    return format_problems(source, lines, limit=_MAX_LISTED)
