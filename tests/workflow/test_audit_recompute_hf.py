"""Audit layer 2 on a Hugging Face record: the auditor's copies of the assets and of the log."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from ame.workflow._recompute import RECOMPUTE_FAILED, Recomputation, Recompute, recompute_record

# huggingface_hub reads these once, on import: set before any test loads it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """The HF demo's market (tiny GPT-2, an adapter, three datasets) and its record."""
    from ame.demos.hf_market import write_hf_market
    from offchain.attribution.hf import load_events
    from offchain.attribution.hf.config import (
        attribute_events,
        inputs_digest,
        load_pipeline_config,
        record_lines,
    )

    folder = tmp_path_factory.mktemp("hf-market")
    market = write_hf_market(folder)
    config = load_pipeline_config(market.pipeline)
    inputs = (config.id, inputs_digest(market.pipeline, market.events))
    result, _ = attribute_events(config, load_events(market.events), epoch=1, inputs=inputs)
    return folder, list(record_lines(config, result, epoch=1, inputs=inputs))


def _copy(published: tuple[Path, list[bytes]], tmp_path: Path) -> Path:
    """The auditor's own copy of the market's files, elsewhere (other paths, same content)."""
    copy = tmp_path / "mine"
    shutil.copytree(published[0], copy, ignore=shutil.ignore_patterns("cache"))
    return copy


def _rerun(lines: list[bytes], folder: Path, *, events: bool = True) -> Recomputation:
    from offchain.scenario import PipelineRerun

    log = folder / "events.jsonl" if events else None
    return recompute_record(
        lines, Recompute(PipelineRerun(pipeline=folder / "pipeline.yaml", events=log))
    )


def test_an_honest_hf_record_passes_with_worths_and_tracin_scores_in_the_scoring_regime(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    lines = published[1]
    result = _rerun(lines, _copy(published, tmp_path))
    assert result.ok, result.findings
    assert result.recomputed == ("e1", "e2", "e3", "e4", "e5")
    worths, given = result.drift["worths"], result.drift["given"]
    assert worths.regime == given.regime == "scoring"
    assert worths.tolerance.absolute == 2e-3
    records = [json.loads(x) for x in lines[1:]]
    assert len(worths.units) == sum(len(r["worths"]) for r in records)
    assert len(given.units) == sum(len(r["given"]) for r in records) > 0  # TracIn, rerun
    assert max(given.units) <= 1


def test_a_dataset_copy_with_other_content_is_a_finding_naming_it_and_nothing_is_rerun(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    mine = _copy(published, tmp_path)
    with (mine / "data" / "kitchen.txt").open("a") as file:
        file.write("one more sentence\n")
    result = _rerun(published[1], mine)
    assert [f.field for f in result.findings] == ["recompute.assets.dataset:kitchen"]
    assert result.recomputed == ()


def test_the_reference_model_is_bound_by_hash_and_a_copy_with_other_weights_is_a_finding(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    # The base model is paid for what it adds over the reference model: a rerun against
    # another reference model would check worths the operator never computed.
    header = json.loads(published[1][0])
    assert header["pipeline"]["reference_model"].startswith("sha256:")
    mine = _copy(published, tmp_path)
    weights = next((mine / "models" / "commodity").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    result = _rerun(published[1], mine)
    (finding,) = result.findings
    assert finding.field == "recompute.pipeline.reference_model"
    assert finding.expected == header["pipeline"]["reference_model"] != finding.found
    assert result.recomputed == ()


def test_other_settings_are_a_finding_naming_them(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    mine = _copy(published, tmp_path)
    config = yaml.safe_load((mine / "pipeline.yaml").read_text())
    config["attribution"]["projection_dim"] = 16
    (mine / "pipeline.yaml").write_text(yaml.safe_dump(config))
    result = _rerun(published[1], mine)
    assert [f.field for f in result.findings] == ["recompute.pipeline.config.attribution"]
    assert result.recomputed == ()


def test_a_log_whose_output_differs_from_the_records_hash_is_a_finding(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    mine = _copy(published, tmp_path)
    log = [json.loads(x) for x in (mine / "events.jsonl").read_text().splitlines()]
    log[1]["text"] = "the hat"
    (mine / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    result = _rerun(published[1], mine)
    assert [f.field for f in result.findings] == ["recompute.events[e2].output"]
    assert "e2" not in result.recomputed and len(result.recomputed) == 4


def test_an_hf_record_without_the_auditors_log_cannot_be_recomputed_and_does_not_pass(
    published: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    result = _rerun(published[1], _copy(published, tmp_path), events=False)
    (finding,) = result.findings
    assert finding.found.startswith(RECOMPUTE_FAILED) and "--events" in finding.found
