"""map_epoch behaviour: hard filters, withheld-value policies, thresholds, carried balances."""

from __future__ import annotations

from typing import Any

import pytest

from offchain.exceptions import MappingError
from offchain.mapping import (
    CarriedLedger,
    Manifest,
    Policy,
    map_epoch,
    parse_carried,
    parse_policy,
    parse_registry,
    parse_values,
    verify_manifest,
)

from ._builders import address, asset_doc, event_doc, registry_doc, values_doc

A, B, C, D = address(0xA), address(0xB), address(0xC), address(0xD)


def run(
    assets: list[dict[str, Any]],
    events: list[dict[str, Any]],
    *,
    mode: str = "LAP",
    policy: dict[str, Any] | None = None,
    carried: CarriedLedger | None = None,
    epoch: int = 1,
) -> Manifest:
    manifest = map_epoch(
        parse_values(values_doc(events, epoch)),
        parse_registry(registry_doc(assets, mode)),
        parse_policy(policy or {}),
        carried=carried,
    )
    verify_manifest(manifest, carried=carried)
    return manifest


def lines(manifest: Manifest, event: str = "e") -> dict[str, tuple[int, str, tuple[str, ...]]]:
    breakdown = next(e for e in manifest.events if e.id == event)
    return {line.asset: (line.amount, line.action, line.reasons) for line in breakdown.lines}


def paid(manifest: Manifest) -> dict[str, int]:
    return {leaf.account: leaf.amount for leaf in manifest.leaves}


TWO = [asset_doc("x", owners=[(A, "1")]), asset_doc("nc", owners=[(B, "1")], commercial_use=False)]


def test_non_commercial_asset_is_escrowed_in_a_commercial_event_and_paid_otherwise() -> None:
    manifest = run(
        TWO,
        [
            event_doc("e", 1000, {"x": 1, "nc": 1}),
            event_doc("f", 1000, {"x": 1, "nc": 1}, commercial=False),
        ],
    )
    assert lines(manifest, "e")["nc"] == (500, "escrowed", ("non_commercial",))
    assert lines(manifest, "f")["nc"] == (500, "paid", ())
    assert paid(manifest) == {A: 1000, B: 500}
    assert [(x.event, x.asset, x.amount, x.reasons) for x in manifest.escrow] == [
        ("e", "nc", 500, ("non_commercial",))
    ]
    assert manifest.totals.escrowed == 500


def test_redistribute_policy_shares_withheld_value_among_the_others_pro_rata() -> None:
    assets = [*TWO, asset_doc("y", owners=[(C, "1")])]
    manifest = run(
        assets,
        [event_doc("e", 900, {"x": 1, "y": 2, "nc": 6})],
        policy={"withheld": "redistribute"},
    )
    assert lines(manifest) == {
        "nc": (0, "redistributed", ("non_commercial",)),
        "x": (300, "paid", ()),
        "y": (600, "paid", ()),
    }
    assert manifest.totals.escrowed == 0


def test_redistribute_with_nobody_eligible_escrows_everything() -> None:
    manifest = run(TWO, [event_doc("e", 7, {"nc": 1})], policy={"withheld": "redistribute"})
    assert lines(manifest) == {"nc": (7, "escrowed", ("non_commercial", "no_eligible_contributor"))}
    assert manifest.pool == 0 and manifest.totals.escrowed == 7


def test_unattributed_event_is_escrowed_whole() -> None:
    manifest = run(TWO, [event_doc("e", 5, {"x": 0}), event_doc("f", 0, {})])
    assert [(x.event, x.asset, x.amount, x.reasons) for x in manifest.escrow] == [
        ("e", None, 5, ("unattributed",))
    ]
    assert manifest.pool == 0


def test_expired_licence_is_honoured_through_its_last_day() -> None:
    assets = [
        asset_doc("x", owners=[(A, "1")], expires="2026-06-01"),
        asset_doc("y", owners=[(B, "1")]),
    ]
    on_day = run(assets, [event_doc("e", 10, {"x": 1, "y": 1}, date="2026-06-01")])
    after = run(assets, [event_doc("e", 10, {"x": 1, "y": 1}, date="2026-06-02")])
    assert lines(on_day)["x"] == (5, "paid", ())
    assert lines(after)["x"] == (5, "escrowed", ("licence_expired:2026-06-01",))


