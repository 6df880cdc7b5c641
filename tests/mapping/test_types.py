"""Exact parsing of shares, values, amounts and addresses."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.canonical import canonical_json
from offchain.mapping._types import (
    _ADDRESS_MEMO,
    addresses_checked_once,
    format_fraction,
    parse_address,
    parse_amount,
    parse_share,
    parse_value,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2500bps", Fraction(1, 4)),
        ("2500 bps", Fraction(1, 4)),
        ("1/3", Fraction(1, 3)),
        ("25%", Fraction(1, 4)),
        ("12.5%", Fraction(1, 8)),
        ("0.1", Fraction(1, 10)),
        (1, Fraction(1)),
        (0, Fraction(0)),
        (Fraction(2, 7), Fraction(2, 7)),
    ],
)
def test_parse_share_reads_every_exact_form(raw: object, expected: Fraction) -> None:
    assert parse_share(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (0.25, "not an exact share"),
        (True, "not an exact share"),
        ("a quarter", "not an exact share"),
        ("1/0", "divides by zero"),
        ("3/2", r"outside \[0, 1\]"),
        ("10001bps", r"outside \[0, 1\]"),
        (2, r"outside \[0, 1\]"),
        ("-1/2", "not an exact share"),
    ],
)
def test_parse_share_refuses_floats_and_out_of_range(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_share(raw)


def test_parse_value_reads_decimals_as_written() -> None:
    assert parse_value(0.1) == Fraction(1, 10)
    assert parse_value(Decimal("0.1")) == Fraction(1, 10)
    assert parse_value("1e-3") == Fraction(1, 1000)
    assert parse_value("2/6") == Fraction(1, 3)
    assert parse_value(7) == 7
    assert parse_value(np.float64(0.25)) == Fraction(1, 4)
    assert parse_value(np.int64(3)) == 3


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
@settings(derandomize=True, max_examples=200)
def test_a_float_in_memory_equals_the_same_float_written_to_json_and_loaded(x: float) -> None:
    loaded = json.loads(json.dumps(x), parse_float=Decimal)
    assert parse_value(x) == parse_value(loaded)


@pytest.mark.parametrize(
    "raw",
    [
        -1,
        -0.5,
        "-3",
        float("nan"),
        float("inf"),
        "abc",
        True,
        None,
        [1],
        "1/0",
        "1e999999999",
        Decimal("1e-999999"),
    ],
)
def test_parse_value_refuses_negative_and_non_finite(raw: object) -> None:
    with pytest.raises(ValueError, match="value must"):
        parse_value(raw)


def test_parse_amount_accepts_ints_and_digit_strings_only() -> None:
    assert parse_amount(5) == 5
    assert parse_amount("12345678901234567890123") == 12345678901234567890123
    for bad in (1.0, True, "-1", "1e3", " 1", -1, None):
        with pytest.raises(ValueError, match="amount"):
            parse_amount(bad)


@given(st.binary(min_size=20, max_size=20))
@settings(derandomize=True, max_examples=300)
def test_eip55_checksum_matches_eth_utils(raw: bytes) -> None:
    expected = to_checksum_address("0x" + raw.hex())
    if int.from_bytes(raw, "big") == 0:
        with pytest.raises(ValueError, match="zero address"):
            parse_address(expected)
        return
    assert parse_address(expected) == expected
    if expected.lower() != expected:
        with pytest.raises(ValueError, match=f"checksummed form: {expected}"):
            parse_address(expected.lower())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (0x1234, "must be a quoted string"),
        ("0x1234", "20-byte hex address"),
        ("1111111111111111111111111111111111111111", "20-byte hex address"),
        ("0x" + "0" * 40, "zero address"),
        ("0x" + "g" * 40, "20-byte hex address"),
    ],
)
def test_parse_address_refuses_malformed(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_address(raw)


def test_format_fraction_and_canonical_json_are_stable() -> None:
    assert format_fraction(Fraction(6, 3)) == "2"
    assert format_fraction(Fraction(2, 6)) == "1/3"
    assert canonical_json({"b": [1, "x"], "a": None}) == b'{"a":null,"b":[1,"x"]}'


def test_addresses_checked_once_returns_one_object_per_address_and_still_refuses_bad_ones() -> None:
    good = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    with addresses_checked_once():
        first = parse_address(good)
        # An equal string read again (as json.loads gives it, a new object) is the first one.
        again = parse_address(good[:2] + good[2:])
        assert again is first
        for bad in (good.lower(), "0x" + "0" * 40, 12, good[:-1]):
            for _ in range(2):  # a refusal is not remembered as a pass
                with pytest.raises(ValueError):
                    parse_address(bad)
    assert _ADDRESS_MEMO.get() is None  # nothing is kept past the document


def test_nested_address_blocks_share_the_outermost_memo_until_it_ends() -> None:
    # An audit reads the manifest, then the registry, inside one block: each document's own
    # block joins it, so an address the manifest checked is the registry's same object.
    good = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    with addresses_checked_once():
        with addresses_checked_once():
            first = parse_address(good)
        assert _ADDRESS_MEMO.get() is not None  # the inner block did not end the outer one
        with addresses_checked_once():
            assert parse_address(good[:2] + good[2:]) is first
            with pytest.raises(ValueError):
                parse_address(good.lower())
    assert _ADDRESS_MEMO.get() is None


def test_parse_amount_fast_path_agrees_with_the_rules() -> None:
    assert parse_amount("0") == 0
    assert parse_amount("007") == 7
    assert parse_amount(5) == 5
    for bad in ("", "٣", "1.0", "-1", " 1", -1, True, 1.0, "²"):
        with pytest.raises(ValueError):
            parse_amount(bad)
