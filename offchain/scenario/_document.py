"""Scenario files (``ame.scenario/1``): a whole market to attribute, in one document.

A scenario names every contribution of a generative pipeline and who owns it, the
events that earned revenue, and optionally what a person expects the split to be and
the rights that mapping needs. ``docs/scenario.md`` is the reference; in short::

    format: ame.scenario/1
    id: reference
    seed: 0
    pipeline: {model: {d_model: 32}, train: {pretrain_steps: 200}, max_new_tokens: 6}
    base_model: {id: transformer, owner: model_developer}
    datasets:
      - {id: geo, owner: alice, generate: {kind: facts, relation: capital, count: 12}}
      - {id: noisy, owner: dave, generate: {kind: noisy_copy, of: geo, noise_rate: 0.5}}
      - {id: notes, owner: zoe, documents: ["the capital of zorbia is kelvo ."]}
    adapters:
      - {id: pirate, owner: frank, style: {tail: arr, count: 24}}
    prompts:
      - {id: plain, author: paula, template: "the {request} is"}
    events:
      - {id: e1, fact: {dataset: geo, index: 0}, prompt: plain, adapter: pirate,
         revenue: "1000000000000000000", date: 2026-01-15}

Everything is validated in one place, before any work starts: unknown fields are
refused, and every problem raises :class:`~ame_core.exceptions.InputError` naming the
field path and the reason, e.g. ``datasets[2].owner: String should have at least 1
character, got ''``. The scenario's digest (:meth:`Scenario.digest`, SHA-256 of its
canonical JSON form) identifies the attribution inputs in the ``ame.values/1``
documents written from it.

The embedded default market is :func:`reference_scenario` (the file
``offchain/scenario/data/reference.yaml``): its corpora are exactly
:func:`~offchain.attribution.reference.corpora.generate_corpora` with the default settings.
No torch here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.documents import read_document
from ame_core.exceptions import InputError
from ame_core.validation import error_reason, field_path, format_problems, show_value
from offchain.attribution.reference.corpora import (
    AdapterRecipe,
    CopyOf,
    Corpora,
    CorpusRecipe,
    DatasetRecipe,
    Fact,
    NoisyCopyOf,
    PlantedFacts,
    PromptTemplate,
    RandomWalks,
    StyleDemonstrations,
    reference_recipe,
)
from offchain.attribution.reference.settings import (
    _FAILURES,
    NEUTRAL_TEMPLATE,
    UTILITIES,
    CorpusSettings,
    ModelSettings,
    PipelineSettings,
    ReferenceModelSettings,
    TrainSettings,
    Utility,
)

if TYPE_CHECKING:
    from offchain.mapping import Registry

__all__ = [
    "REFERENCE_SCENARIO",
    "SCENARIO_FORMAT",
    "UTILITIES",
    "AdapterSpec",
    "BaseModelSpec",
    "CopyGenerator",
    "DatasetSpec",
    "Demonstration",
    "EventSpec",
    "FactRef",
    "FactsGenerator",
    "NoisyCopyGenerator",
    "PayeeReference",
    "PipelineSpec",
    "PromptSpec",
    "RandomWalkGenerator",
    "Reference",
    "Rights",
    "Scenario",
    "StyleGenerator",
    "build_corpora",
    "load_scenario",
    "parse_scenario",
    "reference_scenario",
    "reference_specs",
]

SCENARIO_FORMAT: Final = "ame.scenario/1"
#: Path of the embedded default scenario, inside the installed package.
REFERENCE_SCENARIO: Final = "data/reference.yaml"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,255}")
_SLOT = "{request}"
_SPECIALS = frozenset({"<pad>", "<bos>", "<eos>", "<unk>"})
# Generators whose name pydantic puts into error locations after ``generate``.
_GENERATOR_KINDS = frozenset({"facts", "copy", "noisy_copy", "random_walk"})
# Fields whose keys are data (asset ids), written as ['key'] in error paths.
_KEYED = frozenset({"shares"})


# -- field types ---------------------------------------------------------------------


def _id(raw: object) -> str:
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise ValueError(
            f"{show_value(raw)} is not an id (1-256 characters: letters, digits and ._:/@+-, "
            "starting with a letter or digit)"
        )
    return raw


def _name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 256:
        raise ValueError(
            f"{show_value(raw)} is not a name (a non-blank string of at most 256 characters)"
        )
    if any(ord(c) < 32 for c in raw):
        raise ValueError(f"{show_value(raw)} is not a name (control characters)")
    return raw


def _words(raw: object, *, slot: bool = False) -> str:
    """Whitespace-separated tokens, normalised to single spaces."""
    if not isinstance(raw, str):
        raise ValueError(f"must be a string of words, got {show_value(raw)}")
    tokens = raw.split()
    if not tokens:
        raise ValueError(f"must hold at least one word, got {show_value(raw)}")
    special = sorted(_SPECIALS.intersection(tokens))
    if special:
        raise ValueError(
            f"{special[0]!r} is a reserved token of the vocabulary, in {show_value(raw)}"
        )
    slots = sum(token == _SLOT for token in tokens)
    if slot and slots != 1:
        raise ValueError(f"must hold the word {_SLOT} exactly once, got {show_value(raw)}")
    if "{" in raw.replace(_SLOT, "") or "}" in raw.replace(_SLOT, ""):
        raise ValueError(f"braces are allowed only in the word {_SLOT}, got {show_value(raw)}")
    if not slot and slots:
        raise ValueError(f"{_SLOT} is allowed only in prompt templates, got {show_value(raw)}")
    return " ".join(tokens)


def _word(raw: object) -> str:
    text = _words(raw)
    if " " in text:
        raise ValueError(f"must be a single word, got {show_value(raw)}")
    return text


def _template(raw: object) -> str:
    return _words(raw, slot=True)


def _revenue(raw: object) -> int:
    # Money is exact: an integer or a string of digits, never a float.
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(
            f"must be an integer amount in base units (a digit string), got {show_value(raw)}"
        )
    if isinstance(raw, str):
        if not raw.isascii() or not raw.isdigit():
            raise ValueError(f"must be a string of decimal digits, got {show_value(raw)}")
        raw = int(raw)
    if raw < 0 or raw >= 2**256:
        raise ValueError(f"must be in [0, 2**256), got {raw}")
    return raw


def _day(raw: object) -> date:
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError(f"must be a day YYYY-MM-DD, got {show_value(raw)}")


def _non_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    # An after-validator, not min_length: pydantic would also report an empty tuple
    # when an item fails.
    if not value:
        raise ValueError("must list at least one item")
    return value


T = TypeVar("T")
NonEmpty = Annotated[tuple[T, ...], AfterValidator(_non_empty)]
_Date = date
Id = Annotated[str, PlainValidator(_id)]
Name = Annotated[str, PlainValidator(_name)]
Words = Annotated[str, PlainValidator(_words)]
Word = Annotated[str, PlainValidator(_word)]
Template = Annotated[str, PlainValidator(_template)]
Revenue = Annotated[int, PlainValidator(_revenue)]
Day = Annotated[date, PlainValidator(_day)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- datasets ------------------------------------------------------------------------


class FactsGenerator(_Spec):
    """Planted facts ``the <relation> of <subject> is <value> .``, each also paraphrased
    as ``<value> is the <relation> of <subject> .``; subjects and values are fresh
    pseudo-words, so the dataset is the only source of its facts.

    Attributes:
        kind: ``facts``.
        relation: The relation, one word (e.g. ``capital``).
        count: Facts planted.
    """

    kind: Literal["facts"]
    relation: Word
    count: StrictInt = Field(ge=1, le=100_000)


class CopyGenerator(_Spec):
    """A verbatim copy of another dataset (a duplicate contribution).

    Attributes:
        kind: ``copy``.
        of: Id of the copied dataset (any kind, declared anywhere in the list).
    """

    kind: Literal["copy"]
    of: Id


class NoisyCopyGenerator(_Spec):
    """The facts of a ``facts`` dataset, stated once each, some with a wrong value.

    Each fact's value is replaced, with probability ``noise_rate``, by the value of
    another fact of the same dataset.

    Attributes:
        kind: ``noisy_copy``.
        of: Id of a dataset generated with ``kind: facts`` (at least two facts).
        noise_rate: Probability that a statement carries a wrong value.
    """

    kind: Literal["noisy_copy"]
    of: Id
    noise_rate: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class RandomWalkGenerator(_Spec):
    """Irrelevant text: sentences of 4 to 7 words, random walks over a private vocabulary.

    Attributes:
        kind: ``random_walk``.
        sentences: Sentences generated.
        vocabulary: Size of the private vocabulary (pseudo-words no one else uses).
    """

    kind: Literal["random_walk"]
    sentences: StrictInt = Field(ge=1, le=10_000_000)
    vocabulary: StrictInt = Field(ge=2, le=500)


Generator = Annotated[
    FactsGenerator | CopyGenerator | NoisyCopyGenerator | RandomWalkGenerator,
    Field(discriminator="kind"),
]


class DatasetSpec(_Spec):
    """A pretraining dataset: explicit ``documents`` or a ``generate`` block, not both.

    Attributes:
        id: Asset id (a player of the data game).
        owner: The data contributor.
        documents: Sentences, whitespace-tokenised.
        generate: How to generate the sentences with planted provenance.
    """

    id: Id
    owner: Name
    documents: NonEmpty[Words] | None = None
    generate: Generator | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.documents is None) == (self.generate is None):
            raise ValueError("give exactly one of documents or generate")
        return self

    def recipe(self) -> DatasetRecipe:
        """How the reference pipeline makes this dataset."""
        gen = self.generate
        source: tuple[str, ...] | PlantedFacts | CopyOf | NoisyCopyOf | RandomWalks
        if isinstance(gen, FactsGenerator):
            source = PlantedFacts(gen.relation, gen.count)
        elif isinstance(gen, CopyGenerator):
            source = CopyOf(gen.of)
        elif isinstance(gen, NoisyCopyGenerator):
            source = NoisyCopyOf(gen.of, gen.noise_rate)
        elif isinstance(gen, RandomWalkGenerator):
            source = RandomWalks(gen.sentences, gen.vocabulary)
        else:
            assert self.documents is not None  # _one_source: documents when no generator
            source = self.documents
        return DatasetRecipe(self.id, self.owner, source)


# -- base model, adapters, prompts ---------------------------------------------------------


class BaseModelSpec(_Spec):
    """The base model: the transformer and its training recipe.

    Attributes:
        id: Asset id of the base model.
        owner: The model developer.
    """

    id: Id = "transformer"
    owner: Name = "model_developer"


class Demonstration(_Spec):
    """One fine-tuning demonstration: only the completion carries loss.

    Attributes:
        context: Text the completion follows.
        completion: Text the adapter learns to produce after it.
    """

    context: Words
    completion: Words


class StyleGenerator(_Spec):
    """Generated style demonstrations: statements of the fine-tuner's own facts
    (fresh pseudo-words), each followed by the style ``tail``.

    Attributes:
        tail: The styled ending the adapter learns (e.g. ``arr``).
        count: Demonstrations generated.
        relations: Relations of the statements, used in turn; default the relations
            of the scenario's ``facts`` datasets, in order.
    """

    tail: Words
    count: StrictInt = Field(ge=1, le=100_000)
    relations: NonEmpty[Word] | None = None


class AdapterSpec(_Spec):
    """A LoRA adapter: explicit ``demonstrations`` or a generated ``style``, not both.

    Attributes:
        id: Asset id of the adapter.
        owner: The fine-tuner.
        demonstrations: ``{context, completion}`` pairs.
        style: Generated style demonstrations.
    """

    id: Id
    owner: Name
    demonstrations: NonEmpty[Demonstration] | None = None
    style: StyleGenerator | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AdapterSpec:
        if (self.demonstrations is None) == (self.style is None):
            raise ValueError("give exactly one of demonstrations or style")
        return self

    def recipe(self) -> AdapterRecipe:
        """How the reference pipeline makes this adapter's fine-tuning data."""
        if self.style is not None:
            style = self.style
            return AdapterRecipe(
                self.id, self.owner, StyleDemonstrations(style.tail, style.count, style.relations)
            )
        assert self.demonstrations is not None  # _one_source: demonstrations when no style
        pairs = tuple((x.context, x.completion) for x in self.demonstrations)
        return AdapterRecipe(self.id, self.owner, pairs)


