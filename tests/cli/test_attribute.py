"""`ame attribute`: a scenario in, an ame.values/1 document out that `ame map` accepts."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ame.cli import main
from ame.cli._attribute import _STAGES
from ame.cli._attribute import METHODS as CLI_METHODS
from ame_core.exceptions import InputError
from offchain.attribution.multistage import METHODS
from offchain.attribution.reference.pipeline import STAGES
from offchain.mapping import load_values, map_epoch, parse_registry, parse_values
from tests.cli.conftest import CLEAN_ENV
from tests.mapping._builders import address, asset_doc, registry_doc

pytestmark = pytest.mark.torch

_ASSETS = ["geo", "walk", "transformer", "plain"]


def _scenario(registry: str | None = "registry.json") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "ame.scenario/1",
        "id": "cli",
        "seed": 0,
        "epoch": 4,
        "pipeline": {
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
            "train": {"pretrain_steps": 60, "n_checkpoints": 2},
        },
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 4}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 4, "vocabulary": 5}},
        ],
        "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
        "events": [
            {"id": "e1", "fact": {"dataset": "geo", "index": 0}, "prompt": "plain", "revenue": "1000000000000000001", "date": "2026-02-01"},
            {"id": "e2", "fact": {"dataset": "geo", "index": 1}, "revenue": "999", "commercial": False, "date": "2026-02-02"},
        ],
    }  # fmt: skip
    if registry is not None:
        doc["rights"] = {"registry": registry}
    return doc


def _registry() -> dict[str, Any]:
    return registry_doc(
        [asset_doc(a, owners=[(address(i + 1), "1")]) for i, a in enumerate(_ASSETS)]
    )


def _ame(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=CLEAN_ENV)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scenario file and its registry, side by side."""
    folder = tmp_path_factory.mktemp("market")
    (folder / "registry.json").write_text(json.dumps(_registry()))
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(_scenario()))
    return path


@pytest.fixture(scope="module")
def attributed(market: Path) -> tuple[Result, Path]:
    output = market.parent / "values.json"
    return _ame("attribute", market, "-o", output), output


def test_attribute_writes_values_that_ame_map_accepts(attributed: tuple[Result, Path]) -> None:
    result, output = attributed
    assert result.exit_code == 0, result.output
    assert "training the pipeline of 'cli'" in result.stderr
    values = load_values(output)
    assert values.epoch == 4
    assert values.scenario is not None and values.scenario.id == "cli"
    for event in values.events:
        assert sum(event.values.values()) == event.revenue
        assert event.stages is not None and sum(event.stages.values()) == event.revenue
        assert set(event.stages) <= set(STAGES)
        assert event.diagnostics is not None and event.diagnostics.method.startswith("stages=")
    e1, e2 = values.events
    assert set(e1.stages or {}) == {"data", "base_model", "prompt"}
    assert set(e2.stages or {}) == {"data", "base_model"}
    assert not e2.commercial
    manifest = output.parent / "manifest.json"
    mapped = _ame("map", output, output.parent / "registry.json", "-o", manifest)
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(manifest.read_text())["totals"]["revenue"] == str(10**18 + 1 + 999)
    # The human summary: one row per event, one per asset, then the digests.
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["event", "output", "revenue", *STAGES, "top", "asset"]
    assert lines[1].startswith("e1 ") and lines[2].startswith("e2 ")
    assert f"sha256    {values.digest()}" in result.stdout


def test_attribute_writes_the_record_the_values_are_recomputed_from(
    attributed: tuple[Result, Path],
) -> None:
    from offchain.attribution.record import read_record, split_event

    result, output = attributed
    record = output.with_name("values.attribution.jsonl")
    assert f"record    {record}" in result.stdout
    values = load_values(output)
    with record.open("rb") as lines:
        header, events = read_record(lines, source=str(record))
        assert header.epoch == values.epoch and header.pipeline["kind"] == "reference"
        for line, event in zip(events, values.events, strict=True):
            split = split_event(line, precision=header.precision)
            assert {a: int(v) for a, v in event.values.items()} == split.amounts
    assert set(header.assets) == {a for e in values.events for a in e.values}


def test_mapping_ignores_stages_and_diagnostics(attributed: tuple[Result, Path]) -> None:
    _, output = attributed
    document = json.loads(output.read_text())
    bare = copy.deepcopy(document)
    for event in bare["events"]:
        del event["stages"], event["diagnostics"]
    registry = parse_registry(_registry())
    full, stripped = parse_values(document), parse_values(bare)
    assert full.digest() != stripped.digest()
    one, two = map_epoch(full, registry), map_epoch(stripped, registry)
    assert one.events == two.events and one.leaves == two.leaves and one.totals == two.totals
    # The canonical form keeps them, and reads back to the same document.
    assert parse_values(full.canonical()).digest() == full.digest()


