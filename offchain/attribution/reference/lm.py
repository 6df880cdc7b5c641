"""The reference language models: a tiny word-level transformer, LoRA adapters, a uniform one.

Everything a pipeline stage needs to score or generate text:

* :class:`Vocabulary` maps whitespace tokens to ids (four special ids first).
* :class:`NeuralLM` wraps a :class:`TinyTransformerLM` for scoring and generation.
* :class:`UniformLM` is the reference model of the empty pipeline by default, and
  :class:`UnigramLM` a configured commodity one (word frequencies, no context).
* :func:`pretrain` trains the transformer with Adam on CPU in seconds, deterministically.
* :class:`LoRAAdapter` holds low-rank updates (Hu et al., 2021, "LoRA: Low-Rank
  Adaptation of Large Language Models") that :func:`train_adapter` fits on a
  fine-tuner's demonstrations with the base model frozen; a KL term to the base
  model's predictions on the demonstrations' contexts keeps the adapter to style.

The continuation log-likelihood used by the pipeline utility is

.. math::

    \\log p(y \\mid x) = \\sum_{t=1}^{|y|} \\log p(y_t \\mid x, y_{<t}),

summed over the output tokens ``y`` (including the end-of-sequence token) after the
context ``x`` (the beginning-of-sequence token and the rendered prompt). Both models
also give the terms one by one (``token_log_likelihoods``), which the floored utility
compares token by token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution.reference._lm_model import (
    LORA_TARGETS,
    LoRAAdapter,
    LoRALinear,
    TinyTransformerLM,
    wrap_with_lora,
)
from offchain.attribution.reference._lm_train import (
    PretrainedLM,
    encode_pairs,
    encode_sentences,
    pretrain,
    sequence_nll,
    train_adapter,
)
from offchain.attribution.reference._lm_vocab import BOS, EOS, IGNORE, PAD, UNK, Vocabulary

__all__ = [
    "BOS",
    "EOS",
    "IGNORE",
    "LORA_TARGETS",
    "PAD",
    "SCORE_ROWS",
    "UNK",
    "LoRAAdapter",
    "LoRALinear",
    "NeuralLM",
    "PretrainedLM",
    "TinyTransformerLM",
    "UniformLM",
    "UnigramLM",
    "Vocabulary",
    "encode_pairs",
    "encode_sentences",
    "pretrain",
    "sequence_nll",
    "train_adapter",
    "wrap_with_lora",
]

#: Sequences in every forward pass of :meth:`NeuralLM.score`: fixed, so that a row's bits
#: never depend on how many rows were scored with it.
SCORE_ROWS = 16


class NeuralLM:
    """A trained transformer ready to score and generate (evaluation mode, no grad).

    Args:
        model: The transformer; it is not copied and must not be trained meanwhile.
    """

    def __init__(self, model: TinyTransformerLM) -> None:
        self.model = model.eval()

    def _check(self, context: Sequence[int], continuation: Sequence[int]) -> None:
        if not context:
            raise InputError("context: must hold at least the <bos> token, got []")
        if len(context) + len(continuation) - 1 > self.model.max_len:
            raise InputError(
                f"context+continuation: {len(context) + len(continuation)} tokens exceed "
                f"max_len={self.model.max_len} + 1"
            )

    def _token_logp(self, context: Sequence[int], continuation: Sequence[int]) -> torch.Tensor:
        """``log p(y_t | x, y_<t)`` of every continuation token, float64, shape ``(|y|,)``."""
        self._check(context, continuation)
        return torch.from_numpy(self.score([(context, continuation)])[0])

    def score(
        self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]
    ) -> list[NDArray[np.float64]]:
        """:meth:`token_log_likelihoods` of many ``(context, continuation)`` rows at once.

        Rows are scored in forward passes of :data:`SCORE_ROWS` sequences of one length
        each (a pass short of rows is filled with copies of its first row, whose outputs
        are dropped). Every pass has a shape that depends only on its rows' length, so
        a row's reductions take the same kernel path, hence give the same bits, whatever
        rows share its pass, how many there are, and in which order: a row's
        log-probabilities are the same scored alone or among thousands. Rows are
        never padded to a common length, which would change every reduction over the
        sequence (attention).

        Args:
            rows: ``(context, continuation)`` pairs, as :meth:`token_log_likelihoods`.

        Returns:
            Per row, in order, one float64 per continuation token.

        Raises:
            InputError: If a row is invalid (named by its index).
        """
        out: list[NDArray[np.float64] | None] = [None] * len(rows)
        by_length: dict[int, list[int]] = {}
        for index, (context, continuation) in enumerate(rows):
            try:
                self._check(context, continuation)
            except InputError as err:
                raise InputError(f"rows[{index}]: {err}") from err
            if not continuation:
                out[index] = np.zeros(0, dtype=np.float64)
                continue
            by_length.setdefault(len(context) + len(continuation) - 1, []).append(index)
        for length, indices in sorted(by_length.items()):
            ids = torch.tensor([[*rows[i][0], *rows[i][1]] for i in indices], dtype=torch.long)
            for first in range(0, len(indices), SCORE_ROWS):
                chunk = ids[first : first + SCORE_ROWS]
                if len(chunk) < SCORE_ROWS:
                    chunk = torch.cat([chunk, chunk[:1].expand(SCORE_ROWS - len(chunk), -1)])
                # inference_mode: no autograd bookkeeping at all; the same kernels.
                with torch.inference_mode():
                    logp = self.model(chunk[:, :length]).log_softmax(dim=-1)
                picked = logp.gather(2, chunk[:, 1:].unsqueeze(2)).squeeze(2).double().numpy()
                for row, index in enumerate(indices[first : first + SCORE_ROWS]):
                    start = len(rows[index][0]) - 1
                    out[index] = picked[row, start:].copy()
        return [o for o in out if o is not None]

    def log_likelihood(self, context: Sequence[int], continuation: Sequence[int]) -> float:
        """``log p(continuation | context)`` in nats (0 for an empty continuation)."""
        return float(self._token_logp(context, continuation).sum())

    def token_log_likelihoods(
        self, context: Sequence[int], continuation: Sequence[int]
    ) -> NDArray[np.float64]:
        """``log p(y_t | x, y_<t)`` of each continuation token, in nats.

        Returns:
            A float64 array of ``len(continuation)`` entries; they sum to
            :meth:`log_likelihood` up to rounding.
        """
        return self._token_logp(context, continuation).numpy()

    def generate(
        self,
        context: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> list[int]:
        """Continue ``context`` until ``<eos>`` (kept) or ``max_new_tokens``.

        Args:
            context: Token ids to continue, starting with ``<bos>``.
            max_new_tokens: Most tokens to emit.
            temperature: 0 for greedy decoding, otherwise the sampling temperature.
            seed: Seeds sampling (ignored when greedy).

        Returns:
            The generated ids.

        Raises:
            InputError: If ``temperature`` is negative or the context is empty.
        """
        if temperature < 0:
            raise InputError(f"temperature: must be >= 0, got {temperature}")
        self._check(context, [])
        generator = torch.Generator().manual_seed(seed)
        ids = list(context)
        out: list[int] = []
        budget = min(max_new_tokens, self.model.max_len + 1 - len(ids))
        with torch.no_grad():
            for _ in range(budget):
                logits = self.model(torch.tensor([ids], dtype=torch.long))[0, -1]
                logits[PAD] = logits[BOS] = float("-inf")
                if temperature == 0:
                    token = int(logits.argmax())
                else:
                    probs = (logits / temperature).softmax(dim=-1)
                    token = int(torch.multinomial(probs, 1, generator=generator))
                ids.append(token)
                out.append(token)
                if token == EOS:
                    break
        return out


class UniformLM:
    """The reference model: every token of the vocabulary equally likely.

    It is the pipeline with nothing in it (no trained model to use the data, prompt or
    adapter), so the utility of the empty coalition is zero against it.

    Args:
        vocab_size: ``|V|``, > 0.
    """

    def __init__(self, vocab_size: int) -> None:
        if vocab_size <= 0:
            raise InputError(f"vocab_size: must be positive, got {vocab_size}")
        self.vocab_size = vocab_size

    def log_likelihood(self, context: Sequence[int], continuation: Sequence[int]) -> float:
        """``-|y| log |V|``; the context is ignored."""
        return -len(continuation) * float(np.log(self.vocab_size))

    def token_log_likelihoods(
        self, context: Sequence[int], continuation: Sequence[int]
    ) -> NDArray[np.float64]:
        """``-log |V|`` for each continuation token (float64); the context is ignored."""
        return np.full(len(continuation), -float(np.log(self.vocab_size)))


class UnigramLM:
    """A context-free reference model: smoothed word frequencies of a corpus.

    :math:`p(w) = (c_w + \\alpha) / (\\sum_v c_v + \\alpha |V|)` for every token ``w``
    of the vocabulary, with :math:`c_w` the count of ``w`` in the corpus (each sentence
    ending in one ``<eos>``, words outside the vocabulary counted as ``<unk>``). It
    predicts the sentence frame of a language, never which answer follows a request.

    Args:
        vocab: The vocabulary the log-probabilities are over.
        sentences: The corpus, whitespace-tokenised.
        smoothing: :math:`\\alpha > 0`.

    Raises:
        InputError: If ``smoothing`` is not positive.
    """

    def __init__(self, vocab: Vocabulary, sentences: Sequence[str], smoothing: float) -> None:
        if not smoothing > 0:
            raise InputError(f"smoothing: must be positive, got {smoothing!r}")
        counts = np.full(len(vocab), float(smoothing))
        for sentence in sentences:
            np.add.at(counts, vocab.encode(sentence), 1.0)
            counts[EOS] += 1.0
        self.log_probs: NDArray[np.float64] = np.log(counts) - np.log(counts.sum())

    def log_likelihood(self, context: Sequence[int], continuation: Sequence[int]) -> float:
        """Sum of the continuation tokens' log-probabilities; the context is ignored."""
        return float(self.token_log_likelihoods(context, continuation).sum())

    def token_log_likelihoods(
        self, context: Sequence[int], continuation: Sequence[int]
    ) -> NDArray[np.float64]:
        """``log p(w)`` of each continuation token (float64); the context is ignored."""
        return self.log_probs[np.asarray(continuation, dtype=np.int64)]