class PromptSpec(_Spec):
    """A prompt template with one ``{request}`` slot.

    Attributes:
        id: Asset id of the prompt.
        author: The prompt author.
        template: Words with the word ``{request}`` exactly once.
    """

    id: Id
    author: Name
    template: Template

    def recipe(self) -> PromptTemplate:
        """The reference pipeline's template of this prompt."""
        return PromptTemplate(self.id, self.author, self.template)


# -- events, reference, rights -------------------------------------------------------------


class FactRef(_Spec):
    """A planted fact: the ``index``-th fact of a ``facts`` dataset or a styled adapter.

    Attributes:
        dataset: Id of a dataset generated with ``kind: facts``, or of an adapter with
            a generated ``style`` (its own facts).
        index: Position of the fact, from 0, in generation order.
    """

    dataset: Id
    index: StrictInt = Field(ge=0)


def _unique_ranking(value: tuple[str, ...]) -> tuple[str, ...]:
    seen = [a for i, a in enumerate(value) if a in value[:i]]
    if seen:
        raise ValueError(f"{seen[0]!r} is listed twice")
    return value


def _share_map(value: dict[str, float]) -> dict[str, float]:
    for key, share in value.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share of {key!r} must be in [0, 1], got {show_value(share)}")
    if sum(value.values()) > 1.0 + 1e-9:
        raise ValueError(f"shares sum to {show_value(sum(value.values()))}, over 1")
    return value


