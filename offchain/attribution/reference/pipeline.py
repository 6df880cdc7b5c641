r"""The reference generative pipeline and the cooperative games it defines per event.

The pipeline has four stages, each made of assets owned by someone:

==============  ===================================================================
stage           assets
==============  ===================================================================
``data``        five pretraining datasets with planted provenance (see the corpora)
``base_model``  ``transformer``: a tiny causal word-level transformer and its
                training recipe (architecture, initialisation, optimiser, compute)
``adapter``     LoRA adapters fine-tuned on fine-tuners' style demonstrations
                (``pirate``, ``formal``), merged into the transformer when used
``prompt``      prompt templates with a ``{request}`` slot (``plain``, ``recall``)
==============  ===================================================================

That is the reference market (:func:`~.corpora.generate_corpora`). Given other corpora
(:class:`~.corpora.Corpora`: datasets, adapters' data, prompts) and a base-model id and
owner, the same pipeline serves any market; an ``ame.scenario/1`` file describes one
and builds its pipeline (:func:`offchain.scenario.reference_pipeline`).

An :class:`Event` is a user request rendered through a prompt, answered by the model
(with or without an adapter) by greedy or seeded sampling, and paid a revenue.

Utility. For an event with output :math:`y = (y_1, \dots, y_n)`, the counterfactual
pipeline of a set :math:`A` of assets scores each output token after its own context
:math:`x_A`; token :math:`t` gains

.. math::

    g_t(A) = \log p_A(y_t \mid x_A, y_{<t}) - \log p_\varnothing(y_t)

nats over the empty pipeline :math:`p_\varnothing`, by default the uniform distribution
over the vocabulary (``PipelineSettings.reference_model``, below). The utility,
``PipelineSettings.utility``, is one of the shared
:mod:`offchain.attribution.utilities`,

* ``"loglik"``: the output's log-likelihood gain,

  .. math::

      u(A) = \sum_t g_t(A) = \log p_A(y \mid x_A) - \log p_\varnothing(y);

* ``"loglik-floored"``: each token's gain floored at zero,

  .. math::

      u(A) = \sum_t \max(0, g_t(A)),

  so no coalition is charged, token by token, for predicting an output token worse
  than no model at all: the argument of free disposal (below), one level down. Under
  ``"loglik"`` one surprising token can decide the whole game: in an output
  ``kelvo . arr`` whose tail ``arr`` only the pirate adapter teaches, the model
  without the adapter gives ``arr`` a log-probability of -18.7 against -4.51 for the
  uniform distribution, and that one token's -14.2 makes the adapter look pivotal for
  the answer too. The floored utility is never below the plain one, is non-negative,
  and equals it when every token beats the uniform distribution. It is not the
  likelihood of a pipeline one could run (falling back to the uniform distribution
  on exactly the tokens a model predicts worse needs the output in advance): it is a
  valuation rule. Nor is it the default: each token is scored after the output's own
  prefix, so a coalition that gets the answer badly wrong is still credited for the
  tokens that follow it (a full stop, the end of the sentence), and data unrelated to
  the answer is paid for them (``docs/evaluation.md``, "A floored utility");

* ``"loglik-prefix"`` (the default): the best running gain over the output's prefixes,

  .. math::

      u(A) = \max_{0 \le k \le |y|} \sum_{t \le k} g_t(A),

  free disposal of the output's tail. A pipeline writes left to right and may stop:
  a coalition is credited with the start of the output it accounts for best, and a
  tail that only some asset explains (the adapter's ``arr``) is that asset's, without
  the rest of the output being lost with it. Unlike the floored utility, a token
  after one the coalition gets badly wrong earns it nothing unless the gains that
  follow make up for the loss: a wrong answer's full stop is not paid. It lies
  between the two others: :math:`\max(0, \sum_t g_t) \le u \le \sum_t \max(0,
  g_t)`, and equals the plain gain when every prefix gains (``docs/evaluation.md``,
  "A prefix utility").

The pipeline :math:`p_A` uses the assets in :math:`A` only:

* without the base asset there is no trained model to use any other asset: :math:`p_A
  = p_\varnothing` (data, adapters and prompts alone generate nothing);
* with it, the transformer is trained from scratch, same seed and recipe, on the
  datasets :math:`T = A \cap \text{datasets}` (its initialisation when
  :math:`T = \varnothing`; one model per subset, cached: removing a dataset means
  retraining without it);
* with the event's adapter, that adapter is retrained on the fine-tuner's data on top
  of the model of :math:`T` (cached) and merged in, so an adapter never meets a base it
  was not trained for;
* with the event's prompt, :math:`x_A` is the rendered template, otherwise the request
  in the *neutral template* (``PipelineSettings.neutral_template``; by default the bare
  request). An event without a prompt is answered in the neutral template too.

Counterfactual options, the same as the Hugging Face pipeline's
(:mod:`offchain.attribution.hf.pipeline`), both off by default:

* a *neutral template* such as ``the {request} is``: a boilerplate template that merely
  turns a request into a sentence is then paid only for what it adds over the neutral
  one (a prompt equal to it adds nothing, so it is worth 0 in every event), instead of
  as if it wrote the answer;
* a *reference model* (``PipelineSettings.reference_model``) as the empty pipeline
  :math:`p_\varnothing`, so the base model is paid for what it adds over a commodity
  model, not as a veto player without which nothing is worth anything. There is no
  commodity model to download for this pseudo-word language, and a transformer trained
  by the same recipe on "generic" text of it would be trained on the datasets
  themselves, i.e. be the base model. What any model of the language knows, and no
  model of the facts, is its word frequencies: ``"unigram"`` is that commodity model
  (smoothed counts of the pretraining sentences, or of a configured corpus), which
  predicts the sentence frame (``the``, ``of``, ``is``, ``.``, ``<eos>``) but not the
  answer, so the pipeline is paid for the answer. ``"base"``, the base model itself
  reading the request in the neutral template, is the limit case: the bare pipeline is
  its own reference and worth nothing.

The worth of a coalition :math:`S` of players is what its assets can achieve when any
of them may be left out (free disposal, the default):

.. math::

    v(S) = \max_{R \subseteq S} u(R), \qquad v(\varnothing) = 0,

so :math:`v` is monotone and every Shapley value is non-negative: a dataset that does
not help, like the irrelevant one, is worth about nothing instead of being charged for
the damage a model trained on it alone would do (a model trained only on unrelated text
predicts the output worse than the uniform reference). ``free_disposal=False`` gives
the raw :math:`u`. Both utilities give :math:`u(A) = 0` for every :math:`A` without the
base model (every :math:`g_t = 0` there), so :math:`v(\varnothing) = 0` either way; the
floored one is non-negative but not monotone (a dataset can lower one token's gain), so
free disposal still matters; everything below is defined from :math:`v` alone, so
efficiency and the stage and data games hold under either.

Many datasets. Free disposal over :math:`m` datasets retrains a model on each of the
:math:`2^m` subsets. Beyond :data:`MAX_SUBSET_DATASETS` datasets the datasets are one
disposal block: :math:`v(S) = \max u(R)` over the :math:`R \subseteq S` that hold all of
:math:`S`'s datasets or none, so a coalition's worth needs the models of its own datasets
and of none, and a dataset that hurts is no longer disposed of alone: its within-stage
value may be negative (multi-stage attribution clips it and says so). The data stage's
split is then sampled (permutation sampling, seeded per event, within a budget of
coalitions: :mod:`~offchain.attribution.multistage`), so the models trained are those of
the sampled subsets, not all :math:`2^m`.

Games. :meth:`ReferencePipeline.asset_game` is the game over every asset the event
used; :meth:`~ReferencePipeline.stage_game` is its quotient over the stages (a stage
brings all its assets, so stage Shapley values are the totals of the assets' Owen
values), :meth:`~ReferencePipeline.data_game` its restriction to the datasets with the
rest of the pipeline present (the within-stage split), and
:meth:`~ReferencePipeline.influence_game` an additive data game from TracIn scores (the
first-order estimate of retraining). Each is a callable
``v(coalition: frozenset[str]) -> float`` over string player ids.
:meth:`~ReferencePipeline.revenue_game` sums events' games normalised to their revenue,
so efficient values of it split the total revenue.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Literal, Self

import numpy as np
import torch
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution._threads import torch_threads
from offchain.attribution.game import PipelineGame
from offchain.attribution.reference.corpora import (
    Corpora,
    Dataset,
    Demonstrations,
    Fact,
    PromptTemplate,
    generate_corpora,
)
from offchain.attribution.reference.lm import (
    BOS,
    IGNORE,
    LoRAAdapter,
    NeuralLM,
    PretrainedLM,
    UniformLM,
    UnigramLM,
    Vocabulary,
    encode_sentences,
    pretrain,
    sequence_nll,
    train_adapter,
)
from offchain.attribution.reference.settings import (
    SLOT,
    UTILITIES,
    CorpusSettings,
    ModelSettings,
    PipelineSettings,
    ReferenceModelSettings,
    TrainSettings,
    Utility,
)
from offchain.attribution.tda import (
    Checkpoint,
    GroupedScores,
    ProjectedTracIn,
    TracIn,
    aggregate_scores,
)
from offchain.attribution.utilities import utility, utility_rows
from offchain.exceptions import AttributionError

__all__ = [
    "BASE_MODEL",
    "MAX_SUBSET_DATASETS",
    "MODEL_DEVELOPER",
    "STAGES",
    "UTILITIES",
    "Corpora",
    "CorpusSettings",
    "Dataset",
    "Demonstrations",
    "Event",
    "Fact",
    "ModelSettings",
    "PipelineGame",
    "PipelineSettings",
    "PromptTemplate",
    "ReferencePipeline",
    "TrainSettings",
    "Utility",
    "generate_corpora",
]

#: Asset id of the pretrained transformer (the base-model stage's only asset).
BASE_MODEL = "transformer"
#: Owner of the base model.
MODEL_DEVELOPER = "model_developer"
#: Stage ids, in pipeline order.
STAGES = ("data", "base_model", "adapter", "prompt")
#: Most datasets whose every subset the pipeline retrains a model on when asked for free
#: disposal (and :meth:`ReferencePipeline.prefetch` scores); with more, a coalition's
#: datasets are disposed of all together or not at all (see the module).
MAX_SUBSET_DATASETS = 10

# A counterfactual model: the datasets it was trained on and its adapter ("" for none),
# or None for the reference model of the empty pipeline.
_ModelKey = tuple[frozenset[str], str] | None
_ScoreKey = tuple[_ModelKey, tuple[int, ...], tuple[int, ...]]
# Cached rows of per-token log-probabilities (a few hundred bytes each).
_MAX_SCORES = 1 << 18


@dataclass(frozen=True)
class Event:
    """A user request answered by the full pipeline.

    Attributes:
        id: Event id.
        request: The user request, e.g. ``capital of zorbia``.
        prompt: Id of the prompt template used, or None for the neutral prompt.
        adapter: Id of the adapter used, or None.
        revenue: What the event paid, in the token's smallest unit.
        output: Generated token ids (ending with ``<eos>`` unless cut off).
        text: The decoded output.
    """

    id: str
    request: str
    prompt: str | None
    adapter: str | None
    revenue: int
    output: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class _Fitted:
    corpora: Corpora
    vocab: Vocabulary
    base: PretrainedLM
    adapters: Mapping[str, LoRAAdapter]
    reference: NeuralLM | UniformLM | UnigramLM


class ReferencePipeline:
    """The embedded reference pipeline: corpora, base model, adapters, prompts.

    Args:
        settings: Sizes, steps and seed; the defaults train in seconds on two cores.
        corpora: The datasets, adapters' data and prompts; default the reference
            market's, :func:`~.corpora.generate_corpora` of ``settings.corpus`` and
            ``settings.seed`` (generated by :meth:`fit`).
        base_model: Asset id of the base model.
        owner: Owner of the base model.

    Raises:
        InputError: If an argument has the wrong type, or ``base_model`` is also the id
            of a dataset, an adapter or a prompt.

    Example:
        >>> pipe = ReferencePipeline().fit()
        >>> event = pipe.run(pipe.corpora.facts[0].request, prompt="plain")
        >>> game = pipe.stage_game(event)
        >>> game(frozenset()), game(frozenset(game.players)) > 0
        (0.0, True)
    """

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        *,
        corpora: Corpora | None = None,
        base_model: str = BASE_MODEL,
        owner: str = MODEL_DEVELOPER,
    ) -> None:
        if settings is not None and not isinstance(settings, PipelineSettings):
            raise InputError(f"settings: expected PipelineSettings, got {type(settings).__name__}")
        if corpora is not None and not isinstance(corpora, Corpora):
            raise InputError(f"corpora: expected Corpora, got {type(corpora).__name__}")
        for name, value in (("base_model", base_model), ("owner", owner)):
            if not isinstance(value, str) or not value:
                raise InputError(f"{name}: expected a non-empty string, got {value!r}")
        if corpora is not None:
            taken = [
                *(d.id for d in corpora.datasets),
                *(d.id for d in corpora.adapter_data),
                *(p.id for p in corpora.prompts),
            ]
            if base_model in taken:
                raise InputError(f"base_model: {base_model!r} is also the id of another asset")
        self.settings = settings or PipelineSettings()
        self._corpora = corpora
        self._base_model = base_model
        self._owner = owner
        self._fitted: _Fitted | None = None
        self._models: dict[frozenset[str], PretrainedLM] = {}
        self._adapters: dict[tuple[frozenset[str], str], LoRAAdapter] = {}
        self._neural: dict[tuple[frozenset[str], str], NeuralLM] = {}
        self._estimators: dict[tuple[str, int | None], TracIn | ProjectedTracIn] = {}
        self._adapted: dict[str, tuple[Checkpoint, ...]] = {}
        # Per-token log-probabilities of event outputs by (model, context, output): a
        # row's bits do not depend on what it was scored with (NeuralLM.score), so a
        # hit gives what a miss would have computed, and eviction changes nothing.
        self._scores: dict[_ScoreKey, NDArray[np.float64]] = {}
        self._events: dict[
            Event, tuple[frozenset[str], frozenset[str], tuple[int, ...], tuple[int, ...]]
        ] = {}

    @property
    def seed(self) -> int:
        """Seed of training, sampling and sampled valuations (``settings.seed``)."""
        return self.settings.seed

    @property
    def base_id(self) -> str:
        """Asset id of the base model (:data:`BASE_MODEL` unless given)."""
        return self._base_model

    # -- fitting -----------------------------------------------------------------------

    def fit(self) -> Self:
        """Generate the corpora (unless given), pretrain the transformer on them, train
        every adapter.

        Returns:
            This pipeline.
        """
        s = self.settings
        corpora = generate_corpora(s.corpus, s.seed) if self._corpora is None else self._corpora
        # The neutral template's words join the vocabulary (the default adds none, so
        # the vocabulary, hence every model, is what it was before the option existed).
        vocab = Vocabulary.from_texts([*corpora.texts(), s.neutral_template.replace(SLOT, " ")])
        self._fitted = None
        caches = (
            self._models,
            self._adapters,
            self._neural,
            self._estimators,
            self._adapted,
            self._scores,
            self._events,
        )
        for cache in caches:
            cache.clear()
        everything = frozenset(d.id for d in corpora.datasets)
        base = self._pretrain(corpora, vocab, everything)
        adapters = {
            d.id: self._train_adapter(corpora, vocab, everything, d.id)
            for d in corpora.adapter_data
        }
        reference = self._build_reference(corpora, vocab, everything)
        self._fitted = _Fitted(corpora, vocab, base, adapters, reference)
        return self

    def _build_reference(
        self, corpora: Corpora, vocab: Vocabulary, everything: frozenset[str]
    ) -> NeuralLM | UniformLM | UnigramLM:
        ref = self.settings.reference_model
        if ref.kind == "unigram":
            pooled = [s for d in corpora.datasets for s in d.sentences]
            return UnigramLM(
                vocab, pooled if ref.sentences is None else ref.sentences, ref.smoothing
            )
        if ref.kind == "base":
            self._neural[everything, ""] = NeuralLM(self._models[everything].model)
            return self._neural[everything, ""]
        return UniformLM(len(vocab))

    def with_options(
        self,
        *,
        neutral_template: str | None = None,
        reference_model: ReferenceModelSettings | Mapping[str, object] | None = None,
    ) -> ReferencePipeline:
        """This pipeline with other counterfactual options, sharing its trained models.

        The options change what a coalition's pipeline reads and what it is measured
        against, never how a model is trained: the returned pipeline, fitted if this one
        is, shares every model, adapter and TracIn estimator trained so far or later (the
        caches are keyed by dataset subset and adapter). A neutral template that brings
        new words into the vocabulary changes every model: that pipeline is fitted anew.

        Args:
            neutral_template: The new ``settings.neutral_template``; None keeps it.
            reference_model: The new ``settings.reference_model``; None keeps it.

        Returns:
            A pipeline whose settings are this one's with the options replaced.

        Raises:
            InputError: If an option is invalid (named as in :class:`PipelineSettings`).
        """
        fields = self.settings.model_dump()
        if neutral_template is not None:
            fields["neutral_template"] = neutral_template
        if reference_model is not None:
            fields["reference_model"] = reference_model
        other = ReferencePipeline(
            PipelineSettings(**fields),
            corpora=self._corpora,
            base_model=self._base_model,
            owner=self._owner,
        )
        if self._fitted is None:
            return other
        state = self._fitted
        template = other.settings.neutral_template.replace(SLOT, " ")
        if Vocabulary.from_texts([*state.corpora.texts(), template]).tokens != state.vocab.tokens:
            return other.fit()
        other._models, other._adapters, other._neural = self._models, self._adapters, self._neural
        other._estimators, other._adapted = self._estimators, self._adapted
        everything = frozenset(self.datasets)
        reference = other._build_reference(state.corpora, state.vocab, everything)
        other._fitted = _Fitted(state.corpora, state.vocab, state.base, state.adapters, reference)
        return other

    def _state(self) -> _Fitted:
        if self._fitted is None:
            raise AttributionError("ReferencePipeline is not fitted: call fit() first")
        return self._fitted

    @property
    def corpora(self) -> Corpora:
        """The generated corpora, adapter data and prompts."""
        return self._state().corpora

    @property
    def vocab(self) -> Vocabulary:
        """The word vocabulary of every model."""
        return self._state().vocab

    @property
    def reference_model(self) -> NeuralLM | UniformLM | UnigramLM:
        """The empty pipeline's model (``settings.reference_model``).

        The uniform distribution over the vocabulary unless configured.
        """
        return self._state().reference

    @property
    def base(self) -> PretrainedLM:
        """The transformer pretrained on every dataset, with its checkpoints."""
        return self._state().base

    @property
    def adapters(self) -> Mapping[str, LoRAAdapter]:
        """Adapters trained on the full base model, by id."""
        return self._state().adapters

    @property
    def prompts(self) -> dict[str, PromptTemplate]:
        """Prompt templates by id."""
        return {p.id: p for p in self.corpora.prompts}

    @property
    def datasets(self) -> tuple[str, ...]:
        """Pretraining dataset ids."""
        return tuple(d.id for d in self.corpora.datasets)

    @property
    def owners(self) -> dict[str, str]:
        """Owner of every asset, by asset id."""
        c = self.corpora
        out = {d.id: d.owner for d in c.datasets}
        out.update({d.id: d.owner for d in c.adapter_data})
        out.update({p.id: p.author for p in c.prompts})
        out[self.base_id] = self._owner
        return out

    # -- counterfactual models -----------------------------------------------------------

    def _subset(self, datasets: Iterable[str]) -> frozenset[str]:
        key = frozenset(datasets)
        unknown = key.difference(self.datasets)
        if unknown:
            raise InputError(f"datasets: unknown ids {sorted(unknown)}, have {self.datasets}")
        return key

    @property
    def trained_subsets(self) -> tuple[frozenset[str], ...]:
        """The subsets of the datasets a model was trained on so far (the warm-up's work)."""
        return tuple(self._models)

    def model_for(self, datasets: Iterable[str]) -> PretrainedLM:
        """The transformer trained from scratch on ``datasets`` only.

        Cached per subset; the full set is :attr:`base`.

        Raises:
            InputError: If an id is not a dataset.
        """
        state = self._state()
        return self._pretrain(state.corpora, state.vocab, self._subset(datasets))

    def adapter_for(self, datasets: Iterable[str], adapter: str) -> LoRAAdapter:
        """``adapter`` retrained on :meth:`model_for` ``(datasets)`` (cached).

        Raises:
            InputError: If an id is unknown.
        """
        state = self._state()
        if adapter not in state.adapters:
            raise InputError(f"adapter: unknown id {adapter!r}, have {sorted(state.adapters)}")
        return self._train_adapter(state.corpora, state.vocab, self._subset(datasets), adapter)

    def _pretrain(self, corpora: Corpora, vocab: Vocabulary, key: frozenset[str]) -> PretrainedLM:
        if key not in self._models:
            chosen = [d for d in corpora.datasets if d.id in key]
            sentences = [s for d in chosen for s in d.sentences]
            s = self.settings
            with torch_threads(s.threads):
                self._models[key] = pretrain(vocab, sentences, s.model, s.train, s.seed)
        return self._models[key]

    def _train_adapter(
        self, corpora: Corpora, vocab: Vocabulary, key: frozenset[str], adapter: str
    ) -> LoRAAdapter:
        if (key, adapter) not in self._adapters:
            index, data = next(
                (i, d) for i, d in enumerate(corpora.adapter_data) if d.id == adapter
            )
            base = self._pretrain(corpora, vocab, key).model
            s = self.settings
            with torch_threads(s.threads):
                self._adapters[key, adapter] = train_adapter(
                    base,
                    vocab,
                    data.pairs,
                    s.train,
                    s.seed + 1 + index,
                    adapter_id=data.id,
                    owner=data.owner,
                )
        return self._adapters[key, adapter]

    def _model(self, datasets: frozenset[str], adapter: str | None) -> NeuralLM:
        key = (datasets, adapter or "")
        if key not in self._neural:
            model = self.model_for(datasets).model
            if adapter is not None:
                model = self.adapter_for(datasets, adapter).apply(model)
            self._neural[key] = NeuralLM(model)
        return self._neural[key]

    def _context(self, request: str, prompt: str | None) -> tuple[int, ...]:
        template = (
            self.settings.neutral_template if prompt is None else self.prompts[prompt].template
        )
        return (BOS, *self.vocab.encode(template.replace(SLOT, request)))

    # -- events ------------------------------------------------------------------------

    def run(
        self,
        request: str,
        *,
        prompt: str | None = None,
        adapter: str | None = None,
        revenue: int = 0,
        temperature: float = 0.0,
        seed: int = 0,
        event_id: str = "event",
    ) -> Event:
        """Answer ``request`` through the full pipeline.

        Args:
            request: The user request (whitespace-tokenised words).
            prompt: Prompt id, or None for the neutral prompt.
            adapter: Adapter id, or None for the bare base model.
            revenue: What the event paid, >= 0, in the token's smallest unit.
            temperature: 0 for greedy decoding, otherwise the sampling temperature.
            seed: Seeds sampling.
            event_id: Id of the returned event.

        Returns:
            The event with its generated output.

        Raises:
            InputError: If a field is invalid (named in the message).
        """
        state = self._state()
        if not isinstance(request, str) or not request.split():
            raise InputError(f"request: must contain at least one word, got {request!r}")
        if prompt is not None and prompt not in self.prompts:
            raise InputError(f"prompt: unknown id {prompt!r}, have {sorted(self.prompts)}")
        if adapter is not None and adapter not in state.adapters:
            raise InputError(f"adapter: unknown id {adapter!r}, have {sorted(state.adapters)}")
        if isinstance(revenue, bool) or not isinstance(revenue, int) or revenue < 0:
            raise InputError(f"revenue: must be an int >= 0, got {revenue!r}")
        context = self._context(request, prompt)
        model = self._model(frozenset(self.datasets), adapter)
        with torch_threads(self.settings.threads):
            output = model.generate(
                context, self.settings.max_new_tokens, temperature=temperature, seed=seed
            )
        if not output:
            raise InputError(f"request: {request!r} leaves no room to generate within max_len")
        text = self.vocab.decode(output)
        return Event(event_id, request, prompt, adapter, revenue, tuple(output), text)

    def sample_events(self, n: int, *, seed: int | None = None) -> list[Event]:
        """``n`` events asking for planted pretraining facts, with random prompt/adapter.

        Args:
            n: Number of events, > 0.
            seed: Seeds the choice of fact, prompt, adapter and revenue; default the
                pipeline seed.

        Returns:
            The events, decoded greedily, with revenues in whole multiples of 10**15.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise InputError(f"n: must be a positive int, got {n!r}")
        root = self.settings.seed if seed is None else seed
        rng = np.random.default_rng(np.random.SeedSequence([root, 0xE7]))
        facts = [f for f in self.corpora.facts if f.dataset in self.datasets]
        prompts: list[str | None] = [None, *self.prompts]
        adapters: list[str | None] = [None, *self.adapters]
        events = []
        for i in range(n):
            fact = facts[int(rng.integers(len(facts)))]
            events.append(
                self.run(
                    fact.request,
                    prompt=prompts[int(rng.integers(len(prompts)))],
                    adapter=adapters[int(rng.integers(len(adapters)))],
                    revenue=int(rng.integers(1, 1000)) * 10**15,
                    event_id=f"e{i}",
                )
            )
        return events

    # -- utility and games ---------------------------------------------------------------

    def assets(self, event: Event) -> dict[str, tuple[str, ...]]:
        """The assets ``event`` used, by stage (stages it did not use are left out).

        This is the partition of the asset game's players into stages (for Owen values).
        """
        self._check_event(event)
        out = {"data": self.datasets, "base_model": (self.base_id,)}
        if event.adapter is not None:
            out["adapter"] = (event.adapter,)
        if event.prompt is not None:
            out["prompt"] = (event.prompt,)
        return out

    def _check_event(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise InputError(f"event: expected an Event, got {type(event).__name__}")
        if event.prompt is not None and event.prompt not in self.prompts:
            raise InputError(f"event.prompt: unknown id {event.prompt!r} in event {event.id!r}")
        if event.adapter is not None and event.adapter not in self.adapters:
            raise InputError(f"event.adapter: unknown id {event.adapter!r} in event {event.id!r}")
        if not event.output:
            raise InputError(f"event.output: empty in event {event.id!r}")

    def _scorer(
        self, event: Event, assets: Iterable[str]
    ) -> tuple[_ModelKey, NeuralLM | UniformLM | UnigramLM, tuple[int, ...]]:
        """The model of ``assets`` (with its cache key) and the context it reads the
        event's output after."""
        used, datasets, neutral, prompted = self._read(event)
        chosen = frozenset(assets)
        if not chosen <= used:
            raise InputError(f"assets: {sorted(chosen - used)} not used by event {event.id!r}")
        if self.base_id not in chosen:
            # The empty pipeline reads the request in the neutral template (only the
            # base-model reference looks at it).
            return None, self.reference_model, neutral
        adapter = event.adapter if event.adapter in chosen else None
        subset = chosen & datasets
        model = self._model(subset, adapter)
        context = prompted if event.prompt in chosen else neutral
        return (subset, adapter or ""), model, context

    def _read(
        self, event: Event
    ) -> tuple[frozenset[str], frozenset[str], tuple[int, ...], tuple[int, ...]]:
        """The event's checked assets, datasets and two contexts (neutral, its prompt's).

        Remembered per event: a game asks for them once per coalition.
        """
        found = self._events.get(event) if isinstance(event, Event) else None
        if found is None:
            if len(self._events) >= _MAX_SCORES // 64:
                self._events.clear()
            used = frozenset(chain.from_iterable(self.assets(event).values()))
            neutral = self._context(event.request, None)
            prompted = self._context(event.request, event.prompt) if event.prompt else neutral
            found = self._events[event] = (used, frozenset(self.datasets), neutral, prompted)
        return found

    def log_likelihood(self, event: Event, assets: Iterable[str]) -> float:
        """``log p_A(y | x_A)`` of the event's output under the pipeline of ``assets``.

        Raises:
            InputError: If ``assets`` holds an id the event did not use.
        """
        return float(self.token_log_likelihoods(event, assets).sum())

    def token_log_likelihoods(self, event: Event, assets: Iterable[str]) -> NDArray[np.float64]:
        """``log p_A(y_t | x_A, y_<t)`` of each output token under the pipeline of ``assets``.

        Cached per model, context and output; :meth:`prefetch` fills the cache for many
        events in batched forward passes, with the same bits.

        Returns:
            One float64 per token of ``event.output`` (a read-only array); they sum to
            :meth:`log_likelihood` up to rounding.

        Raises:
            InputError: If ``assets`` holds an id the event did not use.
        """
        key, model, context = self._scorer(event, assets)
        found = self._scores.get((key, context, event.output))
        if found is not None:
            return found
        if isinstance(model, NeuralLM):
            with torch_threads(self.settings.threads):
                scores = model.score([(context, event.output)])[0]
        else:
            scores = model.token_log_likelihoods(context, event.output)
        return self._remember((key, context, event.output), scores)

    def _remember(self, key: _ScoreKey, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        if len(self._scores) >= _MAX_SCORES:
            # Oldest first; what is evicted is recomputed with the same bits if needed.
            for old in list(itertools.islice(self._scores, _MAX_SCORES // 4)):
                del self._scores[old]
        scores.flags.writeable = False
        self._scores[key] = scores
        return scores

    def prefetch(self, events: Sequence[Event]) -> None:
        """Score every coalition's pipeline on the events' outputs, in batched passes.

        For each event, every model its asset game can ask for (the base model retrained
        on each subset of the datasets, with and without the event's adapter) reads the
        output after each context (the event's prompt and the neutral template); the
        rows of all events that one model reads are scored together
        (:meth:`~.lm.NeuralLM.score`) and cached, so the games' worths are then lookups.
        The bits are those each coalition would get alone: prefetching only changes how
        fast the games are. Models not trained yet are trained first (the warm-up).
        Events with more than :data:`MAX_SUBSET_DATASETS` datasets are left to the
        games, which ask only for the coalitions they need.

        Args:
            events: Events answered by this pipeline.

        Raises:
            InputError: If an event is malformed.
        """
        wanted: dict[
            tuple[frozenset[str], str], dict[tuple[tuple[int, ...], tuple[int, ...]], None]
        ]
        wanted = {}
        for event in events:
            self._check_event(event)
            if len(self.datasets) > MAX_SUBSET_DATASETS:
                continue
            contexts = {self._context(event.request, p) for p in {None, event.prompt}}
            for subset in range(1 << len(self.datasets)):
                datasets = frozenset(d for i, d in enumerate(self.datasets) if subset >> i & 1)
                for adapter in {"", event.adapter or ""}:
                    rows = wanted.setdefault((datasets, adapter), {})
                    for context in sorted(contexts):
                        if ((datasets, adapter), context, event.output) not in self._scores:
                            rows[context, event.output] = None
        for (datasets, adapter), rows in wanted.items():
            if not rows:
                continue
            model = self._model(datasets, adapter or None)
            batch = list(rows)
            with torch_threads(self.settings.threads):
                scores = model.score(batch)
            for (context, output), row in zip(batch, scores, strict=True):
                self._remember(((datasets, adapter), context, output), row)

    def utility(self, event: Event, assets: Iterable[str]) -> float:
        """:math:`u(A)` of the pipeline's ``settings.utility``, in nats (see the module).

        The output's per-token log-likelihoods under the pipeline of ``assets`` and under
        the empty pipeline, scored by :func:`offchain.attribution.utilities.utility`:

        ``"loglik"``: :math:`\\log p_A(y \\mid x_A) - \\log p_\\varnothing(y)`;
        ``"loglik-floored"``: :math:`\\sum_t \\max(0, g_t(A))` over the output tokens;
        ``"loglik-prefix"``: :math:`\\max_k \\sum_{t \\le k} g_t(A)` (0 for the empty prefix).

        Raises:
            InputError: If ``assets`` holds an id the event did not use.
        """
        return utility(
            self.settings.utility,
            self.token_log_likelihoods(event, assets),
            self.token_log_likelihoods(event, ()),
        )

    def utilities(self, event: Event, coalitions: Sequence[Iterable[str]]) -> NDArray[np.float64]:
        """:meth:`utility` of many coalitions' pipelines for ``event``, with its bits.

        The output's per-token log-probabilities under each pipeline are stacked and
        scored in one :func:`~offchain.attribution.utilities.utility_rows` call.

        Args:
            event: The event.
            coalitions: Sets of assets the event used.

        Returns:
            One utility per coalition, in nats, float64.

        Raises:
            InputError: If a coalition holds an id the event did not use.
        """
        if not coalitions:
            return np.zeros(0, dtype=np.float64)
        used, datasets, neutral, prompted = self._read(event)
        rows = []
        for assets in coalitions:
            chosen = frozenset(assets)
            found = None
            if self.base_id in chosen and chosen <= used:
                # _scorer's cache key, without looking up the model: a cached row (every
                # one after prefetch) costs a dict lookup.
                adapter = event.adapter if event.adapter in chosen else ""
                context = prompted if event.prompt in chosen else neutral
                found = self._scores.get(
                    ((chosen & datasets, adapter or ""), context, event.output)
                )
            rows.append(self.token_log_likelihoods(event, chosen) if found is None else found)
        return utility_rows(self.settings.utility, rows, self.token_log_likelihoods(event, ()))

    def asset_game(self, event: Event, *, free_disposal: bool = True) -> PipelineGame:
        """The game over every asset ``event`` used (datasets, base, adapter, prompt).

        Its players, grouped by stage, are :meth:`assets` (the structure for Owen
        values). With free disposal, the worth of a coalition holding the datasets
        needs the model (and the event's adapter) retrained on each of their subsets;
        retrained models are cached, so that happens once per pipeline. Beyond
        :data:`MAX_SUBSET_DATASETS` datasets, the datasets are one disposal block
        (:class:`~offchain.attribution.game.PipelineGame`): a coalition uses all its
        datasets or none, so its worth needs two models, not ``2**m``.
        """
        players = list(chain.from_iterable(self.assets(event).values()))
        many = len(self.datasets) > MAX_SUBSET_DATASETS
        bare: list[float] = []

        def worth(coalition: frozenset[str]) -> float:
            if self.base_id in coalition:
                return self.utility(event, coalition)
            # Without the base model every coalition is the empty pipeline: one utility.
            if not bare:
                bare.append(self.utility(event, ()))
            return bare[0]

        def worths(coalitions: Sequence[frozenset[str]]) -> list[float]:
            # worth of each coalition, the pipelines' utilities in one array operation
            # (utility_rows: the bits of one at a time).
            with_base = [c for c in coalitions if self.base_id in c]
            found = iter(self.utilities(event, with_base).tolist() if with_base else ())
            return [next(found) if self.base_id in c else worth(c) for c in coalitions]

        return PipelineGame(
            players,
            worth,
            free_disposal=free_disposal,
            blocks=[self.datasets] if many else None,
            batch_worth=worths,
        )

    def stage_game(self, event: Event, *, free_disposal: bool = True) -> PipelineGame:
        """The quotient of :meth:`asset_game` over the stages ``event`` used.

        A stage brings all its assets: ``v(S) = v_assets(union of the stages in S)``,
        so the Shapley value of a stage is the total of its assets' Owen values. Its
        players are stage ids (:data:`STAGES`).
        """
        stages = self.assets(event)
        assets = self.asset_game(event, free_disposal=free_disposal)

        def worth(coalition: frozenset[str]) -> float:
            return assets(frozenset(chain.from_iterable(stages[s] for s in coalition)))

        return PipelineGame(stages, worth, free_disposal=False)

    def data_game(self, event: Event, *, free_disposal: bool = True) -> PipelineGame:
        """The datasets' game with the rest of the pipeline present (within-stage split).

        ``v_D(T) = v(T + R) - v(R)`` for :meth:`asset_game`'s ``v`` and ``R`` the
        event's non-data assets: the datasets share what the data stage adds on top of
        the base model's initialisation, the adapter and the prompt.
        """
        stages = self.assets(event)
        rest = frozenset(a for s, ids in stages.items() if s != "data" for a in ids)
        assets = self.asset_game(event, free_disposal=free_disposal)
        offset = assets(rest)
        return PipelineGame(self.datasets, lambda t: assets(t | rest) - offset, free_disposal=False)

    def revenue_game(
        self,
        events: Sequence[Event],
        level: Literal["stage", "asset"] = "stage",
        *,
        free_disposal: bool = True,
    ) -> PipelineGame:
        """``V(S) = sum_e revenue_e * v_e(S) / v_e(N_e)`` over a batch of events.

        Shapley values are linear and efficient, so those of this game split the total
        revenue, each event's revenue in proportion to its own game's values.

        Args:
            events: The events to settle.
            level: ``"stage"`` (players are stages) or ``"asset"`` (asset ids).
            free_disposal: Passed to each event's game.

        Raises:
            InputError: If ``events`` is empty or ``level`` unknown.
            AttributionError: If an event's full pipeline does not beat the empty one
                (``v_e(N_e) <= 0``), so its revenue cannot be split by this utility.
        """
        if not events:
            raise InputError("events: need at least one event, got none")
        if level not in ("stage", "asset"):
            raise InputError(f"level: must be 'stage' or 'asset', got {level!r}")
        make = self.stage_game if level == "stage" else self.asset_game
        games = [make(e, free_disposal=free_disposal) for e in events]
        totals = []
        for event, game in zip(events, games, strict=True):
            total = game(frozenset(game.players))
            if not total > 0:
                raise AttributionError(
                    f"event {event.id!r}: v(N) = {total:.6g} <= 0, its revenue cannot be split"
                )
            totals.append(total)
        players = list(dict.fromkeys(chain.from_iterable(g.players for g in games)))

        def worth(coalition: frozenset[str]) -> float:
            return sum(
                e.revenue * g(coalition.intersection(g.players)) / t
                for e, g, t in zip(events, games, totals, strict=True)
            )

        # Each event's game already applies (or not) free disposal; a sum of games is
        # taken as is.
        return PipelineGame(players, worth, free_disposal=False)

    # -- influence -----------------------------------------------------------------------

    def training_examples(self) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
        """Every pretraining sentence as ``(inputs, targets, dataset id)`` for TracIn."""
        sentences: list[str] = []
        groups: list[str] = []
        for d in self.corpora.datasets:
            sentences.extend(d.sentences)
            groups.extend([d.id] * len(d.sentences))
        inputs, targets = encode_sentences(self.vocab, sentences, self.settings.model.max_len)
        return inputs, targets, tuple(groups)

    def event_example(self, event: Event) -> tuple[torch.Tensor, torch.Tensor]:
        """The event as a one-row TracIn test batch: loss only on the output tokens."""
        self._check_event(event)
        context = self._context(event.request, event.prompt)
        ids = [*context, *event.output]
        targets = [IGNORE] * (len(context) - 1) + list(event.output)
        return torch.tensor([ids[:-1]]), torch.tensor([targets])

    def adapter_checkpoints(self, adapter: str) -> tuple[Checkpoint, ...]:
        """The pretraining checkpoints, each with ``adapter`` retrained on it and merged.

        What :meth:`influence` differentiates an adapter event's loss at (cached).

        Raises:
            InputError: If ``adapter`` is unknown.
        """
        if adapter not in self.adapters:
            raise InputError(f"adapter: unknown id {adapter!r}, have {sorted(self.adapters)}")
        if adapter not in self._adapted:
            self._adapted[adapter] = tuple(
                self._adapted_checkpoint(c, adapter) for c in self.base.checkpoints
            )
        return self._adapted[adapter]

    def _adapted_checkpoint(self, checkpoint: Checkpoint, adapter: str) -> Checkpoint:
        state = self._state()
        model = copy.deepcopy(state.base.model)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(checkpoint.params[name])
        index, data = next(
            (i, d) for i, d in enumerate(state.corpora.adapter_data) if d.id == adapter
        )
        s = self.settings
        with torch_threads(s.threads):
            trained = train_adapter(
                model,
                state.vocab,
                data.pairs,
                s.train,
                s.seed + 1 + index,
                adapter_id=data.id,
                owner=data.owner,
            )
        deltas = trained.deltas()
        params = {n: t + deltas[n] if n in deltas else t for n, t in checkpoint.params.items()}
        return Checkpoint(params, checkpoint.weight)

    def _estimator(
        self, adapter: str | None, projection_dim: int | None
    ) -> TracIn | ProjectedTracIn:
        key = (adapter or "", projection_dim)
        if key not in self._estimators:
            base = self.base
            test: list[Checkpoint] | None = None
            if adapter is not None:
                test = list(self.adapter_checkpoints(adapter))
            estimator: TracIn | ProjectedTracIn
            if projection_dim is None:
                estimator = TracIn(
                    base.model, base.checkpoints, sequence_nll, test_checkpoints=test
                )
            else:
                estimator = ProjectedTracIn(
                    base.model,
                    base.checkpoints,
                    sequence_nll,
                    projection_dim=projection_dim,
                    seed=self.settings.seed,
                    projection="subspace",
                    test_checkpoints=test,
                )
            inputs, targets, _ = self.training_examples()
            with torch_threads(self.settings.threads):
                self._estimators[key] = estimator.fit(inputs, targets)
        return self._estimators[key]

    def influence(
        self,
        events: Sequence[Event],
        *,
        projection_dim: int | None = None,
        how: Literal["sum", "mean"] = "sum",
    ) -> GroupedScores:
        """TracIn of the pretraining sentences on the events' outputs, per dataset.

        The event loss is ``-log p(y | x)`` under the full pipeline, differentiated with
        respect to the base model's parameters at each pretraining checkpoint: with the
        event's prompt and, for an adapter event, with the adapter retrained on that
        checkpoint and merged in (the final adapter on an early checkpoint would be off
        its training distribution and swamp the gradients; retraining costs one
        adapter fit per checkpoint, cached).

        Args:
            events: Events to explain.
            projection_dim: None for exact TracIn, else the dimension of
                :class:`~offchain.attribution.tda.ProjectedTracIn` (projected on the
                top principal directions of the training gradients, ``"subspace"``).
            how: Aggregation over a dataset's sentences, see
                :func:`~offchain.attribution.tda.aggregate_scores`.

        Returns:
            Per-event scores of each dataset (higher: its sentences raised the
            output's likelihood more).
        """
        if not events:
            raise InputError("events: need at least one event, got none")
        _, _, groups = self.training_examples()
        rows = []
        for event in events:
            x, y = self.event_example(event)
            with torch_threads(self.settings.threads):
                rows.append(self._estimator(event.adapter, projection_dim).score(x, y))
        return aggregate_scores(np.concatenate(rows), groups, how)

    def influence_game(self, event: Event, *, projection_dim: int | None = None) -> PipelineGame:
        """Additive data game from TracIn: ``v(T) = sum_{d in T} influence_d``.

        The first-order estimate of :meth:`data_game`: a dataset's Shapley value in it
        is its summed TracIn score.
        """
        row = self.influence([event], projection_dim=projection_dim).row(0)
        return PipelineGame(
            self.datasets, lambda t: float(sum(row[d] for d in sorted(t))), free_disposal=False
        )
