"""The reference pipeline's counterfactual options: a neutral template, a reference model.

Each option is validated in the settings (the error names the field), off by default
bit for bit (the reference scenario's values document is pinned by hash), and has the
property it exists for, searched with seeded hypothesis runs on a tiny market:

* a boilerplate prompt equal to the neutral template is worth nothing, whatever the
  template;
* the base model as its own reference is worth nothing: the bare pipeline gains 0;
* amounts add up to each event's revenue under every option.
"""

from __future__ import annotations

import hashlib
import json
from itertools import chain
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import MultiStageAttribution, shapley_values
from offchain.attribution.reference import (
    NEUTRAL_TEMPLATE,
    PipelineGame,
    PipelineSettings,
    ReferenceModelSettings,
    ReferencePipeline,
    TrainSettings,
)
from offchain.attribution.reference.corpora import (
    Corpora,
    Dataset,
    Demonstrations,
    PromptTemplate,
)
from offchain.attribution.reference.lm import UniformLM, UnigramLM, Vocabulary
from offchain.scenario import attribute_scenario, parse_scenario, reference_scenario

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

#: sha256 of `ame attribute` on the reference scenario (its values.json, byte for byte):
#: the defaults must reproduce it. Since the exact split (offchain.attribution.record) the
#: amounts follow from worths rounded to 12 decimals in rational arithmetic, not from
#: float Shapley values: all 30 amounts moved, by at most 19,256 wei of 5.4 ETH
#: (4.3e-12 relative); the notes are unchanged. It was 1957f773...ff07005a before.
REFERENCE_VALUES = "58d687f3710545490198463b952a38279c09050100c0e85ff308ab6396d0d9c5"
#: Digest of the reference scenario, unchanged by the new (default) fields.
REFERENCE_DIGEST = "7ddc8ba8c1d62611f35cb5b58a5d82716f59524e93a5d1acfe85f87684ff771a"

TINY = TrainSettings(pretrain_steps=20, n_checkpoints=2, adapter_epochs=3)
SENTENCES_A = (
    "the capital of zorbia is kelvo .",
    "kelvo is the capital of zorbia .",
    "the capital of mirth is dalo .",
)
SENTENCES_B = ("the diet of gruff is moss .", "moss is the diet of gruff .")
#: Words a template may use: the market's and some it has never seen.
WORDS = ("the", "is", "of", "capital", ".", "please", "answer", ":", "tell", "me")
REQUESTS = ("capital of zorbia", "capital of mirth", "diet of gruff")


def _corpora(template: str) -> Corpora:
    return Corpora(
        datasets=(Dataset("geo", "alice", SENTENCES_A), Dataset("fauna", "bob", SENTENCES_B)),
        adapter_data=(
            Demonstrations("pirate", "frank", (("the capital of zorbia is kelvo .", "arr"),)),
        ),
        prompts=(PromptTemplate("boiler", "paula", template),),
        facts=(),
        noisy_values={},
    )


def _pipe(template: str = "the {request} is", **options: Any) -> ReferencePipeline:
    return ReferencePipeline(
        PipelineSettings(train=TINY, max_new_tokens=3, **options), corpora=_corpora(template)
    ).fit()


def _events(pipe: ReferencePipeline, picks: list[tuple[int, bool, bool, int]]) -> list[Any]:
    return [
        pipe.run(
            REQUESTS[r],
            prompt="boiler" if prompt else None,
            adapter="pirate" if adapter else None,
            revenue=revenue,
            event_id=f"e{i}",
        )
        for i, (r, prompt, adapter, revenue) in enumerate(picks)
    ]


def _shapley(game: PipelineGame) -> dict[str, float]:
    return dict(shapley_values(game, list(game.players)).values)


