"""``reference.payees``: what each payee of the rights registry should be paid.

An optional part of a scenario's reference (``docs/scenario.md``): evaluations judge
co-ownership on payees, since two co-owners of one asset share a single asset id.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ame_core.exceptions import InputError
from offchain.scenario import PayeeReference, parse_scenario
from tests.mapping._builders import address, asset_doc, registry_doc


def _doc(payees: dict[str, Any] | None, *, rights: bool = True) -> dict[str, Any]:
    reference: dict[str, Any] = {"ranking": ["geo"], "reasoning": "geo is the source"}
    if payees is not None:
        reference["payees"] = payees
    doc: dict[str, Any] = {
        "format": "ame.scenario/1",
        "id": "payees",
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 2}},
        ],
        "events": [{"id": "e1", "fact": {"dataset": "geo", "index": 0}, "revenue": "10", "date": "2026-01-02"}],
        "reference": reference,
    }  # fmt: skip
    if rights:
        owners = [(address(1), "3/4"), (address(2), "1/4")]
        geo = asset_doc("geo", owners=owners)
        geo["owners"][0]["name"], geo["owners"][1]["name"] = "alice", "bob"
        base = asset_doc("transformer", kind="base_model", owners=[(address(3), "1")])
        base["owners"][0]["name"] = "lab"
        doc["rights"] = {"registry": registry_doc([geo, base])}
    return doc


def test_payees_name_registry_owners_and_are_kept_in_the_canonical_form() -> None:
    payees = {
        "ranking": ["alice", "lab", "bob"],
        "shares": {"alice": 0.4, "bob": 0.15, "lab": 0.45},
    }
    scenario = parse_scenario(_doc(payees))
    assert scenario.reference is not None
    assert scenario.reference.payees == PayeeReference(**payees)
    assert scenario.reference.payees.names() == ["alice", "lab", "bob"]
    # The rights come back in the registry's canonical form: compare what they mean.
    again = parse_scenario(scenario.canonical())
    assert again.reference == scenario.reference
    assert again.digest() == scenario.digest()
    other = parse_scenario(_doc({**payees, "ranking": ["lab", "alice", "bob"]}))
    assert other.digest() != scenario.digest()


def test_a_scenario_without_payees_is_unchanged() -> None:
    scenario = parse_scenario(_doc(None))
    assert scenario.reference is not None and scenario.reference.payees is None
    assert "payees" not in scenario.canonical()["reference"]


BAD = [
    ({"ranking": ["alice", "alice"]}, True, r"^reference\.payees\.ranking: 'alice' is listed twice"),
    ({"shares": {"alice": 0.8, "bob": 0.3}}, True, r"^reference\.payees\.shares: shares sum to 1\.1"),
    ({"shares": {"alice": 1.5}}, True, r"^reference\.payees\.shares: share of 'alice' must be in \[0, 1\]"),
    ({"ranking": [""]}, True, r"^reference\.payees\.ranking\[0\]: '' is not a name"),
    ({"reasoning": "x"}, True, r"^reference\.payees\.reasoning: unknown field"),
    ({"ranking": ["alice", "carol"]}, True, r"^reference\.payees: 'carol' is no owner name in rights\.registry, have \['alice', 'bob', 'lab'\]"),
    ({"ranking": ["alice"]}, False, r"^reference\.payees: needs rights\.registry"),
]  # fmt: skip


@pytest.mark.parametrize(("payees", "rights", "message"), BAD, ids=[m[:50] for *_, m in BAD])
def test_bad_payees_are_refused_naming_the_field(
    payees: dict[str, Any], rights: bool, message: str
) -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(_doc(payees, rights=rights), source="s.yaml")
    lines = [line.strip() for line in str(info.value).removeprefix("s.yaml: ").splitlines()]
    assert any(re.search(message, line) for line in lines), str(info.value)


def test_event_references_take_payees_too() -> None:
    doc = _doc(None)
    doc["events"][0]["reference"] = {"payees": {"ranking": ["nobody"]}}
    with pytest.raises(InputError, match=r"events\[0\]\.reference\.payees: 'nobody' is no owner"):
        parse_scenario(doc, source="s.yaml")
