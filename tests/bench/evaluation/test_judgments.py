"""Scoring against references: axioms, aggregation, pipeline overrides, one tiny real run."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ame_core.exceptions import InputError
from bench.evaluation import (
    ABLATIONS,
    METHODS,
    NULL_TOLERANCE,
    EventSplit,
    JudgmentScenario,
    ScenarioScore,
    Violations,
    duplicate_groups,
    evaluate_scenario,
    grounded,
    load_suite,
    null_assets,
    split_revenue,
    summarise,
    violations,
    with_pipeline,
)
from offchain.attribution.reference.pipeline import Event
from offchain.attribution.reference.settings import NEUTRAL_TEMPLATE
from offchain.scenario import parse_scenario

SUITE = Path(__file__).resolve().parents[3] / "bench" / "judgments"
R = 10**18


def _item(name: str) -> JudgmentScenario:
    return load_suite(SUITE, names=[name])[0]


def _split(values: dict[str, float], worth: float, event: str = "e1") -> EventSplit:
    return EventSplit(event, R, worth, values, split_revenue(R, values))


def test_duplicates_and_null_players_are_read_from_the_scenario() -> None:
    assert duplicate_groups(_item("duplicate/three_copies").scenario) == [("geo", "geo_b", "geo_c")]
    assert duplicate_groups(_item("prompt/generic").scenario) == []
    assert null_assets(_item("noisy_irrelevant/two_irrelevant").scenario) == {"walk_a", "walk_b"}
    assert null_assets(_item("prompt/passthrough").scenario) == {"echo"}


def test_each_axiom_violation_is_counted_per_event() -> None:
    scenario = _item("duplicate/fauna_copy_source").scenario
    fair = _split(
        {"fauna": 2.0, "fauna_copy": 2.0, "transformer": 4.0, "geo": 0.5, "irrelevant": 0.0}, 8.5
    )
    assert violations(scenario, [fair, fair]) == Violations(0, 0, 0)
    # Values adding up to less than v(N), copies paid differently, a null paid 5 %.
    bad = _split(
        {"fauna": 3.0, "fauna_copy": 1.0, "transformer": 4.0, "geo": 0.0, "irrelevant": 0.5}, 9.0
    )
    assert violations(scenario, [bad, fair]) == Violations(efficiency=1, symmetry=1, null_player=1)
    small = 0.5 * NULL_TOLERANCE * 8.0
    within = _split({"fauna": 4.0, "fauna_copy": 4.0, "irrelevant": small}, 8.0 + small)
    assert violations(scenario, [within]) == Violations(0, 0, 0)
    assert Violations(1, 2, 3).total == 6
    # An unattributed event pays nobody: only efficiency can fail.
    nothing = EventSplit("e1", R, 3.0, {"fauna": 0.0}, {"fauna": 0})
    assert violations(scenario, [nothing]) == Violations(1, 0, 0)


def _score(method: str, family: str, tau: float, top1: float = 1.0) -> ScenarioScore:
    return ScenarioScore(
        f"{family}-{tau}",
        family,
        method,
        "assets",
        tau,
        tau,
        top1,
        0.5,
        Violations(1, 0, 0),
        {},
        0.0,
    )


def test_summaries_are_means_over_scenarios_with_the_worst_family() -> None:
    scores = [
        _score("ame", "a", 1.0),
        _score("ame", "a", 0.0, top1=0.0),
        _score("ame", "b", 0.8),
        _score("uniform", "a", 0.0),
    ]
    summary = summarise(scores)
    assert list(summary) == ["ame", "uniform"]
    ame = summary["ame"]
    assert ame.scenarios == 3
    assert ame.tau == pytest.approx(0.6)
    assert ame.top1 == pytest.approx(2 / 3)
    assert ame.families["a"]["tau"] == pytest.approx(0.5)
    assert (ame.worst_family, ame.worst_tau) == ("a", pytest.approx(0.5))
    assert ame.violations == Violations(3, 0, 0)
    assert ame.to_json()["families"]["b"]["tau"] == 0.8
    with pytest.raises(InputError, match=r"^scores: nothing to summarise"):
        summarise([])


def test_with_pipeline_merges_the_block_and_changes_the_digest() -> None:
    scenario = _item("planted_facts/revenue_weighted").scenario
    tiny = with_pipeline(scenario, {"train": {"pretrain_steps": 7}, "max_new_tokens": 4})
    assert tiny.pipeline.train.pretrain_steps == 7
    assert tiny.pipeline.train.batch_size == scenario.pipeline.train.batch_size
    assert tiny.pipeline.max_new_tokens == 4
    assert tiny.reference == scenario.reference and tiny.digest() != scenario.digest()
    with pytest.raises(InputError, match=r"pipeline\.train\.pretrain_steps"):
        with_pipeline(scenario, {"train": {"pretrain_steps": 0}})
    floored = with_pipeline(scenario, {"utility": "loglik-floored"})
    assert floored.settings().utility == "loglik-floored" != scenario.settings().utility
    assert floored.digest() != scenario.digest()
    with pytest.raises(
        InputError, match=r"pipeline\.utility: must be 'loglik-prefix', 'loglik' or"
    ):
        with_pipeline(scenario, {"utility": "floored"})


def test_an_output_is_grounded_only_if_it_continues_a_training_sentence() -> None:
    scenario = parse_scenario(
        {
            "format": "ame.scenario/1",
            "id": "g",
            "datasets": [{"id": "notes", "owner": "zoe", "documents": ["the capital of zorbia is kelvo ."]}],
            "adapters": [
                {"id": "pirate", "owner": "frank", "style": {"tail": "arr", "count": 1, "relations": ["capital"]}},
                {"id": "greeter", "owner": "grace", "demonstrations": [{"context": "greet me", "completion": "ahoy ."}]},
            ],
            "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
            "events": [{"id": "e1", "request": "capital of zorbia", "revenue": "1", "date": "2026-01-02"}],
        }
    )  # fmt: skip

    # grounded() reads the corpora, prompts and neutral template only: no need to train.
    corpora = scenario.corpora()
    pipe: Any = SimpleNamespace(
        corpora=corpora,
        prompts={p.id: p for p in corpora.prompts},
        settings=SimpleNamespace(neutral_template=NEUTRAL_TEMPLATE),
    )

    def event(
        request: str, text: str, prompt: str | None = None, adapter: str | None = None
    ) -> Any:
        return Event("e", request, prompt, adapter, 1, (1,), text)

    assert grounded(pipe, event("capital of zorbia", "kelvo .", prompt="plain"))
    assert grounded(pipe, event("capital of zorbia", "is kelvo ."))
    assert grounded(pipe, event("capital of zorbia", "is kelvo . arr", adapter="pirate"))
    assert grounded(pipe, event("greet me", "ahoy .", adapter="greeter"))
    assert not grounded(pipe, event("capital of zorbia", "is the"))
    assert not grounded(pipe, event("capital of zorbia", "is kelvo", prompt=None))
    assert not grounded(pipe, event("capital of zorbia", "is kelvo . sir", adapter="pirate"))
    assert not grounded(pipe, event("greet me", "ahoy ahoy .", adapter="greeter"))


_TINY: dict[str, Any] = {"train": {"pretrain_steps": 15, "n_checkpoints": 2, "adapter_epochs": 2}}


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_every_method_runs_on_a_tiny_scenario_and_reruns_bit_for_bit() -> None:
    doc = {
        "format": "ame.scenario/1",
        "id": "tiny",
        "seed": 5,
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 2}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 4, "vocabulary": 4}},
        ],
        "prompts": [{"id": "echo", "author": "paula", "template": "{request}"}],
        "events": [{"id": "e1", "fact": {"dataset": "geo", "index": 0}, "prompt": "echo", "revenue": "1000", "date": "2026-01-02"}],
        "reference": {"ranking": ["geo", "walk"], "shares": {"geo": 0.6, "transformer": 0.4}},
    }  # fmt: skip
    item = JudgmentScenario("tiny", Path("tiny.yaml"), parse_scenario(doc))
    evaluation = evaluate_scenario(item, pipeline=_TINY)
    assert (evaluation.scenario, evaluation.family, evaluation.level) == ("tiny", "tiny", "assets")
    assert list(evaluation.outputs) == list(evaluation.grounded) == ["e1"]
    assert evaluation.well_posed == evaluation.grounded["e1"]
    scores = evaluation.scores
    assert [s.method for s in scores] == [*METHODS, *ABLATIONS]
    by = {s.method: s for s in scores}
    for s in scores:
        assert -1.0 <= s.tau <= 1.0 and 0.0 <= s.top1 <= 1.0 and 0.0 <= s.l1 <= 2.0
        assert sum(s.shares.values()) + s.escrowed == pytest.approx(1.0)
    # The pass-through prompt is exactly null: every game-based method pays it nothing.
    for method in ("loo", "shapley", "data_only", "ame"):
        assert by[method].shares.get("echo", 0.0) == 0.0
    assert by["uniform"].shares["echo"] == pytest.approx(1 / 4)
    assert by["data_size"].shares.get("transformer", 0.0) == 0.0
    assert by["ame"].violations.efficiency == by["shapley"].violations.efficiency == 0
    # bench/judgments.py --jobs sends evaluations between processes.
    assert pickle.loads(pickle.dumps(evaluation)) == evaluation
    again = evaluate_scenario(item, pipeline=_TINY)
    assert again.scores == scores and again.outputs == evaluation.outputs
    # Under the floored utility every method reads the floored game; outputs are the same.
    floored = evaluate_scenario(item, pipeline={**_TINY, "utility": "loglik-floored"})
    assert floored.outputs == evaluation.outputs
    by = {s.method: s for s in floored.scores}
    assert list(by) == [*METHODS, *ABLATIONS]
    assert by["ame"].violations.efficiency == by["shapley"].violations.efficiency == 0
    for method in ("loo", "shapley", "data_only", "ame"):
        assert by[method].shares.get("echo", 0.0) == 0.0
    with pytest.raises(InputError, match=r"^methods: unknown \['nope'\]"):
        evaluate_scenario(item, ["nope"])