class PayeeReference(_Spec):
    """What a person expects each payee to be paid, after rights mapping.

    Payees are the owners the scenario's rights registry names (``owners[].name``):
    who is paid once royalties, co-ownership and licences have been applied, which
    asset ids alone cannot say (two co-owners share one asset).

    Attributes:
        ranking: Payee names from most to least paid (a subset may be given).
        shares: Approximate share of the revenue paid to each payee, each in [0, 1],
            summing to at most 1 (less when some revenue is held in escrow).
    """

    ranking: tuple[Name, ...] = ()
    shares: dict[Name, float] = Field(default_factory=dict)

    @field_validator("ranking")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique_ranking(value)

    @field_validator("shares")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        return _share_map(value)

    def names(self) -> list[str]:
        """Every payee name the reference gives, in order of appearance."""
        return list(dict.fromkeys([*self.ranking, *self.shares]))


class Reference(_Spec):
    """What a person expects of the split (read by evaluations, never by attribution).

    Attributes:
        ranking: Asset ids from most to least deserving, each deserving at least as
            much as the next (ties allowed; a subset may be given).
        shares: Approximate share of the revenue per asset id, each in [0, 1],
            summing to at most 1.
        reasoning: One line saying why.
        payees: What each payee named in the rights registry should be paid; needs
            ``rights``.
    """

    ranking: tuple[Id, ...] = ()
    shares: dict[Id, float] = Field(default_factory=dict)
    reasoning: str | None = Field(default=None, min_length=1, max_length=1000)
    payees: PayeeReference | None = None

    @field_validator("ranking")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique_ranking(value)

    @field_validator("shares")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        return _share_map(value)

    @field_validator("reasoning")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("must be one line")
        return value

    def assets(self) -> list[str]:
        """Every asset id the reference names, in order of appearance."""
        return list(dict.fromkeys([*self.ranking, *self.shares]))


