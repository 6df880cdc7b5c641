"""Property tests over random registries, values, policies and carried ledgers.

Conservation to the unit, no negative amount, independence from input order,
byte-identical reruns, a manifest that verifies and round-trips, and every amount
within one unit of its exact share computed independently by path enumeration.
"""

from __future__ import annotations

import random
from collections import defaultdict
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.mapping import (
    Manifest,
    map_epoch,
    parse_carried,
    parse_manifest,
    parse_policy,
    parse_registry,
    parse_values,
    verify_manifest,
)
from offchain.mapping._types import parse_value

from ._strategies import (
    carried_docs,
    enumerate_lap,
    enumerate_lrp,
    policy_docs,
    registry_docs,
    shuffled,
    values_docs,
)


@st.composite
def scenarios(draw: st.DrawFn, max_assets: int = 7) -> tuple[dict[str, Any], ...]:
    registry = draw(registry_docs(max_assets))
    values = draw(values_docs([a["id"] for a in registry["assets"]]))
    return (
        registry,
        values,
        draw(policy_docs),
        draw(carried_docs),
        {"seed": draw(st.integers(0, 2**32))},
    )


def run(
    registry: dict[str, Any],
    values: dict[str, Any],
    policy: dict[str, Any],
    carried: dict[str, Any],
) -> Manifest:
    return map_epoch(
        parse_values(values),
        parse_registry(registry),
        parse_policy(policy),
        carried=parse_carried(carried),
    )


def exact_shares(doc: dict[str, Any], event: dict[str, Any]) -> dict[str, Fraction]:
    """Each recipient's exact share of an event's revenue, from the oracle, before filters."""
    registry = parse_registry(doc)
    oracle = enumerate_lap if registry.royalty_mode == "LAP" else enumerate_lrp
    values = {a: parse_value(v) for a, v in event["values"].items()}
    total = sum(values.values(), Fraction(0))
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for asset, value in values.items():
        if value:
            for recipient, share in oracle(registry, asset).items():
                shares[recipient] += value / total * share
    return dict(shares)


def check(scenario: tuple[dict[str, Any], ...]) -> None:
    registry, values, policy, carried, extra = scenario
    manifest = run(registry, values, policy, carried)
    raw = manifest.to_json_bytes()

    verify_manifest(manifest, carried=parse_carried(carried))
    t = manifest.totals
    revenue = sum(e["revenue"] for e in values["events"])
    carried_in = sum(carried["balances"].values())
    assert t.revenue == revenue and t.carried_in == carried_in
    assert t.pool + t.carried_out + t.escrowed == revenue + carried_in
    assert sum(leaf.amount for leaf in manifest.leaves) == t.pool
    assert all(leaf.amount > 0 for leaf in manifest.leaves)
    for event in manifest.events:
        assert all(line.amount >= 0 and line.claim > 0 for line in event.lines)
    assert all(b.paid >= 0 and b.carried_out >= 0 for b in manifest.accounts)

    # Every line within one unit of its exact share, the share computed by path enumeration.
    by_id = {e["id"]: e for e in values["events"]}
    for event in manifest.events:
        if not event.lines:
            continue
        exact = exact_shares(registry, by_id[event.id])
        assert {line.asset for line in event.lines} == set(exact)
        shared = [line for line in event.lines if line.action != "redistributed"]
        scale = sum((exact[line.asset] for line in shared), Fraction(0))
        for line in shared:
            quota = event.revenue * exact[line.asset] / scale
            assert abs(line.amount - quota) < 1
            assert Fraction(line.claim, event.denominator) == exact[line.asset] / scale

    # Same inputs, any order: byte-identical manifest; the bytes read back to the same bytes.
    rng = random.Random(extra["seed"])
    permuted = run(shuffled(registry, rng), shuffled(values, rng), policy, shuffled(carried, rng))
    assert permuted.to_json_bytes() == raw
    assert parse_manifest(raw).to_json_bytes() == raw


SETTINGS = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@given(scenarios())
@settings(SETTINGS, max_examples=150)
def test_mapping_properties_hold_on_random_inputs(scenario: tuple[dict[str, Any], ...]) -> None:
    check(scenario)


@pytest.mark.slow
@given(scenarios(max_assets=10))
@settings(SETTINGS, max_examples=2000)
def test_mapping_properties_hold_on_thousands_of_random_inputs(
    scenario: tuple[dict[str, Any], ...],
) -> None:
    check(scenario)


@given(scenarios(), st.lists(st.integers(0, 10**6), min_size=1, max_size=4))
@settings(SETTINGS, max_examples=60)
def test_nothing_is_lost_across_epochs(
    scenario: tuple[dict[str, Any], ...], revenues: list[int]
) -> None:
    registry, _, policy, carried, _ = scenario
    ids = [a["id"] for a in registry["assets"]]
    ledger = parse_carried(carried)
    put_in = ledger.total
    paid_out = escrowed = 0
    for epoch, revenue in enumerate(revenues, start=1):
        doc = {
            "format": "ame.values/1",
            "epoch": epoch,
            "events": [
                {
                    "id": "e",
                    "revenue": revenue,
                    "commercial": False,
                    "date": "2026-01-01",
                    "values": {ids[0]: 1},
                }
            ],
        }
        manifest = map_epoch(
            parse_values(doc), parse_registry(registry), parse_policy(policy), carried=ledger
        )
        verify_manifest(manifest, carried=ledger)
        ledger = manifest.carried
        put_in += revenue
        paid_out += manifest.pool
        escrowed += manifest.totals.escrowed
    assert put_in == paid_out + escrowed + ledger.total
