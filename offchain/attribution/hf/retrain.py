"""Exact retraining per subset of the datasets, for small models: the training recipe.

With ``HFPipeline(retrain=RetrainRecipe(...))`` the asset game stops taking the datasets
as jointly necessary: the model of a coalition holding the base model and the datasets
:math:`S \\ne \\varnothing` is the model :func:`train` makes from :math:`S`'s examples,
so the data stage is split by the datasets' exact Shapley (or Owen) values over
retrained models, :math:`2^n - 1` of them for :math:`n` datasets.

The recipe, seeded and deterministic on one machine (same torch build and threads):

1. a fresh model from the base model's config (``from_config``, eager attention), its
   weights initialised and its dropout drawn under ``torch.manual_seed(seed)`` (the
   global RNG is restored afterwards);
2. ``steps`` steps of AdamW (``learning_rate``, ``weight_decay``, torch's default betas),
   each on ``batch_size`` examples drawn uniformly with replacement from :math:`S`'s
   examples by a generator seeded with ``seed``, the loss the mean token negative
   log-likelihood from logits (the examples as the pipeline reads them: the
   begin-of-sequence token as context, truncated to ``max_length`` tokens);
3. evaluation mode.

The whole data set is retrained, :math:`S` = every dataset included, so every coalition
is scored by a model of the same recipe: the served model's weights are then not what
the game scores (its tokenizer and architecture are). Attribution is exact for the
recipe; it explains the served model to the extent that the recipe is how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import torch
from torch import Tensor

from ame_core.exceptions import InputError

__all__ = ["RetrainRecipe", "train"]

#: Default bound on the datasets retrained over: 2**6 - 1 = 63 models.
DEFAULT_MAX_DATASETS: Final = 6


@dataclass(frozen=True)
class RetrainRecipe:
    """How each subset's model is trained (see the module).

    Attributes:
        steps: Optimiser steps.
        learning_rate: AdamW's learning rate.
        batch_size: Examples per step (drawn with replacement).
        weight_decay: AdamW's weight decay.
        seed: Seeds the initial weights and the batches.
        max_datasets: Refuse more datasets than this (:math:`2^n - 1` models).

    Raises:
        InputError: If a field is out of range, naming it.
    """

    steps: int = 100
    learning_rate: float = 1e-2
    batch_size: int = 16
    weight_decay: float = 0.0
    seed: int = 0
    max_datasets: int = DEFAULT_MAX_DATASETS

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("batch_size", 1), ("seed", 0), ("max_datasets", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}: must be an int >= {low}, got {value!r}")
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 <= value < float("inf"))
            ):
                raise InputError(f"{name}: must be a finite number >= 0, got {value!r}")


def train(config: Any, inputs: Tensor, targets: Tensor, recipe: RetrainRecipe) -> Any:
    """A model of ``config`` trained by ``recipe`` on the examples ``(inputs, targets)``.

    Args:
        config: A ``transformers`` model config (the base model's).
        inputs: ``(n, 2, L)`` ids and attention masks, as the pipeline encodes examples.
        targets: ``(n, L)`` target ids, :data:`~offchain.attribution.hf._gradients.IGNORE`
            where nothing is scored.
        recipe: The recipe.

    Returns:
        The trained model, in evaluation mode.
    """
    from transformers import AutoModelForCausalLM

    from offchain.attribution.hf._gradients import IGNORE

    # The global RNG draws the initial weights and the dropout masks: seeded here and
    # restored after, so training neither depends on nor disturbs the caller's state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model: Any = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
            config, attn_implementation="eager"
        )
        generator = torch.Generator().manual_seed(recipe.seed)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
        )
        model.train()
        for _ in range(recipe.steps):
            rows = torch.randint(0, len(inputs), (recipe.batch_size,), generator=generator)
            x, y = inputs[rows], targets[rows]
            logits = model(input_ids=x[:, 0], attention_mask=x[:, 1]).logits[:, :-1]
            wanted = y[:, 1:]
            keep = wanted != IGNORE
            logp = logits.float().log_softmax(-1)
            picked = logp.gather(-1, wanted.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            loss = -(picked * keep).sum() / keep.sum().clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model
