"""What no message a user sees may contain: pydantic's voice or a Python repr."""

from __future__ import annotations

import re

# Pydantic's phrases (`Input should be`, `Field required`, `1 validation error for X`,
# `[type=greater_than, ...]`, its documentation links) and reprs of Python objects
# (`Decimal('-0.5')`, `PosixPath(...)`, `<object at 0x...>`).
_UNPLAIN = re.compile(
    r"[A-Z][a-z]*(?: input)? should (?:be|have|match)|Field required|Extra inputs are not"
    r"|validation errors? for|\[type=|errors\.pydantic\.dev|Value error, "
    r"|\b(?:Decimal|PosixPath|Path|datetime|date|HexBytes|Fraction)\(| at 0x[0-9a-f]+>"
)


def assert_plain(message: str) -> None:
    """Fail if ``message`` speaks pydantic's words or shows a Python repr."""
    found = _UNPLAIN.search(message)
    assert found is None, f"{found.group(0)!r} in {message!r}"
