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
  message in our words (:func:`plain_reason`: ``must be greater than 0``, never
  ``Input should be ...``) with ``, got <value>`` for a scalar input;
* :func:`show_value`: a value as the document wrote it (``-0.5``, ``true``, ``'x'``),
  never a Python repr such as ``Decimal('-0.5')``;
* :func:`format_problems`: ``<source>: N problems:`` and one indented line each.

A user reads these messages, not a Python programmer: pydantic's wording (``Input should
be``, ``Field required``, ``validation error for``, ``type=...``) and Python reprs stay
inside the library.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

__all__ = ["error_reason", "field_path", "format_problems", "plain_reason", "show_value"]

#: Longest quoted text in a message; a longer value is cut with ``...``.
MAX_SHOWN: Final = 80

# pydantic names the subject of a rule ("Input should be", "String should have",
# "Decimal input should be"): the field path already names it, so the reason starts
# at the rule.
_SUBJECT: Final = re.compile(r"^(?:[A-Z][a-z]*(?: input)?|URL|UUID) should ")
# pydantic's own prefixes and asides that say nothing to a user.
_ASIDES: Final = (
    (re.compile(r"^(?:Value error|Assertion failed), "), ""),
    (re.compile(r" after validation"), ""),
    (re.compile(r" or instance of \w+"), ""),
    (re.compile(r"\[type=[^\]]*\]"), ""),
)
# Types whose whole message pydantic writes in its own voice.
_BY_TYPE: Final = {
    "missing": "required",
    "extra_forbidden": "unknown field",
}


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
    message = plain_reason(str(error["msg"]), str(error["type"]))
    value = error.get("input")
    if error["type"] not in {"missing", "extra_forbidden"} and not isinstance(
        value, Mapping | list | tuple
    ):
        message += f", got {show_value(value)}"
    return message


def plain_reason(message: str, kind: str = "") -> str:
    """Pydantic's message for one error in the words of AME's messages.

    Args:
        message: The ``msg`` of one pydantic error detail.
        kind: Its ``type`` (``missing``, ``extra_forbidden``...), when known.

    Returns:
        The rule the value broke, starting at the rule: ``must be greater than 0``
        (``Input should be greater than 0``), ``required`` (``Field required``),
        ``unknown field`` (``Extra inputs are not permitted``); a validator's own
        message without pydantic's ``Value error, `` prefix.
    """
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    text = _SUBJECT.sub("must ", message.strip())
    for pattern, replacement in _ASIDES:
        text = pattern.sub(replacement, text)
    return text.strip()


def show_value(value: object) -> str:
    """A value as a user wrote it in a document or on the command line.

    Strings are quoted (``'0x12'``) and cut at :data:`MAX_SHOWN` characters; numbers are
    written as numbers (``-0.5``, not ``Decimal('-0.5')``); ``true``, ``false`` and
    ``null`` as JSON and YAML write them; lists and mappings item by item, cut as strings
    are; anything else by its ``str``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 4 * MAX_SHOWN:
        # Far longer than a line (and past CPython's 4,300-digit limit on str(int)).
        return f"a number of {value.bit_length()} bits"
    if isinstance(value, Decimal | int):
        text = str(value)
        return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 3]}..."
    if isinstance(value, float):
        return repr(value)  # the shortest form that reads back as the same float
    if isinstance(value, bytes):
        return "0x" + value.hex() if len(value) <= MAX_SHOWN // 2 else f"{len(value)} bytes"
    if isinstance(value, Mapping):
        items = ", ".join(f"{show_value(k)}: {show_value(v)}" for k, v in list(value.items())[:8])
        text = "{" + items + (", ..." if len(value) > 8 else "") + "}"
    elif isinstance(value, list | tuple):
        items = ", ".join(show_value(v) for v in value[:8])
        text = "[" + items + (", ..." if len(value) > 8 else "") + "]"
    else:
        text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 3] + "..."
    return repr(text) if isinstance(value, str) else text


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
