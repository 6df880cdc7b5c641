"""Values, policy and carried-ledger documents: canonical digests and malformed cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ame_core.exceptions import InputError
from offchain.mapping import CarriedLedger, Policy, parse_carried, parse_policy, parse_values

from ._builders import address, event_doc, values_doc


def good() -> dict[str, Any]:
    return values_doc(
        [event_doc("e1", 10, {"a": 1, "b": "0.5"}), event_doc("e2", "20", {"a": 0.25})]
    )


def test_values_digest_ignores_order_and_notation() -> None:
    doc = good()
    other = copy.deepcopy(doc)
    other["events"].reverse()
    other["events"][1]["values"] = {"b": "1/2", "a": 1}
    other["events"][0]["revenue"] = 20
    assert parse_values(doc).digest() == parse_values(other).digest()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("events", 0, "values", "b"),
            -1,
            r"event 'e1' \(events\[0\]\): values: asset 'b': value must not be negative, got -1",
        ),
        (
            ("events", 0, "values", "b"),
            "NaN",
            r"event 'e1' \(events\[0\]\): values: asset 'b': value must be a finite non-negative number",
        ),
        (
            ("events", 0, "revenue"),
            10.5,
            r"event 'e1' \(events\[0\]\): revenue: amount must be an integer or a string of digits, got 10\.5",
        ),
        (("events", 0, "revenue"), True, r"event 'e1' \(events\[0\]\): revenue: amount must be"),
        (
            ("events", 1, "date"),
            "2026-13-01",
            r"event 'e2' \(events\[1\]\): date: '2026-13-01' is not a date",
        ),
        (
            ("events", 1, "commercial"),
            "no",
            r"event 'e2' \(events\[1\]\): commercial: must be a valid boolean",
        ),
        (("events", 1, "id"), "e1", r"event 'e1' \(events\[1\]\): id: already events\[0\]"),
        (("events", 1, "id"), "", r"event at events\[1\] \(no id\): id: '' is not an event id"),
        (("epoch",), -1, r"epoch: must be greater than or equal to 0"),
        (("format",), "ame.values/2", r"format: must be 'ame.values/1'"),
        (
            ("scenario",),
            {"id": "s", "sha256": "xyz"},
            r"scenario\.sha256: 'xyz' is not a SHA-256 digest",
        ),
        (
            ("events", 0, "values"),
            [1, 2],
            r"event 'e1' \(events\[0\]\): values: must be a mapping of asset id to value, got list",
        ),
    ],
)
def test_malformed_values_name_the_event_and_field(
    path: tuple[Any, ...], value: Any, message: str
) -> None:
    doc = good()
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(InputError, match=message):
        parse_values(doc)


def test_missing_event_field_is_named() -> None:
    doc = good()
    del doc["events"][0]["date"]
    with pytest.raises(InputError, match=r"event 'e1' \(events\[0\]\): date: required"):
        parse_values(doc)


def test_policy_defaults_merge_and_refusals() -> None:
    policy = parse_policy({"uses": {"prompt": ["ai_training", "ai_inference"]}})
    assert policy.uses["prompt"] == ("ai_inference", "ai_training")
    assert policy.uses["dataset"] == Policy().uses["dataset"]
    assert parse_policy({}) == Policy()
    with pytest.raises(
        InputError, match=r"min_payout: must be at least 1 \(a leaf of 0 cannot be claimed\)"
    ):
        parse_policy({"min_payout": 0})
    with pytest.raises(
        InputError, match="withheld: must be 'escrow' or 'redistribute', got 'burn'"
    ):
        parse_policy({"withheld": "burn"})
    with pytest.raises(InputError, match=r"uses\['song'\]"):
        parse_policy({"uses": {"song": ["ai_training"]}})


def test_carried_ledger_validation() -> None:
    ledger = parse_carried({"epoch": 2, "balances": {address(2): "5", address(1): 0}})
    assert ledger == CarriedLedger(epoch=2, balances={address(2): 5})
    with pytest.raises(
        InputError, match=r"balances: \['0xabc'\]: '0xabc' is not a 0x-prefixed 20-byte hex address"
    ):
        parse_carried({"epoch": 2, "balances": {"0xabc": 1}})
    with pytest.raises(InputError, match=r"balances: \[.*\]: amount must not be negative"):
        parse_carried({"epoch": 2, "balances": {address(1): -1}})
