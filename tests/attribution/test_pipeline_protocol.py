"""Any pipeline plugs into multi-stage attribution through the protocol, and the values
writer turns its result into what mapping reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import (
    DATA_STAGE,
    AttributionPipeline,
    Event,
    EventTerms,
    MultiStageAttribution,
    MultiStageResult,
    PipelineEvent,
    PipelineGame,
    ReferencePipeline,
    values_document,
)
from offchain.attribution.tda import GroupedScores
from offchain.exceptions import AttributionError
from offchain.mapping import parse_values


@dataclass(frozen=True)
class _Sale:
    """A test event: what the protocol asks of one, nothing more."""

    id: str
    revenue: int
    prompt: str | None = None
    adapter: str | None = None
    text: str = ""


class _Additive:
    """A tiny pipeline, no model at all: its asset game is additive with integer weights,
    ``v(S) = sum of w_a over S``, so every value has a closed form."""

    def __init__(self, stages: dict[str, tuple[str, ...]], weights: dict[str, int]) -> None:
        self.stages, self.weights = stages, weights
        self.seed = 7

    def assets(self, event: _Sale) -> dict[str, tuple[str, ...]]:
        return dict(self.stages)

    def asset_game(self, event: _Sale, *, free_disposal: bool = True) -> PipelineGame:
        players = [a for ids in self.stages.values() for a in ids]
        return PipelineGame(
            players,
            lambda s: float(sum(self.weights[a] for a in s)),
            free_disposal=free_disposal,
        )

    def influence(
        self, events: Sequence[_Sale], *, projection_dim: int | None = None
    ) -> GroupedScores:
        groups = self.stages.get(DATA_STAGE, ())
        values = np.array([[float(self.weights[g]) for g in groups] for _ in events])
        return GroupedScores(groups, values, np.ones(len(groups), dtype=np.int64), "sum")


def _largest_remainder(amount: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """The closed form of an exact split: floors of the quotas over the positive weights,
    then one unit each to the largest remainders (ties to the earlier key)."""
    positive = {k: w for k, w in weights.items() if w > 0}
    total = sum(positive.values())
    if not total:
        return dict.fromkeys(weights, 0)
    quotas = {k: amount * w / total for k, w in positive.items()}
    out = {k: int(q) for k, q in quotas.items()}
    order = sorted(positive, key=lambda k: -(quotas[k] - out[k]))  # stable: earlier first
    for k in order[: amount - sum(out.values())]:
        out[k] += 1
    return {k: out.get(k, 0) for k in weights}


@st.composite
def _markets(draw: st.DrawFn) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """A partition of a few assets into stages (the data stage among them or not) and
    non-negative integer weights, zeros included."""
    names = ["data", "base_model", "adapter", "prompt", "retrieval"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    stages: dict[str, tuple[str, ...]] = {}
    for i, stage in enumerate(chosen):
        n = draw(st.integers(1, 4))
        stages[stage] = tuple(f"{stage[:1]}{i}{j}" for j in range(n))
    assets = [a for ids in stages.values() for a in ids]
    weights = draw(st.lists(st.integers(0, 50), min_size=len(assets), max_size=len(assets)))
    return stages, dict(zip(assets, weights, strict=True))


def _closed_form(
    stages: dict[str, tuple[str, ...]], weights: Mapping[str, float | int], revenue: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Stage amounts, then asset amounts, split exactly in proportion to ``weights``
    (stage weights their assets' sums)."""
    exact = {a: Fraction(w) for a, w in weights.items()}
    stage_weights = {s: sum((exact[a] for a in ids), Fraction(0)) for s, ids in stages.items()}
    stage_amounts = _largest_remainder(revenue, stage_weights)
    amounts: dict[str, int] = {}
    for stage, ids in stages.items():
        amounts.update(_largest_remainder(stage_amounts[stage], {a: exact[a] for a in ids}))
    return stage_amounts, amounts


def test_the_reference_pipeline_and_its_events_implement_the_protocol() -> None:
    assert isinstance(ReferencePipeline(), AttributionPipeline)
    assert isinstance(Event("e", "req", None, None, 1, (3,), "x"), PipelineEvent)
    assert isinstance(_Additive({"data": ("d",)}, {"d": 1}), AttributionPipeline)
    assert isinstance(_Sale("e", 1), PipelineEvent)
    assert not isinstance(object(), AttributionPipeline)