templates = st.builds(
    lambda before, after: " ".join([*before, NEUTRAL_TEMPLATE, *after]),
    st.lists(st.sampled_from(WORDS), max_size=3),
    st.lists(st.sampled_from(WORDS), max_size=3),
)
picks = st.lists(
    st.tuples(
        st.integers(0, len(REQUESTS) - 1), st.booleans(), st.booleans(), st.integers(0, 10**24)
    ),
    min_size=1,
    max_size=3,
)


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"neutral_template": "the request is"}, r"^PipelineSettings\.neutral_template: must hold the \{request\} slot exactly once \(got 'the request is'\)"),
        ({"neutral_template": "{request} {request}"}, r"^PipelineSettings\.neutral_template: .*exactly once"),
        ({"neutral_template": 3}, r"^PipelineSettings\.neutral_template: must be a valid string \(got 3\)"),
        ({"reference_model": {"kind": "bigram"}}, r"^PipelineSettings\.reference_model\.kind: must be 'uniform', 'unigram' or 'base' \(got 'bigram'\)"),
        ({"reference_model": {"kind": "unigram", "smoothing": 0}}, r"^PipelineSettings\.reference_model\.smoothing: must be greater than 0 \(got 0\)"),
        ({"reference_model": {"kind": "base", "sentences": ["a b"]}}, r"^PipelineSettings\.reference_model: sentences are only read by kind 'unigram', not 'base'"),
        ({"reference_model": {"kind": "unigram", "sentences": ["  "]}}, r"^PipelineSettings\.reference_model: sentences: need at least one word"),
        ({"reference_model": {"kind": "unigram", "corpus": "x"}}, r"^PipelineSettings\.reference_model\.corpus: unknown field"),
    ],
)  # fmt: skip
def test_each_bad_option_is_refused_naming_its_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        PipelineSettings(**fields)


def test_the_options_are_set_from_the_scenario_and_refused_there_naming_the_field() -> None:
    doc = reference_scenario().canonical()
    doc["pipeline"] |= {
        "neutral_template": "the  {request}  is",
        "reference_model": {"kind": "unigram", "smoothing": 0.5},
    }
    settings_ = parse_scenario(doc).settings()
    assert settings_.neutral_template == "the {request} is"
    assert settings_.reference_model == ReferenceModelSettings(kind="unigram", smoothing=0.5)
    assert parse_scenario(doc).digest() != REFERENCE_DIGEST
    for block, message in [
        ({"neutral_template": "the request"}, r"pipeline\.neutral_template: must hold the word \{request\} exactly once"),
        ({"reference_model": {"kind": "gpt"}}, r"pipeline\.reference_model\.kind: must be 'uniform', 'unigram' or 'base'"),
    ]:  # fmt: skip
        bad = reference_scenario().canonical()
        bad["pipeline"] |= block
        with pytest.raises(InputError, match=message):
            parse_scenario(bad)


# -- the defaults ----------------------------------------------------------------------


def test_the_defaults_are_today_s_pipeline_and_scenario() -> None:
    explicit = PipelineSettings(neutral_template="{request}", reference_model={"kind": "uniform"})
    assert explicit == PipelineSettings()
    doc = reference_scenario().canonical()
    doc["pipeline"] |= {"neutral_template": "{request}", "reference_model": {"kind": "uniform"}}
    assert parse_scenario(doc).digest() == reference_scenario().digest() == REFERENCE_DIGEST


@pytest.mark.slow
def test_the_defaults_reproduce_the_reference_values_byte_for_byte() -> None:
    _, document = attribute_scenario(reference_scenario())
    written = (json.dumps(document, indent=2) + "\n").encode()  # what `ame attribute` writes
    assert hashlib.sha256(written).hexdigest() == REFERENCE_VALUES


def test_the_default_reference_is_uniform_and_a_unigram_counts_its_corpus() -> None:
    pipe = _pipe()
    assert isinstance(pipe.reference_model, UniformLM)
    vocab = Vocabulary(["a", "b"])
    unigram = UnigramLM(vocab, ["a a b", "a zzz"], smoothing=1.0)
    # Counts + 1: <pad> 1, <bos> 1, <eos> 3, <unk> 2 (zzz), a 4, b 2; 13 in all.
    expected = np.log(np.array([1, 1, 3, 2, 4, 2]) / 13)
    np.testing.assert_allclose(unigram.log_probs, expected)
    assert unigram.log_likelihood([1], [4, 2]) == pytest.approx(expected[4] + expected[2])
    with pytest.raises(InputError, match=r"^smoothing: must be positive"):
        UnigramLM(vocab, [], smoothing=0.0)


# -- the properties --------------------------------------------------------------------


@settings(max_examples=6)
@given(template=templates, picks=picks)
def test_a_prompt_equal_to_the_neutral_template_is_worth_nothing(
    template: str, picks: list[tuple[int, bool, bool, int]]
) -> None:
    pipe = _pipe(template, neutral_template=template)
    events = _events(pipe, [(r, True, a, rev) for r, _, a, rev in picks])
    for event in events:
        values = _shapley(pipe.asset_game(event))
        assert values["boiler"] == pytest.approx(0.0, abs=1e-9)
    result = MultiStageAttribution(pipe, method="owen").fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        assert attribution.amounts.get("boiler", 0) == 0
        assert sum(attribution.amounts.values()) in (0, event.revenue)


