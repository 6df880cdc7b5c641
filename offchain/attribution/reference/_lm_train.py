"""Deterministic CPU training of the reference transformer and of its LoRA adapters.

Both loops minimise the mean next-token cross-entropy with Adam over seeded shuffles of
the sentences. Pretraining first sorts the sentences, so the trained weights depend on
the multiset of sentences only, not on which dataset listed them first: two datasets
with identical content are exactly interchangeable, which the duplicated-dataset tests
rely on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ame_core.exceptions import InputError
from offchain.attribution.reference._lm_model import LoRAAdapter, TinyTransformerLM, wrap_with_lora
from offchain.attribution.reference._lm_vocab import BOS, EOS, IGNORE, PAD, Vocabulary
from offchain.attribution.reference.settings import ModelSettings, TrainSettings
from offchain.attribution.tda import Checkpoint

__all__ = [
    "PretrainedLM",
    "encode_pairs",
    "encode_sentences",
    "pretrain",
    "sequence_nll",
    "train_adapter",
]


def sequence_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Summed next-token negative log-likelihood, skipping ``IGNORE`` targets.

    Args:
        logits: ``(batch, length, vocab)`` next-token logits.
        targets: ``(batch, length)`` target ids, ``IGNORE`` where no loss applies.

    Returns:
        A scalar: the total over the batch (per example when the batch has one row).
    """
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


def encode_sentences(
    vocab: Vocabulary, sentences: Sequence[str], max_len: int
) -> tuple[Tensor, Tensor]:
    """Teacher-forcing tensors of ``<bos> sentence <eos>``, right-padded.

    Args:
        vocab: Maps words to ids.
        sentences: Whitespace-tokenised sentences.
        max_len: Longest allowed input length.

    Returns:
        ``(inputs, targets)``, both ``(n, length)`` long tensors; inputs are padded with
        ``PAD`` and targets with ``IGNORE``.

    Raises:
        InputError: If there are no sentences or one is longer than ``max_len``.
    """
    return encode_pairs(vocab, [("", s) for s in sentences], max_len)


def encode_pairs(
    vocab: Vocabulary, pairs: Sequence[tuple[str, str]], max_len: int
) -> tuple[Tensor, Tensor]:
    """Like :func:`encode_sentences` for ``context completion``, loss on the completion.

    Targets are ``IGNORE`` at the positions that predict context tokens, so only the
    completion and its ``<eos>`` are learned.
    """
    if not pairs:
        raise InputError("sentences: need at least one sentence, got none")
    rows, starts = [], []
    for context, completion in pairs:
        head = [BOS, *vocab.encode(context)]
        rows.append([*head, *vocab.encode(completion), EOS])
        starts.append(len(head) - 1)
    length = max(len(row) for row in rows) - 1
    if length > max_len:
        longest = max((f"{c} {t}".strip() for c, t in pairs), key=lambda t: len(t.split()))
        raise InputError(f"sentences: {longest!r} has {length} tokens, max_len is {max_len}")
    inputs = torch.full((len(rows), length), PAD, dtype=torch.long)
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for i, (row, start) in enumerate(zip(rows, starts, strict=True)):
        inputs[i, : len(row) - 1] = torch.tensor(row[:-1])
        targets[i, start : len(row) - 1] = torch.tensor(row[start + 1 :])
    return inputs, targets