@settings(max_examples=150)
@given(
    _markets(),
    st.lists(st.integers(0, 10**24), min_size=1, max_size=3),
    st.sampled_from(["shapley", "owen", "tracin"]),
    st.booleans(),
)
def test_a_pipeline_with_a_closed_form_game_gets_exactly_its_closed_form_amounts(
    market: tuple[dict[str, tuple[str, ...]], dict[str, int]],
    revenues: list[int],
    method: str,
    free_disposal: bool,
) -> None:
    stages, weights = market
    events = [_Sale(f"e{i}", r) for i, r in enumerate(revenues)]
    result = (
        MultiStageAttribution(
            _Additive(stages, weights),
            method=method,  # type: ignore[arg-type]
            free_disposal=free_disposal,
        )
        .fit(events)
        .result
    )
    assert result.seed == 7  # the pipeline's
    for event, item in zip(events, result.events, strict=True):
        assert item.event is event
        # Values: the closed form's (Shapley and Owen values of an additive game are the
        # weights; TracIn scores are given), up to float rounding.
        for stage, ids in stages.items():
            value = item.stages[stage].value
            assert value == pytest.approx(sum(weights[a] for a in ids), rel=1e-12, abs=1e-12)
            if item.stages[stage].method != "none":
                for a in ids:
                    assert item.stages[stage].asset_values[a] == pytest.approx(
                        weights[a], rel=1e-12, abs=1e-12
                    )
        # Money: exactly the largest-remainder split of the values the engine reports.
        reported = {
            a: st.asset_values.get(a, 0.0) if len(st.assets) > 1 else st.value
            for st in item.stages.values()
            for a in st.assets
        }
        by_stage = {s: item.stages[s].value for s in stages}
        stage_amounts = _largest_remainder(
            event.revenue, {s: Fraction(v) for s, v in by_stage.items()}
        )
        assert item.stage_amounts == stage_amounts
        for stage, ids in stages.items():
            split = _largest_remainder(
                stage_amounts[stage], {a: Fraction(max(reported[a], 0.0)) for a in ids}
            )
            assert {a: item.amounts[a] for a in ids} == split
        # And the exact closed form of the integer weights: to the unit when the values
        # came out exact; otherwise a float Shapley value may round off its integer
        # (5.999...), which moves an amount by its relative error (2**-52, so up to
        # revenue * 2**-50 over the few operations) plus a unit per split.
        exact_stages, exact_amounts = _closed_form(stages, weights, event.revenue)
        slack = event.revenue * 2**-40 + 2
        assert all(abs(item.stage_amounts[s] - v) <= slack for s, v in exact_stages.items())
        assert all(abs(item.amounts[a] - v) <= slack for a, v in exact_amounts.items())
        if reported == {a: float(w) for a, w in weights.items() if a in reported} and all(
            by_stage[s] == sum(weights[a] for a in ids) for s, ids in stages.items()
        ):
            assert (item.stage_amounts, item.amounts) == (exact_stages, exact_amounts)
        assert all(isinstance(v, int) for v in item.amounts.values())
        paid = sum(item.amounts.values())
        assert paid == (event.revenue if any(weights.values()) else 0)
        for stage_item in item.stages.values():
            assert sum(stage_item.amounts.values()) == stage_item.amount
        assert item.utility == float(sum(weights.values()))


@settings(max_examples=150)
@given(
    st.integers(0, 10**30),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.sampled_from(["shapley", "owen"]),
)
def test_where_the_values_are_exact_floats_the_amounts_are_the_closed_form_to_the_unit(
    revenue: int, data: int, model: int, method: str
) -> None:
    # Two stages of one asset: each Shapley value is (v(i) + v(N) - v(j)) / 2, exact in
    # floats for integer worths, so no rounding stands between values and amounts.
    stages: dict[str, tuple[str, ...]] = {"data": ("d",), "base_model": ("m",)}
    weights = {"d": data, "m": model}
    pipe = _Additive(stages, weights)
    item = (
        MultiStageAttribution(pipe, method=method)  # type: ignore[arg-type]
        .fit([_Sale("e", revenue)])
        .result.events[0]
    )
    assert (item.stage_amounts, item.amounts) == _closed_form(stages, weights, revenue)
    assert sum(item.amounts.values()) == (revenue if data + model else 0)


