"""Shared types and exact-number parsing for the mapping stage.

Money is an ``int`` of token base units (``TokenAmount``, e.g. wei) from the moment
mapping starts; shares, royalties and attribution values are exact rationals
(:class:`fractions.Fraction`), never floats. The parsers here are the only places
where text or JSON numbers become those exact values, so every input file follows
the same rules.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Literal, NewType

from eth_typing import ChecksumAddress, HexAddress, HexStr
from pydantic import PlainValidator

from ame_core.addresses import all_checksummed, checksum_hex
from ame_core.validation import show_value

__all__ = [
    "ZERO_ADDRESS",
    "Address",
    "Amount",
    "AssetId",
    "AssetKind",
    "ChecksumAddress",
    "Day",
    "EventId",
    "Share",
    "TokenAmount",
    "Use",
    "addresses_checked_once",
    "all_checksummed",
    "exact_sum",
    "format_fraction",
    "parse_address",
    "parse_amount",
    "parse_day",
    "parse_share",
    "parse_value",
]

TokenAmount = NewType("TokenAmount", int)
"""An amount of the payout token in its smallest unit (wei for ETH-like tokens)."""

AssetId = NewType("AssetId", str)
"""Identifier of an asset in the rights registry (``dataset:laion-5b``, ``model:llama``)."""

EventId = NewType("EventId", str)
"""Identifier of a revenue event (one paid generation, one licence sale, ...)."""

AssetKind = Literal["dataset", "base_model", "adapter", "prompt", "other"]
"""What an asset is; it decides which uses an opt-out signal is checked against."""

Use = Literal["data_mining", "ai_training", "ai_generative_training", "ai_inference"]
"""The uses named by the C2PA/CAWG training-and-data-mining assertion (prefix dropped)."""

ZERO_ADDRESS = "0x" + "0" * 40

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_INT_TEXT = re.compile(r"[0-9]+")
_BPS_TEXT = re.compile(r"([0-9]+)\s*bps")
_RATIO_TEXT = re.compile(r"([0-9]+)\s*/\s*([0-9]+)")
_PERCENT_TEXT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%")
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_EXPONENT = 400
_SHARE_FORMS = "write it as '2500bps', '1/4', '25%' or '0.25'"


def parse_amount(raw: object) -> int:
    """Read a non-negative integer token amount.

    JSON files may give amounts as numbers or, for values beyond 2**53 that some
    JSON readers cannot hold exactly, as strings of decimal digits.

    Args:
        raw: An ``int`` (not ``bool``) or a string of decimal digits.

    Returns:
        The amount as an ``int``.

    Raises:
        ValueError: If ``raw`` is a float, a bool, negative, or not all digits.
    """
    # The common cases first, without a regex: a large manifest holds millions of amounts.
    if type(raw) is str:
        if raw.isascii() and raw.isdigit():
            return int(raw)
    elif type(raw) is int and raw >= 0:
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"amount must be an integer or a string of digits, got {show_value(raw)}")
    if isinstance(raw, str):
        if not _INT_TEXT.fullmatch(raw):
            raise ValueError(f"amount must be a string of decimal digits, got {show_value(raw)}")
        return int(raw)
    if raw < 0:
        raise ValueError(f"amount must not be negative, got {raw}")
    return raw


def parse_share(raw: object) -> Fraction:
    """Read an exact share (owner share or royalty) between 0 and 1 inclusive.

    Accepted forms: an integer (``0`` or ``1``), or a string ``'2500bps'``,
    ``'1/4'``, ``'25%'`` (``'12.5%'``) or ``'0.25'``. Floats are refused: a YAML or
    JSON float such as ``0.1`` is not the decimal it looks like, and shares must sum
    to exactly one.

    Args:
        raw: The value read from the registry.

    Returns:
        The share as an exact fraction in ``[0, 1]``.

    Raises:
        ValueError: If the form is not one of the above or the share exceeds 1.
    """
    numerator, denominator = _share_ratio(raw)
    if numerator < 0 or numerator > denominator:
        raise ValueError(f"share {show_value(raw)} is outside [0, 1]")
    return Fraction(numerator, denominator)


def _share_ratio(raw: object) -> tuple[int, int]:
    # Integers, not Fraction arithmetic: a registry of 100,000 assets holds 200,000 shares.
    if isinstance(raw, bool) or not isinstance(raw, int | str | Fraction):
        raise ValueError(f"{show_value(raw)} is not an exact share; {_SHARE_FORMS}")
    if isinstance(raw, Fraction | int):
        return raw.numerator, raw.denominator
    text = raw.strip()
    if match := _BPS_TEXT.fullmatch(text):
        return int(match[1]), 10_000
    if match := _RATIO_TEXT.fullmatch(text):
        if int(match[2]) == 0:
            raise ValueError(f"{show_value(raw)} divides by zero")
        return int(match[1]), int(match[2])
    if match := _PERCENT_TEXT.fullmatch(text):
        numerator, denominator = Decimal(match[1]).as_integer_ratio()
        return numerator, denominator * 100
    if _DECIMAL_TEXT.fullmatch(text):
        return Decimal(text).as_integer_ratio()
    raise ValueError(f"{show_value(raw)} is not an exact share; {_SHARE_FORMS}")


def exact_sum(values: Iterable[Fraction]) -> Fraction:
    """Sum fractions over their common denominator: one ``Fraction`` built, not one per add."""
    pairs = [value.as_integer_ratio() for value in values]
    unit = math.lcm(*(d for _, d in pairs)) if pairs else 1
    return Fraction(sum(n * (unit // d) for n, d in pairs), unit)


def _ratio(raw: object) -> tuple[int, int]:
    # Exact (numerator, denominator) of a number; the common exact types first, since
    # an attribution file holds one value per (event, asset).
    kind = type(raw)
    if kind is float:
        return Decimal(repr(raw)).as_integer_ratio()
    if kind is int:
        return raw, 1  # type: ignore[return-value]
    if kind is Decimal:
        return _decimal_ratio(raw)  # type: ignore[arg-type]
    if kind is str:
        text = raw.strip()  # type: ignore[attr-defined]
        if match := _RATIO_TEXT.fullmatch(text):
            return int(match[1]), int(match[2])
        return _decimal_ratio(Decimal(text))
    if isinstance(raw, bool):
        raise TypeError
    if isinstance(raw, Fraction | int):
        return raw.numerator, raw.denominator
    if isinstance(raw, float):  # numpy.float64 and other float subclasses
        return Decimal(repr(float(raw))).as_integer_ratio()
    if isinstance(raw, numbers.Integral):  # numpy integers
        return int(raw), 1
    raise TypeError


def _decimal_ratio(value: Decimal) -> tuple[int, int]:
    # '1e999999999' is a valid decimal whose integer ratio would not fit in memory.
    if value.is_finite() and abs(value.adjusted()) > _MAX_EXPONENT:
        raise ValueError
    return value.as_integer_ratio()


def parse_value(raw: object) -> Fraction:
    """Read a non-negative attribution value or weight exactly.

    Numbers are taken as the decimal they are written as: the JSON loaders read
    non-integers as :class:`~decimal.Decimal`, and a Python ``float`` is read
    through its shortest ``repr`` (what ``json.dumps`` writes for it), so a value
    passed in memory and the same value written to a file and loaded agree.

    Args:
        raw: An ``int``, ``Decimal``, ``Fraction``, finite ``float`` (numpy scalars
            too), or a string holding a decimal (``'0.125'``, ``'1e-3'``) or a
            ratio (``'1/3'``).

    Returns:
        The value as an exact fraction, never negative.

    Raises:
        ValueError: If the value is not a finite non-negative number.
    """
    try:
        numerator, denominator = _ratio(raw)
        if denominator == 0:
            raise ZeroDivisionError
    except (TypeError, ValueError, ZeroDivisionError, InvalidOperation, OverflowError):
        raise ValueError(
            f"value must be a finite non-negative number, got {show_value(raw)}"
        ) from None
    if numerator < 0:
        raise ValueError(f"value must not be negative, got {show_value(raw)}")
    return Fraction(numerator, denominator)


def parse_address(raw: object) -> ChecksumAddress:
    """Check a payout address: EIP-55 checksummed, 20 bytes, not the zero address.

    Args:
        raw: The address as read from a file.

    Returns:
        The address, unchanged, typed as checksummed.

    Raises:
        ValueError: If it is not a string, not 20 hex bytes, not checksummed (the
            message shows the checksummed form) or the zero address.
    """
    memo = _ADDRESS_MEMO.get()
    if memo is not None and type(raw) is str and (known := memo.get(raw)) is not None:
        return known
    if isinstance(raw, int) and not isinstance(raw, bool):
        raise ValueError(
            f"address must be a quoted string, got the number {raw} "
            "(YAML reads an unquoted 0x... as an integer)"
        )
    if not isinstance(raw, str) or not _HEX_ADDRESS.fullmatch(raw):
        raise ValueError(f"{show_value(raw)} is not a 0x-prefixed 20-byte hex address")
    checksummed = checksum_hex(raw[2:].lower())
    if raw != checksummed:
        raise ValueError(
            f"{show_value(raw)} is not EIP-55 checksummed (checksummed form: {checksummed})"
        )
    if raw == ZERO_ADDRESS:
        raise ValueError("the zero address cannot receive payouts")
    if memo is not None:
        memo[raw] = ChecksumAddress(HexAddress(HexStr(raw)))
    return ChecksumAddress(HexAddress(HexStr(raw)))


_ADDRESS_MEMO: ContextVar[dict[str, ChecksumAddress] | None] = ContextVar(
    "_ADDRESS_MEMO", default=None
)


@contextmanager
def addresses_checked_once() -> Iterator[None]:
    """Within the block, :func:`parse_address` checks each distinct string once.

    For one document: a manifest names each account three times (its balance, its
    owner parts, its leaf), a million accounts three million times, and an EIP-55
    checksum is a Keccak hash. The strings checked are kept until the block ends, and the
    same string object is returned for each occurrence, so the document's parsed form
    holds each address once. Blocks nest into the outermost one: a reader of several
    documents naming the same accounts (an audit reads the manifest, then the registry)
    checks each address once across all of them.
    """
    if _ADDRESS_MEMO.get() is not None:
        yield
        return
    token = _ADDRESS_MEMO.set({})
    try:
        yield
    finally:
        _ADDRESS_MEMO.reset(token)


def parse_day(raw: object) -> date:
    """Read a calendar day: a ``date`` (YAML gives those) or a ``'YYYY-MM-DD'`` string.

    Raises:
        ValueError: For anything else, datetimes included.
    """
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError(f"{show_value(raw)} is not a date (write YYYY-MM-DD)")


Amount = Annotated[TokenAmount, PlainValidator(parse_amount)]
"""A pydantic field holding a token amount (integer or digit string in files)."""
Share = Annotated[Fraction, PlainValidator(parse_share)]
"""A pydantic field holding an exact share in [0, 1]."""
Address = Annotated[ChecksumAddress, PlainValidator(parse_address)]
"""A pydantic field holding a checksummed, non-zero payout address."""
Day = Annotated[date, PlainValidator(parse_day)]
"""A pydantic field holding a calendar day."""


def format_fraction(value: Fraction) -> str:
    """Write an exact fraction canonically: ``'3'`` or ``'1/3'`` (always reduced)."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"
