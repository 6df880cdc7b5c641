"""Audit layer 2: the published worths recomputed on the auditor's machine, within tolerance."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ame.workflow import (
    MappingInputs,
    Recompute,
    Workspace,
    audit_epoch,
    settle_epoch,
)
from ame.workflow._recompute import RECOMPUTE_FAILED, Recomputation, recompute_record, sample_events
from ame.workflow._record import check_record
from ame_chain.chains import InProcessChain
from ame_core.exceptions import InputError
from offchain.attribution.record import EventRecord, split_event
from offchain.mapping import Registry, parse_registry, parse_values
from tests.mapping._builders import asset_doc, registry_doc
from tests.workflow._helpers import contributors

ROOT = Path(__file__).resolve().parents[2]
_KINDS = {"geo": "dataset", "walk": "dataset", "transformer": "base_model", "plain": "prompt"}


def _scenario(template: str = "the {request} is") -> dict[str, Any]:
    return {
        "format": "ame.scenario/1",
        "id": "small",
        "seed": 0,
        "epoch": 1,
        "pipeline": {
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
            "train": {"pretrain_steps": 60, "n_checkpoints": 2},
        },
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 4}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 4, "vocabulary": 5}},
        ],
        "prompts": [{"id": "plain", "author": "paula", "template": template}],
        "events": [
            {"id": "e1", "fact": {"dataset": "geo", "index": 0}, "prompt": "plain", "revenue": "1000000000000000001", "date": "2026-02-01"},
            {"id": "e2", "fact": {"dataset": "geo", "index": 1}, "revenue": "999", "date": "2026-02-02"},
            {"id": "e3", "fact": {"dataset": "geo", "index": 2}, "prompt": "plain", "revenue": "5000", "date": "2026-02-03"},
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Market:
    """The small market attributed once: its scenario file, record lines and values."""

    scenario: Path
    lines: list[dict[str, Any]]
    values: dict[str, Any]
    hashes: dict[str, str]

    def record(self, edit: Callable[[list[dict[str, Any]]], None] = lambda _: None) -> list[bytes]:
        lines = json.loads(json.dumps(self.lines))
        edit(lines)
        return [json.dumps(x).encode() + b"\n" for x in lines]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    pytest.importorskip("torch")
    from offchain.scenario import asset_hashes, attribute_scenario, load_scenario, record_lines

    path = tmp_path_factory.mktemp("market") / "scenario.yaml"
    path.write_text(yaml.safe_dump(_scenario()))
    scenario = load_scenario(path)
    result, values = attribute_scenario(scenario)
    lines = [json.loads(x) for x in record_lines(result, scenario)]
    return Market(path, lines, values, asset_hashes(scenario))


def _rerun(market: Market, lines: list[bytes], **options: Any) -> Recomputation:
    from offchain.scenario import PipelineRerun

    scenario = options.pop("scenario", market.scenario)
    return recompute_record(lines, Recompute(PipelineRerun(scenario=scenario), **options))


def _fields(findings: Any) -> list[str]:
    return [f.field for f in findings]


def _consistently_altered(market: Market, delta: int) -> tuple[list[bytes], dict[str, Any]]:
    """e1's full-coalition worth moved by ``delta`` units, its split and values to match."""
    lines = json.loads(json.dumps(market.lines))
    line = lines[1]
    full = str((1 << sum(len(a) for _, a in line["stages"])) - 1)
    line["worths"][full] = str(int(line["worths"][full]) + delta)
    record = EventRecord.from_json(line)
    split = split_event(record, precision=lines[0]["precision"])
    line["notes"] = list(split.notes)
    values = json.loads(json.dumps(market.values))
    event = values["events"][0]
    event["values"] = {a: str(v) for a, v in split.amounts.items()}
    event["stages"] = {s: str(v) for s, v in split.stage_amounts.items()}
    return [json.dumps(x).encode() + b"\n" for x in lines], values


def _registry(market: Market, people: list[str]) -> Registry:
    assets = []
    for i, (asset, kind) in enumerate(_KINDS.items()):
        doc = asset_doc(asset, kind=kind, owners=[(people[i], "1")])
        doc["content_hash"] = market.hashes[asset]
        assets.append(doc)
    return parse_registry(registry_doc(assets))


# -- sampling ------------------------------------------------------------------------------


@settings(max_examples=200, derandomize=True)
@given(
    ids=st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=40),
    k=st.integers(1, 50),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_sampling_is_reproducible_independent_of_order_and_covers_what_it_says(
    ids: list[str], k: int, seed: int, data: st.DataObject
) -> None:
    chosen = sample_events(ids, k, seed)
    assert chosen == sample_events(list(ids), k, seed)  # the same on every call
    assert len(chosen) == min(k, len(ids)) and len(set(chosen)) == len(chosen)
    assert chosen == [i for i in ids if i in set(chosen)]  # members, in the given order
    shuffled = data.draw(st.permutations(ids))
    assert set(sample_events(shuffled, k, seed)) == set(chosen)  # not the record's order
    assert sample_events(ids, None, seed) == ids
    if k < len(ids):
        # A larger sample with the same seed contains the smaller one.
        assert set(chosen) <= set(sample_events(ids, k + 1, seed))


@pytest.mark.parametrize("k, seed", [(0, 0), (True, 0), (1, -1)])
def test_a_bad_sample_is_refused_naming_the_field(k: Any, seed: Any) -> None:
    with pytest.raises(InputError, match=r"^(sample|seed): "):
        sample_events(["a"], k, seed)


# -- the rerun -----------------------------------------------------------------------------