def _mean_token_loss(model: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
    count = (targets != IGNORE).sum().clamp(min=1)
    return sequence_nll(model(inputs), targets) / count


def _initial_model(vocab_size: int, settings: ModelSettings, seed: int) -> TinyTransformerLM:
    # Module constructors draw from the global RNG: fork it so callers' state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyTransformerLM(vocab_size, settings)


@dataclass(frozen=True)
class PretrainedLM:
    """A pretrained transformer and the checkpoints TracIn replays.

    Attributes:
        model: The final model (evaluation mode).
        checkpoints: Parameters after evenly spaced steps, each weighted by the
            learning rate times the optimisation steps since the previous checkpoint;
            empty when there was nothing to train on.
    """

    model: TinyTransformerLM
    checkpoints: tuple[Checkpoint, ...]


def pretrain(
    vocab: Vocabulary,
    sentences: Sequence[str],
    model_settings: ModelSettings,
    train_settings: TrainSettings,
    seed: int,
) -> PretrainedLM:
    """Train a fresh transformer on ``sentences`` for ``pretrain_steps`` Adam steps.

    Batches are consecutive slices of a stream of seeded permutations of the sentences.
    Every subset of datasets gets the same number of steps, enough to fit any of them:
    with a per-epoch budget instead, adding an unrelated dataset would buy the others
    more optimisation and look useful.

    Args:
        vocab: Maps words to ids.
        sentences: Pooled pretraining sentences (any order; they are sorted first).
            With none, the returned model is the seeded initialisation.
        model_settings: Shape of the transformer.
        train_settings: Steps, batch size, learning rate and checkpoint count.
        seed: Seeds the initial weights and the batch order.

    Returns:
        The trained model and its checkpoints.
    """
    model = _initial_model(len(vocab), model_settings, seed)
    if not sentences:
        return PretrainedLM(model.eval(), ())
    inputs, targets = encode_sentences(vocab, sorted(sentences), model_settings.max_len)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_settings.lr, fused=True)
    steps, size = train_settings.pretrain_steps, train_settings.batch_size
    saves = {
        math.ceil(k * steps / train_settings.n_checkpoints)
        for k in range(1, train_settings.n_checkpoints + 1)
    }
    stream = torch.empty(0, dtype=torch.long)
    checkpoints, previous = [], 0
    model.train()
    for step in range(1, steps + 1):
        while len(stream) < size:
            stream = torch.cat([stream, torch.randperm(len(inputs), generator=generator)])
        batch, stream = stream[:size], stream[size:]
        optimizer.zero_grad()
        torch.autograd.backward(_mean_token_loss(model, inputs[batch], targets[batch]))
        optimizer.step()
        if step in saves:
            state = {name: p.detach().clone() for name, p in model.named_parameters()}
            checkpoints.append(Checkpoint(state, weight=train_settings.lr * (step - previous)))
            previous = step
    return PretrainedLM(model.eval(), tuple(checkpoints))


def train_adapter(
    base: TinyTransformerLM,
    vocab: Vocabulary,
    pairs: Sequence[tuple[str, str]],
    settings: TrainSettings,
    seed: int,
    *,
    adapter_id: str,
    owner: str,
) -> LoRAAdapter:
    """Fit LoRA factors on the completions of ``pairs`` with ``base`` frozen.

    The loss is the mean next-token cross-entropy of the completions plus
    ``adapter_anchor`` times the KL divergence from the base model's next-token
    distribution at every context position, so the adapter learns the completions'
    style while leaving the base model's answers in place.

    Args:
        base: The pretrained model; it is copied, never modified.
        vocab: Maps words to ids.
        pairs: The fine-tuner's ``(context, completion)`` demonstrations; only the
            completions carry loss.
        settings: Rank, alpha, epochs, batch size and learning rate of the adapter.
        seed: Seeds the factor initialisation and the batch order.
        adapter_id: Asset id of the adapter.
        owner: The fine-tuner.

    Returns:
        The trained factors, detached from the training copy.
    """
    generator = torch.Generator().manual_seed(seed)
    wrapped, layers = wrap_with_lora(base, settings.lora_rank, settings.lora_alpha, generator)
    inputs, targets = encode_pairs(vocab, pairs, base.max_len)
    # Positions before the completion keep the base model's predictions (KL anchor):
    # without it nothing stops the update from leaking the style into every position.
    anchor = (targets == IGNORE) & (inputs != PAD)
    with torch.no_grad():
        base_logp = base.eval()(inputs).log_softmax(dim=-1)
    params = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    optimizer = torch.optim.Adam(params, lr=settings.adapter_lr, fused=True)
    wrapped.train()
    for _ in range(settings.adapter_epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            logits = wrapped(inputs[batch])
            count = (targets[batch] != IGNORE).sum().clamp(min=1)
            loss = sequence_nll(logits, targets[batch]) / count
            mask = anchor[batch]
            kl = nn.functional.kl_div(
                logits.log_softmax(dim=-1)[mask],
                base_logp[batch][mask],
                log_target=True,
                reduction="batchmean",
            )
            torch.autograd.backward(loss + settings.adapter_anchor * kl)
            optimizer.step()
    factors = {
        name: (layer.lora_a.detach().clone(), layer.lora_b.detach().clone())
        for name, layer in layers.items()
    }
    scale = settings.lora_alpha / settings.lora_rank
    return LoRAAdapter(adapter_id, owner, scale, factors)
