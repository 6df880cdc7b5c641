"""`ame attribute --pipeline FILE --events LOG`: a Hugging Face pipeline's log in, ame.values/1 out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from ame.demos.hf_market import HFMarket, write_hf_market
from ame_core.canonical import sha256_hex
from ame_core.files import content_digest
from offchain.mapping import load_values
from tests.cli.conftest import Ame

# huggingface_hub reads this once, on import: set before any test loads it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> HFMarket:
    """The HF demo's market: a tiny GPT-2, a LoRA adapter, three datasets, trained here."""
    return write_hf_market(tmp_path_factory.mktemp("hf-market"))


def _attribute(ame: Ame, market: HFMarket, output: Path, *more: object) -> Result:
    return ame(
        "attribute", "--pipeline", market.pipeline, "--events", market.events, "-o", output, *more
    )


def test_values_add_up_per_event_and_a_rerun_writes_the_same_bytes(
    ame: Ame, market: HFMarket, tmp_path: Path
) -> None:
    first = ame(
        "attribute", "--pipeline", market.pipeline, "--events", market.events,
        "-o", tmp_path / "a.json", "--json",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["pipeline"]["id"] == "hf-demo"
    assert summary["method"] == "tracin-projected"
    values = load_values(tmp_path / "a.json")
    logged = [json.loads(line) for line in market.events.read_text().splitlines()]
    assert [e.id for e in values.events] == [e["id"] for e in logged]
    for event, line in zip(values.events, logged, strict=True):
        assert event.revenue == int(line["revenue"])
        assert sum(event.values.values()) == event.revenue
    document = json.loads((tmp_path / "a.json").read_text())
    for event in document["events"]:
        assert sum(int(v) for v in event["stages"].values()) == int(event["revenue"])
    assert document["scenario"]["sha256"] == summary["pipeline"]["sha256"]

    # The second run reads the training features from the cache: the same bytes.
    second = ame(
        "attribute", "--pipeline", market.pipeline, "--events", market.events,
        "-o", tmp_path / "b.json",
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.attribution.jsonl").read_bytes() == (
        tmp_path / "b.attribution.jsonl"
    ).read_bytes()
    # One phase each: indexing, scoring, valuing; then the table.
    for phase in ("indexing training gradients", "scoring 5 events", "valuing 5 events"):
        assert phase in second.output
    assert "dataset:capitals" in second.stdout and "top asset" in second.stdout


def test_the_method_option_overrides_the_files(ame: Ame, market: HFMarket, tmp_path: Path) -> None:
    result = _attribute(ame, market, tmp_path / "v.json", "--method", "shapley", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "shapley"
    for event in load_values(tmp_path / "v.json").events:
        assert sum(event.values.values()) == event.revenue


def _variant(market: HFMarket, name: str, change: dict[str, object]) -> Path:
    """A copy of the pipeline file beside it (its relative paths still resolve)."""
    doc = yaml.safe_load(market.pipeline.read_text())
    for key, value in change.items():
        section, _, field = key.partition(".")
        if field:
            doc[section][field] = value
        else:
            doc[section] = value
    path = market.pipeline.parent / name
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attribution.projection_dim": 0}, "attribution.projection_dim: must be greater"),
        ({"model": "nowhere"}, "model: '"),
        ({"prompts": {"prompt:story": "no slot"}}, "prompts: a template must hold"),
    ],
)
def test_a_bad_pipeline_file_is_refused_naming_the_field_and_nothing_is_written(
    ame: Ame, market: HFMarket, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    config = _variant(market, "bad.yaml", change)
    output = tmp_path / "values.json"
    result = ame("attribute", "--pipeline", config, "--events", market.events, "-o", output)
    assert result.exit_code == 1
    assert result.output.startswith(f"InputError: {config}")
    assert message in result.output
    assert not output.exists()


def test_an_event_naming_an_unknown_prompt_is_refused_before_any_model_loads(
    ame: Ame, market: HFMarket, tmp_path: Path
) -> None:
    line = json.loads(market.events.read_text().splitlines()[0])
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps({**line, "prompt": "prompt:missing"}) + "\n")
    output = tmp_path / "values.json"
    result = ame("attribute", "--pipeline", market.pipeline, "--events", log, "-o", output)
    assert result.exit_code == 1
    assert "event 'e1': prompt: 'prompt:missing' is not a configured prompt" in result.output
    assert not output.exists()
    log.write_text('{"id": "e1"}\n')
    result = ame("attribute", "--pipeline", market.pipeline, "--events", log, "-o", output)
    assert result.exit_code == 1
    assert f"{log} line 1: " in result.output and "revenue: required" in result.output
    assert not output.exists()


def test_a_repeated_key_in_the_pipeline_file_is_refused(
    ame: Ame, market: HFMarket, tmp_path: Path
) -> None:
    config = market.pipeline.parent / "repeated.yaml"
    config.write_text(market.pipeline.read_text() + "model: models/commodity\n")
    result = ame(
        "attribute", "--pipeline", config, "--events", market.events, "-o", tmp_path / "v.json"
    )
    assert result.exit_code == 1
    assert "duplicate key 'model'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a SCENARIO file or --pipeline FILE --events LOG"),
        (("SCENARIO", "--pipeline", "PIPELINE"), "not both or neither"),
        (("--pipeline", "PIPELINE"), "--pipeline needs --events LOG"),
        (("SCENARIO", "--events", "EVENTS"), "--events goes with --pipeline"),
    ],
)
def test_the_inputs_are_a_scenario_or_a_pipeline_with_its_events(
    ame: Ame, market: HFMarket, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    files = {"SCENARIO": market.registry, "PIPELINE": market.pipeline, "EVENTS": market.events}
    argv = [files.get(a, a) for a in args]
    result = ame("attribute", *argv, "-o", tmp_path / "v.json")
    assert result.exit_code == 1
    assert result.output.startswith("InputError: ")
    assert message in result.output


def test_the_record_explains_the_values_and_names_the_registrys_hashes(
    ame: Ame, market: HFMarket, tmp_path: Path
) -> None:
    from ame.workflow._record import check_record
    from offchain.mapping import load_registry

    output = tmp_path / "values.json"
    record = tmp_path / "record.jsonl"
    assert _attribute(ame, market, output, "--record", record, "--epoch", 4).exit_code == 0
    with record.open("rb") as lines:
        assert check_record(lines, load_values(output), load_registry(market.registry)) == []
    header = json.loads(record.read_bytes().splitlines()[0])
    assert header["pipeline"]["kind"] == "hf" and header["epoch"] == 4
    assert header["settings"]["method"] == "tracin-projected"
    first = json.loads(record.read_bytes().splitlines()[1])
    assert first["labels"]["data"] == "tracin/projected(dim=32)" and first["given"]


def test_the_registry_hashes_each_asset_as_the_files_it_is(market: HFMarket) -> None:
    root = market.pipeline.parent
    config = yaml.safe_load(market.pipeline.read_text())
    files = {config["base_model"]: config["model"], **config["adapters"], **config["datasets"]}
    hashes = {
        a["id"]: a["content_hash"] for a in yaml.safe_load(market.registry.read_text())["assets"]
    }
    for asset, path in files.items():
        assert hashes[asset] == "sha256:" + content_digest(root / path)
    for prompt, template in config["prompts"].items():
        assert hashes[prompt] == "sha256:" + sha256_hex(template.encode())
    assert set(hashes) == set(files) | set(config["prompts"])
