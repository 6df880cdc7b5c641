"""The ``ame.pipeline/1`` configuration file: an :class:`HFPipeline` and how it attributes.

What ``ame attribute --pipeline FILE --events LOG`` reads. YAML (``.yaml``/``.yml``) or
JSON, read through the guarded parser (:func:`~ame_core.documents.read_document`) with
repeated keys refused, then validated in one pass: every problem is reported as
``<field path>: <reason>`` (``datasets['dataset:wiki'].max_examples: ...``) and nothing
is loaded until the whole file is valid. A relative path in the file is resolved against
the file's own directory, never the working directory, so a configuration and the models
beside it can be moved together. Example (every field but ``format`` and ``model`` is
optional; the values shown for ``attribution`` are the defaults)::

    format: ame.pipeline/1
    id: my-market                    # names the inputs in the values document
    model: models/tiny-gpt2          # save_pretrained directory: model and tokenizer
    base_model: base_model           # the base model's asset id
    reference_model: models/commodity
    adapters: {"adapter:poetry": adapters/poetry}
    prompts: {"prompt:story": "Tell a story about {request}:"}
    neutral_template: "{request}"
    datasets:
      "dataset:wiki": data/wiki.txt                  # a path: format auto
      "dataset:books": {path: data/books.jsonl, format: jsonl, text_field: body,
                        max_examples: 10000}
    max_length: 128
    cache_dir: cache/tracin
    attribution:
      method: shapley                # shapley, owen, tracin, tracin-projected
      utility: loglik-prefix
      gradient_params: all           # all, last-layer, lora, or a list of patterns
      projection: factored-vocab     # factored-vocab, subspace, factored, gaussian, rademacher,
                                     # countsketch
      projection_dim: 64
      factor_dim: 64                 # for factored-vocab and factored
      vocab_factor_dim: 16           # for factored-vocab
      vocab_buckets: 8192            # for factored-vocab
      seed: 0
      batch_size: 8
    retrain: {steps: 100, learning_rate: 0.01, batch_size: 16, seed: 0}

:func:`load_pipeline_config` reads and validates a file; :func:`build_pipeline` loads
the :class:`~offchain.attribution.hf.pipeline.HFPipeline` it describes (the field
meanings are that class's arguments), and :func:`attribute_events` runs the whole
attribution of an event log into the ``ame.values/1`` document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.documents import read_document
from ame_core.exceptions import InputError
from ame_core.files import content_digest
from ame_core.progress import Progress, quiet_progress
from ame_core.validation import error_reason, field_path, format_problems, show_value
from offchain.attribution._threads import torch_threads

if TYPE_CHECKING:
    from offchain.attribution.batch import BatchExecutor
    from offchain.attribution.hf.events import HFEvent
    from offchain.attribution.hf.pipeline import HFPipeline
    from offchain.attribution.multistage import MultiStageResult

__all__ = [
    "PIPELINE_FORMAT",
    "PIPELINE_SCHEMA",
    "AttributionSettings",
    "DatasetConfig",
    "HFBatchSpec",
    "PipelineConfig",
    "RetrainConfig",
    "asset_hashes",
    "attribute_events",
    "build_pipeline",
    "check_events",
    "inputs_digest",
    "load_pipeline_config",
    "parse_pipeline_config",
    "pipeline_schema",
    "record_lines",
    "reference_model_hash",
]

#: Format tag of the configuration file.
PIPELINE_FORMAT: Final = "ame.pipeline/1"
#: The JSON Schema of the configuration file, shipped beside this module: the bytes of
#: :func:`pipeline_schema`, rewritten with ``PIPELINE_SCHEMA.write_bytes(pipeline_schema())``.
PIPELINE_SCHEMA: Final = Path(__file__).with_name("ame.pipeline-1.schema.json")

_SLOT = "{request}"
# Fields whose keys are asset ids (data, quoted in paths), not field names.
_KEYED = ("adapters", "prompts", "datasets")

_Id = Annotated[StrictStr, Field(min_length=1)]
_Path = Annotated[StrictStr, Field(min_length=1)]
_Count = Annotated[StrictInt, Field(ge=1)]
_Seed = Annotated[StrictInt, Field(ge=0)]
_Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _template(value: str) -> str:
    if _SLOT not in value:
        raise ValueError(f"a template must hold the {_SLOT} slot, got {show_value(value)}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DatasetConfig(_Section):
    """One dataset of the data stage (:class:`~offchain.attribution.hf.TrainingSet`).

    Attributes:
        path: The file or saved ``datasets`` directory, relative to the configuration.
        format: ``auto``, ``text``, ``jsonl`` or ``disk``.
        text_field: The JSON key or column holding each example.
        max_examples: At most this many examples are read.
    """

    path: _Path
    format: Literal["auto", "text", "jsonl", "disk"] = "auto"
    text_field: _Id = "text"
    max_examples: _Count = 100_000


class AttributionSettings(_Section):
    """How revenue is split (:class:`~offchain.attribution.MultiStageAttribution`).

    Attributes:
        method: ``shapley``, ``owen``, ``tracin`` or ``tracin-projected``.
        utility: How a coalition's output is scored (:data:`~offchain.attribution.UTILITIES`).
        gradient_params: ``all``, ``last-layer``, ``lora`` or a list of name patterns.
        projection: ``factored-vocab`` (default), ``factored``, ``subspace``,
            ``gaussian``, ``rademacher`` or ``countsketch``.
        projection_dim: Dimension of ``tracin-projected`` (64: at this dimension the
            default projection matched exact TracIn's LDS on ``bench/lds.py`` and scores
            one event against 100,000 examples within 20 ms; see docs/attribution.md).
        factor_dim: For ``factored-vocab`` and ``factored``: the rank of each
            parameter's Kronecker factors.
        vocab_factor_dim: For ``factored-vocab``: the rank an embedding table's columns
            are projected to, its rows (one per token) kept apart.
        vocab_buckets: For ``factored-vocab``: an embedding table of more rows than
            this has them count-sketched into this many buckets.
        seed: Seed of sampled valuations and of the projection.
        batch_size: Events per forward pass; examples per gradient batch.
    """

    method: Literal["shapley", "owen", "tracin", "tracin-projected"] = "shapley"
    utility: Literal["loglik", "loglik-prefix", "loglik-floored"] = "loglik-prefix"
    gradient_params: (
        Literal["all", "last-layer", "lora"] | Annotated[list[_Id], Field(min_length=1)]
    ) = "all"
    projection: Literal[
        "factored-vocab", "factored", "subspace", "gaussian", "rademacher", "countsketch"
    ] = "factored-vocab"
    projection_dim: _Count = 64
    factor_dim: _Count = 64
    vocab_factor_dim: _Count = 16
    vocab_buckets: _Count = 8192
    seed: _Seed = 0
    batch_size: _Count = 8


class RetrainConfig(_Section):
    """Exact retraining per subset of the datasets (:class:`~offchain.attribution.hf.RetrainRecipe`).

    Attributes:
        steps: Optimiser steps.
        learning_rate: AdamW's learning rate.
        batch_size: Examples per step.
        weight_decay: AdamW's weight decay.
        seed: Seeds the initial weights and the batches.
        max_datasets: Refuse more datasets than this.
    """

    steps: _Count = 100
    learning_rate: _Rate = 1e-2
    batch_size: _Count = 16
    weight_decay: _Rate = 0.0
    seed: _Seed = 0
    max_datasets: _Count = 6


class PipelineConfig(_Section):
    """A validated ``ame.pipeline/1`` document (see the module), its paths resolved.

    Attributes:
        format: ``ame.pipeline/1``.
        id: Names the attribution's inputs in the values document.
        model: Directory of the causal LM and its tokenizer.
        base_model: The base model's asset id.
        reference_model: Directory of the reference model, or None (uniform).
        adapters: Adapter id -> directory of a LoRA adapter.
        prompts: Prompt id -> template with a ``{request}`` slot.
        neutral_template: The template of a coalition without the event's prompt.
        datasets: Dataset id -> its file and how to read it.
        max_length: Tokens per training example, or None (the model's maximum).
        cache_dir: Directory of the training-feature cache, or None (memory only).
        attribution: How revenue is split.
        retrain: Exact retraining per subset, or None.
    """

    format: Literal["ame.pipeline/1"]
    id: _Id = "pipeline"
    model: _Path
    base_model: _Id = "base_model"
    reference_model: _Path | None = None
    adapters: dict[_Id, _Path] = Field(default_factory=dict)
    prompts: dict[_Id, StrictStr] = Field(default_factory=dict)
    neutral_template: StrictStr = _SLOT
    datasets: dict[_Id, DatasetConfig] = Field(default_factory=dict)
    max_length: Annotated[StrictInt, Field(ge=2)] | None = None
    cache_dir: _Path | None = None
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    retrain: RetrainConfig | None = None

    @field_validator("datasets", mode="before")
    @classmethod
    def _bare_paths(cls, value: object) -> object:
        # A dataset given as a path alone is read with the default settings.
        if isinstance(value, Mapping):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("prompts")
    @classmethod
    def _prompt_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for template in value.values():
            _template(template)
        return value

    @field_validator("neutral_template")
    @classmethod
    def _neutral(cls, value: str) -> str:
        return _template(value)

    def asset_ids(self) -> list[str]:
        """Every asset id, base model first (the pipeline refuses repeats)."""
        return [self.base_model, *self.datasets, *self.adapters, *self.prompts]


def parse_pipeline_config(
    data: object, *, source: str = "<pipeline>", base_dir: str | Path | None = None
) -> PipelineConfig:
    """Validate an ``ame.pipeline/1`` document already read into Python objects.

    Args:
        data: The parsed document.
        source: Where it came from, for messages.
        base_dir: Directory relative paths are resolved against; None leaves them as
            written (and checks no path on disk).

    Returns:
        The configuration, every path absolute when ``base_dir`` is given.

    Raises:
        InputError: If anything is malformed: the message starts with ``source`` and
            lists every problem as ``<field path>: <reason>``; with ``base_dir``, a model
            or adapter that is not a directory and a dataset that does not exist too.
    """
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: a pipeline configuration must be a mapping, got {type(data).__name__}"
        )
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as err:
        lines = [f"{_path(e['loc'])}: {error_reason(e)}" for e in err.errors()]
        raise InputError(format_problems(source, lines, inline_single=True)) from None
    problems = list(_repeated_ids(config))
    if base_dir is not None:
        config = _resolved(config, Path(base_dir))
        problems += list(_missing_paths(config))
    if problems:
        raise InputError(format_problems(source, problems, inline_single=True))
    return config


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    """Read and validate an ``ame.pipeline/1`` file (YAML for ``.yaml``/``.yml``, else JSON).

    Args:
        path: The file; its relative paths are resolved against its directory.

    Returns:
        The configuration, its paths absolute and checked on disk.

    Raises:
        InputError: If the file cannot be read or parsed, repeats a key, or is invalid
            (as :func:`parse_pipeline_config`).
    """
    file = Path(path)
    data = read_document(file, decimals=False, unique_keys=True)
    return parse_pipeline_config(data, source=str(file), base_dir=file.resolve().parent)


def asset_hashes(config: PipelineConfig) -> dict[str, str]:
    """The content hash of every asset a configuration names, as a registry writes it.

    ``"sha256:<hex>"`` of what each asset is: the base model's and each adapter's
    directory and each dataset's file or directory (:func:`~ame_core.files.content_digest`:
    every file with its relative path and length), each prompt's template text.

    Raises:
        InputError: If a file cannot be read.
    """
    paths = {config.base_model: config.model}
    paths.update(config.adapters)
    paths.update({d: spec.path for d, spec in config.datasets.items()})
    out = {}
    for asset, path in paths.items():
        try:
            out[asset] = "sha256:" + content_digest(path)
        except OSError as err:
            raise InputError(
                f"{asset}: cannot read {str(path)!r} ({err.strerror or err})"
            ) from None
    for prompt, template in config.prompts.items():
        out[prompt] = "sha256:" + hashlib.sha256(template.encode()).hexdigest()
    return out


def reference_model_hash(config: PipelineConfig) -> str | None:
    """``"sha256:<hex>"`` of the reference model's directory, or None when it has none.

    Raises:
        InputError: If a file cannot be read.
    """
    if config.reference_model is None:
        return None
    try:
        return "sha256:" + content_digest(config.reference_model)
    except OSError as err:
        raise InputError(
            f"reference_model: cannot read {str(config.reference_model)!r} ({err.strerror or err})"
        ) from None


def record_lines(
    config: PipelineConfig,
    result: MultiStageResult,
    *,
    epoch: int = 0,
    inputs: tuple[str, str] | None = None,
) -> Iterator[bytes]:
    """The ``ame.attribution/1`` record of an attribution by this configuration, line by line.

    :func:`offchain.attribution.record.iter_record_lines` with :func:`asset_hashes` and,
    as the pipeline, the whole configuration (utility, counterfactual template and
    reference model, attribution and retraining settings), the reference model's content
    hash (:func:`reference_model_hash`, under ``reference_model``) and the inputs' digest.

    Args:
        config: The configuration the events were attributed with.
        result: Their attribution (:func:`attribute_events`).
        epoch: Epoch of the values document the record explains.
        inputs: ``(id, sha256)`` naming the inputs (:func:`inputs_digest`), or None.

    Raises:
        InputError: If an asset's files cannot be read.
    """
    from offchain.attribution.record import iter_record_lines

    pipeline: dict[str, Any] = {"kind": "hf", "config": config.model_dump(mode="json")}
    reference = reference_model_hash(config)
    if reference is not None:
        # Not an asset (nobody is paid for it), yet every base-model worth is measured
        # against it: its weights are bound by hash like the assets'.
        pipeline["reference_model"] = reference
    if inputs is not None:
        pipeline["inputs"] = {"id": inputs[0], "sha256": inputs[1]}
    return iter_record_lines(result, epoch=epoch, assets=asset_hashes(config), pipeline=pipeline)


def inputs_digest(path: str | Path, events: str | Path) -> str:
    """SHA-256 of a configuration file's bytes and an event log's, naming the inputs.

    Raises:
        InputError: If a file cannot be read.
    """
    digest = hashlib.sha256()
    for file in (Path(path), Path(events)):
        try:
            content = file.read_bytes()
        except OSError as err:
            raise InputError(f"{file}: cannot read: {err}") from None
        # Length-prefixed, so that moving bytes from one file to the other changes it.
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _path(loc: Sequence[int | str]) -> str:
    # An unknown key is the user's text: quoted unless it reads as a field name, so that
    # a key holding a line break or a dot cannot pass for another field.
    last = loc[-1] if loc else None
    if isinstance(last, str) and not last.isidentifier():
        head = field_path(loc[:-1], keyed=_KEYED)
        return f"{head}[{last!r}]" if head else repr(last)
    return field_path(loc, keyed=_KEYED) or "(document)"


def _repeated_ids(config: PipelineConfig) -> Iterator[str]:
    ids = config.asset_ids()
    for asset in sorted({i for i in ids if ids.count(i) > 1}):
        yield f"asset ids: {asset!r} names more than one asset (base_model, datasets, adapters, prompts)"


def _resolved(config: PipelineConfig, base: Path) -> PipelineConfig:
    def absolute(value: str) -> str:
        return str((base / Path(value).expanduser()).resolve())

    def maybe(value: str | None) -> str | None:
        return None if value is None else absolute(value)

    return config.model_copy(
        update={
            "model": absolute(config.model),
            "reference_model": maybe(config.reference_model),
            "adapters": {a: absolute(d) for a, d in config.adapters.items()},
            "datasets": {
                i: d.model_copy(update={"path": absolute(d.path)})
                for i, d in config.datasets.items()
            },
            "cache_dir": maybe(config.cache_dir),
        }
    )


def _missing_paths(config: PipelineConfig) -> Iterator[str]:
    directories: list[tuple[str, str | None]] = [
        ("model", config.model),
        ("reference_model", config.reference_model),
        *((field_path(["adapters", a], keyed=_KEYED), d) for a, d in config.adapters.items()),
    ]
    for field, directory in directories:
        if directory is not None and not Path(directory).is_dir():
            yield (
                f"{field}: {directory!r} is not a directory (models are loaded from disk "
                "only, never from a hub)"
            )
    for dataset, spec in config.datasets.items():
        if not Path(spec.path).exists():
            yield f"{field_path(['datasets', dataset, 'path'], keyed=_KEYED)}: {spec.path!r} does not exist"


def build_pipeline(config: PipelineConfig, *, progress: Progress = quiet_progress) -> HFPipeline:
    """Load the :class:`~offchain.attribution.hf.pipeline.HFPipeline` a configuration describes.

    Args:
        config: A configuration from :func:`load_pipeline_config` (paths absolute).
        progress: Reports the indexing of training gradients and retraining.

    Returns:
        The pipeline.

    Raises:
        InputError: If a model, adapter or dataset cannot be loaded or read.
    """
    # Imported here: validating a configuration costs pydantic, not torch.
    from offchain.attribution.hf.pipeline import HFPipeline
    from offchain.attribution.hf.retrain import RetrainRecipe
    from offchain.attribution.hf.training import TrainingSet

    settings = config.attribution
    retrain = None if config.retrain is None else RetrainRecipe(**config.retrain.model_dump())
    params = settings.gradient_params
    return HFPipeline(
        config.model,
        adapters=config.adapters,
        prompts=config.prompts,
        neutral_template=config.neutral_template,
        reference_model=config.reference_model,
        datasets={
            i: TrainingSet(Path(d.path), d.format, d.text_field, d.max_examples)
            for i, d in config.datasets.items()
        },
        base_id=config.base_model,
        utility=settings.utility,
        batch_size=settings.batch_size,
        seed=settings.seed,
        gradient_params=params if isinstance(params, str) else tuple(params),
        projection=settings.projection,
        factor_dim=settings.factor_dim,
        vocab_factor_dim=settings.vocab_factor_dim,
        vocab_buckets=settings.vocab_buckets,
        max_length=config.max_length,
        cache_dir=config.cache_dir,
        progress=progress,
        retrain=retrain,
    )


def check_events(config: PipelineConfig, events: Sequence[HFEvent], *, source: str) -> None:
    """Refuse events naming a prompt or adapter the configuration does not have.

    Raises:
        InputError: Listing every such event as ``<event id>: <field>: <reason>``.
    """
    problems = []
    for event in events:
        if event.prompt is not None and event.prompt not in config.prompts:
            problems.append(
                f"event {event.id!r}: prompt: {event.prompt!r} is not a configured prompt"
            )
        if event.adapter is not None and event.adapter not in config.adapters:
            problems.append(
                f"event {event.id!r}: adapter: {event.adapter!r} is not a configured adapter"
            )
    if problems:
        raise InputError(format_problems(source, problems, inline_single=True, limit=20))


def attribute_events(
    config: PipelineConfig,
    events: Sequence[HFEvent],
    *,
    epoch: int = 0,
    inputs: tuple[str, str] | None = None,
    progress: Progress = quiet_progress,
    pipeline: HFPipeline | None = None,
    executor: BatchExecutor | None = None,
    batch_size: int | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[MultiStageResult, dict[str, Any]]:
    """Attribute an event log with the configured pipeline: its values document.

    The phases, each reported to ``progress`` with a bar: indexing the training
    gradients (the ``tracin`` methods only; read from ``cache_dir`` when stored),
    scoring the events (batched forward passes), valuing them (the games). With an
    ``executor``, a ``batch_size`` or a ``checkpoint_dir``, the events go in batches
    through :func:`~offchain.attribution.batch.attribute_in_batches` (each worker loads
    the pipeline once and runs those phases on its batches); the values are the same
    bits either way, since both run one function on one torch thread.

    Args:
        config: The configuration (:func:`load_pipeline_config`).
        events: The log (:func:`~offchain.attribution.hf.events.load_events`).
        epoch: Epoch of the values document.
        inputs: ``(id, sha256)`` naming the inputs (:func:`inputs_digest`); None: the
            configuration's id and no digest is recorded.
        progress: Reports each phase.
        pipeline: The configuration's pipeline already loaded, used in this process;
            default one loaded here (or by each worker).
        executor: Where batches run (:mod:`offchain.attribution.batch`); None with no
            ``batch_size`` or ``checkpoint_dir``: everything in this process, at once.
        batch_size: Events per batch (default
            :data:`~offchain.attribution.batch.DEFAULT_BATCH_SIZE`).
        checkpoint_dir: Where finished batches are kept, to resume an interrupted run.

    Returns:
        The :class:`~offchain.attribution.MultiStageResult` and its ``ame.values/1``
        document (:func:`~offchain.attribution.values_document`).

    Raises:
        InputError: If an event names an unknown prompt or adapter (before any model
            loads), a model, adapter or dataset cannot be loaded, or ``pipeline`` is
            given with batches (a loaded pipeline does not travel to workers).
        AttributionError: If the executor cannot run (e.g. no scheduler answers).
    """
    from offchain.attribution.values import EventTerms, values_document

    check_events(config, events, source="events")
    batched = executor is not None or batch_size is not None or checkpoint_dir is not None
    if batched:
        from offchain.attribution.batch import DEFAULT_BATCH_SIZE, attribute_in_batches

        if pipeline is not None:
            raise InputError(
                "pipeline: a loaded pipeline is used in this process only; leave it out to "
                "attribute in batches (each worker loads its own)"
            )
        result = attribute_in_batches(
            HFBatchSpec.of(config),
            events,
            executor=executor,
            batch_size=DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
    else:
        pipe = build_pipeline(config, progress=progress) if pipeline is None else pipeline
        result = _attribute(config, pipe, events, progress)
    document = values_document(
        result,
        epoch=epoch,
        terms={e.id: EventTerms(e.commercial, e.date) for e in events},
        inputs=inputs,
    )
    return result, document


def _attribute(
    config: PipelineConfig,
    pipe: HFPipeline,
    events: Sequence[HFEvent],
    progress: Progress = quiet_progress,
) -> MultiStageResult:
    """Index, score and value ``events`` with a loaded pipeline (one process, one thread)."""
    from offchain.attribution.multistage import MultiStageAttribution

    settings = config.attribution
    # Built before any work, so that a bad setting fails at once.
    estimator = MultiStageAttribution(
        pipe, method=settings.method, seed=settings.seed, projection_dim=settings.projection_dim
    )
    with torch_threads(1):
        if settings.method in ("tracin", "tracin-projected") and pipe.datasets:
            dim = settings.projection_dim if settings.method == "tracin-projected" else None
            progress.step(f"indexing training gradients ({len(pipe.datasets)} datasets)")
            # One event indexes the training side for its adapter; the rest reuse the index.
            lora = settings.gradient_params == "lora"
            for adapter in sorted({e.adapter or "" for e in events if e.adapter or not lora}):
                first = next(e for e in events if (e.adapter or "") == adapter)
                pipe.influence([first], projection_dim=dim)
        progress.step(f"scoring {len(events)} events (batches of {settings.batch_size})")
        with progress.bar("scoring", len(events)) as advance:
            for start in range(0, len(events), settings.batch_size):
                batch = events[start : start + settings.batch_size]
                pipe.score(batch)
                advance(len(batch))
        progress.step(f"valuing {len(events)} events (within stages: {settings.method})")
        with progress.bar("valuing", len(events)) as advance:
            return estimator.fit(events, progress=lambda _i, _item: advance(1)).result


_HF_EVENT_FIELDS = ("id", "request", "prompt", "adapter", "text", "revenue", "commercial", "date")


@dataclass(frozen=True)
class HFBatchSpec:
    """An ``ame.pipeline/1`` configuration as batch work (:mod:`offchain.attribution.batch`).

    Its inputs are :class:`~offchain.attribution.hf.events.HFEvent`; a worker loads the
    pipeline once (:func:`build_pipeline`) and attributes each batch as
    :func:`attribute_events` does in one process. Build it with :meth:`of`, which
    digests the files the configuration names.

    Attributes:
        config: The configuration, paths absolute.
        files_sha256: Hex SHA-256 of the content of every model, adapter and dataset it
            names, so that a checkpoint is not reused after a file changed.
    """

    config: PipelineConfig
    files_sha256: str

    @classmethod
    def of(cls, config: PipelineConfig) -> HFBatchSpec:
        """The spec of ``config``, its files digested (read once, here).

        Raises:
            InputError: If a file cannot be read.
        """
        paths = [
            config.model,
            *([] if config.reference_model is None else [config.reference_model]),
            *config.adapters.values(),
            *(d.path for d in config.datasets.values()),
        ]
        digest = hashlib.sha256()
        for path in paths:
            try:
                digest.update(f"{path}\0{content_digest(path)}\0".encode())
            except OSError as err:
                raise InputError(f"{path}: cannot read: {err}") from None
        return cls(config, digest.hexdigest())

    def digest(self) -> str:
        """Hex SHA-256 of the configuration and its files' digest."""
        body = {"config": self.config.model_dump(mode="json"), "files": self.files_sha256}
        return sha256_hex(canonical_json(body))

    def load(self) -> _HFAttributor:
        """Load the pipeline (imports torch and transformers)."""
        return _HFAttributor(self.config, build_pipeline(self.config))

    def input_json(self, item: HFEvent) -> Any:
        """An event of the log as JSON data."""
        return self.event_json(item)

    def event_json(self, event: Any) -> Any:
        """An :class:`~offchain.attribution.hf.events.HFEvent` as JSON data."""
        data = {f: getattr(event, f) for f in _HF_EVENT_FIELDS}
        return {**data, "date": event.date.isoformat()}

    def event_from_json(self, data: Any) -> HFEvent:
        """The event :meth:`event_json` wrote.

        Raises:
            InputError: If ``data`` is not such an event.
        """
        from offchain.attribution.hf.events import HFEvent

        if not isinstance(data, dict) or sorted(data) != sorted(_HF_EVENT_FIELDS):
            raise InputError(
                f"event: expected the fields {list(_HF_EVENT_FIELDS)}, got {show_value(data)}"
            )
        try:
            date = dt.date.fromisoformat(data["date"])
        except (TypeError, ValueError):
            raise InputError(
                f"event.date: expected an ISO date, got {show_value(data['date'])}"
            ) from None
        return HFEvent(**{**data, "date": date})


class _HFAttributor:
    """A loaded HF pipeline in a worker: attributes batches of events."""

    def __init__(self, config: PipelineConfig, pipeline: HFPipeline) -> None:
        self._config = config
        self._pipeline = pipeline

    def attribute(
        self, inputs: Sequence[HFEvent], progress: Progress = quiet_progress
    ) -> MultiStageResult:
        return _attribute(self._config, self._pipeline, inputs, progress)


def pipeline_schema() -> bytes:
    """The JSON Schema (draft 2020-12) of an ``ame.pipeline/1`` file, as shipped.

    Generated from :class:`PipelineConfig`, so it states the same fields, types, ranges
    and defaults that :func:`parse_pipeline_config` enforces (the checks across fields,
    such as repeated asset ids or a template without its slot, are the parser's alone).
    Canonical: keys sorted, two-space indents, one trailing newline.
    """
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PIPELINE_FORMAT,
        **PipelineConfig.model_json_schema(),
    }
    return (json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
