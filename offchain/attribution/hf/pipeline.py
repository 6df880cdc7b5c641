r"""A Hugging Face ``transformers`` + ``peft`` pipeline that multi-stage attribution values.

The pipeline an operator runs: a causal language model (the *base model*, any
``transformers`` ``AutoModelForCausalLM``), LoRA *adapters* trained with ``peft`` on
top of it, *prompt* templates that put a user's request into a ``{request}`` slot, and
the *datasets* the model was trained on. Each is an asset, owned by a contributor; an
event (:class:`~offchain.attribution.hf.events.HFEvent`) used the base model, the
datasets, at most one adapter and at most one prompt.

The asset game of an event scores the output the user paid for, never a regeneration:
the pipeline of a coalition :math:`S` gives each output token :math:`y_t` the
log-probability :math:`\log p_S(y_t \mid x_S, y_{<t})` and the utility
(:func:`~offchain.attribution.utilities.utility`) compares it with the reference
:math:`\log p_\varnothing(y_t)`: a uniform distribution over the model's vocabulary
(:math:`-\log V` per token), or a configured *reference model*, a commodity causal LM
with the same tokenizer reading the request in the neutral template. With a reference
model, the base model is paid for what it adds over the commodity one, not as a veto
player without which nothing is worth anything. The counterfactual pipeline of
:math:`S`:

* without the base model (or, in this version, without every dataset: see below), the
  reference: worth 0. An adapter or a prompt is worth nothing without the base model
  (what a prompt would add to the reference model is not counted);
* without the event's adapter, the base model with the adapters disabled (``peft``'s
  ``disable_adapter``; the model is never reloaded);
* without the event's prompt, the request in the configured *neutral template*
  (``"{request}"`` unless configured): a template that merely turns a request into a
  sentence is paid only for what it adds over that one.

The datasets: the base model's weights are what training on all of them made, and
without retraining the model on their subsets the pipeline cannot say what fewer of
them would give. The asset game takes them as jointly necessary: the model counts only
when the base model and every dataset are in the coalition, so the data stage and the
base model share what the model adds. How the datasets share the data stage's part
depends on the method:

* ``method="shapley"`` or ``"owen"``: equally (they are symmetric in the game);
* ``method="tracin"`` or ``"tracin-projected"``: in proportion to each dataset's summed
  TracIn score for the event (:meth:`HFPipeline.influence`): the dot products of its
  training examples' loss gradients with the gradient of the event's output loss, at
  the model's weights, over the parameters ``gradient_params`` selects, exact or
  projected (:class:`~offchain.attribution.tda.ProjectedTracIn`), the first-order
  estimate of how much likelier the output is for the dataset's gradient steps.
  Datasets with a score <= 0 get nothing; if none is positive, the stage's part goes to
  the other stages (:mod:`~offchain.attribution.multistage`). This needs the datasets'
  files (:class:`~offchain.attribution.hf.training.TrainingSet`); given as bare ids,
  the pipeline has no examples and these methods raise.

With ``retrain=RetrainRecipe(...)`` (:mod:`~offchain.attribution.hf.retrain`, small
models without adapters) the datasets are no longer jointly necessary: the model of a
coalition with the base model and the datasets :math:`S \ne \varnothing` is the one
the recipe trains on :math:`S`, so ``"shapley"`` and ``"owen"`` split the data stage by
exact values over :math:`2^n - 1` retrained models.

The training side is indexed once per setting (a progress step and bar) and, with a
``cache_dir``, stored on disk under a content hash of everything it depends on, so a
rerun reads it instead of recomputing it (:meth:`HFPipeline.influence`).

Scoring is batched: :meth:`HFPipeline.score` runs one forward pass per counterfactual
configuration (adapter on or off, prompt or neutral template) per batch of events, and
caches each event's per-token log-probabilities, which the games then read. The loss is
taken from the logits (a log-softmax), never through ``labels=``; models load with eager
attention, which per-example gradients need (``torch.func`` through transformers fails
with SDPA masks).

Example:
    ::

        from offchain.attribution import MultiStageAttribution
        from offchain.attribution.hf import HFPipeline, TrainingSet, load_events

        pipe = HFPipeline(
            "models/tiny-gpt2",
            adapters={"adapter:poetry": "adapters/poetry"},
            prompts={"prompt:story": "Tell a story about {request}:"},
            datasets={
                "dataset:wiki": "data/wiki.txt",            # one example per line
                "dataset:books": TrainingSet("data/books.jsonl", text_field="body"),
            },
            gradient_params="last-layer",
            cache_dir="cache/tracin",
        )
        events = load_events("events.jsonl")
        pipe.score(events)                                  # batched forward passes
        result = MultiStageAttribution(pipe, method="tracin-projected").fit(events).result
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, get_args

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ame_core.exceptions import InputError
from ame_core.progress import Progress, quiet_progress
from offchain.attribution.game import PipelineGame
from offchain.attribution.hf._gradients import (
    NAMED_SELECTIONS,
    PREFIX,
    FeatureCache,
    LogitsOf,
    ParamSelection,
    encode,
    select_params,
    token_nll,
    weights_digest,
)
from offchain.attribution.hf.events import HFEvent
from offchain.attribution.hf.retrain import RetrainRecipe, train
from offchain.attribution.hf.training import TrainingSet, dataset_digest, read_examples
from offchain.attribution.pipeline import DATA_STAGE
from offchain.attribution.tda import (
    Checkpoint,
    GroupedScores,
    ProjectedTracIn,
    Projection,
    TracIn,
    _aggregate,
    _group_members,
)
from offchain.attribution.utilities import UTILITIES, Utility, utility
from offchain.exceptions import AttributionError

__all__ = ["SLOT", "STAGES", "HFPipeline", "ParamSelection"]

#: The slot of a prompt template that the event's request fills.
SLOT: Final = "{request}"
#: The pipeline's stages, in pipeline order (the order breaks ties in the money split).
STAGES: Final = (DATA_STAGE, "base_model", "adapter", "prompt")

_NOT_LOCAL = (
    "is not a local directory: the pipeline loads models only from disk "
    "(local_files_only), never from a hub; download it first "
    "(e.g. `hf download <name> --local-dir DIR`) and give DIR"
)


#: Tokens per training example for a model that does not say its maximum.
_DEFAULT_MAX_LENGTH: Final = 1024

_PEFT_DEPRECATION = "`is_gradient_checkpointing` is deprecated"


def _local_dir(field: str, value: str | Path) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise InputError(f"{field}: {str(value)!r} {_NOT_LOCAL}")
    return path


def _template(field: str, value: object) -> str:
    if not isinstance(value, str) or SLOT not in value:
        raise InputError(f"{field}: a template must be a string with a {SLOT} slot, got {value!r}")
    return value


class HFPipeline:
    """A causal LM, its LoRA adapters, prompt templates and datasets, as assets.

    Implements :class:`~offchain.attribution.AttributionPipeline` for
    :class:`~offchain.attribution.hf.events.HFEvent` (see the module for the game).

    Args:
        model: Local directory of a ``transformers`` causal LM and its tokenizer (what
            ``save_pretrained`` writes). Loaded with ``local_files_only=True`` and eager
            attention, in evaluation mode.
        adapters: Adapter id -> local directory of a ``peft`` LoRA adapter of that model.
            All are loaded once into one ``PeftModel`` and switched per batch.
        prompts: Prompt id -> template with a ``{request}`` slot.
        neutral_template: The template used when a prompt is left out of a coalition.
        reference_model: Local directory of a causal LM whose tokenizer has the model's
            vocabulary: the empty pipeline, scoring the request in the neutral template.
            None: a uniform distribution over the model's vocabulary.
        datasets: The datasets the base model was trained on (the data stage): dataset
            id -> :class:`~offchain.attribution.hf.training.TrainingSet` or path (read
            with ``format="auto"``), read and tokenized here; or bare ids, whose examples
            the pipeline does not know (the ``"tracin"`` methods then raise). None
            leaves the stage out.
        base_id: Asset id of the base model.
        utility: How a coalition's output is scored (:data:`~offchain.attribution.UTILITIES`).
        batch_size: Events per forward pass; examples per batch of per-example gradients.
        seed: Default seed of sampled valuations; seeds the gradient projection.
        gradient_params: The parameters the data stage's gradients are taken over:
            ``"all"`` (every parameter of the base model, never the LoRA factors),
            ``"last-layer"`` (the highest-numbered transformer block, e.g. GPT-2's
            ``transformer.h.<n-1>.*``, and every parameter listed after it: the final
            norm ``transformer.ln_f``, and the output head when it is not tied to the
            input embeddings), ``"lora"`` (the LoRA factors of the event's adapter,
            see :meth:`influence`), or ``fnmatch`` patterns over the plain model's
            parameter names (as ``transformers`` names them, without ``peft``'s
            ``base_model.model.`` and ``.base_layer``), e.g. ``["*.h.1.mlp.*"]``.
        projection: How ``"tracin-projected"`` projects gradients
            (:class:`~offchain.attribution.tda.ProjectedTracIn`): ``"factored-vocab"``
            (default: each layer's gradient projected with seeded Kronecker factors of
            rank ``factor_dim`` without forming it, embedding tables and a head tied to
            them token by token, their columns to rank ``vocab_factor_dim``; then the
            top principal directions of those, so a query reads ``4 * k * raw_dim``
            bytes, tens of thousands of numbers per direction, not one per parameter;
            as accurate as ``"subspace"`` on ``bench/lds.py``, and fast),
            ``"subspace"`` (the top directions of the gradients themselves; exact once
            the dimension reaches the number of training examples, but a query reads
            ``4 * n_params * k`` bytes), ``"factored"`` (as the default but with
            Gaussian factors over the vocabulary too, which mix the tokens' rows: less
            accurate), ``"gaussian"``, ``"rademacher"`` (dense: ``4 * n_params * k``
            bytes) or ``"countsketch"`` (sparse, for large parameter sets).
        factor_dim: For the factored projections: the rank of each side's Kronecker
            factor (a side at most this long is kept whole); see
            :class:`~offchain.attribution.tda.ProjectedTracIn`.
        vocab_factor_dim: For ``"factored-vocab"``: the rank an embedding table's
            columns are projected to, its rows (one per token) kept apart.
        vocab_buckets: For ``"factored-vocab"``: an embedding table of more rows than
            this (a vocabulary) has them count-sketched into this many buckets.
        max_length: Tokens per training example, the begin-of-sequence token included;
            longer examples are truncated to their first ``max_length`` tokens. At most
            the model's ``max_position_embeddings``; None: that many (1024 for a model
            without the setting).
        cache_dir: Directory of the training features on disk, under a content hash
            (see :meth:`influence`); None keeps them in memory only.
        progress: Reports the indexing of training gradients (a step, and a bar over
            the training examples).
        retrain: Exact retraining per subset of the datasets
            (:mod:`~offchain.attribution.hf.retrain`): the model of a coalition with the
            base model and datasets :math:`S` is the recipe's model trained on
            :math:`S`. For small models without adapters; the datasets must be files.
            None: the datasets are jointly necessary (see the module).

    Raises:
        InputError: If a directory is not local (a hub name), a model or adapter cannot
            be loaded, a template has no slot, asset ids repeat, a dataset cannot be
            read (naming its id, file and line), or a setting is out of range; the
            message names the argument.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        adapters: Mapping[str, str | Path] | None = None,
        prompts: Mapping[str, str] | None = None,
        neutral_template: str = SLOT,
        reference_model: str | Path | None = None,
        datasets: Mapping[str, TrainingSet | str | Path] | Sequence[str] = (),
        base_id: str = "base_model",
        utility: Utility = "loglik-prefix",
        batch_size: int = 8,
        seed: int = 0,
        gradient_params: ParamSelection = "all",
        projection: Projection = "factored-vocab",
        factor_dim: int = 64,
        vocab_factor_dim: int = 16,
        vocab_buckets: int = 8192,
        max_length: int | None = None,
        cache_dir: str | Path | None = None,
        progress: Progress = quiet_progress,
        retrain: RetrainRecipe | None = None,
    ) -> None:
        adapters = dict(adapters or {})
        prompts = dict(prompts or {})
        model_dir = _local_dir("model", model)
        reference_dir = (
            None if reference_model is None else _local_dir("reference_model", reference_model)
        )
        adapter_dirs = {a: _local_dir(f"adapters[{a!r}]", d) for a, d in adapters.items()}
        self.prompts: Mapping[str, str] = {
            p: _template(f"prompts[{p!r}]", t) for p, t in prompts.items()
        }
        self.neutral_template = _template("neutral_template", neutral_template)
        specs = _training_sets(datasets)
        self.datasets: tuple[str, ...] = tuple(specs)
        self.base_id = base_id
        ids = [base_id, *self.datasets, *adapter_dirs, *self.prompts]
        if not all(isinstance(i, str) and i for i in ids):
            raise InputError(f"asset ids: must be non-empty strings, got {ids!r}")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise InputError(f"asset ids: {repeated} name more than one asset")
        if utility not in UTILITIES:
            raise InputError(f"utility: must be one of {list(UTILITIES)}, got {utility!r}")
        self.utility: Utility = utility
        for name, value, low in (("batch_size", batch_size, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}: must be an int >= {low}, got {value!r}")
        self.batch_size = batch_size
        self.seed = seed
        if isinstance(gradient_params, str):
            if gradient_params not in NAMED_SELECTIONS:
                raise InputError(
                    f"gradient_params: must be one of {list(NAMED_SELECTIONS)} or a list of "
                    f"name patterns, got {gradient_params!r}"
                )
        elif not gradient_params or not all(isinstance(p, str) and p for p in gradient_params):
            raise InputError(
                "gradient_params: a list of patterns must hold non-empty strings, "
                f"got {gradient_params!r}"
            )
        else:
            gradient_params = tuple(gradient_params)
        self.gradient_params: ParamSelection = gradient_params
        if projection not in get_args(Projection):
            raise InputError(
                f"projection: must be one of {list(get_args(Projection))}, got {projection!r}"
            )
        self.projection: Projection = projection
        for name, value in (
            ("factor_dim", factor_dim),
            ("vocab_factor_dim", vocab_factor_dim),
            ("vocab_buckets", vocab_buckets),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}: must be an int >= 1, got {value!r}")
        self.factor_dim = factor_dim
        self.vocab_factor_dim = vocab_factor_dim
        self.vocab_buckets = vocab_buckets
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise InputError(f"max_length: must be an int >= 2 or None, got {max_length!r}")
        self.cache = None if cache_dir is None else FeatureCache(Path(cache_dir))
        self.progress = progress
        self.adapters: tuple[str, ...] = tuple(adapter_dirs)
        self.tokenizer, self.model = self._load("model", model_dir, adapter_dirs)
        self.vocab_size = int(self.model.config.vocab_size)
        self.reference_model: Any = None
        if reference_dir is not None:
            tokenizer, self.reference_model = self._load("reference_model", reference_dir, {})
            if tokenizer.get_vocab() != self.tokenizer.get_vocab():
                raise InputError(
                    f"reference_model: {str(reference_dir)!r} has a tokenizer with another "
                    "vocabulary than the model's: the reference must score the same tokens"
                )
        # (event, adapter on, prompt on) -> per-token log-probabilities; the reference
        # model's under the key (event, False, None).
        self._scores: dict[tuple[HFEvent, bool, bool | None], NDArray[np.float64]] = {}
        # (event, configuration) -> the utility :meth:`worth` computed; event -> its
        # output's token ids.
        self._worths: dict[tuple[HFEvent, tuple[Any, ...]], float] = {}
        self._outputs: dict[HFEvent, list[int]] = {}
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if max_length is None:
            max_length = _DEFAULT_MAX_LENGTH if limit is None else int(limit)
        elif limit is not None and max_length > limit:
            raise InputError(f"max_length: {max_length} is over the model's {limit} positions")
        self.max_length: int = max_length
        self._specs = specs
        self._train = self._read_training_sets()
        if retrain is not None:
            _check_retrain(retrain, self)
        self.retrain = retrain
        self._retrained: dict[frozenset[str], Any] = {}
        # (event, dataset subset, prompt on) -> log-probabilities under a retrained model.
        self._subset_scores: dict[tuple[HFEvent, frozenset[str], bool], NDArray[np.float64]] = {}
        # (adapter or None, projection_dim, seed) -> the fitted estimator and, when exact,
        # the training features: the data stage is indexed once per setting.
        self._weights: str | None = None
        self._indexes: dict[tuple[str | None, int | None, int], tuple[Any, Tensor | None]] = {}
        self._members: tuple[tuple[str, ...], list[NDArray[np.intp]]] | None = None

    @staticmethod
    def _load(field: str, model_dir: Path, adapter_dirs: Mapping[str, Path]) -> tuple[Any, Any]:
        # Imported here so that importing this module costs torch, not transformers.
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model: Any
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                model_dir, local_files_only=True, attn_implementation="eager"
            )
        except (OSError, ValueError) as err:
            raise InputError(
                f"{field}: cannot load a causal LM from {str(model_dir)!r} ({err})"
            ) from None
        if adapter_dirs:
            from peft import PeftModel

            first, *rest = adapter_dirs.items()
            try:
                with warnings.catch_warnings():
                    # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`;
                    # the warning is theirs to fix and says nothing to our users.
                    warnings.filterwarnings("ignore", _PEFT_DEPRECATION, FutureWarning)
                    model = PeftModel.from_pretrained(model, first[1], adapter_name=first[0])
                for name, path in rest:
                    model.load_adapter(str(path), adapter_name=name)
            except (OSError, ValueError, KeyError) as err:
                raise InputError(f"adapters: cannot load a LoRA adapter ({err})") from None
        model.eval()
        return tokenizer, model

    # -- the protocol -------------------------------------------------------------------

    def assets(self, event: HFEvent) -> dict[str, tuple[str, ...]]:
        """The assets ``event`` used, by stage (:data:`STAGES`; unused stages left out).

        Raises:
            InputError: If the event names an unknown prompt or adapter, or is not an
                :class:`~offchain.attribution.hf.events.HFEvent`.
        """
        self._check_event(event)
        out: dict[str, tuple[str, ...]] = {}
        if self.datasets:
            out[DATA_STAGE] = self.datasets
        out["base_model"] = (self.base_id,)
        if event.adapter is not None:
            out["adapter"] = (event.adapter,)
        if event.prompt is not None:
            out["prompt"] = (event.prompt,)
        return out

    def asset_game(self, event: HFEvent, *, free_disposal: bool = True) -> PipelineGame:
        """The game over every asset ``event`` used (see the module for the counterfactuals).

        Worths read the scores :meth:`score` cached; an event not scored yet is scored
        alone on first use.
        """
        players = [a for ids in self.assets(event).values() for a in ids]
        return PipelineGame(
            players, lambda coalition: self.worth(event, coalition), free_disposal=free_disposal
        )

    def influence(
        self, events: Sequence[HFEvent], *, projection_dim: int | None = None
    ) -> GroupedScores:
        r"""TracIn of each dataset's training examples for each event, summed per dataset.

        The sums, per dataset, of :meth:`example_influence`'s rows (see there for the
        score, the projection and the cache).

        Returns:
            One row per event, one column per dataset (:attr:`datasets`' order), the
            sums of its examples' scores (``how="sum"``).

        Raises:
            AttributionError: If the datasets were given as bare ids (no examples), or
                ``gradient_params="lora"`` meets an event without an adapter.
            InputError: If an event is malformed or ``projection_dim`` is not a
                positive int.
        """
        scores = self.example_influence(events, projection_dim=projection_dim)
        if self._members is None:
            # Once: finding 100,000 examples' datasets took 16 ms of a 39 ms query.
            self._members = _group_members(self.example_datasets)
        # The examples are read dataset by dataset, so the groups appear in datasets' order.
        return _aggregate(scores, *self._members, "sum")

    @property
    def example_datasets(self) -> tuple[str, ...]:
        """The dataset of each training example (:meth:`example_influence`'s columns).

        Empty when the datasets were given as bare ids.
        """
        return () if self._train is None else tuple(self._train[2])

    @property
    def example_tensors(self) -> tuple[Tensor, Tensor] | None:
        """The training examples as the pipeline encodes them: ``(n, 2, L)`` inputs, ``(n, L)``
        targets, the rows of :meth:`example_influence`'s columns and what
        :func:`~offchain.attribution.hf.retrain.train` reads (None for bare dataset ids).
        """
        return None if self._train is None else (self._train[0], self._train[1])

    def example_influence(
        self, events: Sequence[HFEvent], *, projection_dim: int | None = None
    ) -> NDArray[np.float64]:
        r"""TracIn of every training example for each event: the data stage's per-example scores.

        The score of training example :math:`z` for event :math:`e` is
        :math:`\nabla_\theta \ell(z) \cdot \nabla_\theta \ell(e)` at the model's
        weights (one checkpoint, weight 1), over the parameters
        :attr:`gradient_params` selects: :math:`\ell(z)` is the summed token
        negative log-likelihood of the example (its begin-of-sequence token as
        context, truncated to :attr:`max_length` tokens), taken with the adapters
        disabled, the model the datasets trained; :math:`\ell(e)` is the event's
        output tokens' under its full pipeline (its prompt template and adapter), the
        output that earned the money. Since a LoRA update is additive, the gradient
        with respect to a base weight under the adapter is taken at the shifted
        weight (:class:`~offchain.attribution.tda.TracIn`'s ``test_checkpoints``).

        With ``gradient_params="lora"`` both gradients are taken with the event's
        adapter active, over its LoRA factors :math:`A, B`, whose gradients are
        :math:`B^\top G` and :math:`G A^\top` for the adapted weight's gradient
        :math:`G`: a rank-:math:`r` view of the targeted weights' gradients, cheap
        and meaningful when the adapter is trained (an untrained :math:`B = 0` gives
        :math:`A` no gradient) and when the datasets shaped what the adapter reads;
        events without an adapter cannot be scored this way.

        ``projection_dim=None`` gives exact scores (the training gradients are stored
        whole: ``4 * n_examples * n_params`` bytes); otherwise
        :class:`~offchain.attribution.tda.ProjectedTracIn` with :attr:`projection`,
        seeded by :attr:`seed`. The training side is indexed once per setting and, with
        a ``cache_dir``, stored on disk under a content key: the SHA-256 of the model's
        weights, each dataset's bytes and reading settings, the tokenized examples, the
        parameter names, the adapter, the projection and its dimension, the seed,
        :attr:`max_length` and the cache's format version. A rerun with the same inputs
        reads the file, memory-mapped (:class:`~offchain.attribution.hf._gradients.FeatureCache`);
        a file whose payload does not match its recorded hash (torn, truncated, edited)
        is recomputed and replaced, never trusted.

        Returns:
            One row per event, one column per training example (the datasets' examples
            in :attr:`datasets`' order, each file's in its order; their datasets are
            :attr:`example_datasets`).

        Raises:
            AttributionError: If the datasets were given as bare ids (no examples), or
                ``gradient_params="lora"`` meets an event without an adapter.
            InputError: If an event is malformed or ``projection_dim`` is not a
                positive int.
        """
        for event in events:
            self._check_event(event)
        if self._train is None:
            raise AttributionError(
                "HFPipeline.influence: the datasets were given as bare ids, so the pipeline "
                "has no training examples to score; give each dataset's file "
                "(datasets={id: TrainingSet(path)}) or use method='shapley' or 'owen', "
                "which share the data stage's part equally among the datasets"
            )
        if projection_dim is not None and (
            isinstance(projection_dim, bool)
            or not isinstance(projection_dim, int)
            or projection_dim < 1
        ):
            raise InputError(
                f"projection_dim: must be a positive int or None, got {projection_dim!r}"
            )
        values = np.zeros((len(events), len(self._train[2])))
        by_adapter: dict[str | None, list[int]] = {}
        for i, event in enumerate(events):
            by_adapter.setdefault(event.adapter, []).append(i)
        for adapter, indices in by_adapter.items():
            if self.gradient_params == "lora" and adapter is None:
                raise AttributionError(
                    f"event {events[indices[0]].id!r}: gradient_params='lora' attributes "
                    "through the event's adapter, and it used none"
                )
            key = adapter if self.gradient_params == "lora" else None
            estimator, train = self._indexed(key, projection_dim)
            chunk = [events[i] for i in indices]
            rows = [(self._context_ids(e, prompt=True), self._output_ids(e)) for e in chunk]
            self._check_lengths(chunk, [len(c) + len(o) for c, o in rows])
            x, y = encode(rows)
            with self._adapter(adapter):
                if train is not None:
                    scores = TracIn.score_features(estimator.features(x, y, test=True), train)
                else:
                    scores = estimator.score(x, y)
            values[indices] = np.asarray(scores, dtype=np.float64)
        return values

    def _indexed(self, adapter: str | None, dim: int | None) -> tuple[Any, Tensor | None]:
        """The fitted estimator of one setting (and the exact training features)."""
        index = (adapter, dim, self.seed)
        if index in self._indexes:
            return self._indexes[index]
        assert self._train is not None
        inputs, targets, _ = self._train
        names = select_params(self.model, self.gradient_params, adapter)
        wrapper = LogitsOf(self.model)
        params = [PREFIX + n for n in names]
        own = dict(wrapper.named_parameters())
        checkpoint = Checkpoint({p: own[p].detach() for p in params})
        estimator: TracIn | ProjectedTracIn
        if dim is None:
            estimator = TracIn(
                wrapper, [checkpoint], token_nll, params=params, batch_size=self.batch_size
            )
        else:
            estimator = ProjectedTracIn(
                wrapper,
                [checkpoint],
                token_nll,
                projection_dim=dim,
                seed=self.seed,
                projection=self.projection,
                params=params,
                batch_size=self.batch_size,
                factor_dim=self.factor_dim,
                vocab_factor_dim=self.vocab_factor_dim,
                vocab_buckets=self.vocab_buckets,
            )
        key = None
        if self.cache is not None:
            key = self.cache.key(self._cache_parts(names, adapter, estimator))
            stored = self.cache.load(key)
            if stored is not None:
                restored = _restore(
                    estimator, stored, len(inputs), sum(own[p].numel() for p in params)
                )
                if restored is not None:
                    self._indexes[index] = restored
                    return restored
        n = len(inputs)
        self.progress.step(
            f"indexing training gradients: {n} examples of {len(self.datasets)} datasets, "
            f"{len(names)} parameter tensors"
            + ("" if adapter is None else f" of adapter {adapter!r}")
            + ("" if dim is None else f", projected to {dim} ({self.projection})")
        )
        train: Tensor | None = None
        with self._adapter(adapter), self.progress.bar("training gradients", n) as advance:
            if isinstance(estimator, TracIn):
                train = estimator.features(inputs, targets, advance=advance)
                arrays = {"features": train.numpy()}
            else:
                estimator.fit(inputs, targets, advance=advance)
                arrays = estimator.state()
        if self.cache is not None and key is not None:
            self.cache.store(key, arrays)
        self._indexes[index] = (estimator, train)
        return estimator, train

    def _cache_parts(
        self, names: Sequence[str], adapter: str | None, estimator: TracIn | ProjectedTracIn
    ) -> dict[str, Any]:
        assert self._train is not None
        if self._weights is None:
            self._weights = weights_digest(self.model)
        projection: dict[str, Any] | None = None
        if isinstance(estimator, ProjectedTracIn):
            projection = {
                "kind": estimator.projection,
                "dim": estimator.projection_dim,
                "basis_size": estimator.basis_size,
            }
            if estimator.projection in ("factored", "factored-vocab"):
                # Only here: the keys of the other projections' files stay as they were.
                projection["factor_dim"] = estimator.factor_dim
            if estimator.projection == "factored-vocab":
                projection["vocab_factor_dim"] = estimator.vocab_factor_dim
                projection["vocab_buckets"] = estimator.vocab_buckets
        return {
            "weights": self._weights,
            "datasets": [
                [d, dataset_digest(spec), spec.resolved_format, spec.text_field, spec.max_examples]
                for d, spec in self._specs.items()
                if spec is not None
            ],
            "tokens": hashlib.sha256(self._train[0].numpy().tobytes()).hexdigest(),
            "params": list(names),
            "adapter": adapter,
            "projection": projection,
            "seed": self.seed,
            "max_length": self.max_length,
        }

    def _read_training_sets(self) -> tuple[Tensor, Tensor, list[str]] | None:
        """Every dataset's examples, tokenized: inputs, targets and dataset of each row."""
        if not self._specs or any(spec is None for spec in self._specs.values()):
            return None
        start = self.tokenizer.bos_token_id
        if start is None:
            start = self.tokenizer.eos_token_id
        rows: list[tuple[list[int], list[int]]] = []
        groups: list[str] = []
        for dataset, spec in self._specs.items():
            assert spec is not None
            texts = read_examples(dataset, spec)
            # One call per dataset: fast tokenizers batch it in Rust.
            encoded: list[list[int]] = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            for i, (text, ids) in enumerate(zip(texts, encoded, strict=True)):
                tokens = ([] if start is None else [start]) + ids
                if len(tokens) < 2:
                    raise InputError(
                        f"dataset {dataset!r}: {str(spec.path)!r} example {i + 1}: "
                        f"no token to score in {text!r}"
                    )
                rows.append(([], tokens[: self.max_length]))
                groups.append(dataset)
        inputs, targets = encode(rows)
        return inputs, targets, groups

    # -- scoring ------------------------------------------------------------------------

    def worth(self, event: HFEvent, coalition: frozenset[str]) -> float:
        """:math:`u(S)`: the utility of ``event``'s output under the pipeline of ``coalition``.

        Raises:
            InputError: If ``coalition`` holds an asset the event did not use.
        """
        used = {a for ids in self.assets(event).values() for a in ids}
        extra = coalition - used
        if extra:
            raise InputError(f"coalition: {sorted(extra)} not used by event {event.id!r}")
        prompt = event.prompt is not None and event.prompt in coalition
        # The pipeline configuration the coalition runs; its utility is computed once:
        # a game asks for the same few configurations hundreds of times (with free
        # disposal a coalition is worth the best of its subsets).
        config: tuple[Any, ...]
        if self.retrain is not None:
            subset = frozenset(coalition.intersection(self.datasets))
            empty = self.base_id not in coalition or not subset
            config = ("retrained", subset, prompt)
        else:
            empty = self.base_id not in coalition or not coalition.issuperset(self.datasets)
            adapter = event.adapter is not None and event.adapter in coalition
            config = ("model", adapter, prompt)
        key = (event, ("empty",) if empty else config)
        value = self._worths.get(key)
        if value is not None:
            return value
        reference = self.reference_log_probs(event)
        scores = reference
        if empty:
            pass
        elif config[0] == "retrained":
            key3 = (event, subset, prompt)
            if key3 not in self._subset_scores:
                model = self.retrained(subset)
                (self._subset_scores[key3],) = self._forward(model, [event], prompt=prompt)
            scores = self._subset_scores[key3]
        else:
            if (event, adapter, prompt) not in self._scores:
                self._fill([event], adapter=adapter, prompt=prompt)
            scores = self._scores[(event, adapter, prompt)]
        value = self._worths[key] = utility(self.utility, scores, reference)
        return value

    def retrained(self, datasets: Iterable[str]) -> Any:
        """The model the ``retrain`` recipe trains on ``datasets``' examples (cached).

        Args:
            datasets: A non-empty set of this pipeline's dataset ids.

        Raises:
            InputError: If no recipe is configured, or ``datasets`` is empty or names
                an unknown dataset.
        """
        subset = frozenset(datasets)
        if self.retrain is None:
            raise InputError("retrain: no recipe configured (HFPipeline(retrain=...))")
        unknown = sorted(subset.difference(self.datasets))
        if not subset or unknown:
            raise InputError(f"datasets: need known dataset ids, got {sorted(subset)}")
        if subset not in self._retrained:
            assert self._train is not None
            inputs, targets, groups = self._train
            rows = torch.tensor([g in subset for g in groups])
            self.progress.step(f"retraining on {sorted(subset)} ({int(rows.sum())} examples)")
            self._retrained[subset] = train(
                self.model.config, inputs[rows], targets[rows], self.retrain
            )
        return self._retrained[subset]

    def reference_log_probs(self, event: HFEvent) -> NDArray[np.float64]:
        """The empty pipeline's log-probability of each output token.

        ``-log V`` without a reference model; else the reference model's, reading the
        request in the neutral template (cached like :meth:`score`'s).
        """
        if self.reference_model is None:
            return np.full(len(self._output_ids(event)), -math.log(self.vocab_size))
        key = (event, False, None)
        if key not in self._scores:
            self._fill_reference([event])
        return self._scores[key]

    def _fill_reference(self, events: Sequence[HFEvent]) -> None:
        for start in range(0, len(events), self.batch_size):
            chunk = events[start : start + self.batch_size]
            scores = self._forward(self.reference_model, chunk, prompt=False)
            for event, s in zip(chunk, scores, strict=True):
                self._scores[(event, False, None)] = s

    def score(self, events: Sequence[HFEvent]) -> None:
        """Score every counterfactual configuration of ``events`` in batches, and cache it.

        One forward pass per configuration (adapter on or off, prompt or neutral
        template) per batch of :attr:`batch_size` events using the same adapter, and
        one per batch through the reference model if there is one.
        The games of these events then run no model.

        Raises:
            InputError: If an event is malformed or too long for the model.
        """
        for event in events:
            self._check_event(event)
        for adapter in (True, False):
            for prompt in (True, False):
                todo = [
                    e
                    for e in events
                    if (e, adapter and e.adapter is not None, prompt and e.prompt is not None)
                    not in self._scores
                ]
                self._fill(todo, adapter=adapter, prompt=prompt)
        if self.reference_model is not None:
            self._fill_reference([e for e in events if (e, False, None) not in self._scores])

    def token_log_probs(
        self, events: Sequence[HFEvent], *, adapter: bool = True, prompt: bool = True
    ) -> list[NDArray[np.float64]]:
        """``log p(y_t | x, y_<t)`` of each output token of each event, batched.

        Args:
            events: Events to score.
            adapter: Use each event's adapter (else the base model alone).
            prompt: Fill each event's prompt template (else the neutral template).

        Returns:
            One float64 array per event, one entry per output token.

        Raises:
            InputError: If an event is malformed or too long for the model.
        """
        out: list[NDArray[np.float64]] = [np.empty(0)] * len(events)
        for event in events:
            self._check_event(event)
        groups: dict[str | None, list[int]] = {}
        for i, e in enumerate(events):
            groups.setdefault(e.adapter if adapter else None, []).append(i)
        for name, indices in groups.items():
            with self._adapter(name):
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    scores = self._forward(self.model, [events[i] for i in chunk], prompt=prompt)
                    for i, s in zip(chunk, scores, strict=True):
                        out[i] = s
        return out

    def _fill(self, events: Sequence[HFEvent], *, adapter: bool, prompt: bool) -> None:
        if not events:
            return
        for event, scores in zip(
            events, self.token_log_probs(events, adapter=adapter, prompt=prompt), strict=True
        ):
            key = (
                event,
                adapter and event.adapter is not None,
                prompt and event.prompt is not None,
            )
            self._scores[key] = scores

    @contextmanager
    def _adapter(self, name: str | None) -> Iterator[None]:
        """The model with adapter ``name`` active, or with every adapter disabled."""
        if not self.adapters:
            yield
            return
        if name is None:
            with self.model.disable_adapter():
                yield
            return
        self.model.set_adapter(name)
        yield

    def _context_ids(self, event: HFEvent, *, prompt: bool) -> list[int]:
        template = self.prompts[event.prompt] if prompt and event.prompt else self.neutral_template
        ids: list[int] = self.tokenizer(
            template.replace(SLOT, event.request), add_special_tokens=True
        )["input_ids"]
        # The first output token needs a context to be predicted after; a model's own
        # begin-of-sequence token is the context of an empty request.
        start = self.tokenizer.bos_token_id
        if start is None:
            start = self.tokenizer.eos_token_id
        if start is not None and (not ids or ids[0] != start):
            ids = [start, *ids]
        if not ids:
            raise InputError(
                f"event {event.id!r}: empty context and the tokenizer has no bos or eos token"
            )
        return ids

    def _output_ids(self, event: HFEvent) -> list[int]:
        # Kept per event: the games ask for the reference of the same output many times.
        ids = self._outputs.get(event)
        if ids is None:
            ids = self.tokenizer(event.text, add_special_tokens=False)["input_ids"]
            if not ids:
                raise InputError(f"event {event.id!r}: text: no tokens in {event.text!r}")
            self._outputs[event] = ids
        return list(ids)

    def _check_lengths(self, events: Sequence[HFEvent], lengths: Sequence[int]) -> None:
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for e, n in zip(events, lengths, strict=True):
            if limit is not None and n > limit:
                raise InputError(f"event {e.id!r}: {n} tokens, over the model's {limit}")

    def _forward(
        self, model: Any, events: Sequence[HFEvent], *, prompt: bool
    ) -> list[NDArray[np.float64]]:
        rows = []
        for e in events:
            context, output = self._context_ids(e, prompt=prompt), self._output_ids(e)
            rows.append((context, output))
        lengths = [len(c) + len(o) for c, o in rows]
        self._check_lengths(events, lengths)
        width = max(lengths)
        # Right padding: a causal model's real tokens never attend to the pads after
        # them, and their positions stay 0..n-1, so a batch scores as each row alone.
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (c, o) in enumerate(rows):
            ids[i, : len(c) + len(o)] = torch.tensor(c + o)
            mask[i, : len(c) + len(o)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask).logits
        out = []
        for i, (c, o) in enumerate(rows):
            # Position p predicts token p + 1: the output tokens are predicted from the
            # last context token up to the second-to-last output token.
            steps = logits[i, len(c) - 1 : len(c) + len(o) - 1].double()
            logp = torch.log_softmax(steps, dim=-1)
            picked = logp.gather(1, torch.tensor(o).unsqueeze(1)).squeeze(1)
            out.append(picked.numpy().astype(np.float64))
        return out

    def _check_event(self, event: HFEvent) -> None:
        if not isinstance(event, HFEvent):
            raise InputError(f"event: expected an HFEvent, got {type(event).__name__}")
        if event.prompt is not None and event.prompt not in self.prompts:
            raise InputError(f"event {event.id!r}: prompt: unknown id {event.prompt!r}")
        if event.adapter is not None and event.adapter not in self.adapters:
            raise InputError(f"event {event.id!r}: adapter: unknown id {event.adapter!r}")


