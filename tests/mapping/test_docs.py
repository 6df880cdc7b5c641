"""The examples in docs/registry.md and docs/manifest.md are real: they load and map."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import yaml

from offchain.mapping import (
    map_epoch,
    parse_carried,
    parse_policy,
    parse_registry,
    parse_values,
    verify_manifest,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.DOTALL)


def test_registry_example_loads_and_maps() -> None:
    (example,) = blocks("registry.md", "yaml")
    registry = parse_registry(yaml.safe_load(example), source="docs/registry.md")
    assert registry.revision == 12
    values = parse_values(
        {
            "format": "ame.values/1",
            "epoch": 1,
            "events": [
                {
                    "id": "e",
                    "revenue": 1000,
                    "commercial": True,
                    "date": "2026-06-01",
                    "values": {"model:base-7b": 1},
                }
            ],
        }
    )
    manifest = map_epoch(values, registry)
    verify_manifest(manifest)
    assert sum(leaf.amount for leaf in manifest.leaves) == 1000


def labelled(name: str) -> dict[str, str]:
    text = (DOCS / name).read_text()
    return dict(
        (label, body)
        for _, label, body in re.findall(r"```(yaml|json) (\w+)\n(.*?)```", text, flags=re.DOTALL)
    )


def test_manifest_example_is_what_map_epoch_writes() -> None:
    block = labelled("manifest.md")
    manifest = map_epoch(
        parse_values(json.loads(block["values"], parse_float=Decimal)),
        parse_registry(yaml.safe_load(block["registry"])),
        parse_policy(yaml.safe_load(block["policy"])),
        carried=parse_carried(json.loads(block["carried"])),
    )
    verify_manifest(manifest)
    assert json.loads(manifest.to_json_bytes()) == json.loads(block["manifest"])
