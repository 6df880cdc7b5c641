"""Integer revenue splits and payouts, with and without the rights registry (no training)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ame_core.exceptions import InputError
from bench.evaluation import EventSplit, load_suite, pay, split_revenue
from bench.evaluation.suite import JudgmentScenario

SUITE = Path(__file__).resolve().parents[3] / "bench" / "judgments"
R = 10**18


def _scenario(name: str) -> JudgmentScenario:
    return load_suite(SUITE, names=[name])[0]


def _splits(item: JudgmentScenario, shares: Mapping[str, float]) -> list[EventSplit]:
    """The same split of every event of the scenario, ``shares`` of its revenue."""
    return [
        EventSplit(e.id, e.revenue, 1.0, shares, split_revenue(e.revenue, shares))
        for e in item.scenario.events
    ]


def test_split_revenue_is_exact_and_proportional() -> None:
    parts = split_revenue(100, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert parts == {"a": 34, "b": 33, "c": 33}  # the unit left goes to the smallest key
    # Floats are read exactly: 0.75 and 0.25 are dyadic, so the split is exact too.
    assert split_revenue(R, {"a": 0.75, "b": 0.25}) == {"a": 75 * 10**16, "b": 25 * 10**16}
    assert sum(split_revenue(R + 7, {"a": 1 / 3, "b": 2e-300, "c": 0.1}).values()) == R + 7


def test_split_revenue_pays_nothing_for_non_positive_weights() -> None:
    assert split_revenue(10, {"a": -1.0, "b": 3.0, "c": 0.0}) == {"a": 0, "b": 10, "c": 0}
    assert split_revenue(10, {"a": 0.0, "b": -2.0}) == {"a": 0, "b": 0}


@pytest.mark.parametrize(
    ("revenue", "weights", "message"),
    [(-1, {"a": 1.0}, r"^revenue: must be >= 0"), (5, {"a": float("nan")}, r"^weights: not finite for \['a'\]")],
)  # fmt: skip
def test_split_revenue_refuses_bad_input(
    revenue: int, weights: dict[str, float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        split_revenue(revenue, weights)


def test_co_owners_are_paid_by_their_registered_shares_only_when_mapped() -> None:
    item = _scenario("co_owned/geo_split")
    splits = _splits(item, {"geo": 0.55, "transformer": 0.40, "fauna": 0.05, "irrelevant": 0.0})
    mapped = pay(item.scenario, splits, mapped=True)
    assert mapped.shares("payees") == pytest.approx(
        {"alice": 0.4125, "bob": 0.1875, "model_developer": 0.40}
    )
    assert mapped.shares("assets") == pytest.approx(
        {"geo": 0.55, "transformer": 0.40, "fauna": 0.05}
    )
    assert mapped.escrowed == 0 and mapped.revenue == 2 * R
    # Without the registry the listed owner takes the whole asset.
    listed = pay(item.scenario, splits, mapped=False)
    assert listed.shares("payees") == pytest.approx(
        {"alice": 0.55, "bob": 0.05, "erin": 0.0, "model_developer": 0.40}
    )


def test_a_derived_copy_pays_its_royalty_to_the_original() -> None:
    item = _scenario("royalties/copy_owes_original")
    splits = _splits(item, {"fauna": 0.275, "fauna_copy": 0.275, "transformer": 0.40, "geo": 0.05})
    shares = pay(item.scenario, splits, mapped=True).shares("assets")
    assert shares == pytest.approx(
        {"fauna": 0.4125, "fauna_copy": 0.1375, "transformer": 0.40, "geo": 0.05}
    )


def test_opted_out_data_is_held_in_escrow_when_mapped() -> None:
    item = _scenario("restricted/opted_out_source")
    splits = _splits(item, {"fauna": 0.55, "transformer": 0.40, "geo": 0.05, "irrelevant": 0.0})
    mapped = pay(item.scenario, splits, mapped=True)
    assert mapped.shares("assets") == pytest.approx({"transformer": 0.40, "geo": 0.05})
    assert mapped.escrowed == pytest.approx(0.55 * mapped.revenue, rel=1e-12)
    assert pay(item.scenario, splits, mapped=False).escrowed == 0


def test_mapping_without_a_registry_changes_nothing() -> None:
    item = _scenario("planted_facts/geo_three_events")
    splits = _splits(item, {"geo": 0.6, "transformer": 0.4, "fauna": 0.0, "irrelevant": 0.0})
    assert pay(item.scenario, splits, mapped=True) == pay(item.scenario, splits, mapped=False)


def test_pay_refuses_events_the_scenario_does_not_have() -> None:
    item = _scenario("planted_facts/geo_three_events")
    split = EventSplit("e9", R, 1.0, {"geo": 1.0}, {"geo": R})
    with pytest.raises(InputError, match=r"^splits: events \['e9'\] are not in scenario"):
        pay(item.scenario, [split], mapped=False)
    with pytest.raises(InputError, match=r"^level: must be 'assets' or 'payees'"):
        pay(item.scenario, _splits(item, {"geo": 1.0}), mapped=False).shares("owners")
