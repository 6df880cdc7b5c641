"""The issue's worked check and Story Protocol's chain and diamond examples, end to end."""

from __future__ import annotations

import pytest

from offchain.mapping import map_epoch, parse_registry, parse_values, verify_manifest

from ._builders import address, asset_doc, event_doc, registry_doc, values_doc

A, B, C, D = address(0xA), address(0xB), address(0xC), address(0xD)


def chain(mode: str, b_to_a: str = "5%", c_to_b: str = "10%") -> dict[str, object]:
    return registry_doc(
        [
            asset_doc("A", owners=[(A, "1")]),
            asset_doc("B", owners=[(B, "1")], parents=[("A", b_to_a)]),
            asset_doc("C", owners=[(C, "1")], parents=[("B", c_to_b)]),
        ],
        mode,
    )


def paid(mode_doc: dict[str, object], revenue: int, values: dict[str, object]) -> dict[str, int]:
    registry = parse_registry(mode_doc)
    manifest = map_epoch(parse_values(values_doc([event_doc("e", revenue, values)])), registry)
    verify_manifest(manifest)
    return {leaf.account: leaf.amount for leaf in manifest.leaves}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("LAP", {A: 50, B: 100, C: 850}), ("LRP", {A: 5, B: 95, C: 900})],
)
def test_issue_worked_check_chain_revenue_1000_paid_to_c(
    mode: str, expected: dict[str, int]
) -> None:
    assert paid(chain(mode), 1000, {"C": 1}) == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    # Story docs, "tipping directly" 100 USDC to C; USDC has 6 decimals.
    [
        ("LAP", {A: 5_000_000, B: 10_000_000, C: 85_000_000}),
        ("LRP", {A: 500_000, B: 9_500_000, C: 90_000_000}),
    ],
)
def test_story_chain_tip_of_100_usdc_to_c(mode: str, expected: dict[str, int]) -> None:
    assert paid(chain(mode), 100_000_000, {"C": 1}) == expected


def test_story_revenue_to_b_pays_a_its_royalty_in_both_modes() -> None:
    # Story: C pays B a 100 licence fee, A claims 5 from B, B keeps 95.
    for mode in ("LAP", "LRP"):
        assert paid(chain(mode), 100, {"B": 1}) == {A: 5, B: 95}


def diamond(mode: str) -> dict[str, object]:
    # D derives from B and C, which both derive from A (royalties 5 % to A, 10 % to B, 20 % to C).
    return registry_doc(
        [
            asset_doc("A", owners=[(A, "1")]),
            asset_doc("B", owners=[(B, "1")], parents=[("A", "5%")]),
            asset_doc("C", owners=[(C, "1")], parents=[("A", "5%")]),
            asset_doc("D", owners=[(D, "1")], parents=[("B", "10%"), ("C", "20%")]),
        ],
        mode,
    )


def test_story_diamond_lap_pays_a_once_per_path() -> None:
    # Story's LAP stack of D: sum over parents of (parent stack + licence %) =
    # (5 % + 10 %) + (5 % + 20 %) = 40 %, A taking 5 % on each of its two paths.
    assert paid(diamond("LAP"), 10_000, {"D": 1}) == {A: 1000, B: 1000, C: 2000, D: 6000}


def test_story_diamond_lrp_multiplies_along_each_path() -> None:
    # D keeps 70 %; B gets 10 %, pays 5 % of it to A; C gets 20 %, pays 5 % of it to A.
    assert paid(diamond("LRP"), 10_000, {"D": 1}) == {A: 150, B: 950, C: 1900, D: 7000}
