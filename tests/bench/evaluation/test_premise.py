"""The premise check: where an output is grounded, and answering events with no method run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.evaluation import JudgmentScenario, check_premise, grounded, grounded_in
from offchain.attribution.reference.pipeline import Event
from offchain.attribution.reference.settings import NEUTRAL_TEMPLATE
from offchain.scenario import parse_scenario

_DOC: dict[str, Any] = {
    "format": "ame.scenario/1",
    "id": "premise",
    "seed": 3,
    "datasets": [
        {"id": "atlas", "owner": "alice", "documents": ["the capital of zorbia is kelvo .", "kelvo is the capital of zorbia ."]},
        {"id": "gazette", "owner": "carol", "documents": ["the capital of zorbia is kelvo ."]},
        {"id": "menu", "owner": "bob", "documents": ["the diet of zorbia is fern ."]},
    ],
    "adapters": [
        {"id": "pirate", "owner": "frank", "style": {"tail": "arr", "count": 1, "relations": ["capital"]}},
        {"id": "greeter", "owner": "grace", "demonstrations": [{"context": "greet me", "completion": "ahoy ."}]},
    ],
    "prompts": [{"id": "ask", "author": "paula", "template": "the capital of {request} is"}],
    "events": [
        {"id": "e1", "request": "the capital of zorbia is", "revenue": "1", "date": "2026-01-02"},
        {"id": "e2", "request": "zorbia", "prompt": "ask", "revenue": "1", "date": "2026-01-02"},
    ],
    "reference": {"ranking": ["atlas", "menu"], "shares": {"atlas": 0.6, "transformer": 0.4}},
}  # fmt: skip


def _event(request: str, text: str, prompt: str | None = None, adapter: str | None = None) -> Any:
    return Event("e", request, prompt, adapter, 1, (1,), text)


def test_grounded_in_names_every_dataset_holding_the_sentence_or_the_demonstrating_adapter() -> (
    None
):
    corpora = parse_scenario(_DOC).corpora()
    # grounded_in() compares text only: corpora and prompts stand in for a fitted pipeline.
    pipe: Any = SimpleNamespace(
        corpora=corpora,
        prompts={p.id: p for p in corpora.prompts},
        settings=SimpleNamespace(neutral_template=NEUTRAL_TEMPLATE),
    )
    capital = "the capital of zorbia is"
    assert grounded_in(pipe, _event(capital, "kelvo .")) == ("atlas", "gazette")
    assert grounded_in(pipe, _event("zorbia", "kelvo .", prompt="ask")) == ("atlas", "gazette")
    assert grounded_in(pipe, _event("kelvo is the capital of", "zorbia .")) == ("atlas",)
    assert grounded_in(pipe, _event("the diet of zorbia is", "fern .")) == ("menu",)
    assert grounded_in(pipe, _event(capital, "kelvo . arr", adapter="pirate")) == (
        "atlas",
        "gazette",
    )
    assert grounded_in(pipe, _event("greet me", "ahoy .", adapter="greeter")) == ("greeter",)
    for wandering in ("fern .", "kelvo", "is the"):
        assert grounded_in(pipe, _event(capital, wandering)) == ()
        assert not grounded(pipe, _event(capital, wandering))


def test_an_event_without_a_prompt_is_grounded_through_the_pipelines_neutral_template() -> None:
    corpora = parse_scenario(_DOC).corpora()
    prompts = {p.id: p for p in corpora.prompts}

    def pipe(neutral: str) -> Any:
        settings = SimpleNamespace(neutral_template=neutral)
        return SimpleNamespace(corpora=corpora, prompts=prompts, settings=settings)

    # Answered after "the capital of zorbia is": the datasets holding that sentence.
    framed = pipe("the capital of {request} is")
    assert grounded_in(framed, _event("zorbia", "kelvo .")) == ("atlas", "gazette")
    assert grounded_in(framed, _event("the diet of zorbia is", "fern .")) == ()
    # The same event answered after the bare request is not in any sentence.
    assert grounded_in(pipe(NEUTRAL_TEMPLATE), _event("zorbia", "kelvo .")) == ()
    # A prompt's own template wins over the neutral one.
    assert grounded_in(framed, _event("zorbia", "kelvo .", prompt="ask")) == ("atlas", "gazette")


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_check_premise_answers_every_event_and_scores_no_method() -> None:
    item = JudgmentScenario("toy", Path("toy.yaml"), parse_scenario(_DOC))
    tiny = {"train": {"pretrain_steps": 15, "n_checkpoints": 2, "adapter_epochs": 2}}
    checked = check_premise(item, pipeline=tiny)
    assert checked.scores == ()
    assert list(checked.outputs) == list(checked.grounded) == list(checked.found_in) == ["e1", "e2"]
    for event, where in checked.found_in.items():
        assert checked.grounded[event] == bool(where)
    assert checked.well_posed == all(checked.grounded.values())