@pytest.mark.torch
def test_an_honest_record_rerun_under_two_threads_and_deterministic_algorithms_passes(
    market: Market, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    record.write_bytes(b"".join(market.record()))
    # Its own process, so that the thread count and the algorithms are really in force.
    script = f"""
import json, torch
from pathlib import Path
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from ame.workflow._recompute import Recompute, recompute_record
from offchain.scenario import PipelineRerun
rerun = PipelineRerun(scenario=Path({str(market.scenario)!r}), threads=2)
with open({str(record)!r}, "rb") as lines:
    print(json.dumps(recompute_record(lines, Recompute(rerun)).to_json()))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "OMP_NUM_THREADS": "2",
            "OMP_WAIT_POLICY": "PASSIVE",  # as tests/conftest.py: no spinning against xdist
        },
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["ok"], result["findings"]
    assert result["recomputed"] == ["e1", "e2", "e3"] == result["sampled"]
    worths = result["drift"]["worths"]
    assert worths["count"] == sum(len(line["worths"]) for line in market.lines[1:])
    assert worths["outside"] == 0 and worths["max"] <= 1


@pytest.mark.torch
def test_a_consistently_altered_worth_passes_layer_1_and_is_caught_by_layer_2(
    market: Market, chain: InProcessChain
) -> None:
    lines, document = _consistently_altered(market, 3 * 10**12)  # 3 nats more for e1
    values = parse_values(document)
    registry = _registry(market, contributors(chain))
    assert check_record(lines, values, registry) == []  # the split follows from the table
    assert check_record(market.record(), parse_values(market.values), registry) == []
    result = _rerun(market, lines)
    assert _fields(result.findings) == ["recompute.events[e1].worths[geo,walk,transformer,plain]"]
    (finding,) = result.findings
    assert "tolerances off" in finding.found
    assert result.drift["worths"].outside == 1 and result.recomputed == ("e1", "e2", "e3")


@pytest.mark.torch
def test_a_scenario_with_other_assets_is_a_finding_naming_them_and_nothing_is_rerun(
    market: Market, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(_scenario(template="a {request} is")))
    result = _rerun(market, market.record(), scenario=other)
    assert _fields(result.findings) == [
        "recompute.pipeline.inputs.sha256",
        "recompute.assets.plain",
    ]
    assert result.findings[1].expected == market.hashes["plain"]
    assert result.recomputed == () and not result.ok


@pytest.mark.torch
def test_an_output_other_than_the_records_hash_is_a_finding_and_is_not_scored(
    market: Market,
) -> None:
    def swap(lines: list[dict[str, Any]]) -> None:
        lines[2]["output"] = "ab" * 32

    result = _rerun(market, market.record(swap))
    assert _fields(result.findings) == ["recompute.events[e2].output"]
    assert result.findings[0].expected == "ab" * 32
    assert result.recomputed == ("e1", "e3")


@pytest.mark.torch
def test_a_sample_reruns_exactly_the_events_it_names(market: Market) -> None:
    result = _rerun(market, market.record(), sample=2, seed=7)
    assert result.ok, result.findings
    assert list(result.sampled) == sample_events(["e1", "e2", "e3"], 2, 7)
    assert result.recomputed == result.sampled
    assert result.note == "a sample of 2 of 3 events (seed 7)"


@pytest.mark.torch
@pytest.mark.parametrize(
    "edit, scenario, reason",
    [
        (lambda lines: lines.clear(), "given", "the record cannot be read"),
        (lambda lines: lines[0]["pipeline"].update(kind="test"), "given", "kind 'test'"),
        (lambda lines: None, None, "not the embedded reference market"),
        (lambda lines: lines[0]["settings"].update(method="magic"), "given", "method"),
    ],
)
def test_what_cannot_be_rerun_is_a_finding_never_a_raise_nor_a_pass(
    market: Market, edit: Callable[[list[dict[str, Any]]], None], scenario: str | None, reason: str
) -> None:
    path = market.scenario if scenario == "given" else None
    result = _rerun(market, market.record(edit), scenario=path)
    assert not result.ok
    (finding,) = result.findings
    assert finding.found.startswith(RECOMPUTE_FAILED) and reason in finding.found


# -- through the audit ---------------------------------------------------------------------


@pytest.mark.torch
def test_the_audit_runs_layer_2_on_the_published_record_and_reports_its_drift(
    market: Market, operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    from offchain.scenario import PipelineRerun

    registry = _registry(market, contributors(chain))
    lines, document = _consistently_altered(market, 3 * 10**12)
    settle_epoch(
        operator_ws, MappingInputs(parse_values(document), registry, attribution=lambda: lines)
    )
    layer_1 = audit_epoch(watchdog_ws, 1)
    assert layer_1.ok, layer_1.mismatches  # the table explains the values exactly
    request = Recompute(PipelineRerun(scenario=market.scenario))
    report = audit_epoch(watchdog_ws, 1, recompute=request)
    assert "utilities" in report.checks and report.recomputed is not None
    assert [m.field for m in report.mismatches] == [
        "recompute.events[e1].worths[geo,walk,transformer,plain]"
    ]
    assert report.complete  # a drift, not a failure to recompute
    assert report.to_json()["recomputed"]["drift"]["worths"]["outside"] == 1


@pytest.mark.torch
def test_a_rerun_past_its_time_limit_is_a_finding_naming_how_far_it_got(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ame.workflow import _recompute

    clock = iter([0.0, 0.0, 100.0])  # the deadline, the first event, then past the limit

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return next(clock, 100.0)

    monkeypatch.setattr(_recompute, "time", Clock)
    result = _rerun(market, market.record(), time_limit=50)
    assert result.recomputed == result.sampled[:1] and not result.ok  # what it compared
    assert result.drift["worths"].units  # and how far those worths drifted
    (finding,) = result.findings
    assert finding.found == f"{RECOMPUTE_FAILED}the time limit of 50 s passed after 1 of 3 events"
