"""`ame settle --scenario`: attribute, map, publish and propose one epoch in one command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import offchain.scenario
from ame_chain.chains import InProcessChain
from offchain.mapping import load_values
from offchain.scenario import Scenario
from tests.cli.conftest import Ame
from tests.cli.test_attribute import _scenario
from tests.mapping._builders import asset_doc, registry_doc

pytestmark = pytest.mark.torch


def _market(folder: Path, chain: InProcessChain, *, rights: bool = True) -> Path:
    owners = [a.address for a in chain.dev_accounts[4:8]]
    # The registry names each asset's content hash: settle publishes the attribution record,
    # whose hashes (of the content itself) an audit compares with the registry's.
    hashes = offchain.scenario.asset_hashes(offchain.scenario.parse_scenario(_scenario(None)))
    registry = registry_doc(
        [
            asset_doc(asset, owners=[(owner, "1")]) | {"content_hash": hashes[asset]}
            for asset, owner in zip(["geo", "walk", "transformer", "plain"], owners, strict=True)
        ]
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.json").write_text(json.dumps(registry))
    doc: dict[str, Any] = _scenario("registry.json" if rights else None)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_settle_a_scenario_attributes_and_proposes_the_same_epoch_as_two_steps(
    ame: Ame, chain: InProcessChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _market(tmp_path / "market", chain)
    assert ame("deploy", "--dev-account", 0).exit_code == 0
    loaded: list[Path] = []
    load = offchain.scenario.load_scenario

    def counting(path: str | Path) -> Scenario:
        loaded.append(Path(path))
        return load(path)

    monkeypatch.setattr(offchain.scenario, "load_scenario", counting)
    settled = ame("settle", "--scenario", scenario, "--epoch", 7, "--dev-account", 0, "--json")
    assert settled.exit_code == 0, settled.output
    assert loaded == [scenario]  # read once: what is attributed is what was validated
    monkeypatch.undo()
    data = json.loads(settled.stdout)
    assert data["epoch"] == 7

    # The same inputs in two steps give the same manifest: attribution is deterministic.
    values = tmp_path / "values.json"
    attributed = ame("attribute", scenario, "-o", values, "--epoch", 7)
    assert attributed.exit_code == 0, attributed.output
    mapped = tmp_path / "manifest.json"
    assert ame("map", values, tmp_path / "market" / "registry.json", "-o", mapped).exit_code == 0
    assert json.loads(mapped.read_bytes())["leaves"] == _published_leaves(data["manifestURI"])
    assert load_values(values).epoch == 7

    # Rerunning is idempotent: the epoch is already proposed with the same manifest.
    again = ame("settle", "--scenario", scenario, "--epoch", 7, "--dev-account", 0, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["root"] == data["root"]
    # The record is published beside the manifest, bound by it, and explains the values.
    manifest = json.loads(Path(data["manifestURI"].removeprefix("file://")).read_bytes())
    assert manifest["attribution"]["uri"] == "attribution.jsonl"
    assert ame("audit", 7).exit_code == 0


def _published_leaves(uri: str) -> list[dict[str, Any]]:
    path = Path(uri.removeprefix("file://"))
    leaves: list[dict[str, Any]] = json.loads(path.read_bytes())["leaves"]
    return leaves


def test_settle_a_scenario_without_rights_needs_a_registry(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    scenario = _market(tmp_path / "market", chain, rights=False)
    result = ame("settle", "--scenario", scenario, "--dev-account", 0)
    assert result.exit_code == 1
    assert "rights: the scenario names no registry; give --registry" in result.output


def test_settle_refuses_values_and_scenario_together(ame: Ame, tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("{}")
    result = ame("settle", "--scenario", scenario, "--values", scenario, "--dev-account", 0)
    assert result.exit_code == 2
    assert "settle needs --values or --scenario (one of them)" in result.output
