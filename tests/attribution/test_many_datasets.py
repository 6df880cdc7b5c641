"""Beyond ten datasets: the data stage disposed of as a block and valued by sampling."""

from __future__ import annotations

import json
from itertools import chain, combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution.game import PipelineGame
from offchain.attribution.multistage import MultiStageAttribution, MultiStageResult
from offchain.attribution.record import split_event
from offchain.attribution.reference.pipeline import MAX_SUBSET_DATASETS, Event, ReferencePipeline
from offchain.scenario import parse_scenario, reference_pipeline, scenario_events

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

_N = MAX_SUBSET_DATASETS + 2
# Two blocks of antithetic orders of the 12 datasets (and the empty and full sets once):
# at most 46 of the 4,096 subsets.
_BUDGET = 2 + 2 * 2 * (_N - 1)


def _doc() -> dict[str, Any]:
    walks = [
        {"id": f"walk{i:02d}", "owner": f"owner{i:02d}",
         "generate": {"kind": "random_walk", "sentences": 2, "vocabulary": 3}}
        for i in range(_N - 1)
    ]  # fmt: skip
    return {
        "format": "ame.scenario/1",
        "id": "many",
        "seed": 0,
        "pipeline": {
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
            "train": {"pretrain_steps": 4, "n_checkpoints": 1, "adapter_epochs": 1},
        },
        "datasets": [
            {"id": "geo", "owner": "alice",
             "generate": {"kind": "facts", "relation": "capital", "count": 3}},
            *walks,
        ],
        "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
        "events": [
            {"id": f"e{i}", "fact": {"dataset": "geo", "index": i}, "revenue": str(10**18 + i),
             "date": "2026-02-01", "prompt": "plain"}
            for i in range(2)
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def market() -> tuple[ReferencePipeline, list[Event]]:
    scenario = parse_scenario(_doc())
    pipe = reference_pipeline(scenario).fit()
    return pipe, scenario_events(scenario, pipe)


def _fit(pipe: ReferencePipeline, events: list[Event], seed: int = 0) -> MultiStageResult:
    return MultiStageAttribution(pipe, seed=seed, max_evaluations=_BUDGET).fit(events).result


def _lines(result: MultiStageResult) -> dict[str, bytes]:
    return {
        e.event.id: json.dumps(e.record.to_json(), sort_keys=True).encode() for e in result.events
    }


def test_more_than_ten_datasets_are_sampled_within_budget_and_split_from_the_record(
    market: tuple[ReferencePipeline, list[Event]],
) -> None:
    pipe, events = market
    assert len(pipe.datasets) == _N
    result = _fit(pipe, events)
    for item in result.events:
        record = item.record
        assert record.labels["data"] == "shapley/permutation/antithetic"
        assert set(record.given) == set(pipe.datasets)
        assert sum(item.amounts.values()) == item.revenue
        # The audit's exact layer: the published worths and given values give the amounts.
        split = split_event(record, precision=result.precision, negative=result.negative)
        assert dict(split.amounts) == item.amounts
        assert item.n_evaluations <= _BUDGET + 2 ** len(record.stages) * 2
    # The warm-up: each event's sampled subsets (and none and all), not 2**12 of them.
    assert len(pipe.trained_subsets) <= len(events) * (_BUDGET + 2)


def test_sampled_stages_are_reproducible_from_their_seed_in_any_order(
    market: tuple[ReferencePipeline, list[Event]],
) -> None:
    pipe, events = market
    first = _lines(_fit(pipe, events))
    assert _lines(_fit(pipe.with_options(), events[::-1])) == first
    other = _fit(pipe, events, seed=1)
    assert _lines(other) != first


def test_the_data_stage_is_one_disposal_block_beyond_ten_datasets(
    market: tuple[ReferencePipeline, list[Event]],
) -> None:
    pipe, events = market
    game = pipe.asset_game(events[0])
    assert isinstance(game, PipelineGame)
    assert pipe.datasets in game.blocks


def _brute_force(
    players: tuple[str, ...], blocks: list[tuple[str, ...]], u: dict[frozenset[str], float]
) -> dict[frozenset[str], float]:
    """``max u(R)`` over the unions of some of ``S``'s block intersections, by enumeration."""
    grouped = blocks + [(p,) for p in players if not any(p in b for b in blocks)]
    out = {}
    for r in range(len(players) + 1):
        for coalition in map(frozenset, combinations(players, r)):
            parts = [frozenset(b) & coalition for b in grouped if frozenset(b) & coalition]
            unions = (
                frozenset(chain.from_iterable(c))
                for k in range(len(parts) + 1)
                for c in combinations(parts, k)
            )
            out[coalition] = max(u.get(R, 0.0) if R else 0.0 for R in unions)
    return out


@settings(max_examples=60)
@given(data=st.data())
def test_free_disposal_over_blocks_is_the_best_union_of_whole_blocks(data: st.DataObject) -> None:
    players = tuple(f"p{i}" for i in range(data.draw(st.integers(1, 5))))
    cut = data.draw(st.permutations(players))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    blocks, at = [], 0
    for size in sizes:
        if at < len(cut):
            blocks.append(tuple(cut[at : at + size]))
            at += size
    every = [frozenset(c) for r in range(1, len(players) + 1) for c in combinations(players, r)]
    values = data.draw(st.lists(st.integers(-9, 9), min_size=len(every), max_size=len(every)))
    u = {c: float(v) for c, v in zip(every, values, strict=True)}
    asked: list[frozenset[str]] = []

    def worth(coalition: frozenset[str]) -> float:
        asked.append(coalition)
        return u[coalition]

    game = PipelineGame(players, worth, blocks=blocks)
    expected = _brute_force(players, blocks, u)
    for coalition in every:
        assert game(coalition) == expected[coalition]
    assert len(asked) == len(set(asked))
    # Singleton blocks are plain free disposal.
    plain = PipelineGame(players, u.__getitem__)
    singles = _brute_force(players, [], u)
    assert all(plain(c) == singles[c] for c in every)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([("a", "x")], r"^blocks\[0\]: unknown players \['x'\]"),
        ([("a",), ("a", "b")], r"^blocks\[1\]: empty or overlapping"),
        ([()], r"^blocks\[0\]: empty or overlapping"),
    ],
)
def test_bad_disposal_blocks_are_refused_naming_them(blocks: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        PipelineGame(("a", "b"), lambda s: 0.0, blocks=blocks)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_stderr": 0.0}, r"^target_stderr must be a finite number above 0"),
        ({"rank_patience": 0}, r"^rank_patience must be at least 1"),
    ],
)
def test_bad_stopping_rules_are_refused_before_any_work(
    market: tuple[ReferencePipeline, list[Event]], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        MultiStageAttribution(market[0], **kwargs)