def _training_sets(
    datasets: Mapping[str, TrainingSet | str | Path] | Sequence[str],
) -> dict[str, TrainingSet | None]:
    """Dataset id -> its training set (None for a bare id), checked."""
    if isinstance(datasets, str):
        raise InputError(f"datasets: expected ids or id -> file, got the string {datasets!r}")
    if not isinstance(datasets, Mapping):
        return dict.fromkeys(datasets)
    out: dict[str, TrainingSet | None] = {}
    for dataset, spec in datasets.items():
        if isinstance(spec, (str, Path)):
            spec = TrainingSet(Path(spec))
        if not isinstance(spec, TrainingSet):
            raise InputError(
                f"datasets[{dataset!r}]: expected a TrainingSet or a path, got {spec!r}"
            )
        out[dataset] = spec
    return out


def _restore(
    estimator: TracIn | ProjectedTracIn, stored: Mapping[str, np.ndarray], n: int, dim: int
) -> tuple[Any, Tensor | None] | None:
    """The estimator fitted from a cache file's arrays, or None if they do not fit."""
    features = stored.get("features")
    if not isinstance(features, np.ndarray) or features.shape[0] != n:
        return None
    if isinstance(estimator, TracIn):
        if features.shape != (n, dim) or features.dtype != np.float32:
            return None
        return estimator, torch.from_numpy(features)
    try:
        return estimator.restore(stored), None
    except InputError:
        return None


def _check_retrain(recipe: RetrainRecipe, pipe: HFPipeline) -> None:
    if not isinstance(recipe, RetrainRecipe):
        raise InputError(f"retrain: expected a RetrainRecipe or None, got {recipe!r}")
    if pipe.adapters:
        raise InputError(
            "retrain: exact retraining is for pipelines without adapters (an adapter was "
            f"trained on the served model, not on a retrained one), got {list(pipe.adapters)}"
        )
    if not pipe.datasets or pipe._train is None:
        raise InputError("retrain: needs the datasets' files (datasets={id: TrainingSet(path)})")
    if len(pipe.datasets) > recipe.max_datasets:
        raise InputError(
            f"retrain: {len(pipe.datasets)} datasets would need {2 ** len(pipe.datasets) - 1} "
            f"models, over max_datasets={recipe.max_datasets}"
        )
