"""LAP and LRP royalty splits against brute-force path enumeration and closed forms."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings

from offchain.mapping import RoyaltyGraph, parse_registry

from ._builders import asset_doc, registry_doc
from ._strategies import enumerate_lap, enumerate_lrp, registry_docs


def exact(graph: RoyaltyGraph, asset: str) -> dict[str, Fraction]:
    return {a: Fraction(n, graph.denominator) for a, n in graph.split(asset).shares}


def check_against_enumeration(doc: dict[str, Any]) -> None:
    registry = parse_registry(doc)
    graph = RoyaltyGraph(registry)
    oracle = enumerate_lap if registry.royalty_mode == "LAP" else enumerate_lrp
    for asset in registry.by_id:
        split = graph.split(asset)
        assert sum(n for _, n in split.shares) == graph.denominator
        assert all(n > 0 for _, n in split.shares)
        assert [a for a, _ in split.shares] == sorted(a for a, _ in split.shares)
        assert exact(graph, asset) == oracle(registry, asset)


@given(registry_docs())
@settings(derandomize=True, max_examples=100, deadline=None)
def test_splits_agree_with_direct_path_enumeration(doc: dict[str, Any]) -> None:
    check_against_enumeration(doc)


@pytest.mark.slow
@given(registry_docs(max_assets=10))
@settings(derandomize=True, max_examples=2000, deadline=None)
def test_splits_agree_with_direct_path_enumeration_thousands(doc: dict[str, Any]) -> None:
    check_against_enumeration(doc)


def test_lap_uses_one_denominator_and_lrp_the_power_of_the_longest_chain() -> None:
    assets = [
        asset_doc("a"),
        asset_doc("b", parents=[("a", "5%")]),
        asset_doc("c", parents=[("b", "10%")]),
    ]
    assert RoyaltyGraph(parse_registry(registry_doc(assets, "LAP"))).denominator == 20
    assert RoyaltyGraph(parse_registry(registry_doc(assets, "LRP"))).denominator == 20**3


@pytest.mark.parametrize("mode", ["LAP", "LRP"])
def test_a_derivation_chain_deeper_than_the_recursion_limit_is_handled(mode: str) -> None:
    depth = 1100  # past the default recursion limit of 1000
    assets = [asset_doc("p0")] + [
        asset_doc(f"p{i}", kind="prompt", parents=[(f"p{i - 1}", "0" if mode == "LAP" else "1%")])
        for i in range(1, depth)
    ]
    graph = RoyaltyGraph(parse_registry(registry_doc(assets, mode)))
    shares = exact(graph, f"p{depth - 1}")
    assert sum(shares.values()) == 1
    if mode == "LRP":
        assert shares[f"p{depth - 1}"] == Fraction(99, 100)
        assert shares["p0"] == Fraction(1, 100) ** (depth - 1)


def test_zero_royalty_parent_receives_nothing() -> None:
    graph = RoyaltyGraph(
        parse_registry(registry_doc([asset_doc("a"), asset_doc("b", parents=[("a", "0")])]))
    )
    assert graph.split("b").shares == (("b", graph.denominator),)
