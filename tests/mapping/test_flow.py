"""Manifest.flow: which attributed asset created the units each asset received."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from hypothesis import given, settings

from offchain.mapping import FlowLine, map_epoch, parse_manifest, parse_registry, parse_values

from ._builders import address, asset_doc, event_doc, registry_doc, values_doc
from .test_properties import SETTINGS, run, scenarios

REGISTRY = registry_doc(
    [
        asset_doc("base", owners=[(address(1), "1")]),
        asset_doc("tuned", owners=[(address(2), "1")], parents=[("base", "10%")]),
    ]
)


def test_flow_traces_royalties_to_the_asset_whose_value_created_them() -> None:
    # e1: tuned alone; base gets its 10% royalty. e2: both attributed equally; base's line
    # (claim 10 from itself + 1 from tuned, of 20) is 551 of 1001, apportioned back 501/50.
    values = values_doc(
        [event_doc("e1", 1000, {"tuned": 1}), event_doc("e2", 1001, {"base": 1, "tuned": 1})]
    )
    manifest = map_epoch(parse_values(values), parse_registry(REGISTRY))
    assert manifest.flow == (
        FlowLine("base", "base", 501),
        FlowLine("tuned", "base", 150),
        FlowLine("tuned", "tuned", 1350),
    )


def test_flow_of_a_parsed_manifest_is_the_flow_mapping_built_and_not_in_its_bytes() -> None:
    values = values_doc([event_doc("e", 999, {"base": "1/3", "tuned": "2/3"})])
    manifest = map_epoch(parse_values(values), parse_registry(REGISTRY))
    data = manifest.to_json_bytes()
    assert manifest.flow
    assert parse_manifest(data).flow == manifest.flow
    assert manifest.to_json_bytes() == data and "flow" not in json.loads(data)


def test_flow_credits_a_line_that_cannot_be_traced_to_its_recipient() -> None:
    values = values_doc([event_doc("e", 1000, {"tuned": 1})])
    document = json.loads(map_epoch(parse_values(values), parse_registry(REGISTRY)).to_json_bytes())
    line = next(line for line in document["events"][0]["lines"] if line[0] == "base")
    line[1] = str(int(line[1]) + 1)  # a claim the weights and splits do not give
    assert parse_manifest(json.dumps(document)).flow == (
        FlowLine("base", "base", 100),
        FlowLine("tuned", "tuned", 900),
    )


@given(scenarios())
@settings(SETTINGS, max_examples=80)
def test_flow_adds_up_to_every_recipient_line_and_starts_at_attributed_assets(
    scenario: tuple[dict[str, Any], ...],
) -> None:
    registry, values, policy, carried, _ = scenario
    manifest = run(registry, values, policy, carried)
    received: dict[str, int] = defaultdict(int)
    attributed: set[str] = set()
    for event in manifest.events:
        attributed.update(asset for asset, _ in event.weights)
        for line in event.lines:
            received[line.asset] += line.amount
    traced: dict[str, int] = defaultdict(int)
    for origin, recipient, amount in manifest.flow:
        assert origin in attributed and amount > 0
        traced[recipient] += amount
    assert traced == {asset: amount for asset, amount in received.items() if amount}
    assert [(f.origin, f.recipient) for f in manifest.flow] == sorted(
        {(f.origin, f.recipient) for f in manifest.flow}
    )
    assert parse_manifest(manifest.to_json_bytes()).flow == manifest.flow
