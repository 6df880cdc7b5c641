"""The manifest: canonical bytes, round trip, input digests, and tamper detection."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from ame_core.exceptions import InputError
from offchain.exceptions import MappingError
from offchain.mapping import (
    CarriedLedger,
    Manifest,
    load_carried,
    load_manifest,
    load_policy,
    load_registry,
    load_values,
    map_epoch,
    parse_manifest,
    parse_policy,
    parse_registry,
    parse_values,
    verify_manifest,
)

from ._builders import address, asset_doc, event_doc, registry_doc, values_doc

A, B, C = address(0xA), address(0xB), address(0xC)

REGISTRY = registry_doc(
    [
        asset_doc("base", owners=[(A, "1")], attribution_required=True),
        asset_doc("tuned", owners=[(B, "2/3"), (C, "1/3")], parents=[("base", "10%")]),
        asset_doc("nc", owners=[(C, "1")], commercial_use=False),
    ]
)
VALUES = {
    **values_doc(
        [
            event_doc("e1", 1001, {"tuned": 0.7, "nc": 0.3}),
            event_doc("e2", 10**21, {"base": "1/3", "tuned": "2/3"}, commercial=False),
            event_doc("e3", 9, {}),
        ],
        epoch=4,
    ),
    "scenario": {"id": "demo", "sha256": "0" * 64},
}
POLICY = {"min_payout": 50}
CARRIED = CarriedLedger(epoch=3, balances={A: 7, address(0xE): 3})


def build() -> Manifest:
    return map_epoch(
        parse_values(VALUES), parse_registry(REGISTRY), parse_policy(POLICY), carried=CARRIED
    )


def test_manifest_is_canonical_json_without_floats() -> None:
    raw = build().to_json_bytes()
    document = json.loads(raw, parse_float=lambda text: pytest.fail(f"float {text} in manifest"))
    assert (
        raw
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert document["format"] == "ame.manifest/1" and document["epoch"] == 4
    assert document["leaves"][0].keys() == {"index", "account", "amount", "amountBefore"}
    assert all(isinstance(leaf["amount"], str) for leaf in document["leaves"])


def test_same_inputs_give_byte_identical_manifests() -> None:
    assert build().to_json_bytes() == build().to_json_bytes()
    assert build().sha256() == build().sha256()


def test_manifest_round_trips_through_json(tmp_path: Path) -> None:
    manifest = build()
    file = tmp_path / "manifest.json"
    file.write_bytes(manifest.to_json_bytes())
    loaded = load_manifest(file)
    assert loaded == manifest
    assert loaded.to_json_bytes() == manifest.to_json_bytes()
    verify_manifest(loaded, carried=CARRIED)


def test_manifest_records_a_digest_of_every_input() -> None:
    manifest = build()
    inputs = manifest.inputs
    assert inputs.values.sha256 == parse_values(VALUES).digest()
    assert inputs.values.scenario == {"id": "demo", "sha256": "0" * 64}
    assert (
        inputs.registry.sha256 == parse_registry(REGISTRY).digest()
        and inputs.registry.revision == 1
    )
    assert inputs.policy.sha256 == parse_policy(POLICY).digest()
    assert inputs.carried.sha256 == CARRIED.digest() and inputs.carried.epoch == 3
    changed = copy.deepcopy(VALUES)
    changed["events"][0]["revenue"] = 1002
    assert (
        map_epoch(
            parse_values(changed), parse_registry(REGISTRY), parse_policy(POLICY), carried=CARRIED
        ).inputs.values.sha256
        != inputs.values.sha256
    )


def test_accounting_identity_holds_and_attribution_credits_are_listed() -> None:
    manifest = build()
    t = manifest.totals
    assert t.revenue == 1001 + 10**21 + 9 and t.carried_in == 10
    assert t.revenue + t.carried_in == t.pool + t.carried_out + t.escrowed
    assert t.escrowed > 9  # the unattributed event and the non-commercial asset in e1
    assert next(a for a in manifest.assets if a.id == "base").attribution_required


def test_files_of_every_input_load(tmp_path: Path) -> None:
    (tmp_path / "values.json").write_text(json.dumps(VALUES))
    (tmp_path / "registry.json").write_text(json.dumps(REGISTRY))
    (tmp_path / "policy.yaml").write_text("min_payout: 50\n")
    (tmp_path / "carried.json").write_text(json.dumps(CARRIED.canonical()))
    manifest = map_epoch(
        load_values(tmp_path / "values.json"),
        load_registry(tmp_path / "registry.json"),
        load_policy(tmp_path / "policy.yaml"),
        carried=load_carried(tmp_path / "carried.json"),
    )
    assert manifest.to_json_bytes() == build().to_json_bytes()


def test_json_decimals_in_a_values_file_are_exact(tmp_path: Path) -> None:
    file = tmp_path / "values.json"
    file.write_text(
        '{"format": "ame.values/1", "epoch": 1, "events": [{"id": "e", "revenue": "10", '
        '"commercial": true, "date": "2026-01-01", "values": {"a": 0.1, "b": 0.30000000000000004}}]}'
    )
    values = load_values(file).events[0].values
    assert values["a"] == Fraction(1, 10)
    assert values["b"] == Fraction(30000000000000004, 10**17)


Tamper = Callable[[dict[str, Any]], None]


def _bump_leaf(d: dict[str, Any]) -> None:
    d["leaves"][0]["amount"] = str(int(d["leaves"][0]["amount"]) + 1)


def _move_unit_between_lines(d: dict[str, Any]) -> None:
    lines = next(e for e in d["events"] if e["id"] == "e2")["lines"]
    lines[0][2] = str(int(lines[0][2]) + 1)
    lines[1][2] = str(int(lines[1][2]) - 1)


def _change_claim(d: dict[str, Any]) -> None:
    d["events"][0]["lines"][0][1] = str(int(d["events"][0]["lines"][0][1]) + 1)


def _swap_owner_amounts(d: dict[str, Any]) -> None:
    owners = next(a for a in d["assets"] if a["id"] == "tuned")["owners"]
    owners[0][2], owners[1][2] = owners[1][2], owners[0][2]


def _pay_a_carried_account(d: dict[str, Any]) -> None:
    account = next(b for b in d["accounts"] if b["carried_out"] != "0")
    account["paid"], account["carried_out"] = account["carried_out"], "0"


def _drop_escrow(d: dict[str, Any]) -> None:
    d["escrow"].pop()


def _swap_leaves(d: dict[str, Any]) -> None:
    d["leaves"][0], d["leaves"][1] = d["leaves"][1], d["leaves"][0]


def _inflate_pool(d: dict[str, Any]) -> None:
    d["totals"]["pool"] = str(int(d["totals"]["pool"]) + 1)


def _forget_carried(d: dict[str, Any]) -> None:
    d["carried"]["balances"] = {}


TAMPERING: list[tuple[str, Tamper, str]] = [
    ("leaf amount", _bump_leaf, "leaf 0 is not"),
    (
        "unit moved between lines",
        _move_unit_between_lines,
        "event 'e2': amounts are not the largest-remainder apportionment",
    ),
    ("claim", _change_claim, "event 'e1': claims differ from weights times royalty splits"),
    (
        "owner amounts",
        _swap_owner_amounts,
        "asset 'tuned': owner amounts are not the apportionment by share",
    ),
    (
        "carried account paid",
        _pay_a_carried_account,
        "account 0x0+E: balance does not follow the minimum payout",
    ),
    ("escrow entry dropped", _drop_escrow, "escrow entries differ from the escrowed event lines"),
    ("leaves out of order", _swap_leaves, "leaf 0 is not"),
    ("pool", _inflate_pool, "totals .* differ"),
    ("carried ledger", _forget_carried, "carried ledger differs from the accounts' carried_out"),
]


@pytest.mark.parametrize(("case", "tamper", "message"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verify_manifest_detects_tampering(case: str, tamper: Tamper, message: str) -> None:
    document = json.loads(build().to_json_bytes())
    tamper(document)
    with pytest.raises(MappingError, match=f"manifest does not add up: {message}"):
        verify_manifest(parse_manifest(document))


def test_verify_manifest_checks_carried_in_against_the_ledger() -> None:
    with pytest.raises(MappingError, match="carried_in differs from the carried ledger"):
        verify_manifest(build(), carried=CarriedLedger(epoch=3, balances={A: 7}))


def test_malformed_manifest_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        parse_manifest(b"{")
    document = json.loads(build().to_json_bytes())
    document["leaves"][0]["amount"] = 1.5
    with pytest.raises(
        InputError, match=r"leaves\[0\]\.amount: amount must be an integer or a string of digits"
    ):
        parse_manifest(document)


def test_verify_manifest_refuses_a_weight_without_a_split() -> None:
    document = json.loads(build().to_json_bytes())
    del document["splits"]["assets"]["tuned"]
    with pytest.raises(
        MappingError, match="event 'e1': asset 'tuned' has a weight but no royalty split"
    ):
        verify_manifest(parse_manifest(document))