def test_the_result_of_any_pipeline_is_written_as_values_mapping_reads() -> None:
    stages = {"data": ("web", "books"), "base_model": ("lm",)}
    pipe = _Additive(stages, {"web": 2, "books": 1, "lm": 3})
    events = [_Sale("e1", 600, text="hello"), _Sale("e2", 7)]
    result = MultiStageAttribution(pipe).fit(events).result
    day = dt.date(2026, 3, 1)
    terms = {"e1": EventTerms(True, day), "e2": EventTerms(False, day)}
    document = values_document(result, epoch=4, terms=terms, inputs=("market", "ab" * 32))
    values = parse_values(document)
    assert values.epoch == 4
    assert values.scenario is not None and values.scenario.id == "market"
    assert [e.id for e in values.events] == ["e1", "e2"]
    first, second = values.events
    assert {a: int(v) for a, v in first.values.items()} == {"web": 200, "books": 100, "lm": 300}
    assert first.commercial and not second.commercial and first.date == day
    assert first.stages is not None and {s: int(v) for s, v in first.stages.items()} == {
        "data": 300,
        "base_model": 300,
    }
    assert first.diagnostics is not None and first.diagnostics.method == result.events[0].method
    assert values_document(result, epoch=0, terms=terms)["scenario"] is None


def test_bad_values_arguments_raise_input_error_naming_them() -> None:
    pipe = _Additive({"data": ("d",)}, {"d": 1})
    result = MultiStageAttribution(pipe).fit([_Sale("e1", 5)]).result
    terms = {"e1": EventTerms(True, dt.date(2026, 1, 1))}
    with pytest.raises(InputError, match=r"^terms: no terms for event 'e1'"):
        values_document(result, epoch=1, terms={})
    with pytest.raises(InputError, match=r"^terms\['e1'\]: expected EventTerms"):
        values_document(result, epoch=1, terms={"e1": (True, "2026-01-01")})  # type: ignore[dict-item]
    with pytest.raises(InputError, match=r"^epoch: must be an int >= 0, got -1"):
        values_document(result, epoch=-1, terms=terms)
    with pytest.raises(InputError, match=r"^epoch: must be an int >= 0, got True"):
        values_document(result, epoch=True, terms=terms)
    with pytest.raises(InputError, match=r"^inputs: expected \(id, sha256\) strings"):
        values_document(result, epoch=1, terms=terms, inputs=("only-id",))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^result: expected a MultiStageResult, got dict"):
        values_document({}, epoch=1, terms=terms)  # type: ignore[arg-type]
    assert isinstance(result, MultiStageResult)


def test_a_pipeline_that_breaks_the_protocol_is_refused_naming_what() -> None:
    class NoInfluence:
        seed = 0

        def assets(self, event: _Sale) -> dict[str, tuple[str, ...]]:
            return {}

        def asset_game(self, event: _Sale, *, free_disposal: bool = True) -> PipelineGame:
            return PipelineGame([], lambda s: 0.0)

    with pytest.raises(InputError, match=r"\(missing \['influence'\]\)"):
        MultiStageAttribution(NoInfluence())  # type: ignore[arg-type]
    twice = _Additive({"data": ("d",), "base_model": ("d",)}, {"d": 1})
    with pytest.raises(InputError, match=r"^pipeline.assets: assets \['d'\] of event 'e'"):
        MultiStageAttribution(twice).fit([_Sale("e", 1)])
    empty = _Additive({}, {})
    with pytest.raises(InputError, match=r"^pipeline.assets: event 'e' used no asset"):
        MultiStageAttribution(empty).fit([_Sale("e", 1)])
    bad_seed = _Additive({"data": ("d",)}, {"d": 1})
    bad_seed.seed = -3
    with pytest.raises(InputError, match=r"^pipeline.seed: must be an int >= 0, got -3"):
        MultiStageAttribution(bad_seed)


def test_a_pipeline_without_per_example_scores_can_refuse_tracin() -> None:
    class ShapleyOnly(_Additive):
        def influence(
            self, events: Sequence[_Sale], *, projection_dim: int | None = None
        ) -> GroupedScores:
            raise AttributionError("no per-example scores: use method='shapley'")

    pipe = ShapleyOnly({"data": ("a", "b"), "base_model": ("m",)}, {"a": 1, "b": 1, "m": 1})
    with pytest.raises(AttributionError, match="no per-example scores"):
        MultiStageAttribution(pipe, method="tracin").fit([_Sale("e", 9)])
    item = MultiStageAttribution(pipe).fit([_Sale("e", 9)]).result.events[0]
    assert item.amounts == {"a": 3, "b": 3, "m": 3}
