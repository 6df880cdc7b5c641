"""The reference market's rights registry matches the scenario it ships with."""

from __future__ import annotations

import hashlib
import json

from offchain.mapping import map_epoch, parse_values
from offchain.scenario import reference_scenario


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_registry_lists_every_asset_with_the_hash_of_its_content() -> None:
    scenario = reference_scenario()
    registry = scenario.registry()
    assert registry is not None
    corpora = scenario.corpora()
    expected = {d.id: _sha256("\n".join(d.sentences)) for d in corpora.datasets}
    expected.update(
        {a.id: _sha256("\n".join(f"{c}\t{t}" for c, t in a.pairs)) for a in corpora.adapter_data}
    )
    expected.update({p.id: _sha256(p.template) for p in corpora.prompts})
    # The base model's content is its training recipe: the counterfactual options (what a
    # coalition without the prompt reads, what the empty pipeline is) train nothing.
    options = {"neutral_template", "reference_model"}
    settings = scenario.pipeline.model_dump(mode="json", exclude=options)
    expected[scenario.base_model.id] = _sha256(json.dumps(settings, sort_keys=True))
    assert {a.id: a.content_hash for a in registry.assets} == expected


def test_every_mapping_rule_is_exercised_by_the_reference_market() -> None:
    """Co-ownership, royalties, an opt-out and a non-commercial licence all show in a mapping."""
    scenario = reference_scenario()
    registry = scenario.registry()
    assert registry is not None
    assets = [a.id for a in registry.assets]
    event = {
        "id": "e",
        "revenue": "1000000",
        "commercial": True,
        "date": "2026-01-15",
        "values": {a: "1" for a in assets},
    }
    values = parse_values({"format": "ame.values/1", "epoch": 1, "events": [event]})
    manifest = map_epoch(values, registry)
    text = manifest.to_json_bytes().decode()
    assert "opted_out" in text and "non_commercial" in text
    paid = {leaf.account for leaf in manifest.leaves}
    fauna = next(a for a in registry.assets if a.id == "fauna")
    assert len(fauna.owners) == 2 and {o.address for o in fauna.owners} <= paid
