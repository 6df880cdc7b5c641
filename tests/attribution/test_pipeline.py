"""The reference pipeline: planted provenance, determinism, the games and their values."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from ame_core.exceptions import InputError
from offchain.attribution import owen_values, shapley_values
from offchain.attribution.reference.lm import sequence_nll
from offchain.attribution.reference.pipeline import (
    BASE_MODEL,
    Event,
    PipelineGame,
    PipelineSettings,
    ReferencePipeline,
    TrainSettings,
    generate_corpora,
)
from offchain.attribution.tda import ProjectedTracIn, TracIn, aggregate_scores
from offchain.exceptions import AttributionError

# One torch thread: results depend on float summation order, and xdist runs two workers.
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def pipe() -> ReferencePipeline:
    return ReferencePipeline().fit()


@pytest.fixture(scope="module")
def plain() -> ReferencePipeline:
    return ReferencePipeline(PipelineSettings(utility="loglik")).fit()


@pytest.fixture(scope="module")
def floored() -> ReferencePipeline:
    return ReferencePipeline(PipelineSettings(utility="loglik-floored")).fit()


def _events(pipe: ReferencePipeline, source: str, adapter: str | None = None) -> list[Event]:
    """Events whose output states a fact exactly as the ``source`` dataset plants it.

    ``source`` is ``geo`` (a capital the noisy dataset gets wrong), ``noisy`` (a
    capital where the model repeats the noisy dataset's wrong city) or ``fauna``.
    """
    corpora = pipe.corpora
    out = []
    for fact in corpora.facts_of("fauna" if source == "fauna" else "geo"):
        noisy = corpora.noisy_values.get(fact.subject)
        if noisy == fact.value:
            continue
        value = noisy if source == "noisy" else fact.value
        event = pipe.run(fact.request, prompt="plain", adapter=adapter, event_id=fact.subject)
        if event.text.split()[:1] == [value]:
            out.append(event)
    return out


def _shapley(game: PipelineGame) -> dict[str, float]:
    return dict(shapley_values(game, list(game.players)).values)


def _coalitions(players: tuple[str, ...]) -> Iterator[frozenset[str]]:
    for k in range(len(players) + 1):
        for members in itertools.combinations(players, k):
            yield frozenset(members)


def test_corpora_plant_known_provenance() -> None:
    settings = PipelineSettings()
    corpora = generate_corpora(settings.corpus, settings.seed)
    data = {d.id: d for d in corpora.datasets}
    assert data["fauna_copy"].sentences == data["fauna"].sentences
    assert data["fauna_copy"].owner != data["fauna"].owner
    words = {d: {w for s in data[d].sentences for w in s.split()} for d in data}
    others = set().union(*(words[d] for d in data if d != "irrelevant"))
    assert not words["irrelevant"] & others
    for fact in corpora.facts_of("geo"):
        assert f"the capital of {fact.subject} is {fact.value} ." in data["geo"].sentences
        stated = corpora.noisy_values[fact.subject]
        assert f"the capital of {fact.subject} is {stated} ." in data["noisy"].sentences
    wrong = sum(corpora.noisy_values[f.subject] != f.value for f in corpora.facts_of("geo"))
    assert 0 < wrong < len(corpora.facts_of("geo"))
    tails = {"pirate": "arr", "formal": "sir"}
    for demos in corpora.adapter_data:
        assert all(tail == tails[demos.id] for _, tail in demos.pairs)
    assert generate_corpora(settings.corpus, settings.seed) == corpora
    assert generate_corpora(settings.corpus, settings.seed + 1) != corpora


def test_same_seed_gives_bit_identical_models_events_and_values(pipe: ReferencePipeline) -> None:
    again = ReferencePipeline(PipelineSettings()).fit()
    for name, tensor in pipe.base.model.state_dict().items():
        assert torch.equal(tensor, again.base.model.state_dict()[name])
    for adapter_id, adapter in pipe.adapters.items():
        for name, (a, b) in adapter.factors.items():
            a2, b2 = again.adapters[adapter_id].factors[name]
            assert torch.equal(a, a2) and torch.equal(b, b2)
    events, events_again = pipe.sample_events(4), again.sample_events(4)
    assert events == events_again
    for event in events:
        # Raw worths need 2 models per pipeline; disposal would retrain on every subset.
        game = pipe.stage_game(event, free_disposal=False)
        game_again = again.stage_game(event, free_disposal=False)
        for coalition in _coalitions(game.players):
            assert game(coalition) == game_again(coalition)
    plain = [e for e in events if e.adapter is None] or [pipe.run(events[0].request)]
    assert np.array_equal(pipe.influence(plain).values, again.influence(plain).values)
    other = ReferencePipeline(PipelineSettings(seed=1)).fit()
    assert other.corpora != pipe.corpora


def test_stage_game_is_zero_when_empty_and_monotone(pipe: ReferencePipeline) -> None:
    geo, fauna = pipe.corpora.facts_of("geo")[0], pipe.corpora.facts_of("fauna")[0]
    events = [
        pipe.run(geo.request),
        pipe.run(fauna.request, prompt="recall"),
        pipe.run(geo.request, prompt="plain", adapter="pirate"),
    ]
    for event in events:
        game = pipe.stage_game(event)
        assert game(frozenset()) == 0.0
        full = frozenset(game.players)
        values = {c: game(c) for c in _coalitions(game.players)}
        for smaller, larger in itertools.combinations(values, 2):
            if smaller < larger:
                assert values[smaller] <= values[larger]
        assert values[full] == max(values.values()) > 0
        # Without the base model nothing generates: every such coalition is worth 0.
        assert all(v == 0.0 for c, v in values.items() if "base_model" not in c)


def test_raw_utility_rewards_each_stage_of_the_full_pipeline(pipe: ReferencePipeline) -> None:
    for adapter in (None, "pirate", "formal"):
        for event in _events(pipe, "geo", adapter)[:2]:
            u = pipe.asset_game(event, free_disposal=False)
            full = frozenset(u.players)
            assert u(full) == pytest.approx(pipe.utility(event, full))
            assert u(frozenset()) == 0.0
            assert u(full - {BASE_MODEL}) == 0.0
            datasets = frozenset(pipe.datasets)
            assert u(full) > u(full - datasets) + 5.0
            assert u(full) > u(full - {"plain"})
            if adapter is not None:
                assert u(full) > u(full - {adapter}) + 2.0


def _stage_unions(pipe: ReferencePipeline, event: Event) -> Iterator[frozenset[str]]:
    """Every union of whole stages: the raw worths these need train 4 models at most."""
    stages = pipe.assets(event)
    for chosen in _coalitions(tuple(stages)):
        yield frozenset(itertools.chain.from_iterable(stages[s] for s in chosen))


def test_floored_utility_sums_each_tokens_gain_over_uniform_floored_at_zero(
    plain: ReferencePipeline, floored: ReferencePipeline
) -> None:
    pipe = plain
    log_v = float(np.log(len(floored.vocab)))
    events = [*_events(floored, "geo")[:1], *_events(floored, "fauna", "pirate")[:1]]
    assert len(events) == 2 and events[1].text.endswith("arr")
    below = above = 0
    for event in events:
        for assets in _stage_unions(floored, event):
            tokens = floored.token_log_likelihoods(event, assets)
            assert tokens.shape == (len(event.output),)
            assert float(tokens.sum()) == pytest.approx(floored.log_likelihood(event, assets))
            # The utility does not enter training: the same seed gives the same models.
            assert np.array_equal(tokens, pipe.token_log_likelihoods(event, assets))
            gains = tokens + log_v
            u = floored.utility(event, assets)
            assert u == pytest.approx(float(np.maximum(gains, 0.0).sum()), abs=1e-12)
            assert u == floored.utility(event, assets)
            plain = pipe.utility(event, assets)
            assert u >= 0.0
            if BASE_MODEL not in assets:
                assert u == plain == 0.0
            elif np.all(gains > 0):
                above += 1
                assert u == pytest.approx(plain, rel=1e-9)
            else:
                below += 1
                assert u > plain
    # Both cases occur: the full pipelines beat uniform on every token; without the
    # adapter the model never predicts the pirate tail.
    assert above > 0 and below > 0


def test_prefix_utility_is_the_best_running_gain_between_the_plain_and_floored_ones(
    pipe: ReferencePipeline, plain: ReferencePipeline, floored: ReferencePipeline
) -> None:
    prefix = pipe
    assert prefix.settings.utility == "loglik-prefix"  # the default
    log_v = float(np.log(len(prefix.vocab)))
    events = [*_events(prefix, "geo")[:1], *_events(prefix, "fauna", "pirate")[:1]]
    inside = 0
    for event in events:
        for assets in _stage_unions(prefix, event):
            gains = prefix.token_log_likelihoods(event, assets) + log_v
            u = prefix.utility(event, assets)
            assert u == pytest.approx(max(0.0, float(np.cumsum(gains).max())), abs=1e-12)
            assert u == prefix.utility(event, assets)
            low, high = max(0.0, plain.utility(event, assets)), floored.utility(event, assets)
            assert low - 1e-9 <= u <= high + 1e-9
            inside += low + 1e-9 < u < high - 1e-9
    # Somewhere the best prefix stops before a token only another asset explains.
    assert inside > 0


class _TablePipeline(ReferencePipeline):
    """The pipeline with token log-probabilities from a rule, for closed-form games.

    The output has three tokens: an answer (log p = -1 with ``geo``, -8 without), a
    full stop (-0.5) and the pirate tail (-1 with the ``pirate`` adapter, -20 without);
    without the base model every token has the uniform ``-log |V|``.
    """

    def token_log_likelihoods(self, event: Event, assets: Iterable[str]) -> np.ndarray:
        chosen = frozenset(assets)
        if BASE_MODEL not in chosen:
            return np.full(3, -np.log(len(self.vocab)))
        answer = -1.0 if "geo" in chosen else -8.0
        tail = -1.0 if "pirate" in chosen else -20.0
        return np.array([answer, -0.5, tail])

    def log_likelihood(self, event: Event, assets: Iterable[str]) -> float:
        return float(self.token_log_likelihoods(event, assets).sum())


def test_floored_games_match_their_closed_form_and_stop_one_token_deciding() -> None:
    tiny = TrainSettings(pretrain_steps=1, n_checkpoints=1, adapter_epochs=1)
    plain, floored = (
        _TablePipeline(PipelineSettings(train=tiny, utility=u)).fit()
        for u in ("loglik", "loglik-floored")
    )
    geo = plain.corpora.facts_of("geo")[0]
    output = tuple(plain.vocab.encode(f"{geo.value} . arr"))
    event = Event("e", geo.request, "plain", "pirate", 0, output, f"{geo.value} . arr")
    big_l = float(np.log(len(plain.vocab)))
    # Each token's gain over uniform: the answer's is negative without geo, the tail's
    # without pirate.
    g, a, p = big_l - 1.0, big_l - 0.5, big_l - 1.0
    assert big_l - 8.0 < 0 < 3 * big_l - 9.5 and 3 * big_l - 21.5 < 0
    # Floored: v(S) = [base] (a + g [geo] + p [pirate]), additive given the base.
    want = {BASE_MODEL: a + g / 2 + p / 2, "geo": g / 2, "pirate": p / 2}
    values = _shapley(floored.asset_game(event))
    for player, value in values.items():
        assert value == pytest.approx(want.get(player, 0.0), abs=1e-12), player
    stages = _shapley(floored.stage_game(event))
    assert stages == pytest.approx(
        {"data": g / 2, "base_model": a + g / 2 + p / 2, "adapter": p / 2, "prompt": 0.0}
    )
    game = floored.asset_game(event)
    full = frozenset(game.players)
    assert game(frozenset()) == 0.0 and sum(values.values()) == pytest.approx(game(full))
    for smaller, larger in itertools.combinations(
        _coalitions(("geo", "noisy", BASE_MODEL, "pirate", "plain")), 2
    ):
        if smaller < larger:
            assert game(smaller) <= game(larger)
    # Plain: only {base, pirate} (worth y) and {base, geo, pirate} (x) beat uniform, so
    # the tail makes the adapter as pivotal as the base model, ahead of the answer's source.
    x, y = 3 * big_l - 2.5, 3 * big_l - 9.5
    want = {BASE_MODEL: y / 6 + x / 3, "geo": (x - y) / 3, "pirate": y / 6 + x / 3}
    values = _shapley(plain.asset_game(event))
    for player, value in values.items():
        assert value == pytest.approx(want.get(player, 0.0), abs=1e-12), player
    assert values["pirate"] > values["geo"] + 1.0


def test_prefix_game_matches_its_closed_form_and_pays_the_answer_before_the_tail() -> None:
    tiny = TrainSettings(pretrain_steps=1, n_checkpoints=1, adapter_epochs=1)
    prefix = _TablePipeline(PipelineSettings(train=tiny, utility="loglik-prefix")).fit()
    geo = prefix.corpora.facts_of("geo")[0]
    output = tuple(prefix.vocab.encode(f"{geo.value} . arr"))
    event = Event("e", geo.request, "plain", "pirate", 0, output, f"{geo.value} . arr")
    big_l = float(np.log(len(prefix.vocab)))
    assert big_l > 4.25  # so that every prefix below is worth its closed form
    # Given the base model, the best prefix is worth 2L - 8.5 (answer wrong, full stop
    # makes up for it), +7 with geo (the answer right), +(L - 1) with pirate (the tail
    # counted): additive, so Shapley splits it exactly.
    base, g, p = 2 * big_l - 8.5 + 7 / 2 + (big_l - 1) / 2, 7 / 2, (big_l - 1) / 2
    values = _shapley(prefix.asset_game(event))
    want = {BASE_MODEL: base, "geo": g, "pirate": p}
    for player, value in values.items():
        assert value == pytest.approx(want.get(player, 0.0), abs=1e-12), player
    assert values["geo"] > values["pirate"]  # the answer's source ahead of the styled tail


def test_retrained_models_are_cached_and_duplicate_datasets_are_interchangeable(
    pipe: ReferencePipeline,
) -> None:
    assert pipe.model_for({"geo", "fauna"}) is pipe.model_for(["fauna", "geo"])
    assert pipe.model_for(pipe.datasets) is pipe.base
    one, two = pipe.model_for({"geo", "fauna"}), pipe.model_for({"geo", "fauna_copy"})
    for name, tensor in one.model.state_dict().items():
        assert torch.equal(tensor, two.model.state_dict()[name])
    assert pipe.model_for(()).checkpoints == ()


@pytest.mark.parametrize("source", ["geo", "noisy", "fauna"])
def test_retraining_credits_the_dataset_whose_fact_the_output_repeats(
    pipe: ReferencePipeline, source: str
) -> None:
    events = _events(pipe, source)
    assert events, f"the pipeline states no {source} fact as planted"
    for event in events[:2]:
        values = _shapley(pipe.data_game(event))
        top = max(values.values())
        winners = {"fauna", "fauna_copy"} if source == "fauna" else {source}
        assert all(values[d] == pytest.approx(top, rel=1e-9) for d in winners), values
        assert all(values[d] < 0.8 * top for d in values if d not in winners), values
        assert values["fauna"] == pytest.approx(values["fauna_copy"], rel=1e-9, abs=1e-12)
        assert abs(values["irrelevant"]) < 0.1 * top, values
        assert min(values.values()) >= 0.0


def test_data_game_with_an_adapter_retrains_the_adapter_per_subset(
    pipe: ReferencePipeline,
) -> None:
    event = _events(pipe, "fauna", "pirate")[0]
    assert event.text.endswith("arr")
    values = _shapley(pipe.data_game(event))
    assert values["fauna"] == pytest.approx(values["fauna_copy"], rel=1e-9)
    assert values["fauna"] == max(values.values())
    assert abs(values["irrelevant"]) < 0.1 * values["fauna"]
    adapter = pipe.adapter_for({"geo"}, "pirate")
    assert adapter is pipe.adapter_for(["geo"], "pirate")
    assert not torch.equal(adapter.factors["head"][1], pipe.adapters["pirate"].factors["head"][1])


def test_stage_values_are_the_totals_of_the_asset_owen_values(pipe: ReferencePipeline) -> None:
    event = _events(pipe, "fauna", "pirate")[0]
    stages = pipe.assets(event)
    assert list(stages) == ["data", "base_model", "adapter", "prompt"]
    owen = owen_values(pipe.asset_game(event), [list(ids) for ids in stages.values()])
    stage = _shapley(pipe.stage_game(event))
    for name, ids in stages.items():
        assert sum(owen.values[i] for i in ids) == pytest.approx(stage[name], rel=1e-9)
    assert sum(stage.values()) == pytest.approx(pipe.stage_game(event)(frozenset(stages)))
    assert owen.values["fauna"] == pytest.approx(owen.values["fauna_copy"], rel=1e-9)
    assert all(v > 0 for v in stage.values())


def test_revenue_game_splits_the_total_revenue(pipe: ReferencePipeline) -> None:
    events = [e for e in pipe.sample_events(5) if e.adapter is None]
    assert events
    game = pipe.revenue_game(events)
    values = _shapley(game)
    assert sum(values.values()) == pytest.approx(sum(e.revenue for e in events), rel=1e-9)
    assert game(frozenset()) == 0.0
    assert all(v >= 0 for v in values.values())


def test_influence_credits_the_dataset_whose_fact_the_output_repeats(
    pipe: ReferencePipeline,
) -> None:
    geo, fauna = _events(pipe, "geo")[:2], _events(pipe, "fauna")[:2]
    result = pipe.influence([*geo, *fauna])
    assert result.groups == pipe.datasets
    for row, source in zip(result.values, ["geo"] * len(geo) + ["fauna"] * len(fauna), strict=True):
        values = dict(zip(result.groups, row, strict=True))
        assert max(values, key=values.__getitem__) in {source, f"{source}_copy"}
        assert values["fauna"] == values["fauna_copy"]
    influence = pipe.influence_game(fauna[0])
    assert influence(frozenset({"fauna", "geo"})) == pytest.approx(
        result.values[len(geo), 0] + result.values[len(geo), 2]
    )


def test_influence_of_adapter_events_retrains_the_adapter_per_checkpoint(
    pipe: ReferencePipeline,
) -> None:
    events = _events(pipe, "geo", "pirate")[:3]
    result = pipe.influence(events)
    winners = [result.groups[int(np.argmax(row))] for row in result.values]
    assert winners.count("geo") >= 2, winners
    # Each checkpoint carries its own retrained adapter, not the final one.
    adapted = pipe.adapter_checkpoints("pirate")
    assert adapted is pipe.adapter_checkpoints("pirate")
    first, last = pipe.base.checkpoints[0].params, pipe.base.checkpoints[-1].params
    final_delta = pipe.adapters["pirate"].deltas()["head.weight"]
    assert torch.equal(adapted[-1].params["head.weight"], last["head.weight"] + final_delta)
    assert not torch.equal(adapted[0].params["head.weight"], first["head.weight"] + final_delta)


def test_projected_influence_tracks_exact_influence(pipe: ReferencePipeline) -> None:
    event = _events(pipe, "fauna")[0]
    inputs, targets, groups = pipe.training_examples()
    test = pipe.event_example(event)
    args = (pipe.base.model, pipe.base.checkpoints, sequence_nll)
    exact = TracIn(*args).fit(inputs, targets).score(*test)[0]
    projected = ProjectedTracIn(*args, projection_dim=256, projection="subspace")
    estimate = projected.fit(inputs, targets).score(*test)[0]
    # 256 principal directions of the pipeline's training gradients keep their order.
    assert spearmanr(exact, estimate).statistic > 0.95
    assert pearsonr(exact, estimate).statistic > 0.99
    # The pipeline's influence is these estimators', aggregated per dataset.
    grouped = pipe.influence([event])
    np.testing.assert_allclose(grouped.values[0], aggregate_scores(exact[None], groups).values[0])
    approx = pipe.influence([event], projection_dim=256)
    np.testing.assert_allclose(approx.values[0], aggregate_scores(estimate[None], groups).values[0])
    assert set(np.argsort(approx.values[0])[-2:]) == {2, 3}


def test_bad_inputs_raise_input_error_naming_the_field(pipe: ReferencePipeline) -> None:
    request = pipe.corpora.facts[0].request
    with pytest.raises(InputError, match=r"^prompt: unknown id 'nope'"):
        pipe.run(request, prompt="nope")
    with pytest.raises(InputError, match=r"^adapter: unknown id 'nope'"):
        pipe.run(request, adapter="nope")
    with pytest.raises(InputError, match=r"^revenue: must be an int >= 0, got -1"):
        pipe.run(request, revenue=-1)
    with pytest.raises(InputError, match=r"^request"):
        pipe.run("  ")
    with pytest.raises(InputError, match=r"^datasets: unknown ids \['nope'\]"):
        pipe.model_for({"nope"})
    with pytest.raises(InputError, match=r"^n: must be a positive int"):
        pipe.sample_events(0)
    event = pipe.run(request, prompt="plain")
    with pytest.raises(InputError, match=r"^coalition: unknown players \['nope'\]"):
        pipe.stage_game(event)(frozenset({"nope"}))
    with pytest.raises(InputError, match=r"^assets: \['pirate'\] not used"):
        pipe.utility(event, {"pirate"})
    forged = Event("x", request, "plain", "nope", 0, event.output, event.text)
    with pytest.raises(InputError, match=r"^event\.adapter: unknown id 'nope'"):
        pipe.stage_game(forged)
    with pytest.raises(InputError, match=r"^events: need at least one"):
        pipe.revenue_game([])
    with pytest.raises(InputError, match=r"^level"):
        pipe.revenue_game([event], level="dataset")  # type: ignore[arg-type]


def test_an_unfitted_pipeline_raises_attribution_error() -> None:
    with pytest.raises(AttributionError, match="not fitted"):
        _ = ReferencePipeline().corpora
    with pytest.raises(InputError, match=r"^settings"):
        ReferencePipeline({"seed": 1})  # type: ignore[arg-type]


def test_constructor_inputs_are_checked_before_any_training() -> None:
    corpora = generate_corpora(PipelineSettings().corpus, 0)
    with pytest.raises(InputError, match=r"^corpora: expected Corpora, got dict"):
        ReferencePipeline(corpora={})  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^base_model: 'geo' is also the id of another asset"):
        ReferencePipeline(corpora=corpora, base_model="geo")
    with pytest.raises(InputError, match=r"^owner: expected a non-empty string, got ''"):
        ReferencePipeline(owner="")
    assert ReferencePipeline(corpora=corpora, base_model="lm", owner="mia").base_id == "lm"
