"""The Hugging Face pipeline on a tiny GPT-2, a word-level tokenizer and a LoRA adapter.

The model is built, trained and saved by :mod:`tests.attribution.hf.models` (the
``saved`` fixture) and loaded back through the path a user's model takes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import AttributionPipeline, MultiStageAttribution
from offchain.attribution.hf import HFEvent, HFPipeline, load_events, parse_events
from tests.attribution.hf.models import PROMPTS, WORDS

pytestmark = [
    pytest.mark.torch,
    pytest.mark.usefixtures("one_torch_thread"),
    # peft 0.21's get_peft_model reads a property transformers 5 deprecates.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def pipe(saved: dict[str, Path]) -> HFPipeline:
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        datasets=("dataset:text", "dataset:poem"),
        batch_size=3,
    )


@pytest.fixture(scope="module")
def selfref(saved: dict[str, Path]) -> HFPipeline:
    """The pipeline with its own base model as the reference."""
    return HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        reference_model=saved["model"],
        datasets=("dataset:text", "dataset:poem"),
    )


def _event(i: int, **fields: Any) -> HFEvent:
    base: dict[str, Any] = {
        "id": f"e{i}",
        "request": "the cat",
        "prompt": "prompt:story",
        "adapter": "adapter:poem",
        "text": "sat on the mat",
        "revenue": 10**18 + i,
        "commercial": True,
        "date": dt.date(2026, 12, 7),
    }
    return HFEvent(**{**base, **fields})


requests = st.lists(st.sampled_from(WORDS), min_size=0, max_size=4).map(" ".join)
outputs = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
events_st = st.builds(
    lambda i, r, t, p, a, rev: _event(i, request=r, text=t, prompt=p, adapter=a, revenue=rev),
    st.integers(0, 10**6),
    requests,
    outputs,
    st.sampled_from([None, *PROMPTS]),
    st.sampled_from([None, "adapter:poem"]),
    st.integers(0, 10**24),
)


def test_pipeline_satisfies_the_protocol(pipe: HFPipeline) -> None:
    assert isinstance(pipe, AttributionPipeline)
    assert pipe.assets(_event(0)) == {
        "data": ("dataset:text", "dataset:poem"),
        "base_model": ("base_model",),
        "adapter": ("adapter:poem",),
        "prompt": ("prompt:story",),
    }
    assert pipe.assets(_event(0, prompt=None, adapter=None)) == {
        "data": ("dataset:text", "dataset:poem"),
        "base_model": ("base_model",),
    }


@settings(max_examples=15)
@given(event=events_st, adapter=st.booleans(), prompt=st.booleans())
def test_log_probs_equal_a_hand_computation_from_logits(
    pipe: HFPipeline, event: HFEvent, adapter: bool, prompt: bool
) -> None:
    template = PROMPTS[event.prompt] if prompt and event.prompt else "{request}"
    context = pipe.tokenizer(template.replace("{request}", event.request))["input_ids"]
    context = [pipe.tokenizer.bos_token_id, *context]
    output = pipe.tokenizer(event.text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + output])
    model = pipe.model
    with torch.no_grad():
        if adapter and event.adapter:
            model.set_adapter(event.adapter)
            logits = model(input_ids=ids).logits[0].double()
        else:
            with model.disable_adapter():
                logits = model(input_ids=ids).logits[0].double()
    expected = [
        logits[len(context) + t - 1].log_softmax(-1)[token].item() for t, token in enumerate(output)
    ]
    (got,) = pipe.token_log_probs([event], adapter=adapter, prompt=prompt)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.all(got < 0)


@settings(max_examples=8)
@given(
    events=st.lists(events_st, min_size=1, max_size=7, unique_by=lambda e: e.id),
    adapter=st.booleans(),
    prompt=st.booleans(),
)
def test_batches_score_as_one_by_one(
    pipe: HFPipeline, events: list[HFEvent], adapter: bool, prompt: bool
) -> None:
    batched = pipe.token_log_probs(events, adapter=adapter, prompt=prompt)
    for event, scores in zip(events, batched, strict=True):
        (alone,) = pipe.token_log_probs([event], adapter=adapter, prompt=prompt)
        np.testing.assert_allclose(scores, alone, rtol=0, atol=1e-5)


def test_adapter_switches_without_reload_and_changes_the_scores(pipe: HFPipeline) -> None:
    model, event = pipe.model, _event(0, text="the blue tree and the red house")
    (on,) = pipe.token_log_probs([event], adapter=True)
    (off,) = pipe.token_log_probs([event], adapter=False)
    (on_again,) = pipe.token_log_probs([event], adapter=True)
    assert pipe.model is model
    assert not np.allclose(on, off)
    np.testing.assert_array_equal(on, on_again)
    # The adapter was trained on this line: it raises its likelihood.
    assert on.sum() > off.sum()


@settings(max_examples=6)
@given(
    events=st.lists(events_st, min_size=1, max_size=4, unique_by=lambda e: e.id),
    method=st.sampled_from(["shapley", "owen"]),
)
def test_fit_splits_each_events_revenue_exactly(
    pipe: HFPipeline, events: list[HFEvent], method: str
) -> None:
    pipe.score(events)
    result = MultiStageAttribution(pipe, method=method).fit(events).result  # type: ignore[arg-type]
    for event, attribution in zip(events, result.events, strict=True):
        players = frozenset(a for ids in pipe.assets(event).values() for a in ids)
        if pipe.asset_game(event)(players) > 0:
            assert sum(attribution.amounts.values()) == event.revenue
        else:  # the output is no likelier than chance: the engine leaves it unattributed
            assert sum(attribution.amounts.values()) == 0
            assert any("unattributed" in note for note in attribution.notes)
        assert all(isinstance(a, int) and a >= 0 for a in attribution.amounts.values())
        used = {a for ids in pipe.assets(event).values() for a in ids}
        assert set(attribution.amounts) <= used
        # The datasets are jointly necessary in this version: they share alike.
        amounts = attribution.amounts
        assert abs(amounts.get("dataset:text", 0) - amounts.get("dataset:poem", 0)) <= 1


def test_a_trained_output_pays_every_stage_and_sums_to_its_revenue(pipe: HFPipeline) -> None:
    events = [
        _event(0, request="the cat", text="sat on the mat"),
        _event(1, request="the blue", text="tree and the red house", revenue=10**24 + 7),
    ]
    pipe.score(events)
    result = MultiStageAttribution(pipe, method="owen").fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        assert sum(attribution.amounts.values()) == event.revenue
        assert attribution.amounts["base_model"] > 0
        assert attribution.amounts["dataset:text"] == pytest.approx(
            attribution.amounts["dataset:poem"], abs=1
        )
    # The adapter was trained on the second output, not the first.
    first, second = (a.amounts["adapter:poem"] / a.event.revenue for a in result.events)
    assert second > first


def test_game_worths_follow_the_counterfactuals(pipe: HFPipeline) -> None:
    event = _event(0)
    full = frozenset({"dataset:text", "dataset:poem", "base_model", "adapter:poem", "prompt:story"})
    assert pipe.worth(event, full - {"base_model"}) == 0.0
    assert pipe.worth(event, full - {"dataset:poem"}) == 0.0
    (bare,) = pipe.token_log_probs([event], adapter=False, prompt=False)
    reference = np.full(bare.size, -math.log(pipe.vocab_size))
    from offchain.attribution import utility

    expected = utility("loglik-prefix", bare, reference)
    assert pipe.worth(event, full - {"adapter:poem", "prompt:story"}) == pytest.approx(expected)
    with pytest.raises(InputError, match="not used by event 'e0'"):
        pipe.worth(event, frozenset({"prompt:list"}))


def test_each_configuration_of_a_game_is_scored_once_and_worth_the_same_after(
    pipe: HFPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itertools import combinations

    import offchain.attribution.hf.pipeline as module

    event = _event(7, text="the cat sat on the mat")
    players = sorted(a for ids in pipe.assets(event).values() for a in ids)
    coalitions = [frozenset(c) for r in range(len(players) + 1) for c in combinations(players, r)]
    fresh = {c: pipe.worth(event, c) for c in coalitions}
    calls: list[int] = []
    original = module.utility

    def counting(*args: Any) -> float:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(module, "utility", counting)
    again = {c: pipe.worth(event, c) for c in reversed(coalitions)}
    # Every coalition's worth read back bit for bit, and no utility computed again: the
    # 32 coalitions run 5 configurations (empty; adapter and prompt on or off).
    assert again == fresh and calls == []
    assert len(set(fresh.values())) <= 5


def test_a_reference_model_is_the_empty_pipeline(saved: dict[str, Path], pipe: HFPipeline) -> None:
    referenced = HFPipeline(
        saved["model"],
        adapters={"adapter:poem": saved["adapter"]},
        prompts=PROMPTS,
        reference_model=saved["reference"],
        datasets=("dataset:text", "dataset:poem"),
    )
    commodity = HFPipeline(saved["reference"], prompts=PROMPTS)
    events = [_event(0), _event(1, prompt=None, text="ran under the tree")]
    referenced.score(events)
    for event in events:
        (expected,) = commodity.token_log_probs([replace(event, adapter=None)], prompt=False)
        np.testing.assert_allclose(referenced.reference_log_probs(event), expected, atol=1e-9)
        bare = frozenset({"base_model", "dataset:text", "dataset:poem"})
        gains = referenced.token_log_probs([event], adapter=False, prompt=False)[0] - expected
        assert referenced.worth(event, bare) == pytest.approx(
            float(np.cumsum(gains).max(initial=0.0))
        )
        # Against a weaker reference the base model is worth less than against chance.
        assert referenced.worth(event, bare) < pipe.worth(event, bare)


@settings(max_examples=5)
@given(events=st.lists(events_st, min_size=1, max_size=4, unique_by=lambda e: e.id))
def test_the_base_model_as_its_own_reference_is_worth_nothing(
    selfref: HFPipeline, events: list[HFEvent]
) -> None:
    selfref.score(events)
    for event in events:
        bare = frozenset({"base_model", "dataset:text", "dataset:poem"})
        assert selfref.worth(event, bare) == pytest.approx(0.0, abs=1e-6)
    result = MultiStageAttribution(selfref, method="owen").fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        assert sum(attribution.amounts.values()) in (0, event.revenue)


def test_a_reference_with_another_vocabulary_is_refused(saved: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"reference_model: .* another vocabulary"):
        HFPipeline(saved["model"], reference_model=saved["other"])
    with pytest.raises(InputError, match="reference_model: 'org/name' is not a local directory"):
        HFPipeline(saved["model"], reference_model="org/name")


def test_unknown_prompt_or_adapter_names_the_field(pipe: HFPipeline) -> None:
    with pytest.raises(InputError, match="event 'e0': prompt: unknown id 'nope'"):
        pipe.assets(_event(0, prompt="nope"))
    with pytest.raises(InputError, match="event 'e0': adapter: unknown id 'nope'"):
        pipe.token_log_probs([_event(0, adapter="nope")])


def test_a_hub_name_fails_fast_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="model: 'openai-community/gpt2' is not a local directory"):
        HFPipeline("openai-community/gpt2")


def test_a_bad_adapter_directory_or_template_is_named(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"adapters\['a'\]: .* is not a local directory"):
        HFPipeline(saved["model"], adapters={"a": tmp_path / "missing"})
    with pytest.raises(InputError, match=r"prompts\['p'\]: a template must be a string with a"):
        HFPipeline(saved["model"], prompts={"p": "no slot"})
    with pytest.raises(InputError, match="model: cannot load a causal LM"):
        HFPipeline(tmp_path)
    with pytest.raises(InputError, match=r"asset ids: \['x'\] name more than one asset"):
        HFPipeline(saved["model"], prompts={"x": "{request}"}, datasets=("x",))


# -- the event log ------------------------------------------------------------------------

GOOD = {
    "id": "e1",
    "request": "the cat",
    "prompt": "prompt:story",
    "adapter": None,
    "text": "sat on the mat",
    "revenue": 10**24,
    "commercial": True,
    "date": "2026-12-07",
}


def test_events_load_from_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    second = {**GOOD, "id": "e2", "revenue": str(2**70), "adapter": "a"}
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(second) + "\n")
    first, two = load_events(path)
    assert first == HFEvent(
        "e1", "the cat", "prompt:story", None, "sat on the mat", 10**24, True, dt.date(2026, 12, 7)
    )
    assert two == replace(first, id="e2", revenue=2**70, adapter="a")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"revenue": -1}, "line 2: revenue: must be greater than or equal to 0"),
        ({"revenue": 1.5}, "line 2: revenue: expected an int of wei"),
        ({"revenue": True}, "line 2: revenue: expected an int of wei"),
        ({"commercial": "yes"}, "line 2: commercial: must be a valid boolean"),
        ({"date": "07/12/2026"}, "line 2: date: must be a valid date"),
        ({"text": ""}, "line 2: text: must have at least 1 character"),
        ({"id": None}, "line 2: id: must be a valid string"),
        ({"extra": 1}, "line 2: extra: unknown field"),
        ({"id": "e1"}, "line 2: id: 'e1' repeats line 1"),
    ],
)
def test_a_bad_event_line_names_the_line_and_field(change: dict[str, Any], message: str) -> None:
    lines = [json.dumps(GOOD), json.dumps({**GOOD, "id": "e2", **change})]
    with pytest.raises(InputError, match=f"^events.jsonl {message}"):
        parse_events(lines, source="events.jsonl")


def test_a_line_that_is_not_an_object_or_json_is_named() -> None:
    with pytest.raises(InputError, match=r"^log line 1: not valid JSON: Expecting"):
        parse_events(["{"], source="log")
    with pytest.raises(InputError, match=r"^log line 1: not valid JSON: duplicate key 'id' at id"):
        parse_events([json.dumps(GOOD)[:-1] + ', "id": "e9"}'], source="log")
    with pytest.raises(InputError, match=r"^log line 1: not valid JSON: nested too deeply"):
        parse_events(["[" * 100_000 + "]" * 100_000], source="log")
    with pytest.raises(InputError, match=r"^log line 1: expected a JSON object, got list"):
        parse_events(["[]"], source="log")
    with pytest.raises(InputError, match=r"^log: no events"):
        parse_events(["", " "], source="log")
    missing = {k: v for k, v in GOOD.items() if k != "revenue"}
    with pytest.raises(InputError, match=r"^log line 1: revenue: required"):
        parse_events([json.dumps(missing)], source="log")


def test_public_api_is_pinned() -> None:
    import offchain.attribution.hf as hf

    assert hf.__all__ == [
        "PIPELINE_FORMAT",
        "PIPELINE_SCHEMA",
        "SLOT",
        "STAGES",
        "HFEvent",
        "HFPipeline",
        "ParamSelection",
        "PipelineConfig",
        "RetrainRecipe",
        "TrainingSet",
        "attribute_events",
        "build_pipeline",
        "load_events",
        "load_pipeline_config",
        "parse_events",
        "parse_pipeline_config",
        "pipeline_schema",
    ]


def test_importing_attribution_loads_no_hugging_face_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, offchain.attribution, offchain.attribution.reference; "
        "assert not {'transformers', 'peft', 'torch'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
