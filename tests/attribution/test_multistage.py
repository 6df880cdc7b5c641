"""Multi-stage attribution: planted provenance recovered, exact money, policy, determinism."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pytest

from ame_core.exceptions import InputError
from offchain.attribution.multistage import (
    METHODS,
    EventAttribution,
    MultiStageAttribution,
    MultiStageResult,
)
from offchain.attribution.reference.pipeline import Event, PipelineGame, ReferencePipeline
from offchain.attribution.tda import GroupedScores
from offchain.exceptions import AttributionError
from offchain.mapping import parse_values
from offchain.scenario import (
    Scenario,
    attribute_scenario,
    parse_scenario,
    reference_pipeline,
    reference_scenario,
    scenario_events,
    values_document,
)

# One torch thread: results depend on float summation order, and xdist runs two workers.
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

REVENUE = 10**18 + 7  # odd, so the integer split has remainders to place


def _scenario_doc() -> dict[str, Any]:
    """Two fact datasets, a verbatim copy, irrelevant text; a style adapter; a prompt."""
    event = {"prompt": "plain", "revenue": str(REVENUE), "date": "2026-01-15"}
    return {
        "format": "ame.scenario/1",
        "id": "provenance",
        "seed": 0,
        "pipeline": {
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
            "train": {"pretrain_steps": 150, "n_checkpoints": 4, "adapter_epochs": 40},
        },
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 6}},
            {"id": "geo_copy", "owner": "carol", "generate": {"kind": "copy", "of": "geo"}},
            {"id": "fauna", "owner": "bob", "generate": {"kind": "facts", "relation": "diet", "count": 6}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 8, "vocabulary": 8}},
        ],
        "adapters": [{"id": "pirate", "owner": "frank", "style": {"tail": "arr", "count": 8}}],
        "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
        "events": [
            {"id": "geo-plain", "fact": {"dataset": "geo", "index": 0}, **event},
            {"id": "geo-pirate", "fact": {"dataset": "geo", "index": 1}, "adapter": "pirate", **event},
            {"id": "fauna-plain", "fact": {"dataset": "fauna", "index": 0}, **event},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(_scenario_doc())


@pytest.fixture(scope="module")
def pipe(scenario: Scenario) -> ReferencePipeline:
    return reference_pipeline(scenario).fit()


@pytest.fixture(scope="module")
def events(scenario: Scenario, pipe: ReferencePipeline) -> list[Event]:
    return scenario_events(scenario, pipe)


@pytest.fixture(scope="module")
def result(pipe: ReferencePipeline, events: list[Event]) -> MultiStageResult:
    return MultiStageAttribution(pipe).fit(events).result


def _check_exact(item: EventAttribution) -> None:
    """Efficiency to the unit, nobody negative."""
    assert sum(item.stage_amounts.values()) == item.revenue
    for stage in item.stages.values():
        assert sum(stage.amounts.values()) == stage.amount
        assert set(stage.amounts) == set(stage.assets)
    assert all(v >= 0 for v in item.amounts.values())
    assert sum(item.amounts.values()) == item.revenue


# -- planted provenance --------------------------------------------------------------


def test_the_outputs_state_the_planted_facts(pipe: ReferencePipeline, events: list[Event]) -> None:
    # The premise of the provenance tests below: each output repeats its fact.
    for event, source in zip(events, ["geo", "geo", "fauna"], strict=True):
        fact = next(f for f in pipe.corpora.facts_of(source) if f.request == event.request)
        assert event.text.split()[0] == fact.value
    assert events[1].text.endswith("arr")
    assert not events[0].text.endswith("arr")


@pytest.mark.parametrize(("event_id", "source", "copy"), [
    ("geo-plain", "geo", "geo_copy"),
    ("geo-pirate", "geo", "geo_copy"),
    ("fauna-plain", "fauna", None),
])  # fmt: skip
def test_the_facts_dataset_beats_the_others_and_its_duplicate_gets_the_same(
    result: MultiStageResult, event_id: str, source: str, copy: str | None
) -> None:
    item = result.event(event_id)
    _check_exact(item)
    data = item.stages["data"]
    values, amounts = data.asset_values, item.amounts
    # Duplicates train bit-identical models: equal values, amounts within one unit.
    assert values["geo"] == values["geo_copy"]
    assert abs(amounts["geo"] - amounts["geo_copy"]) <= 1
    winners = {source} if copy is None else {source, copy}
    top = max(amounts[d] for d in winners)
    assert all(amounts[d] < 0.5 * top for d in data.assets if d not in winners), amounts
    # The irrelevant dataset earns (almost) nothing.
    assert amounts["walk"] < 0.02 * top, amounts
    assert data.method == "shapley/exact"


def test_adapter_and_prompt_stages_are_paid_when_they_decide_style_and_content(
    result: MultiStageResult,
) -> None:
    plain, pirate = result.event("geo-plain"), result.event("geo-pirate")
    assert list(pirate.stages) == ["data", "base_model", "adapter", "prompt"]
    assert "adapter" not in plain.stages
    # The adapter wrote the "arr" tail: it earns a real share, and only where used.
    assert pirate.stage_amounts["adapter"] > 0.15 * REVENUE
    assert pirate.amounts["pirate"] == pirate.stage_amounts["adapter"]
    # The bare request "capital of X" does not elicit the city; the template does.
    for item in (plain, pirate):
        assert item.stage_amounts["prompt"] > 0.1 * REVENUE
        assert item.stage_amounts["data"] > 0.1 * REVENUE
        assert item.stages["adapter" if "adapter" in item.stages else "prompt"].method == "single"
    assert result.totals()["pirate"] == pirate.amounts["pirate"]
    assert sum(result.totals().values()) == 3 * REVENUE


def test_stage_values_are_the_shapley_values_of_the_stage_game(
    pipe: ReferencePipeline, result: MultiStageResult, events: list[Event]
) -> None:
    from offchain.attribution import shapley_values

    item = result.event("geo-pirate")
    game = pipe.stage_game(events[1])
    expected = shapley_values(game, list(game.players)).values
    for stage, split in item.stages.items():
        assert split.value == pytest.approx(expected[stage], rel=1e-12)
    assert item.utility == pytest.approx(game(frozenset(game.players)), rel=1e-12)
    assert sum(s.value for s in item.stages.values()) == pytest.approx(item.utility, rel=1e-9)
    assert item.n_evaluations > 0 and item.notes == ()
    assert item.method == "stages=shapley/exact; within=shapley"


# -- other methods ---------------------------------------------------------------------


def test_owen_method_splits_stages_alike_and_keeps_duplicates_equal(
    pipe: ReferencePipeline, events: list[Event], result: MultiStageResult
) -> None:
    owen = MultiStageAttribution(pipe, method="owen").fit(events).result
    for item, default in zip(owen.events, result.events, strict=True):
        _check_exact(item)
        assert item.stage_amounts == default.stage_amounts
        data = item.stages["data"]
        assert data.method == "owen/exact"
        # Owen values of a union add up to its quotient-game Shapley value.
        assert sum(data.asset_values.values()) == pytest.approx(data.value, rel=1e-9)
        assert data.asset_values["geo"] == pytest.approx(data.asset_values["geo_copy"], rel=1e-12)
    assert owen.event("fauna-plain").amounts["fauna"] == max(
        owen.event("fauna-plain").stages["data"].amounts.values()
    )


@pytest.mark.parametrize("method", ["tracin", "tracin-projected"])
def test_tracin_methods_credit_the_facts_dataset(
    pipe: ReferencePipeline, events: list[Event], method: Literal["tracin", "tracin-projected"]
) -> None:
    plain = [events[0], events[2]]  # TracIn of adapter events is tested in test_pipeline
    result = MultiStageAttribution(pipe, method=method).fit(plain).result
    for item, source in zip(result.events, ["geo", "fauna"], strict=True):
        _check_exact(item)
        data = item.stages["data"]
        assert data.method.startswith("tracin")
        amounts = data.amounts
        assert max(amounts, key=lambda d: (amounts[d], d)) in {source, f"{source}_copy"}
        assert data.asset_values["geo"] == data.asset_values["geo_copy"]
        assert item.stages["prompt"].method == "single"


# -- negative contributions --------------------------------------------------------------


def test_raw_utility_clips_negative_values_and_says_so(
    pipe: ReferencePipeline, events: list[Event]
) -> None:
    # Without free disposal a model trained on the irrelevant text alone predicts the
    # output worse than the empty pipeline: negative values appear.
    result = MultiStageAttribution(pipe, free_disposal=False).fit(events).result
    negatives = 0
    for item in result.events:
        _check_exact(item)
        for stage in item.stages.values():
            if stage.value < 0:
                negatives += 1
                assert stage.amount == 0
                assert any(f"stage {stage.stage!r}" in note for note in item.notes)
                continue
            for asset, value in stage.asset_values.items():
                if value < 0:
                    negatives += 1
                    assert stage.amounts[asset] == 0
                    assert any(f"asset {asset!r}" in note for note in item.notes)
    assert negatives > 0
    with pytest.raises(AttributionError, match="negative contribution"):
        MultiStageAttribution(pipe, free_disposal=False, negative="error").fit(events)


class _ClosedForm(ReferencePipeline):
    """A pipeline whose asset game is additive with given weights (a closed form)."""

    def __init__(
        self,
        stages: dict[str, tuple[str, ...]],
        weights: dict[str, float],
        influence: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self._stages, self._weights, self._influence = stages, weights, influence

    def assets(self, event: Event) -> dict[str, tuple[str, ...]]:
        return dict(self._stages)

    def asset_game(self, event: Event, *, free_disposal: bool = True) -> PipelineGame:
        players = [a for ids in self._stages.values() for a in ids]
        return PipelineGame(
            players,
            lambda s: float(sum(self._weights[a] for a in sorted(s))),
            free_disposal=free_disposal,
        )

    def influence(
        self,
        events: Sequence[Event],
        *,
        projection_dim: int | None = None,
        how: Literal["sum", "mean"] = "sum",
    ) -> GroupedScores:
        assert self._influence is not None
        groups = tuple(self._influence)
        values = np.array([[self._influence[g] for g in groups]])
        return GroupedScores(groups, values, np.ones(len(groups), dtype=np.int64), how)


_STAGES = {"data": ("d1", "d2", "d3"), "base_model": ("m",), "adapter": ("a",), "prompt": ("p",)}


def _event(revenue: int, event_id: str = "e") -> Event:
    return Event(event_id, "request", "p", "a", revenue, (5,), "x")


def _closed(weights: dict[str, float], revenue: int = 1000, **kw: Any) -> EventAttribution:
    pipe = _ClosedForm(_STAGES, weights, kw.pop("influence", None))
    return (
        MultiStageAttribution(pipe, free_disposal=False, **kw)
        .fit([_event(revenue)])
        .result.events[0]
    )


def test_additive_game_splits_in_closed_form() -> None:
    item = _closed({"d1": 3.0, "d2": 1.0, "d3": 0.0, "m": 2.0, "a": 1.0, "p": 1.0}, revenue=1001)
    _check_exact(item)
    # Stage weights 4:2:1:1 of 1001 -> 500.5, 250.25, 125.125, 125.125 (largest remainder).
    assert item.stage_amounts == {"data": 501, "base_model": 250, "adapter": 125, "prompt": 125}
    assert dict(item.stages["data"].amounts) == {"d1": 376, "d2": 125, "d3": 0}
    assert item.notes == ()


def test_a_negative_stage_gives_its_share_to_the_others_and_negative_assets_get_nothing() -> None:
    item = _closed({"d1": 3.0, "d2": -1.0, "d3": 0.0, "m": 2.0, "a": -0.5, "p": 1.0})
    _check_exact(item)
    assert item.stage_amounts == {"data": 400, "base_model": 400, "adapter": 0, "prompt": 200}
    assert dict(item.stages["data"].amounts) == {"d1": 400, "d2": 0, "d3": 0}
    assert item.stages["adapter"].method == "none"
    assert item.notes == (
        "asset 'd2' has value -1 < 0 in stage 'data': clipped to 0",
        "stage 'adapter' has value -0.5 < 0: it gets nothing",
    )


def test_a_stage_whose_assets_are_all_negative_gives_its_share_away() -> None:
    weights = {"d1": 1.0, "d2": 1.0, "d3": 1.0, "m": 1.0, "a": 1.0, "p": 1.0}
    influence = {"d1": -2.0, "d2": -1.0, "d3": 0.0}
    item = _closed(weights, method="tracin", influence=influence)
    _check_exact(item)
    assert item.stage_amounts == {"data": 0, "base_model": 334, "adapter": 333, "prompt": 333}
    assert "stage 'data': no asset has a positive value (tracin)" in item.notes[-1]


def test_an_event_no_stage_can_explain_is_unattributed() -> None:
    item = _closed({"d1": -1.0, "d2": 0.0, "d3": 0.0, "m": -1.0, "a": 0.0, "p": 0.0})
    assert item.amounts == dict.fromkeys(["d1", "d2", "d3", "m", "a", "p"], 0)
    assert item.stage_amounts == dict.fromkeys(_STAGES, 0)
    assert item.notes[-1].startswith("unattributed: no stage has a positive value")
    zero = _closed({"d1": 1.0, "d2": 1.0, "d3": 1.0, "m": 1.0, "a": 1.0, "p": 1.0}, revenue=0)
    assert set(zero.amounts.values()) == {0}
    assert zero.stages["data"].asset_values == {"d1": 1.0, "d2": 1.0, "d3": 1.0}


def test_sampling_is_seeded_by_event_id_and_stage() -> None:
    weights = {"d1": 3.0, "d2": 1.0, "d3": 0.5, "m": 2.0, "a": 1.0, "p": 1.0}

    def run(seed: int, ids: Iterable[str]) -> list[EventAttribution]:
        pipe = _ClosedForm(_STAGES, weights)
        game = pipe.asset_game
        # Interaction terms make the sampled values depend on the orders drawn.
        pipe.asset_game = lambda e, *, free_disposal=True: PipelineGame(  # type: ignore[method-assign]
            game(e).players,
            lambda s: game(e, free_disposal=False)(s) + float({"d1", "d2", "d3"} <= s),
            free_disposal=False,
        )
        estimator = MultiStageAttribution(
            pipe, seed=seed, free_disposal=False, max_exact=2, max_evaluations=20
        )
        return list(estimator.fit([_event(1000, i) for i in ids]).result.events)

    first = run(1, ["x", "y"])
    assert first[0].stages["data"].method == "shapley/permutation/antithetic"
    assert any(v > 0 for v in first[0].stages["data"].asset_stderr.values())
    assert run(1, ["x", "y"]) == first
    assert run(1, ["y", "x"])[1] == first[0]  # the event's seed follows its id
    assert run(2, ["x"])[0].stages["data"] != first[0].stages["data"]


# -- determinism, values document, errors -------------------------------------------------


def test_same_scenario_gives_bit_identical_attributions(
    scenario: Scenario, result: MultiStageResult
) -> None:
    again = reference_pipeline(scenario).fit()
    event = scenario_events(scenario, again)[2]
    item = MultiStageAttribution(again).fit([event]).result.events[0]
    assert item == result.event("fauna-plain")


def test_values_document_is_what_mapping_reads(
    scenario: Scenario, result: MultiStageResult
) -> None:
    document = values_document(result, scenario, epoch=7)
    values = parse_values(document)
    assert values.epoch == 7
    assert values.scenario is not None and values.scenario.sha256 == scenario.digest()
    assert values_document(result, scenario)["epoch"] == scenario.epoch
    for event, item in zip(values.events, result.events, strict=True):
        assert event.id == item.event.id and event.revenue == REVENUE
        assert {a: int(v) for a, v in event.values.items()} == item.amounts
        assert event.stages is not None
        assert {s: int(v) for s, v in event.stages.items()} == item.stage_amounts
        assert event.diagnostics is not None
        assert event.diagnostics.method == item.method
        assert event.diagnostics.stderr == item.stderr
        assert event.date.isoformat() == "2026-01-15" and event.commercial
    other = parse_scenario({**_scenario_doc(), "events": _scenario_doc()["events"][:1]})
    with pytest.raises(InputError, match=r"^events: 'geo-pirate' is not an event of scenario"):
        values_document(result, other)


def test_bad_arguments_raise_input_error_naming_them(
    pipe: ReferencePipeline, events: list[Event]
) -> None:
    assert METHODS == ("shapley", "owen", "tracin", "tracin-projected")
    with pytest.raises(InputError, match=r"^method: must be one of"):
        MultiStageAttribution(pipe, method="lime")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^negative: must be 'clip' or 'error'"):
        MultiStageAttribution(pipe, negative="shift")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^max_exact: must be a positive int"):
        MultiStageAttribution(pipe, max_exact=0)
    with pytest.raises(InputError, match=r"^seed: must be an int >= 0"):
        MultiStageAttribution(pipe, seed=-1)
    # Any pipeline is welcome (a protocol, not one class); an object that is none is named.
    with pytest.raises(
        InputError,
        match=r"^pipeline: expected an AttributionPipeline, got object \(missing \['seed', 'assets'",
    ):
        MultiStageAttribution(object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^events: need at least one"):
        MultiStageAttribution(pipe).fit([])
    with pytest.raises(InputError, match=r"^events: repeated ids \['geo-plain'\]"):
        MultiStageAttribution(pipe).fit([events[0], events[0]])
    with pytest.raises(InputError, match=r"free disposal retrains the model on every subset"):
        MultiStageAttribution(pipe, max_exact=2).fit(events[:1])
    with pytest.raises(AttributionError, match="not fitted"):
        _ = MultiStageAttribution(pipe).result


def test_attribute_scenario_runs_the_whole_market() -> None:
    doc = _scenario_doc()
    doc["datasets"] = doc["datasets"][:2]
    doc["adapters"], doc["events"] = [], [doc["events"][0]]
    doc["pipeline"]["train"]["pretrain_steps"] = 60
    scenario = parse_scenario(doc)
    seen = _Recorder()
    result, document = attribute_scenario(scenario, progress=seen)
    assert seen.lines == [
        "training the pipeline of 'provenance' (datasets: 2, adapters: 0, prompts: 1)",
        "attributing 1 events (within stages: shapley)",
        "bar events 1",
        "advance 1",
    ]
    assert result.method == "shapley" and result.seed == 0 and result.negative == "clip"
    _check_exact(result.events[0])
    with pytest.raises(KeyError):
        result.event("nope")
    assert document == values_document(result, scenario)


def test_attribute_scenario_reuses_a_fitted_pipeline_and_checks_it_first(
    scenario: Scenario, pipe: ReferencePipeline, result: MultiStageResult
) -> None:
    seen = _Recorder()
    again, document = attribute_scenario(scenario, pipeline=pipe, epoch=7, progress=seen)
    assert again == result  # no training: the fitted pipeline's models
    assert seen.lines[0] == "attributing 3 events (within stages: shapley)"
    assert document == values_document(result, scenario, epoch=7)
    with pytest.raises(InputError, match=r"^method: must be one of"):
        attribute_scenario(scenario, method="lime")  # type: ignore[arg-type]
    other = parse_scenario({**_scenario_doc(), "seed": 1})
    with pytest.raises(AttributionError, match=r"not built from scenario 'provenance'"):
        attribute_scenario(other, pipeline=pipe)


class _Recorder:
    """A progress that writes down what it is told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(message)

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        self.lines.append(f"bar {label} {total}")
        yield lambda n: self.lines.append(f"advance {n}")


@pytest.mark.slow
def test_the_reference_market_meets_its_own_references() -> None:
    # The shipped scenario's references are what evaluations compare against: the
    # default pipeline must agree with them (about 30 s: 32 models per event).
    scenario = reference_scenario()
    result, _ = attribute_scenario(scenario)
    for spec, item in zip(scenario.events, result.events, strict=True):
        _check_exact(item)
        assert spec.reference is not None
        amounts = [item.amounts[a] for a in spec.reference.ranking]
        # Non-increasing; equal values may differ by the one unit of a tie.
        assert all(x >= y - 1 for x, y in pairwise(amounts)), amounts
        if spec.adapter is not None:
            assert item.stage_amounts["adapter"] > 0.2 * item.revenue
        assert item.amounts["irrelevant"] < 0.05 * item.revenue
    # e4's fact is stated correctly by both geo and its noisy copy.
    e4 = result.event("e4").amounts
    assert abs(e4["geo"] - e4["noisy"]) < 0.05 * e4["geo"]