def test_a_boilerplate_prompt_is_paid_against_the_bare_request_but_not_against_itself() -> None:
    # The contrast the option exists for, on one event: the same template earns a share
    # when the bare request is the neutral prompt, nothing when it is the neutral one.
    before, after = _pipe(), _pipe(neutral_template="the {request} is")
    (event,) = _events(before, [(0, True, False, 10**18)])
    assert _shapley(before.asset_game(event))["boiler"] > 1e-3
    (same,) = _events(after, [(0, True, False, 10**18)])
    assert same.output == event.output  # the models do not depend on the option
    assert _shapley(after.asset_game(same))["boiler"] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=6)
@given(picks=picks)
def test_the_base_model_as_its_own_reference_is_worth_nothing(
    picks: list[tuple[int, bool, bool, int]],
) -> None:
    pipe = _pipe(reference_model={"kind": "base"})
    events = _events(pipe, picks)
    for event in events:
        bare = {pipe.base_id, *pipe.datasets}
        assert pipe.utility(event, bare) == 0.0
        np.testing.assert_array_equal(
            pipe.token_log_likelihoods(event, ()), pipe.token_log_likelihoods(event, bare)
        )
    result = MultiStageAttribution(pipe, method="owen").fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        assert sum(attribution.amounts.values()) in (0, event.revenue)


@settings(max_examples=6)
@given(
    picks=picks,
    option=st.sampled_from(
        [
            {},
            {"neutral_template": "tell me the {request} ."},
            {"reference_model": {"kind": "unigram"}},
            {
                "reference_model": {
                    "kind": "unigram",
                    "sentences": ["the is of ."],
                    "smoothing": 0.1,
                }
            },
            {"reference_model": {"kind": "base"}, "neutral_template": "the {request} is"},
        ]
    ),
)
def test_amounts_add_up_to_the_revenue_under_every_option(
    picks: list[tuple[int, bool, bool, int]], option: dict[str, Any]
) -> None:
    pipe = _pipe(**option)
    events = _events(pipe, picks)
    result = MultiStageAttribution(pipe, method="shapley").fit(events).result
    for event, attribution in zip(events, result.events, strict=True):
        assert all(amount >= 0 for amount in attribution.amounts.values())
        assert sum(attribution.amounts.values()) in (0, event.revenue)
        if attribution.utility > 0:
            assert sum(attribution.amounts.values()) == event.revenue


def test_a_unigram_reference_lowers_what_the_pipeline_is_worth() -> None:
    # Against word frequencies the sentence frame earns nothing: a full pipeline is worth
    # less than against chance, and the base model with it.
    uniform, unigram = _pipe(), _pipe(reference_model={"kind": "unigram"})
    (a,) = _events(uniform, [(0, True, False, 10**18)])
    (b,) = _events(unigram, [(0, True, False, 10**18)])
    assert a.output == b.output
    full = frozenset(uniform.assets(a)["data"] + (uniform.base_id, "boiler"))
    assert unigram.utility(b, full) < uniform.utility(a, full)


@pytest.mark.parametrize(
    "options",
    [
        {"reference_model": {"kind": "unigram"}},
        {"neutral_template": "the {request} is"},
        {"neutral_template": "answer me : {request}"},  # new words: a new vocabulary
    ],
)
def test_with_options_gives_what_a_fresh_pipeline_gives_and_reuses_its_models(
    options: dict[str, Any],
) -> None:
    trained = _pipe()
    derived = trained.with_options(**options)
    fresh = _pipe(**options)
    assert derived.settings == fresh.settings
    assert derived.vocab.tokens == fresh.vocab.tokens
    shares = derived.vocab.tokens == trained.vocab.tokens
    assert (derived.base is trained.base) is shares
    (a,) = _events(derived, [(0, True, True, 10**18)])
    (b,) = _events(fresh, [(0, True, True, 10**18)])
    assert a == b
    full = frozenset(chain.from_iterable(derived.assets(a).values()))
    for coalition in (full, full - {"boiler"}, frozenset({derived.base_id, "geo"})):
        assert derived.utility(a, coalition) == fresh.utility(b, coalition)
    with pytest.raises(InputError, match=r"^PipelineSettings\.neutral_template"):
        trained.with_options(neutral_template="no slot")
