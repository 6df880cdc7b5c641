"""Pydantic validation errors as messages a person can act on: the field, then the reason.

Pydantic reports each problem as a location tuple such as ``('assets', 3, 'owners', 0,
'share')``, a message and the offending input. Every AME document reader (registry,
values, policy, manifest, scenario, configuration, pipeline settings) turns those into
``<field path>: <reason>`` lines with the helpers here, so one rule decides how a path is
written and when the offending value is quoted:

* :func:`field_path`: ``owners[0].share``; keys of mappings whose keys are data (asset
  ids, addresses) are quoted, ``values['dataset:x']``; tags pydantic inserts for tagged
  unions are left out;
* :func:`error_reason`: a validator's own message as it raised it, else pydantic's
  message with ``, got <value>`` for a scalar input;
* :func:`format_problems`: ``<source>: N problems:`` and one indented line each.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

__all__ = ["error_reason", "field_path", "format_problems"]


def field_path(
    parts: Sequence[int | str],
    *,
    keyed: Collection[str] = (),
    hidden: Mapping[str, Collection[str]] | None = None,
) -> str:
    """Write a pydantic location as a field path: ``owners[0].share``.

    Args:
        parts: The location, outermost first.
        keyed: Fields whose keys are data, not field names: their keys are quoted,
            ``values['dataset:x']``.
        hidden: Parts pydantic inserts that are not fields of the document (the tag of
            a tagged union), by the field they follow: ``{'generate': {'facts', ...}}``.

    Returns:
        The path; empty for an empty location (a problem with the whole document).
    """
    text = ""
    previous: int | str | None = None
    for part in parts:
        if hidden and isinstance(previous, str) and part in hidden.get(previous, ()):
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        elif previous in keyed:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
        previous = part
    return text


def error_reason(error: Mapping[str, Any]) -> str:
    """Why one pydantic error detail failed, with the offending value when it is a scalar.

    Args:
        error: One item of :meth:`pydantic.ValidationError.errors`.

    Returns:
        The message a validator raised, as it raised it; otherwise pydantic's message,
        followed by ``, got <value>`` unless the value is missing or a container (a
        container would repeat a whole section of the document).
    """
    ctx = error.get("ctx") or {}
    if error["type"] in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    message = str(error["msg"])
    value = error.get("input")
    if error["type"] != "missing" and not isinstance(value, Mapping | list | tuple):
        message += f", got {value!r}"
    return message


def format_problems(
    source: str, lines: Sequence[str], *, limit: int | None = None, inline_single: bool = False
) -> str:
    """Put a document's problems under its name.

    Args:
        source: Where the document came from (a path, ``'<registry>'``...).
        lines: One ``<field path>: <reason>`` line per problem, at least one.
        limit: List at most this many lines, then ``... and N more``.
        inline_single: Write a single problem on the source's line (``s.yaml: x: why``)
            rather than as a one-item list.

    Returns:
        ``<source>: N problems:`` and the lines indented by two spaces.
    """
    if inline_single and len(lines) == 1:
        return f"{source}: {lines[0]}"
    shown = list(lines if limit is None else lines[:limit])
    if limit is not None and len(lines) > limit:
        shown.append(f"... and {len(lines) - limit} more")
    count = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}"
    return f"{source}: {count}:\n  " + "\n  ".join(shown)
