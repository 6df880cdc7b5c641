"""Manifest leaves are exactly what ame_chain builds for the settlement contract."""

from __future__ import annotations

import json

from ame_chain.leaves import PayoutLeaf, build_leaves
from offchain.mapping import map_epoch, parse_manifest, parse_registry, parse_values

from ._builders import address, asset_doc, event_doc, registry_doc, values_doc


def test_manifest_leaves_match_ame_chain_build_leaves_and_json_form() -> None:
    owners = [address(n) for n in (2**160 - 1, 5, 2**100, 7, 0xABC)]
    registry = parse_registry(
        registry_doc([asset_doc(f"x{i}", owners=[(o, "1")]) for i, o in enumerate(owners)])
    )
    values = parse_values(
        values_doc([event_doc("e", 10**18 + 7, {f"x{i}": i + 1 for i in range(len(owners))})])
    )
    manifest = map_epoch(values, registry)
    expected = build_leaves({leaf.account: leaf.amount for leaf in manifest.leaves})
    assert [(x.index, x.account, x.amount, x.amount_before) for x in manifest.leaves] == [
        leaf.as_tuple() for leaf in expected
    ]
    document = json.loads(manifest.to_json_bytes())
    assert [PayoutLeaf.from_json(leaf) for leaf in document["leaves"]] == expected
    assert [leaf.to_json() for leaf in expected] == document["leaves"]


def test_manifest_leaves_are_the_settlement_leaf_type_built_or_parsed() -> None:
    registry = parse_registry(
        registry_doc([asset_doc(f"x{n}", owners=[(address(n), "1")]) for n in (3, 1, 2)])
    )
    values = parse_values(values_doc([event_doc("e", 100, {"x3": 1, "x1": 2, "x2": 3})]))
    manifest = map_epoch(values, registry)
    parsed = parse_manifest(manifest.to_json_bytes())
    for leaves in (manifest.leaves, parsed.leaves):
        assert all(type(leaf) is PayoutLeaf for leaf in leaves)
    assert parsed.leaves == manifest.leaves
    assert list(manifest.leaves) == build_leaves(
        {address(n): a for n, a in ((1, 33), (2, 50), (3, 17))}
    )