class EventSpec(_Spec):
    """A revenue event: a request through the pipeline, greedily decoded.

    Attributes:
        id: Event id (unique).
        request: The user request, explicitly; or
        fact: a planted fact whose request (``<relation> of <subject>``) is asked.
        prompt: Id of the prompt template used; none for the bare request.
        adapter: Id of the adapter used; none for the bare base model.
        revenue: What the event paid, an integer in the token's base units (a digit
            string in files: amounts exceed what JSON readers hold exactly).
        commercial: Whether the use is commercial (checked against licences).
        date: UTC day of the event.
        reference: What a person expects of this event's split.
    """

    id: Id
    request: Words | None = None
    fact: FactRef | None = None
    prompt: Id | None = None
    adapter: Id | None = None
    revenue: Revenue
    commercial: StrictBool = True
    date: Day
    reference: Reference | None = None

    @model_validator(mode="after")
    def _one_request(self) -> EventSpec:
        if (self.request is None) == (self.fact is None):
            raise ValueError("give exactly one of request or fact")
        return self

    @field_serializer("revenue")
    def _revenue_text(self, value: int) -> str:
        return str(value)

    @field_serializer("date")
    def _day_text(self, value: _Date) -> str:
        return value.isoformat()


class Rights(_Spec):
    """Rights for mapping: an ``ame.registry/1`` document, inline or by path.

    Attributes:
        registry: A path (relative to the scenario file) or the registry itself; it
            must list every asset of the scenario (see ``docs/registry.md``).
    """

    registry: str | dict[str, Any]

    @field_validator("registry", mode="before")
    @classmethod
    def _path_or_document(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must be a path or an ame.registry/1 document, got ''")
        if not isinstance(value, str | Mapping):
            raise ValueError(
                f"must be a path or an ame.registry/1 document, got {type(value).__name__}"
            )
        return dict(value) if isinstance(value, Mapping) else value


class PipelineSpec(_Spec):
    """Sizes and utility of the reference pipeline (everything but the seed and corpora).

    Attributes:
        model: Shape of the transformer.
        train: Optimisation of pretraining and adapters.
        max_new_tokens: Longest generated output, in tokens.
        threads: ``torch.set_num_threads`` while training and scoring.
        utility: How a coalition's pipeline scores an event's output:
            ``loglik-prefix`` (default), ``loglik`` or ``loglik-floored`` (see
            :class:`PipelineSettings`). Always part of :meth:`Scenario.canonical`, so
            a digest names the utility its values were computed under.
        neutral_template: What stands in for a prompt left out of a coalition, and
            renders events without a prompt: words with ``{request}`` once (default
            the bare request). See :class:`PipelineSettings`.
        reference_model: The empty pipeline: ``{kind: uniform}`` (default),
            ``{kind: unigram}`` (optionally with ``sentences`` and ``smoothing``) or
            ``{kind: base}``. See :class:`ReferenceModelSettings`.
    """

    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    max_new_tokens: StrictInt = Field(default=6, gt=0, le=256)
    threads: StrictInt = Field(default=1, gt=0, le=256)
    utility: Utility = "loglik-prefix"
    neutral_template: Template = NEUTRAL_TEMPLATE
    reference_model: ReferenceModelSettings = ReferenceModelSettings()


class ValuationSpec(_Spec):
    """How a sampled stage is valued: one above ten datasets (the exact game needs a
    model per subset), whatever the method. Each setting left out keeps the library's
    default (:class:`~offchain.attribution.MultiStageAttribution`).

    Attributes:
        max_evaluations: Budget of asset-game coalitions per sampled stage; each
            coalition a retrained model can cost one training run.
        target_stderr: Stop once every asset's standard error is at most this.
        rank_patience: Stop once the ranking of the assets has held this many rounds.
    """

    max_evaluations: StrictInt | None = Field(default=None, gt=0, le=10**9)
    target_stderr: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    rank_patience: StrictInt | None = Field(default=None, gt=0, le=10**6)

    def options(self) -> dict[str, Any]:
        """The settings given, as :class:`MultiStageAttribution`'s keyword arguments."""
        return self.model_dump(exclude_none=True)


# -- the scenario ----------------------------------------------------------------------


class _ProblemsError(ValueError):
    """Cross-field problems, each ``(path, reason)``, reported one per line."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {why}" for path, why in problems))
        self.problems = problems


class Scenario(_Spec):
    """A whole ``ame.scenario/1`` document, validated.

    Attributes:
        format: Always ``'ame.scenario/1'``.
        id: Name of the scenario (copied into values documents).
        seed: Seeds the corpora, the models, the adapters and sampling.
        epoch: Epoch of the values documents written from it (``--epoch`` overrides).
        pipeline: Sizes of the pipeline; defaults train in seconds.
        valuation: How sampled stages are valued (above ten datasets).
        base_model: The base model asset.
        datasets: Pretraining datasets, in order (at least one).
        adapters: Fine-tuning adapters.
        prompts: Prompt templates.
        events: Revenue events (at least one).
        reference: What a person expects of the split over all events.
        rights: Rights for mapping.
    """

    format: Literal["ame.scenario/1"]
    id: Id
    seed: StrictInt = Field(default=0, ge=0, le=2**63 - 1)
    epoch: StrictInt = Field(default=1, ge=0)
    pipeline: PipelineSpec = PipelineSpec()
    valuation: ValuationSpec = ValuationSpec()
    base_model: BaseModelSpec = BaseModelSpec()
    datasets: NonEmpty[DatasetSpec]
    adapters: tuple[AdapterSpec, ...] = ()
    prompts: tuple[PromptSpec, ...] = ()
    events: NonEmpty[EventSpec]
    reference: Reference | None = None
    rights: Rights | None = None

    _registry: Registry | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Scenario:
        problems = list(self._cross_problems())
        if not problems and self.rights is not None:
            base = (info.context or {}).get("base_dir") if info is not None else None
            problems.extend(self._load_rights(Path(base) if base else Path.cwd()))
        if problems:
            raise _ProblemsError(problems)
        return self

    # -- cross-field checks ----------------------------------------------------------------

    def _cross_problems(self) -> Iterator[tuple[str, str]]:
        duplicates = [
            *_unique(self._asset_paths()),
            *_unique((f"events[{i}]", e.id) for i, e in enumerate(self.events)),
        ]
        if duplicates:
            # Every later check looks assets up by id: report the ids alone first.
            yield from duplicates
            return
        yield from self._check_generators()
        yield from self._check_lengths()
        yield from self._check_events()
        if self.reference is not None:
            yield from _check_reference("reference", self.reference, set(self.asset_ids()))
        if self.rights is None:
            for where, ref in self._references():
                if ref.payees is not None:
                    yield f"{where}.payees", "needs rights.registry: payees are the owners it names"

    def _asset_paths(self) -> Iterator[tuple[str, str]]:
        yield "base_model", self.base_model.id
        groups: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("datasets", tuple(d.id for d in self.datasets)),
            ("adapters", tuple(a.id for a in self.adapters)),
            ("prompts", tuple(p.id for p in self.prompts)),
        )
        for name, ids in groups:
            for i, asset in enumerate(ids):
                yield f"{name}[{i}]", asset

    def _check_generators(self) -> Iterator[tuple[str, str]]:
        by_id = {d.id: d for d in self.datasets}
        for i, d in enumerate(self.datasets):
            gen, where = d.generate, f"datasets[{i}].generate.of"
            if isinstance(gen, CopyGenerator | NoisyCopyGenerator):
                source = by_id.get(gen.of)
                if source is None:
                    yield where, f"unknown dataset {gen.of!r}, have {sorted(by_id)}"
                elif gen.of == d.id:
                    yield where, "a dataset cannot copy itself"
                elif isinstance(gen, NoisyCopyGenerator) and not (
                    isinstance(source.generate, FactsGenerator) and source.generate.count >= 2
                ):
                    yield where, f"{gen.of!r} must be generated with kind: facts and count >= 2"
                elif isinstance(gen, CopyGenerator) and self._copy_cycle(d.id):
                    yield where, f"copies form a cycle through {d.id!r}"
        if not self.fact_relations():
            for i, a in enumerate(self.adapters):
                if a.style is not None and a.style.relations is None:
                    yield (
                        f"adapters[{i}].style.relations",
                        "required when no dataset generates facts",
                    )

    def _copy_cycle(self, start: str) -> bool:
        by_id = {d.id: d for d in self.datasets}
        seen, current = {start}, by_id[start]
        while isinstance(current.generate, CopyGenerator) and current.generate.of in by_id:
            if current.generate.of in seen:
                return True
            seen.add(current.generate.of)
            current = by_id[current.generate.of]
        return False

    def _check_lengths(self) -> Iterator[tuple[str, str]]:
        # A sequence is <bos> + tokens (+ <eos>): its input row holds len(tokens) + 1.
        max_len = self.pipeline.model.max_len
        for i, d in enumerate(self.datasets):
            for j, doc in enumerate(d.documents or ()):
                if len(doc.split()) + 1 > max_len:
                    yield (
                        f"datasets[{i}].documents[{j}]",
                        f"{len(doc.split())} words do not fit pipeline.model.max_len={max_len}",
                    )
        for i, a in enumerate(self.adapters):
            for j, demo in enumerate(a.demonstrations or ()):
                n = len(demo.context.split()) + len(demo.completion.split())
                if n + 1 > max_len:
                    yield (
                        f"adapters[{i}].demonstrations[{j}]",
                        f"{n} words do not fit pipeline.model.max_len={max_len}",
                    )
            if a.style is not None and 7 + len(a.style.tail.split()) + 1 > max_len:
                yield (
                    f"adapters[{i}].style.tail",
                    f"a statement and its tail do not fit pipeline.model.max_len={max_len}",
                )

    def _check_events(self) -> Iterator[tuple[str, str]]:
        datasets = {d.id: d for d in self.datasets}
        adapters = {a.id: a for a in self.adapters}
        prompts = {p.id: p for p in self.prompts}
        for i, e in enumerate(self.events):
            where = f"events[{i}]"
            if e.prompt is not None and e.prompt not in prompts:
                yield f"{where}.prompt", f"unknown prompt {e.prompt!r}, have {sorted(prompts)}"
            if e.adapter is not None and e.adapter not in adapters:
                yield f"{where}.adapter", f"unknown adapter {e.adapter!r}, have {sorted(adapters)}"
            if e.fact is not None:
                yield from self._check_fact(f"{where}.fact", e.fact, datasets, adapters)
            used = {self.base_model.id, *datasets}
            used.update(x for x in (e.prompt, e.adapter) if x is not None)
            if e.reference is not None:
                yield from _check_reference(f"{where}.reference", e.reference, used)
            request = self._request_words(e)
            neutral = self.pipeline.neutral_template
            template = prompts[e.prompt].template if e.prompt in prompts else neutral
            if request is not None:
                n = len(template.split()) - 1 + request
                if n + 1 >= self.pipeline.model.max_len:
                    yield (
                        where,
                        f"the prompt and request take {n} words, leaving no room to generate "
                        f"within pipeline.model.max_len={self.pipeline.model.max_len}",
                    )

    def _check_fact(
        self,
        where: str,
        ref: FactRef,
        datasets: Mapping[str, DatasetSpec],
        adapters: Mapping[str, AdapterSpec],
    ) -> Iterator[tuple[str, str]]:
        count = self._fact_count(ref.dataset)
        if count is None:
            if ref.dataset in datasets or ref.dataset in adapters:
                yield (
                    f"{where}.dataset",
                    f"{ref.dataset!r} plants no facts (only kind: facts datasets and "
                    "adapters with a style do)",
                )
            else:
                yield f"{where}.dataset", f"unknown dataset or adapter {ref.dataset!r}"
        elif ref.index >= count:
            yield f"{where}.index", f"{ref.index} is out of range: {ref.dataset!r} plants {count}"

    def _fact_count(self, source: str) -> int | None:
        for d in self.datasets:
            if d.id == source and isinstance(d.generate, FactsGenerator):
                return d.generate.count
        for a in self.adapters:
            if a.id == source and a.style is not None:
                return a.style.count
        return None

    def _request_words(self, event: EventSpec) -> int | None:
        if event.request is not None:
            return len(event.request.split())
        return 3 if event.fact is not None and self._fact_count(event.fact.dataset) else None

    def _load_rights(self, base_dir: Path) -> Iterator[tuple[str, str]]:
        from offchain.mapping import load_registry, parse_registry

        assert self.rights is not None
        raw = self.rights.registry
        try:
            if isinstance(raw, str):
                path = Path(raw)
                registry = load_registry(path if path.is_absolute() else base_dir / path)
            else:
                registry = parse_registry(raw, source="<inline registry>")
        except InputError as err:
            yield "rights.registry", str(err)
            return
        listed = set(registry.by_id)
        missing = [asset for _, asset in self._asset_paths() if asset not in listed]
        if missing:
            yield "rights.registry", f"does not list the scenario's assets {missing}"
            return
        names = sorted({o.name for a in registry.assets for o in a.owners if o.name is not None})
        unknown = False
        for where, ref in self._references():
            for name in [] if ref.payees is None else ref.payees.names():
                if name not in names:
                    unknown = True
                    yield (
                        f"{where}.payees",
                        f"{name!r} is no owner name in rights.registry, have {names}",
                    )
        if not unknown:
            self._registry = registry

    def _references(self) -> Iterator[tuple[str, Reference]]:
        if self.reference is not None:
            yield "reference", self.reference
        for i, e in enumerate(self.events):
            if e.reference is not None:
                yield f"events[{i}].reference", e.reference

    # -- derived views ---------------------------------------------------------------------

    def fact_relations(self) -> tuple[str, ...]:
        """Relations of the ``facts`` datasets, in order, each once."""
        relations = (
            d.generate.relation for d in self.datasets if isinstance(d.generate, FactsGenerator)
        )
        return tuple(dict.fromkeys(relations))

    def asset_ids(self) -> tuple[str, ...]:
        """Every asset id: datasets, base model, adapters, prompts."""
        return (
            *(d.id for d in self.datasets),
            self.base_model.id,
            *(a.id for a in self.adapters),
            *(p.id for p in self.prompts),
        )

    def owners(self) -> dict[str, str]:
        """Owner (or author) of every asset, by asset id."""
        out = {d.id: d.owner for d in self.datasets}
        out[self.base_model.id] = self.base_model.owner
        out.update({a.id: a.owner for a in self.adapters})
        out.update({p.id: p.author for p in self.prompts})
        return out

    def settings(self) -> PipelineSettings:
        """The pipeline settings: the scenario's seed and ``pipeline`` block.

        The settings' ``corpus`` is left at its default; a pipeline built from a
        scenario takes its corpora from :meth:`corpora`.
        """
        p = self.pipeline
        return PipelineSettings(
            seed=self.seed,
            model=p.model,
            train=p.train,
            max_new_tokens=p.max_new_tokens,
            threads=p.threads,
            utility=p.utility,
            neutral_template=p.neutral_template,
            reference_model=p.reference_model,
        )

    def corpora(self) -> Corpora:
        """The datasets, adapter data and prompts, generated from :attr:`seed` (cached)."""
        return self._corpora

    @cached_property
    def _corpora(self) -> Corpora:
        reserved = [e.request for e in self.events if e.request is not None]
        return build_corpora(
            self.datasets, self.adapters, self.prompts, self.seed, reserved=reserved
        )

    def fact(self, ref: FactRef) -> Fact:
        """The planted fact ``ref`` points to."""
        return self.corpora().facts_of(ref.dataset)[ref.index]

    def request(self, event: EventSpec) -> str:
        """The request an event asks: its own, or its fact's."""
        if event.request is not None:
            return event.request
        assert event.fact is not None
        return self.fact(event.fact).request

    def registry(self) -> Registry | None:
        """The rights registry, if the scenario carries one (validated with it)."""
        return self._registry

    # -- canonical form ---------------------------------------------------------------------

    def canonical(self) -> dict[str, Any]:
        """The scenario as a JSON document, fields at their defaults left out (but for
        ``pipeline.utility``, always present).

        It parses back to an equal scenario. The rights appear as the registry's own
        canonical form, wherever the registry came from (inline or a file), so moving
        the registry file does not change the digest but editing it does.
        """
        doc = self.model_dump(mode="json", exclude_defaults=True, exclude={"rights"})
        # The utility's default has changed once (loglik -> loglik-prefix): recording it
        # keeps a digest from standing for values computed under another utility.
        doc.setdefault("pipeline", {})["utility"] = self.settings().utility
        if self.rights is not None and self._registry is not None:
            doc["rights"] = {"registry": self._registry.canonical()}
        return doc

    def canonical_bytes(self) -> bytes:
        """:meth:`canonical` as JSON: sorted keys, no spaces, UTF-8."""
        return canonical_json(self.canonical())

    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_bytes`: what values documents record."""
        return sha256_hex(self.canonical_bytes())


def _unique(items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    first: dict[str, str] = {}
    for path, value in items:
        if value in first:
            yield f"{path}.id", f"{value!r} is already {first[value]}.id"
        else:
            first[value] = path


def _check_reference(where: str, ref: Reference, known: set[str]) -> Iterator[tuple[str, str]]:
    for i, asset in enumerate(ref.ranking):
        if asset not in known:
            yield f"{where}.ranking[{i}]", f"unknown asset {asset!r}, have {sorted(known)}"
    for asset in ref.shares:
        if asset not in known:
            yield f"{where}.shares[{asset!r}]", f"unknown asset {asset!r}, have {sorted(known)}"


# -- reading -----------------------------------------------------------------------------


def _path_text(parts: Sequence[int | str]) -> str:
    # The generator kind after `generate` is the tag pydantic inserts, not a field of the file.
    return field_path(parts, keyed=_KEYED, hidden={"generate": _GENERATOR_KINDS})


def _problems(err: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in err.errors():
        loc = [part for part in item["loc"] if isinstance(part, int | str)]
        ctx = item.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _ProblemsError):
            out.extend(inner.problems)
            continue
        failures = getattr(inner, _FAILURES, None)
        if failures is not None:
            # A nested settings model (ModelSettings, TrainSettings) reports its own paths.
            for path, why, value in failures:
                reason = why
                if not isinstance(value, Mapping | list | tuple):
                    reason += f", got {show_value(value)}"
                out.append((_path_text([*loc, *path[1:]]), reason))
            continue
        out.append((_path_text(loc), error_reason(item)))
    return out


def parse_scenario(
    data: object, *, source: str = "<scenario>", base_dir: str | Path | None = None
) -> Scenario:
    """Validate an ``ame.scenario/1`` document already read into Python objects.

    Args:
        data: The parsed document.
        source: Where it came from, for messages.
        base_dir: Directory relative registry paths are read from; default the
            working directory.

    Returns:
        The validated scenario, its corpora generated (a request word that no dataset,
        demonstration or prompt contains is refused).

    Raises:
        InputError: If anything is malformed. The message starts with ``source`` and
            lists every problem as ``<field path>: <reason>``.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a scenario must be a mapping, got {type(data).__name__}")
    context = {"base_dir": str(base_dir) if base_dir is not None else None}
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as err:
        problems = _problems(err)
        raise InputError(_message(source, problems)) from None
    problems = list(_unknown_words(scenario))
    if problems:
        raise InputError(_message(source, problems))
    return scenario


def _message(source: str, problems: list[tuple[str, str]]) -> str:
    lines = [f"{path}: {why}" if path else why for path, why in problems]
    return format_problems(source, lines, inline_single=True)


def _unknown_words(scenario: Scenario) -> Iterator[tuple[str, str]]:
    known = {word for text in scenario.corpora().texts() for word in text.split()}
    for i, event in enumerate(scenario.events):
        if event.request is None:
            continue
        unknown = [word for word in event.request.split() if word not in known]
        if unknown:
            yield (
                f"events[{i}].request",
                f"{unknown[0]!r} appears in no dataset, demonstration or prompt "
                "(the model could only read it as <unk>)",
            )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (``.yaml``/``.yml`` as YAML, else JSON).

    Args:
        path: The file. A relative ``rights.registry`` path is read from its directory.

    Returns:
        The validated scenario.

    Raises:
        InputError: If the file cannot be read or parsed, or the scenario is invalid.
    """
    file = Path(path)
    # Through the guarded parsers: hostile input (deep nesting, 5,000-digit numbers) is
    # an InputError, not a RecursionError or a crash of the interpreter.
    data = read_document(file, decimals=False, unique_keys=True)
    return parse_scenario(data, source=str(file), base_dir=file.parent)


def reference_scenario() -> Scenario:
    """The embedded default market (``data/reference.yaml``).

    Its corpora equal :func:`~offchain.attribution.reference.corpora.generate_corpora` with
    the default :class:`~offchain.attribution.reference.settings.CorpusSettings` and seed 0.
    """
    resource = resources.files("offchain.scenario").joinpath(REFERENCE_SCENARIO)
    with resources.as_file(resource) as path:
        return load_scenario(path)


# -- corpora -------------------------------------------------------------------------------


def build_corpora(
    datasets: Sequence[DatasetSpec],
    adapters: Sequence[AdapterSpec],
    prompts: Sequence[PromptSpec],
    seed: int,
    *,
    reserved: Iterable[str] = (),
) -> Corpora:
    """Generate a scenario's datasets, adapter data and prompts from ``seed``.

    The specs become the reference pipeline's
    :class:`~offchain.attribution.reference.corpora.CorpusRecipe`, generated by
    :meth:`~offchain.attribution.reference.corpora.CorpusRecipe.generate` (which says in
    what order the draws happen).

    Args:
        datasets: Validated dataset specs (copies and noisy copies name datasets of
            the same list; :class:`Scenario` checks that).
        adapters: Validated adapter specs.
        prompts: Validated prompt specs.
        seed: Seed of every draw.
        reserved: More words no pseudo-word may equal (e.g. explicit requests).

    Returns:
        The corpora; equal specs and seeds give equal corpora.
    """
    recipe = CorpusRecipe(
        tuple(d.recipe() for d in datasets),
        tuple(a.recipe() for a in adapters),
        tuple(p.recipe() for p in prompts),
    )
    return recipe.generate(seed, reserved=reserved)


# Generator recipes by the ``kind`` a scenario names them with (their fields are the same).
_KINDS: Final = {
    PlantedFacts: "facts",
    CopyOf: "copy",
    NoisyCopyOf: "noisy_copy",
    RandomWalks: "random_walk",
}


def reference_specs(settings: CorpusSettings) -> dict[str, Any]:
    """The datasets, adapters and prompts of the reference market, sized by ``settings``.

    The reference pipeline's own recipe
    (:func:`~offchain.attribution.reference.corpora.reference_recipe`) written as a part
    of an ``ame.scenario/1`` document (the keys ``datasets``, ``adapters`` and
    ``prompts``); ``data/reference.yaml`` holds it with the default sizes.
    """
    recipe = reference_recipe(settings)
    datasets: list[dict[str, Any]] = []
    for d in recipe.datasets:
        if isinstance(d.source, tuple):
            datasets.append({"id": d.id, "owner": d.owner, "documents": list(d.source)})
        else:
            generate = {"kind": _KINDS[type(d.source)], **vars(d.source)}
            datasets.append({"id": d.id, "owner": d.owner, "generate": generate})
    adapters: list[dict[str, Any]] = []
    for a in recipe.adapters:
        if isinstance(a.source, tuple):
            pairs = [{"context": c, "completion": t} for c, t in a.source]
            adapters.append({"id": a.id, "owner": a.owner, "demonstrations": pairs})
        else:
            style: dict[str, Any] = {"tail": a.source.tail, "count": a.source.count}
            if a.source.relations is not None:
                style["relations"] = list(a.source.relations)
            adapters.append({"id": a.id, "owner": a.owner, "style": style})
    prompts = [{"id": p.id, "author": p.author, "template": p.template} for p in recipe.prompts]
    return {"datasets": datasets, "adapters": adapters, "prompts": prompts}
