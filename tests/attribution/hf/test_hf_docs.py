"""The worked example of docs/attribution.md runs as written, in the HF demo's market."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from ame.cli import main
from ame.demos.hf_market import write_hf_market
from offchain.attribution.hf import load_pipeline_config
from offchain.mapping import load_values

DOC = Path(__file__).resolve().parents[3] / "docs" / "attribution.md"

pytestmark = pytest.mark.torch


def _block(language: str, label: str = "") -> str:
    head = f"```{language} {label}".rstrip()
    found = re.findall(rf"^{re.escape(head)}\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)
    assert len(found) == 1, f"{head}: {len(found)} blocks"
    return str(found[0])


def test_the_pipeline_example_attributes_its_events_as_the_docs_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = tmp_path / "demo" / "market"
    write_hf_market(market)
    (market / "pipeline.yaml").write_text(_block("yaml", "pipeline.yaml"))
    (market / "events.jsonl").write_text(_block("text", "events.jsonl"))
    commands = [line for line in _block("sh", "values.json").splitlines() if line.strip()]
    assert commands == [
        "ame attribute --pipeline pipeline.yaml --events events.jsonl -o values.json"
    ]
    argv = shlex.split(commands[0])
    assert argv[0] == "ame"

    monkeypatch.chdir(market)
    result = CliRunner().invoke(main, argv[1:])
    assert result.exit_code == 0, result.output

    config = load_pipeline_config(market / "pipeline.yaml")
    assert config.id == "my-market" and config.attribution.method == "tracin-projected"
    values = load_values(market / "values.json")
    assert [e.id for e in values.events] == ["e1", "e2", "e3"]
    for event in values.events:
        assert sum(event.values.values()) == event.revenue
    # The adapter's event pays the adapter; the fact pays the capitals' owner most.
    e1, e2 = ({str(a): v for a, v in e.values.items()} for e in values.events[:2])
    assert e2["adapter:poetry"] > 0
    assert e1["dataset:capitals"] > max(e1["dataset:animals"], e1["dataset:kitchen"])


def test_the_table_lists_every_field_of_the_file() -> None:
    from offchain.attribution.hf.config import AttributionSettings, PipelineConfig

    text = DOC.read_text()
    fields = [*PipelineConfig.model_fields]
    fields.remove("attribution")
    fields += [f"attribution.{name}" for name in AttributionSettings.model_fields]
    for field in fields:
        assert f"| `{field}` |" in text, field