@pytest.mark.parametrize(
    ("kind", "signals", "reasons"),
    [
        (
            "dataset",
            {"do_not_train": True},
            ("opted_out:ai_generative_training:do_not_train", "opted_out:ai_training:do_not_train"),
        ),
        (
            "dataset",
            {"tdm_reservation": True},
            (
                "opted_out:ai_generative_training:tdm_reservation",
                "opted_out:ai_training:tdm_reservation",
                "opted_out:data_mining:tdm_reservation",
            ),
        ),
        (
            "dataset",
            {"training_mining": {"data_mining": "notAllowed"}},
            ("opted_out:data_mining:training_mining",),
        ),
        ("dataset", {"training_mining": {"ai_training": "constrained"}}, ()),
        ("prompt", {"do_not_train": True}, ()),
        (
            "adapter",
            {"training_mining": {"ai_inference": "notAllowed"}},
            ("opted_out:ai_inference:training_mining",),
        ),
        (
            "other",
            {"do_not_train": True},
            ("opted_out:ai_generative_training:do_not_train", "opted_out:ai_training:do_not_train"),
        ),
    ],
)
def test_opt_out_signals_are_checked_against_the_uses_of_the_asset_kind(
    kind: str, signals: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    assets = [
        asset_doc("s", kind=kind, owners=[(A, "1")], signals=signals),
        asset_doc("y", owners=[(B, "1")]),
    ]
    manifest = run(assets, [event_doc("e", 10, {"s": 1, "y": 1}, commercial=False)])
    assert lines(manifest)["s"] == (5, "escrowed" if reasons else "paid", reasons)


def test_policy_can_change_the_uses_of_a_kind() -> None:
    assets = [
        asset_doc("s", kind="prompt", owners=[(A, "1")], signals={"do_not_train": True}),
        asset_doc("y"),
    ]
    manifest = run(
        assets, [event_doc("e", 10, {"s": 1, "y": 1})], policy={"uses": {"prompt": ["ai_training"]}}
    )
    assert lines(manifest)["s"][2] == ("opted_out:ai_training:do_not_train",)


def test_restrictions_are_inherited_down_the_derivation_dag() -> None:
    assets = [
        asset_doc("nd", owners=[(A, "1")], derivatives_allowed=False),
        asset_doc("nc", owners=[(B, "1")], commercial_use=False),
        asset_doc("child", owners=[(C, "1")], parents=[("nd", "10%"), ("nc", "10%")]),
        asset_doc("grandchild", owners=[(D, "1")], parents=[("child", "10%")]),
    ]
    manifest = run(assets, [event_doc("e", 1000, {"grandchild": 1})])
    got = lines(manifest)
    # The no-derivatives parent still receives its royalty; every derivative is withheld.
    assert got["nd"] == (100, "paid", ())
    assert got["nc"] == (100, "escrowed", ("non_commercial",))
    assert got["child"][1:] == (
        "escrowed",
        ("derivative_not_allowed:nd", "ancestor_non_commercial:nc"),
    )
    assert got["grandchild"][1:] == (
        "escrowed",
        ("derivative_not_allowed:nd", "ancestor_non_commercial:nc"),
    )


def test_minimum_payout_carries_small_balances_and_pays_them_when_they_reach_it() -> None:
    assets = [asset_doc("x", owners=[(A, "1")]), asset_doc("y", owners=[(B, "1")])]
    policy = {"min_payout": 100}
    first = run(assets, [event_doc("e", 150, {"x": 2, "y": 1})], policy=policy)
    assert paid(first) == {A: 100}
    assert first.carried.balances == {B: 50} and first.carried.epoch == 1
    second = run(
        assets, [event_doc("e", 100, {"y": 1})], policy=policy, carried=first.carried, epoch=2
    )
    assert paid(second) == {B: 150}
    assert second.carried.balances == {}
    third = run(
        assets, [], policy=policy, carried=CarriedLedger(epoch=2, balances={A: 99}), epoch=3
    )
    assert paid(third) == {} and third.carried.balances == {A: 99}


def test_carried_ledger_must_come_from_an_earlier_epoch() -> None:
    with pytest.raises(
        MappingError, match="carried ledger is from epoch 1, not before the values' epoch 1"
    ):
        run(TWO, [], carried=CarriedLedger(epoch=1, balances={}))


def test_values_naming_an_unknown_asset_are_refused_with_event_and_asset() -> None:
    with pytest.raises(
        MappingError,
        match=r"values: event 'e': values\['ghost'\]: asset 'ghost' is not in the registry \(revision 1\)",
    ):
        run(TWO, [event_doc("e", 1, {"ghost": 1})])


def test_payouts_aggregate_per_account_across_events_assets_and_roles() -> None:
    assets = [
        asset_doc("base", owners=[(A, "1")]),
        asset_doc("own", owners=[(A, "1/2"), (B, "1/2")], parents=[("base", "10%")]),
        asset_doc("other", owners=[(B, "1")]),
    ]
    manifest = run(
        assets, [event_doc("e1", 1000, {"own": 1}), event_doc("e2", 1000, {"other": 1, "base": 1})]
    )
    # A: royalty 100 on e1 + half of own's 900 + base's 500 on e2; B: other half + other.
    assert paid(manifest) == {A: 100 + 450 + 500, B: 450 + 500}
    assert len(manifest.leaves) == 2


def test_largest_remainder_ties_go_to_the_smaller_asset_id_then_the_lower_address() -> None:
    assets = [asset_doc("b", owners=[(C, "1")]), asset_doc("a", owners=[(D, "1/2"), (A, "1/2")])]
    manifest = run(assets, [event_doc("e", 3, {"a": 1, "b": 1})])
    assert lines(manifest) == {"a": (2, "paid", ()), "b": (1, "paid", ())}
    # a's 2 split 1/2-1/2 is exact; with 3 units the lower address gets the spare one.
    assert paid(manifest) == {A: 1, C: 1, D: 1}
    odd = run(assets, [event_doc("e", 1, {"a": 1})])
    assert paid(odd) == {A: 1}


def test_leaves_are_sorted_by_address_with_index_and_amount_before() -> None:
    owners = [address(n) for n in (2**160 - 1, 5, 2**100, 7)]
    assets = [asset_doc(f"x{i}", owners=[(o, "1")]) for i, o in enumerate(owners)]
    manifest = run(assets, [event_doc("e", 1000, {f"x{i}": i + 1 for i in range(4)})])
    accounts = [int(leaf.account, 16) for leaf in manifest.leaves]
    assert accounts == sorted(accounts) and len(set(accounts)) == 4
    assert [leaf.index for leaf in manifest.leaves] == [0, 1, 2, 3]
    before = 0
    for leaf in manifest.leaves:
        assert leaf.amount_before == before
        before += leaf.amount
    assert before == manifest.pool == 1000


def test_values_are_scale_free_and_exact() -> None:
    assets = [asset_doc("x", owners=[(A, "1")]), asset_doc("y", owners=[(B, "1")])]
    a = run(assets, [event_doc("e", 10**18, {"x": 0.1, "y": 0.2})])
    b = run(assets, [event_doc("e", 10**18, {"x": "1/3", "y": "2/3"})])
    c = run(assets, [event_doc("e", 10**18, {"x": 1000, "y": 2000})])
    assert paid(a) == paid(b) == paid(c) == {A: 333333333333333333, B: 666666666666666667}
    assert a.events[0].weights == (("x", 1), ("y", 2))


def test_default_policy_escrows_with_a_minimum_of_one_unit() -> None:
    assert Policy().withheld == "escrow" and Policy().min_payout == 1


def test_carried_ledger_can_be_read_from_a_previous_manifest() -> None:
    first = run(TWO, [event_doc("e", 3, {"x": 1})], policy={"min_payout": 10})
    document: dict[str, Any] = __import__("json").loads(first.to_json_bytes())
    ledger = parse_carried(document)
    assert ledger == first.carried and ledger.balances == {A: 3}
