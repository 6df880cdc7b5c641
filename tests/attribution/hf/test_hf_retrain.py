"""Exact retraining per subset of the datasets, on the tiny GPT-2: the recipe and its game."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import MultiStageAttribution, utility
from offchain.attribution.hf import HFEvent, HFPipeline, RetrainRecipe
from tests.attribution.hf.models import POEM, PROMPTS, TEXT

pytestmark = [
    pytest.mark.torch,
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

RECIPE = RetrainRecipe(steps=25, learning_rate=1e-2, batch_size=4, seed=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("retrain")
    (root / "text.txt").write_text("\n".join(TEXT))
    (root / "poem.txt").write_text("\n".join(POEM))
    return {"dataset:text": root / "text.txt", "dataset:poem": root / "poem.txt"}


def _pipe(saved: dict[str, Path], files: dict[str, Path], **fields: Any) -> HFPipeline:
    return HFPipeline(
        saved["model"],
        prompts=PROMPTS,
        datasets=files,
        retrain=fields.pop("retrain", RECIPE),
        **fields,
    )


@pytest.fixture(scope="module")
def pipe(saved: dict[str, Path], files: dict[str, Path]) -> HFPipeline:
    return _pipe(saved, files)


def _event(i: int, text: str, revenue: int = 10**18) -> HFEvent:
    return HFEvent(f"e{i}", "", None, None, text, revenue, True, dt.date(2026, 12, 7))


def test_each_subset_is_scored_by_its_own_retrained_model(pipe: HFPipeline) -> None:
    event = _event(0, "the cat sat on the mat")
    base = frozenset({"base_model"})
    text = pipe.worth(event, base | {"dataset:text"})
    poem = pipe.worth(event, base | {"dataset:poem"})
    both = pipe.worth(event, base | {"dataset:text", "dataset:poem"})
    assert pipe.worth(event, frozenset({"dataset:text", "dataset:poem"})) == 0.0
    assert pipe.worth(event, base) == 0.0
    # The text dataset holds this very line; the poems do not.
    assert text > poem
    assert len(pipe._retrained) == 3
    # The recipe's model on every dataset, not the served one.
    (served,) = pipe.token_log_probs([event], prompt=False)
    (whole,) = pipe._forward(pipe.retrained(pipe.datasets), [event], prompt=False)
    assert not torch.allclose(torch.from_numpy(served), torch.from_numpy(whole))
    expected = utility(pipe.utility, whole, pipe.reference_log_probs(event))
    assert both == pytest.approx(expected, rel=1e-12)


def test_retraining_is_seeded_and_leaves_the_global_rng_alone(
    saved: dict[str, Path], files: dict[str, Path], pipe: HFPipeline
) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    again = _pipe(saved, files).retrained({"dataset:poem"})
    assert torch.equal(torch.random.get_rng_state(), before)
    first = pipe.retrained({"dataset:poem"})
    for (name, a), (_, b) in zip(
        first.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    other = _pipe(saved, files, retrain=RetrainRecipe(steps=25, batch_size=4, seed=1))
    weights = other.retrained({"dataset:poem"}).state_dict()
    assert not all(torch.equal(a, weights[n]) for n, a in first.state_dict().items())


@settings(max_examples=5)
@given(
    texts=st.lists(st.sampled_from([*TEXT, *POEM]), min_size=1, max_size=3),
    revenues=st.lists(st.integers(0, 10**24), min_size=3, max_size=3),
    method=st.sampled_from(["shapley", "owen"]),
)
def test_the_data_stage_is_split_by_retrained_values_and_sums_to_revenue(
    pipe: HFPipeline, texts: list[str], revenues: list[int], method: str
) -> None:
    events = [_event(i, t, r) for i, (t, r) in enumerate(zip(texts, revenues, strict=False))]
    result = MultiStageAttribution(pipe, method=method).fit(events).result  # type: ignore[arg-type]
    for event, attribution in zip(events, result.events, strict=True):
        players = frozenset(a for ids in pipe.assets(event).values() for a in ids)
        total = sum(attribution.amounts.values())
        assert total == (event.revenue if pipe.asset_game(event)(players) > 0 else 0)
        assert all(a >= 0 for a in attribution.amounts.values())


def test_a_line_of_one_dataset_pays_that_dataset_more(pipe: HFPipeline) -> None:
    events = [_event(0, TEXT[0]), _event(1, POEM[0])]
    result = MultiStageAttribution(pipe, method="shapley").fit(events).result
    text, poem = (a.amounts for a in result.events)
    assert text["dataset:text"] > text["dataset:poem"]
    assert poem["dataset:poem"] > poem["dataset:text"]


def test_retraining_refuses_adapters_bare_ids_and_too_many_datasets(
    saved: dict[str, Path], files: dict[str, Path]
) -> None:
    with pytest.raises(InputError, match="retrain: exact retraining is for pipelines without"):
        HFPipeline(saved["model"], adapters={"a": saved["adapter"]}, datasets=files, retrain=RECIPE)
    with pytest.raises(InputError, match="retrain: needs the datasets' files"):
        HFPipeline(saved["model"], datasets=("a", "b"), retrain=RECIPE)
    with pytest.raises(InputError, match=r"retrain: 2 datasets would need 3 models, over max_d"):
        HFPipeline(saved["model"], datasets=files, retrain=RetrainRecipe(max_datasets=1))
    with pytest.raises(InputError, match="retrain: expected a RetrainRecipe"):
        HFPipeline(saved["model"], datasets=files, retrain={"steps": 3})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="retrain: no recipe configured"):
        HFPipeline(saved["model"], datasets=files).retrained({"dataset:text"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": 0}, "steps: must be an int >= 1, got 0"),
        ({"batch_size": 1.5}, "batch_size: must be an int >= 1, got 1.5"),
        ({"seed": -1}, "seed: must be an int >= 0, got -1"),
        ({"learning_rate": float("nan")}, "learning_rate: must be a finite number >= 0"),
        ({"weight_decay": -0.1}, "weight_decay: must be a finite number >= 0"),
        ({"max_datasets": True}, "max_datasets: must be an int >= 1, got True"),
    ],
)
def test_a_bad_recipe_field_is_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RetrainRecipe(**fields)