def test_json_output_and_epoch_override(market: Path, tmp_path: Path) -> None:
    output = tmp_path / "values.json"
    result = _ame("attribute", market, "-o", output, "--epoch", 9, "--method", "owen", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    values = load_values(output)
    assert summary["epoch"] == values.epoch == 9
    assert summary["valuesSha256"] == values.digest()
    assert summary["method"] == "owen"
    assert [e["id"] for e in summary["events"]] == ["e1", "e2"]
    for event, parsed in zip(summary["events"], values.events, strict=True):
        assert {a: int(v) for a, v in event["values"].items()} == parsed.values
    totals = {a: int(v) for a, v in summary["totals"].items()}
    assert sum(totals.values()) == 10**18 + 1 + 999
    assert values.events[0].diagnostics is not None
    assert values.events[0].diagnostics.method == "stages=shapley/exact; within=owen"


def test_same_scenario_writes_the_same_bytes(
    market: Path, attributed: tuple[Result, Path], tmp_path: Path
) -> None:
    again = tmp_path / "again.json"
    assert _ame("attribute", market, "-o", again).exit_code == 0
    assert again.read_bytes() == attributed[1].read_bytes()


def _fails(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stderr.splitlines()[-1]


def test_a_bad_scenario_is_named_and_writes_nothing(tmp_path: Path) -> None:
    doc = _scenario(registry=None)
    doc["events"][0]["revenue"] = 1.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    output = tmp_path / "values.json"
    line = _fails(_ame("attribute", path, "-o", output))
    assert line == (
        f"InputError: {path}: events[0].revenue: must be an integer amount in base units "
        "(a digit string), got 1.5"
    )
    assert sorted(os.listdir(tmp_path)) == ["bad.json"]  # neither values nor record
    missing_dir = tmp_path / "nope" / "values.json"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_scenario(registry=None)))
    assert _fails(_ame("attribute", good, "-o", missing_dir)).startswith(
        f"InputError: {missing_dir}: cannot write: {missing_dir.parent} is not a directory"
    )
    assert _ame("attribute", tmp_path / "absent.yaml", "-o", output).exit_code == 2
    assert _ame("attribute", good, "-o", output, "--method", "lime").exit_code == 2
    assert not output.exists()


def test_cli_lists_match_the_library_and_help_does_not_load_torch() -> None:
    # The command keeps torch out of `ame --help` by copying these two tuples.
    assert CLI_METHODS == METHODS
    assert _STAGES == STAGES
    code = (
        "import sys; from click.testing import CliRunner; from ame.cli import main; "
        "assert CliRunner().invoke(main, ['attribute', '--help']).exit_code == 0; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the optional fields of ame.values/1 -----------------------------------------------

_PLAIN = {
    "format": "ame.values/1",
    "epoch": 3,
    "scenario": {"id": "s", "sha256": "ab" * 32},
    "events": [
        {"id": "e2", "revenue": "1000", "commercial": True, "date": "2026-01-02", "values": {"a": "1/3", "b": 0.25, "c": 2}},
        {"id": "e1", "revenue": 7, "commercial": False, "date": "2026-01-01", "values": {"a": 0}},
    ],
}  # fmt: skip


def test_documents_without_the_optional_fields_keep_their_digest() -> None:
    # Computed before `stages` and `diagnostics` existed.
    digest = "2dde752291649188fd951027afbfb8212bfbaa284df358cb7bf7acca1762756b"
    assert parse_values(_PLAIN).digest() == digest
    assert "stages" not in json.dumps(parse_values(_PLAIN).canonical())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stages", {"data": -1}, r"stages: asset 'data': value must not be negative"),
        ("stages", [1], r"stages: must be a mapping"),
        ("diagnostics", {"n_evaluations": 1}, r"diagnostics\.method: required"),
        ("diagnostics", {"method": "m", "n_evaluations": -1}, r"diagnostics\.n_evaluations: must be greater than or equal to 0"),
        ("diagnostics", {"method": "m", "n_evaluations": 1, "colour": 1}, r"diagnostics\.colour: unknown field"),
        ("diagnostics", {"method": "m", "n_evaluations": 1, "stderr": {"a": -0.1}}, r"diagnostics\.stderr: 'a': a standard error must not be negative"),
        ("diagnostics", {"method": "m", "n_evaluations": 1, "asset_values": {"a": "nan"}}, r"diagnostics\.asset_values: 'a': must be a finite number"),
        ("diagnostics", {"method": "m", "n_evaluations": 1, "utility": float("inf")}, r"diagnostics\.utility: must be a finite number"),
    ],
)  # fmt: skip
def test_bad_optional_fields_are_refused_naming_the_event(
    field: str, value: Any, message: str
) -> None:
    doc = copy.deepcopy(_PLAIN)
    doc["events"][0][field] = value
    with pytest.raises(InputError, match=rf"event 'e2' \(events\[0\]\): {message}"):
        parse_values(doc)


