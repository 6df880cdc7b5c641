"""Settings of the reference generative pipeline, validated in one place.

Every size, step count and seed of the pipeline lives here, in frozen pydantic models
with small defaults: the full pipeline (five pretraining datasets, two LoRA adapters)
trains in a few seconds on two CPU cores. Invalid values raise
:class:`~ame_core.exceptions.InputError` naming the field, e.g.
``PipelineSettings.model.d_model: Input should be greater than 0 (got -1)``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ame_core.exceptions import InputError
from ame_core.validation import field_path, plain_reason, show_value
from offchain.attribution.utilities import UTILITIES, Utility

__all__ = [
    "NEUTRAL_TEMPLATE",
    "REFERENCE_KINDS",
    "SLOT",
    "UTILITIES",
    "CorpusSettings",
    "ModelSettings",
    "PipelineSettings",
    "ReferenceKind",
    "ReferenceModelSettings",
    "TrainSettings",
    "Utility",
]


#: The slot of a template that the user request fills.
SLOT: Final = "{request}"
#: The default neutral template: the bare user request.
NEUTRAL_TEMPLATE: Final = SLOT
#: What the empty pipeline can be (:class:`ReferenceModelSettings`).
ReferenceKind = Literal["uniform", "unigram", "base"]
REFERENCE_KINDS: Final[tuple[ReferenceKind, ...]] = ("uniform", "unigram", "base")

Failure = tuple[tuple[str, ...], str, object]
# Attribute of a raised InputError holding its failures as (path, reason, value): pydantic
# validates a nested settings model by calling its __init__, whose InputError then
# reaches the enclosing model, which reports the failures under its own path.
_FAILURES = "_settings_failures"


def _failures(model: str, err: ValidationError) -> list[Failure]:
    """``(path, reason, value)`` of every failed field, paths starting at ``model``."""
    out: list[Failure] = []
    for item in err.errors():
        loc = (model, *(str(part) for part in item["loc"]))
        inner: list[Failure] | None = getattr(item.get("ctx", {}).get("error"), _FAILURES, None)
        if inner is not None:
            out.extend(((*loc, *path[1:]), msg, value) for path, msg, value in inner)
        else:
            out.append((loc, plain_reason(item["msg"], item["type"]), item.get("input")))
    return out


class _Settings(BaseModel):
    """Frozen, strict settings whose validation errors are :class:`InputError`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            failures = _failures(type(self).__name__, err)
            error = InputError(
                "; ".join(
                    f"{field_path(path)}: {why} (got {show_value(value)})"
                    for path, why, value in failures
                )
            )
            setattr(error, _FAILURES, failures)
            raise error from err


class CorpusSettings(_Settings):
    """Sizes of the generated corpora with planted provenance.

    Attributes:
        n_countries: Facts ``the capital of <country> is <city>`` owned by the
            ``geo`` dataset (the ``noisy`` dataset repeats them with label noise).
        n_animals: Facts ``the diet of <animal> is <food>`` owned by ``fauna`` (and
            duplicated verbatim by ``fauna_copy``).
        noise_rate: Probability that a ``noisy`` sentence carries a wrong city.
        n_irrelevant: Sentences of the ``irrelevant`` dataset (own vocabulary).
        irrelevant_vocab: Size of the irrelevant dataset's private vocabulary.
        n_adapter_facts: Style demonstrations in each fine-tuner's dataset.
    """

    n_countries: int = Field(default=12, ge=2, le=100_000)
    n_animals: int = Field(default=12, ge=2, le=100_000)
    noise_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    n_irrelevant: int = Field(default=24, ge=1, le=10_000_000)
    irrelevant_vocab: int = Field(default=16, ge=2, le=500)
    n_adapter_facts: int = Field(default=24, ge=1, le=500)


class ModelSettings(_Settings):
    """Shape of the tiny causal transformer language model.

    Attributes:
        d_model: Width of token embeddings and of the residual stream.
        n_heads: Attention heads; must divide ``d_model``.
        n_layers: Transformer blocks.
        d_ff: Hidden width of each block's MLP.
        max_len: Longest token sequence (context plus generated output).
    """

    d_model: int = Field(default=32, gt=0, le=1024)
    n_heads: int = Field(default=2, gt=0, le=64)
    n_layers: int = Field(default=1, gt=0, le=12)
    d_ff: int = Field(default=64, gt=0, le=4096)
    max_len: int = Field(default=24, ge=8, le=512)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelSettings:
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={self.d_model}")
        return self


