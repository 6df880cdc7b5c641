"""The reference language model: vocabulary, training, LoRA adapters, scoring, settings."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ame_core.exceptions import InputError
from offchain.attribution.reference.lm import (
    BOS,
    EOS,
    IGNORE,
    PAD,
    UNK,
    LoRAAdapter,
    LoRALinear,
    NeuralLM,
    PretrainedLM,
    TinyTransformerLM,
    UniformLM,
    Vocabulary,
    encode_pairs,
    encode_sentences,
    pretrain,
    train_adapter,
    wrap_with_lora,
)
from offchain.attribution.reference.pipeline import (
    Corpora,
    CorpusSettings,
    ModelSettings,
    PipelineSettings,
    TrainSettings,
    generate_corpora,
)

# One torch thread: results depend on float summation order, and xdist runs two workers.
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


@dataclass(frozen=True)
class Trained:
    settings: PipelineSettings
    corpora: Corpora
    vocab: Vocabulary
    base: PretrainedLM
    base_state: dict[str, torch.Tensor]
    adapters: dict[str, LoRAAdapter]


@pytest.fixture(scope="module")
def trained() -> Trained:
    torch.set_num_threads(1)
    settings = PipelineSettings()
    corpora = generate_corpora(settings.corpus, settings.seed)
    vocab = Vocabulary.from_texts(corpora.texts())
    sentences = [s for d in corpora.datasets for s in d.sentences]
    base = pretrain(vocab, sentences, settings.model, settings.train, settings.seed)
    state = copy.deepcopy(base.model.state_dict())
    adapters = {
        d.id: train_adapter(
            base.model, vocab, d.pairs, settings.train, 1, adapter_id=d.id, owner=d.owner
        )
        for d in corpora.adapter_data
    }
    return Trained(settings, corpora, vocab, base, state, adapters)


def _answer(model: NeuralLM, vocab: Vocabulary, request: str) -> str:
    return vocab.decode(model.generate([BOS, *vocab.encode(f"the {request} is")], 4))


def test_vocabulary_puts_specials_first_and_maps_unknown_words_to_unk() -> None:
    vocab = Vocabulary.from_texts(["b a c", "a <eos> d"])
    assert vocab.tokens == ("<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d")
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert vocab.encode("a d zz") == [4, 7, UNK]
    assert vocab.decode([4, 5, EOS]) == "a b"
    assert "c" in vocab and "zz" not in vocab and len(vocab) == 8


def test_encode_sentences_shifts_targets_and_ignores_padding() -> None:
    vocab = Vocabulary.from_texts(["a b c"])
    inputs, targets = encode_sentences(vocab, ["a b c", "b"], max_len=8)
    assert inputs.tolist() == [[BOS, 4, 5, 6], [BOS, 5, PAD, PAD]]
    assert targets.tolist() == [[4, 5, 6, EOS], [5, EOS, IGNORE, IGNORE]]


def test_encode_pairs_puts_loss_on_the_completion_only() -> None:
    vocab = Vocabulary.from_texts(["a b c"])
    inputs, targets = encode_pairs(vocab, [("a b", "c")], max_len=8)
    assert inputs.tolist() == [[BOS, 4, 5, 6]]
    assert targets.tolist() == [[IGNORE, IGNORE, 6, EOS]]


def test_encoding_refuses_empty_input_and_sentences_longer_than_max_len() -> None:
    vocab = Vocabulary.from_texts(["a"])
    with pytest.raises(InputError, match=r"^sentences: need at least one"):
        encode_sentences(vocab, [], max_len=8)
    with pytest.raises(InputError, match=r"^sentences: 'a a a a a a a a a' has 10 tokens"):
        encode_sentences(vocab, ["a " * 9], max_len=8)


def test_pretraining_is_bit_for_bit_deterministic_and_order_free(trained: Trained) -> None:
    s = trained.settings
    sentences = [x for d in trained.corpora.datasets[:2] for x in d.sentences]
    small = s.train.model_copy(update={"pretrain_steps": 6, "n_checkpoints": 3})
    first = pretrain(trained.vocab, sentences, s.model, small, seed=3)
    again = pretrain(trained.vocab, sentences[::-1], s.model, small, seed=3)
    other = pretrain(trained.vocab, sentences, s.model, small, seed=4)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name])
    assert not torch.equal(first.model.head.weight, other.model.head.weight)
    assert len(first.checkpoints) == 3
    assert all(c.weight == pytest.approx(small.lr * 2) for c in first.checkpoints)


def test_pretraining_on_nothing_returns_the_seeded_initialisation(trained: Trained) -> None:
    s = trained.settings
    empty = pretrain(trained.vocab, [], s.model, s.train, seed=s.seed)
    assert empty.checkpoints == ()
    again = pretrain(trained.vocab, [], s.model, s.train, seed=s.seed)
    assert torch.equal(empty.model.tok.weight, again.model.tok.weight)


def test_pretrained_model_states_the_planted_facts(trained: Trained) -> None:
    model = NeuralLM(trained.base.model)
    facts = [f for f in trained.corpora.facts if f.dataset in ("geo", "fauna")]
    noisy = trained.corpora.noisy_values
    answers = [_answer(model, trained.vocab, f.request) for f in facts]
    # Each answer is the planted fact or, for a capital, the noisy dataset's version.
    planted = [a == f"{f.value} ." for a, f in zip(answers, facts, strict=True)]
    stated = [
        ok or (f.dataset == "geo" and a == f"{noisy[f.subject]} .")
        for ok, a, f in zip(planted, answers, facts, strict=True)
    ]
    assert all(stated)
    assert sum(planted) >= 0.75 * len(facts)


def test_lora_adapter_changes_the_style_and_keeps_the_answers(trained: Trained) -> None:
    base = NeuralLM(trained.base.model)
    facts = [f for f in trained.corpora.facts if f.dataset in ("geo", "fauna")]
    for adapter, tail in (("pirate", "arr"), ("formal", "sir")):
        adapted = NeuralLM(trained.adapters[adapter].apply(trained.base.model))
        before = [_answer(base, trained.vocab, f.request) for f in facts]
        after = [_answer(adapted, trained.vocab, f.request) for f in facts]
        assert not any(a.endswith(tail) for a in before)
        styled = [a == f"{b} {tail}" for a, b in zip(after, before, strict=True)]
        assert sum(styled) >= 0.6 * len(facts), after
        kept = [a.split()[:1] == b.split()[:1] for a, b in zip(after, before, strict=True)]
        assert sum(kept) >= 0.8 * len(facts)


def test_lora_training_leaves_the_base_weights_untouched(trained: Trained) -> None:
    for name, tensor in trained.base.model.state_dict().items():
        assert torch.equal(tensor, trained.base_state[name]), name
    generator = torch.Generator().manual_seed(0)
    wrapped, layers = wrap_with_lora(trained.base.model, 2, 4.0, generator)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    assert set(layers) >= {"tok", "head", "blocks.0.attn_q", "blocks.0.mlp_down"}
    assert all(isinstance(layer, LoRALinear) for layer in layers.values())


def test_an_untrained_adapter_is_the_identity_and_merging_matches_the_wrapped_model(
    trained: Trained,
) -> None:
    generator = torch.Generator().manual_seed(0)
    wrapped, layers = wrap_with_lora(trained.base.model, 2, 4.0, generator)
    tokens = torch.tensor([[BOS, 5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(wrapped(tokens), trained.base.model(tokens))
        for layer in layers.values():
            layer.lora_b.normal_(generator=generator)
        factors = {n: (layer.lora_a.clone(), layer.lora_b.clone()) for n, layer in layers.items()}
        merged = LoRAAdapter("x", "y", 2.0, factors).apply(trained.base.model)
        torch.testing.assert_close(merged(tokens), wrapped(tokens), rtol=1e-4, atol=1e-4)
    assert not torch.equal(merged.head.weight, trained.base.model.head.weight)


def test_log_likelihood_sums_the_next_token_log_probabilities(trained: Trained) -> None:
    model = NeuralLM(trained.base.model)
    context, continuation = [BOS, 4, 5], [6, 7, EOS]
    ids = torch.tensor([context + continuation])
    with torch.no_grad():
        logp = trained.base.model(ids[:, :-1])[0].log_softmax(-1)
    expected = sum(float(logp[2 + t, c]) for t, c in enumerate(continuation))
    assert model.log_likelihood(context, continuation) == pytest.approx(expected, rel=1e-5)
    assert model.log_likelihood(context, []) == 0.0
    with pytest.raises(InputError, match=r"^context"):
        model.log_likelihood([], [4])
    with pytest.raises(InputError, match=r"^context\+continuation"):
        model.log_likelihood([BOS] * 20, [4] * 10)


def test_generation_is_greedy_by_default_and_seeded_when_sampling(trained: Trained) -> None:
    model = NeuralLM(trained.base.model)
    context = [BOS, *trained.vocab.encode("the capital of")]
    greedy = model.generate(context, 5)
    ids = list(context)
    with torch.no_grad():
        for token in greedy:
            logits = trained.base.model(torch.tensor([ids]))[0, -1]
            logits[PAD] = logits[BOS] = float("-inf")
            assert token == int(logits.argmax())
            ids.append(token)
    sampled = [model.generate(context, 5, temperature=2.0, seed=s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]
    assert len({tuple(s) for s in [*sampled, greedy]}) > 1 or sampled[0] != greedy
    with pytest.raises(InputError, match=r"^temperature"):
        model.generate(context, 5, temperature=-1.0)


def test_token_log_likelihoods_are_the_terms_of_the_log_likelihood(trained: Trained) -> None:
    model = NeuralLM(trained.base.model)
    context, continuation = [BOS, 4, 5], [6, 7, EOS]
    tokens = model.token_log_likelihoods(context, continuation)
    assert tokens.dtype == np.float64 and tokens.shape == (3,)
    assert np.all(tokens < 0)
    assert float(tokens.sum()) == pytest.approx(model.log_likelihood(context, continuation))
    assert np.array_equal(tokens, model.token_log_likelihoods(context, continuation))
    assert model.token_log_likelihoods(context, []).shape == (0,)
    with pytest.raises(InputError, match=r"^context\+continuation"):
        model.token_log_likelihoods([BOS] * 20, [4] * 10)


def test_token_log_likelihoods_of_a_constant_head_are_its_log_softmax() -> None:
    # A head with zero weights predicts softmax(bias) after any context: closed form.
    model = TinyTransformerLM(6, ModelSettings(d_model=8, n_heads=2, d_ff=8, max_len=8))
    bias = torch.tensor([0.0, 0.0, 0.0, 0.0, np.log(3.0), 0.0])
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(bias)
    # p(4) = 3/8, every other token 1/8.
    got = NeuralLM(model).token_log_likelihoods([BOS, 5], [4, 5, 4])
    np.testing.assert_allclose(got, np.log([3 / 8, 1 / 8, 3 / 8]), rtol=1e-6)


def test_uniform_model_scores_every_token_minus_log_vocabulary_size() -> None:
    uniform = UniformLM(50)
    assert uniform.log_likelihood([BOS, 7], [1, 2, 3]) == pytest.approx(-3 * np.log(50))
    assert np.array_equal(uniform.token_log_likelihoods([BOS], [1, 2]), [-np.log(50)] * 2)
    assert uniform.token_log_likelihoods([BOS], []).shape == (0,)
    with pytest.raises(InputError, match=r"^vocab_size"):
        UniformLM(0)


def test_transformer_is_causal() -> None:
    torch.manual_seed(0)
    model = TinyTransformerLM(12, ModelSettings(d_model=8, n_heads=2, d_ff=8, max_len=8))
    a = torch.tensor([[1, 4, 5, 6, 7]])
    b = torch.tensor([[1, 4, 5, 9, 9]])
    with torch.no_grad():
        torch.testing.assert_close(model(a)[0, :3], model(b)[0, :3])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PipelineSettings(seed=-1), r"^PipelineSettings\.seed: "),
        (
            lambda: PipelineSettings(model={"d_model": -1}),
            r"^PipelineSettings\.model\.d_model: must be greater than 0 \(got -1\)",
        ),
        (lambda: ModelSettings(d_model=10, n_heads=4), r"^ModelSettings: .*n_heads=4 must divide"),
        (lambda: TrainSettings(lr=0), r"^TrainSettings\.lr: "),
        (lambda: CorpusSettings(noise_rate=1.5), r"^CorpusSettings\.noise_rate: "),
        (
            lambda: PipelineSettings(epochs=3),  # type: ignore[call-arg]
            r"^PipelineSettings\.epochs: unknown field",
        ),
        (lambda: PipelineSettings(train={"batch_size": "x"}), r"^PipelineSettings\.train\.batch"),
        (
            lambda: PipelineSettings(utility="floored"),  # type: ignore[arg-type]
            r"^PipelineSettings\.utility: must be 'loglik-prefix', 'loglik' or 'loglik-floored' "
            r"\(got 'floored'\)",
        ),
    ],
)
def test_bad_settings_raise_input_error_naming_the_field(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(InputError, match=message):
        build()


def test_settings_are_frozen_and_hashable() -> None:
    settings = PipelineSettings()
    assert settings == PipelineSettings() and hash(settings) == hash(PipelineSettings())
    with pytest.raises(Exception, match="frozen"):
        settings.seed = 3  # type: ignore[misc]