def test_batches_of_one_with_a_checkpoint_write_the_same_bytes_and_resume(
    market: Path, attributed: tuple[Result, Path], tmp_path: Path
) -> None:
    output, checkpoint = tmp_path / "batched.json", tmp_path / "checkpoint"
    args = ("attribute", market, "-o", output, "--batch-size", 1, "--workers", 1)
    result = _ame(*args, "--checkpoint", checkpoint)
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == attributed[1].read_bytes()
    assert len(list(checkpoint.glob("*/batch-*.json"))) == 2
    again = _ame(*args, "--checkpoint", checkpoint)
    assert again.exit_code == 0, again.output
    assert "2 resumed from the checkpoint" in again.stderr
    assert output.read_bytes() == attributed[1].read_bytes()


def test_the_config_file_sets_the_batches(
    market: Path, attributed: tuple[Result, Path], tmp_path: Path
) -> None:
    config = tmp_path / "ame.toml"
    config.write_text('[attribution]\nworkers = 1\nbatch_size = 1\ncheckpoint_dir = "kept"\n')
    output = tmp_path / "values.json"
    result = _ame("attribute", market, "-o", output, "--config", config)
    assert result.exit_code == 0, result.output
    assert "in 2 batches of up to 1 on 1 local processes" in result.stderr
    assert len(list((tmp_path / "kept").glob("*/batch-*.json"))) == 2
    assert output.read_bytes() == attributed[1].read_bytes()


def test_an_unreachable_scheduler_fails_clearly_and_writes_nothing(
    market: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    output = tmp_path / "values.json"
    result = _ame("attribute", market, "-o", output, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "AttributionError: scheduler tcp://127.0.0.1:9: no Dask scheduler answered" in (
        result.output
    )
    assert not output.exists()


def test_a_malformed_scheduler_is_refused_naming_the_option(market: Path, tmp_path: Path) -> None:
    result = _ame("attribute", market, "-o", tmp_path / "v.json", "--scheduler", "localhost")
    assert result.exit_code == 2  # a bad option value is bad usage
    assert "--scheduler: 'localhost' is not a Dask scheduler" in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-evaluations", "0", r"--max-evaluations: must be greater than 0, got 0"),
        ("--max-evaluations", str(10**9 + 1), r"--max-evaluations: must be less than or equal"),
        ("--target-stderr", "-1", r"--target-stderr: must be greater than 0, got -1\.0"),
        ("--target-stderr", "nan", r"--target-stderr: must be a finite number"),
        ("--rank-patience", "0", r"--rank-patience: must be greater than 0, got 0"),
    ],
)
def test_a_bad_sampling_option_is_refused_naming_it_before_any_work(
    market: Path, tmp_path: Path, option: str, value: str, message: str
) -> None:
    output = tmp_path / "values.json"
    result = _ame("attribute", market, "-o", output, option, value)
    assert result.exit_code == 2, result.output  # a bad option value is bad usage
    assert re.search(message, result.output), result.output
    assert "training" not in result.output
    assert not output.exists()


def test_sampling_options_go_with_a_scenario_not_a_pipeline_file(tmp_path: Path) -> None:
    config, events = tmp_path / "pipeline.json", tmp_path / "events.jsonl"
    config.write_text("{}")
    events.write_text("")
    result = _ame(
        "attribute", "--pipeline", config, "--events", events, "-o", tmp_path / "v.json",
        "--rank-patience", "3",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--rank-patience goes with a SCENARIO" in result.output


def test_sampling_options_override_the_scenarios_valuation(market: Path) -> None:
    from ame.cli._attribute import _with_sampling
    from offchain.scenario import load_scenario

    spec = load_scenario(market)
    assert _with_sampling(spec) is spec  # nothing given, nothing changed (same digest)
    doc = _scenario()
    doc["valuation"] = {"max_evaluations": 50, "rank_patience": 4}
    path = market.parent / "valued.yaml"
    path.write_text(yaml.safe_dump(doc))
    valued = _with_sampling(load_scenario(path), target_stderr=0.5, rank_patience=7)
    assert valued.valuation.options() == {
        "max_evaluations": 50,
        "target_stderr": 0.5,
        "rank_patience": 7,
    }
    assert valued.digest() != load_scenario(path).digest()


def test_the_record_names_the_sampling_options_the_run_used(market: Path, tmp_path: Path) -> None:
    from offchain.attribution.record import read_record

    output = tmp_path / "values.json"
    result = _ame(
        "attribute", market, "-o", output, "--max-evaluations", "40", "--target-stderr", "0.25",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with output.with_name("values.attribution.jsonl").open("rb") as lines:
        header, _ = read_record(lines)
    assert header.settings["max_evaluations"] == 40
    assert header.settings["target_stderr"] == 0.25
    assert "rank_patience" not in header.settings