class TrainSettings(_Settings):
    """Optimisation of the base model and of the LoRA adapters.

    Attributes:
        pretrain_steps: Adam steps of pretraining, the same for every subset of the
            datasets (a budget per epoch would reward adding any data with compute).
        batch_size: Sentences per optimisation step.
        lr: Adam learning rate of pretraining.
        n_checkpoints: Pretraining checkpoints kept for TracIn, evenly spaced in steps.
        lora_rank: Rank ``r`` of each LoRA factor pair.
        lora_alpha: LoRA scale numerator; the update is ``(alpha / r) B A``.
        adapter_epochs: Passes over a fine-tuner's sentences.
        adapter_lr: Adam learning rate of the adapter factors.
        adapter_anchor: Weight of the KL term keeping the adapted model's predictions
            on the demonstrations' contexts at the base model's.
    """

    pretrain_steps: int = Field(default=200, gt=0, le=1_000_000)
    batch_size: int = Field(default=32, gt=0, le=4096)
    lr: float = Field(default=1e-2, gt=0.0, le=1.0)
    n_checkpoints: int = Field(default=15, gt=0, le=1000)
    lora_rank: int = Field(default=4, gt=0, le=256)
    lora_alpha: float = Field(default=8.0, gt=0.0)
    adapter_epochs: int = Field(default=40, gt=0, le=10_000)
    adapter_lr: float = Field(default=3e-3, gt=0.0, le=1.0)
    adapter_anchor: float = Field(default=1.0, ge=0.0)


class ReferenceModelSettings(_Settings):
    """The empty pipeline: what every output token's gain is measured against.

    A coalition without the base model is this reference, worth 0; the full pipeline is
    paid for what it adds over it. Against a stronger reference the base model is paid
    for what it adds over a commodity model rather than as a veto player without which
    nothing is worth anything.

    Attributes:
        kind: ``"uniform"`` (default): every token of the vocabulary equally likely,
            :math:`-\\log |V|` per token. ``"unigram"``: a context-free word-frequency
            model, :math:`p(w) = (c_w + \\alpha) / (\\sum_v c_v + \\alpha |V|)` over the
            vocabulary (``<eos>`` counted once per sentence), the commodity model of
            this small word-level market: it knows which words are common in the
            language (the sentence frame: ``the``, ``of``, ``is``, ``.``), never which
            answer goes with which request. ``"base"``: the base model itself
            (trained on every dataset, no adapter) reading the request in the neutral
            template, the degenerate reference under which the base model and its
            data are worth nothing (what the Hugging Face pipeline gives with its own
            base model as the reference).
        sentences: Corpus the unigram counts (whitespace tokens; words outside the
            vocabulary count as ``<unk>``); None: the pretraining datasets' sentences,
            pooled. Only with ``kind="unigram"``.
        smoothing: Additive smoothing :math:`\\alpha` of the unigram counts, > 0 so
            every token keeps a finite log-probability.
    """

    kind: ReferenceKind = "uniform"
    sentences: tuple[StrictStr, ...] | None = None
    smoothing: float = Field(default=1.0, gt=0.0, le=1e6)

    @model_validator(mode="after")
    def _sentences_need_unigram(self) -> ReferenceModelSettings:
        if self.sentences is not None and self.kind != "unigram":
            raise ValueError(f"sentences are only read by kind 'unigram', not {self.kind!r}")
        if self.sentences is not None and not any(s.split() for s in self.sentences):
            raise ValueError("sentences: need at least one word")
        return self


class PipelineSettings(_Settings):
    """Everything that determines the reference pipeline, bit for bit.

    Attributes:
        seed: Seeds the corpora, the initial weights, batch orders, the LoRA
            initialisation, events and sampling.
        corpus: Sizes of the generated corpora.
        model: Shape of the transformer.
        train: Optimisation of pretraining and adapters.
        max_new_tokens: Longest generated output, in tokens.
        threads: ``torch.set_num_threads`` while the pipeline trains or scores
            (results depend on it only through float summation order).
        utility: How a coalition's pipeline scores an event's output, one of
            :data:`UTILITIES`: ``"loglik-prefix"`` (default) takes the best running
            sum of the tokens' log-likelihood gains over the uniform distribution over
            the output's prefixes, crediting a coalition with the start of the output
            it accounts for best; ``"loglik"`` sums the gains; ``"loglik-floored"``
            floors each token's gain at 0, so no coalition is charged for predicting a
            token worse than no model at all.
        neutral_template: What stands in for a prompt left out of a coalition (and
            renders an event without a prompt): a template with one ``{request}``
            slot, by default the bare request. A boilerplate template that merely
            turns a request into a sentence, set here, is paid only for what it adds
            over itself: nothing. Its words join the vocabulary.
        reference_model: The empty pipeline (:class:`ReferenceModelSettings`), by default
            the uniform distribution over the vocabulary.
    """

    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    corpus: CorpusSettings = CorpusSettings()
    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    max_new_tokens: int = Field(default=6, gt=0, le=256)
    threads: int = Field(default=1, gt=0, le=256)
    utility: Utility = "loglik-prefix"
    neutral_template: StrictStr = NEUTRAL_TEMPLATE
    reference_model: ReferenceModelSettings = ReferenceModelSettings()

    @field_validator("neutral_template")
    @classmethod
    def _one_slot(cls, value: str) -> str:
        if value.count(SLOT) != 1:
            raise ValueError(f"must hold the {SLOT} slot exactly once")
        return value
