r"""Multi-stage attribution: split each event's revenue over stages, then over assets.

For an event with revenue :math:`R` answered by a pipeline (any
:class:`~offchain.attribution.pipeline.AttributionPipeline`), let :math:`v` be its
asset game (:meth:`~offchain.attribution.pipeline.AttributionPipeline.asset_game`, e.g.
the reference pipeline's log-likelihood gain of the output, with free disposal by
default) over the assets :math:`N`, partitioned into the stages the event used
(:meth:`~offchain.attribution.pipeline.AttributionPipeline.assets`), e.g.
:math:`N = B_\text{data} \cup B_\text{base} \cup B_\text{adapter} \cup B_\text{prompt}`.

1. **Across stages.** Stage :math:`k` is worth its Shapley value :math:`\phi_k` in the
   quotient game :math:`v_M(T) = v(\bigcup_{t \in T} B_t)`: by the quotient-game
   property this is the total of its assets' Owen values for the structure of stages
   (Owen 1977), so the stage split is the Owen value's.
2. **Within a stage.** The stage's assets share :math:`\phi_k` in proportion to their
   values :math:`\psi_a` in the stage's own game with the rest of the pipeline present,
   :math:`v_k(S) = v(S \cup \bar B_k) - v(\bar B_k)` with :math:`\bar B_k = N
   \setminus B_k` (for the reference pipeline's data stage this is
   :meth:`~offchain.attribution.reference.pipeline.ReferencePipeline.data_game`):

   * ``method="shapley"`` (default): :math:`\psi` is the Shapley value of
     :math:`v_k`, exact up to ``max_exact`` assets, else permutation sampling;
   * ``method="tracin"`` / ``"tracin-projected"``: for the data stage
     (:data:`~offchain.attribution.pipeline.DATA_STAGE`), :math:`\psi_d` is dataset
     :math:`d`'s summed TracIn score for the event
     (:meth:`~offchain.attribution.pipeline.AttributionPipeline.influence`: exact, or
     projected on the training gradients' principal subspace), the first-order estimate
     of retraining without it; other stages as ``"shapley"``;
   * ``method="owen"``: :math:`\psi` is each asset's Owen value in :math:`v` itself
     (its marginal contributions averaged over every context of the other stages,
     not only the full one).

   A stage with a single asset gives it all of :math:`\phi_k`.
3. **Money.** The revenue is split exactly, in integers: stage amounts by largest
   remainder over the stage weights, then each stage's amount by largest remainder over
   its assets' weights (ties to the stage earlier in the pipeline's order, then to the
   smaller asset id).
   Amounts sum to :math:`R` exactly.

Axioms kept. Efficiency: asset amounts sum to :math:`R` (to the unit), stage amounts
to :math:`R` and each stage's assets to its amount. Symmetry: two assets with the same
role in the games (a verbatim duplicate dataset: models train on the sorted sentence
multiset, so swapping duplicates trains the same model bit for bit) get the same
value; their integer amounts differ by at most one unit, the tie going to the smaller
id. Null player: an asset that adds nothing in every coalition gets 0. The stage split
is the Owen value's (quotient-game property); with ``method="owen"`` the within-stage
split is too, so the whole split is the Owen value's. Combining stage Shapley values
with within-stage values from the full context (the default) is not additive across
events in general; it is deterministic and symmetric.

Negative contributions (``negative="clip"``, the default): nobody is paid a negative
share. A stage with :math:`\phi_k \le 0` gets nothing and its share goes to the other
stages (stage weights are renormalised over positive stages). Inside a stage, negative
values are clipped to 0 and the stage's amount is shared by its positive assets in
proportion to their values. A stage none of whose assets has a positive value (e.g.
every TracIn score negative) gives its share to the other stages as well. If no stage
is left (:math:`v(N) \le 0`), the event is unattributed: every amount is 0, and
mapping escrows the event whole. ``negative="error"`` raises instead of clipping.
Each action is recorded in the event's ``notes``.

Determinism: the reference pipeline is bit-for-bit deterministic given its seed; exact
methods draw nothing; sampled ones are seeded from ``(seed, event id, stage)``; amounts are
integer arithmetic on the float values. Same inputs, same bits. With free disposal,
every coalition's worth is asked for, so a pipeline that can score many together
(:class:`~offchain.attribution.pipeline.PrefetchingPipeline`, e.g. the reference one)
is handed the events to come, up to 256 at a time, before they are valued; it must
give each worth the bits it would have alone. The ``"tracin"``
methods ask the pipeline for the data-stage scores of one event at a time by default,
so an event's bits do not depend on which other events were attributed with it (how a
log is cut into batches for workers: :mod:`~offchain.attribution.batch`). With
``influence_batch=k > 1`` they ask for up to ``k`` events at once (the event and the
next ones of the log): several times faster for the HF pipeline, whose batched matrix
products then differ from one-by-one ones in float32 rounding, so the same log cut the
same way gives the same bits, but an event scored in another batch may differ in the
last bits of its scores (and by a few base units in its split).

References:
    Owen, G. (1977). Values of games with a priori unions. In: Henn, R., Moeschlin, O.
    (eds) Mathematical Economics and Game Theory, 76-88. Springer.

    Pruthi, G., Liu, F., Kale, S., Sundararajan, M. (2020). Estimating Training Data
    Influence by Tracing Gradient Descent. NeurIPS 2020.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import chain
from types import MappingProxyType
from typing import Any, Generic, Literal, Self, TypeVar

from ame_core.exceptions import AmeError, InputError
from offchain.attribution._validation import check_positive_float, check_positive_int
from offchain.attribution.game import CachedGame, PipelineGame, every_coalition
from offchain.attribution.methods.owen import owen_values
from offchain.attribution.methods.shapley import shapley_values
from offchain.attribution.pipeline import (
    DATA_STAGE,
    AttributionPipeline,
    PipelineEvent,
    PrefetchingPipeline,
)
from offchain.attribution.record import (
    DEFAULT_PRECISION,
    EXACT_LABELS,
    MAX_PRECISION,
    EventRecord,
    output_digest,
    quantize,
    split_event,
    stage_values,
)
from offchain.attribution.result import ValuationResult
from offchain.exceptions import AttributionError

__all__ = [
    "METHODS",
    "EventAttribution",
    "MultiStageAttribution",
    "MultiStageResult",
    "StageAttribution",
]

Method = Literal["shapley", "owen", "tracin", "tracin-projected"]
NegativePolicy = Literal["clip", "error"]
#: The within-stage methods, see the module docstring.
METHODS: tuple[Method, ...] = ("shapley", "owen", "tracin", "tracin-projected")
# Events handed to a PrefetchingPipeline at a time: enough rows per model for full
# forward passes, few enough that the cached scores stay small.
PREFETCH_EVENTS = 256


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class StageAttribution:
    """One stage of one event: its value, its amount and how its assets share it.

    Attributes:
        stage: Stage id (a key of the pipeline's
            :meth:`~offchain.attribution.pipeline.AttributionPipeline.assets`).
        assets: The stage's asset ids, in pipeline order.
        value: The stage's Shapley value in the stage game (nats), before clipping.
        amount: Revenue the stage receives, in base units.
        method: How its assets were valued, e.g. ``"shapley/exact"``, ``"owen/exact"``,
            ``"tracin"``, ``"single"`` (one asset takes it all) or ``"none"`` (the stage
            receives nothing, so its assets were not valued).
        asset_values: Each asset's within-stage value before clipping (nats, or a
            TracIn score).
        asset_stderr: Standard error of each within-stage value (0 when exact).
        amounts: Revenue of each asset, in base units; sums to :attr:`amount`.
    """

    stage: str
    assets: tuple[str, ...]
    value: float
    amount: int
    method: str
    asset_values: Mapping[str, float] = field(default_factory=dict)
    asset_stderr: Mapping[str, float] = field(default_factory=dict)
    amounts: Mapping[str, int] = field(default_factory=dict)

    def stderr_amounts(self) -> dict[str, float]:
        """Standard error of each asset's amount: its value's, scaled like the value."""
        positive = sum(max(v, 0.0) for v in self.asset_values.values())
        scale = self.amount / positive if positive > 0 else 0.0
        return {a: self.asset_stderr.get(a, 0.0) * scale for a in self.assets}


@dataclass(frozen=True)
class EventAttribution:
    """The split of one event's revenue over its stages and assets.

    Attributes:
        event: The event.
        utility: :math:`v(N)`, the full pipeline's worth for the event (e.g. nats).
        stages: Per stage the event used, in pipeline order.
        method: The valuation, e.g. ``"stages=shapley/exact; within=shapley"``.
        n_evaluations: Distinct coalitions of the asset game evaluated for the event.
        record: What the split was computed from: the rounded worths, labels and given
            values (:class:`~offchain.attribution.record.EventRecord`), the line of the
            ``ame.attribution/1`` file that lets anyone recompute it.
        notes: What the negative-contribution policy did, one line each.
    """

    event: PipelineEvent
    utility: float
    stages: Mapping[str, StageAttribution]
    method: str
    n_evaluations: int
    record: EventRecord
    notes: tuple[str, ...] = ()

    @property
    def revenue(self) -> int:
        """The event's revenue, in base units."""
        return self.event.revenue

    @property
    def stage_amounts(self) -> dict[str, int]:
        """Revenue of each stage, in base units (sums to :attr:`revenue`, or 0 if
        unattributed)."""
        return {s: st.amount for s, st in self.stages.items()}

    @property
    def amounts(self) -> dict[str, int]:
        """Revenue of every asset the event used, in base units."""
        return {a: st.amounts.get(a, 0) for st in self.stages.values() for a in st.assets}

    @property
    def stderr(self) -> dict[str, float]:
        """Standard error of every asset's amount, in base units (0 when exact)."""
        return {a: e for st in self.stages.values() for a, e in st.stderr_amounts().items()}


@dataclass(frozen=True)
class MultiStageResult:
    """Multi-stage attribution of a batch of events.

    Attributes:
        events: Per event, in the order given.
        method: The within-stage method (one of :data:`METHODS`).
        negative: The negative-contribution policy.
        seed: Seed of the sampled methods.
        precision: Decimals every worth was rounded to before the exact split.
        settings: Every setting of the valuation, as the record's header names them.
    """

    events: tuple[EventAttribution, ...]
    method: str
    negative: str
    seed: int
    precision: int = DEFAULT_PRECISION
    settings: Mapping[str, Any] = field(default_factory=dict)

    def event(self, event_id: str) -> EventAttribution:
        """The attribution of the event ``event_id``.

        Raises:
            KeyError: If no event has that id.
        """
        for item in self.events:
            if item.event.id == event_id:
                return item
        raise KeyError(event_id)

    def totals(self) -> dict[str, int]:
        """Revenue of every asset over all events, in base units."""
        out: dict[str, int] = {}
        for item in self.events:
            for asset, amount in item.amounts.items():
                out[asset] = out.get(asset, 0) + amount
        return out


E = TypeVar("E", bound=PipelineEvent)


class MultiStageAttribution(Generic[E]):
    """Estimator of the multi-stage split of events' revenues (see the module).

    Args:
        pipeline: A fitted pipeline: any
            :class:`~offchain.attribution.pipeline.AttributionPipeline`.
        method: Within-stage method, one of :data:`METHODS`.
        seed: Seed of the sampled methods; default the pipeline's ``seed``.
        negative: ``"clip"`` (nobody paid a negative share) or ``"error"``.
        free_disposal: Passed to the asset game; the default makes every value
            non-negative, at the price of a model per subset of the datasets.
        max_exact: Stages with more assets than this are valued by permutation
            sampling (``method="shapley"``) instead of exactly.
        max_evaluations: Budget of asset-game coalitions per sampled stage (it also
            bounds the models a retraining pipeline trains for the stage).
        target_stderr: Stopping rule of a sampled stage: stop once every asset's
            standard error is at most this (see
            :mod:`~offchain.attribution.samplers.stopping`).
        rank_patience: Stopping rule of a sampled stage: stop once the ranking of its
            assets has not changed for this many blocks of orders.
        projection_dim: Dimension of ``"tracin-projected"``.
        influence_batch: Events whose data-stage scores the ``"tracin"`` methods ask
            for in one call (see Determinism above); 1 keeps every event's bits
            independent of the others.
        precision: Decimals every coalition worth (and given within-stage value) is
            rounded to before the exact split (:mod:`~offchain.attribution.record`).

    Raises:
        InputError: If an argument is invalid, e.g. ``pipeline`` lacks a member of the
            protocol.

    Example:
        >>> from offchain.attribution import ReferencePipeline
        >>> pipe = ReferencePipeline().fit()
        >>> event = pipe.run(pipe.corpora.facts[0].request, prompt="plain", revenue=10**18)
        >>> split = MultiStageAttribution(pipe).fit([event]).result.events[0]
        >>> sum(split.amounts.values()) == event.revenue
        True
    """

    def __init__(
        self,
        pipeline: AttributionPipeline[E],
        *,
        method: Method = "shapley",
        seed: int | None = None,
        negative: NegativePolicy = "clip",
        free_disposal: bool = True,
        max_exact: int = 10,
        max_evaluations: int | None = None,
        target_stderr: float | None = None,
        rank_patience: int | None = None,
        projection_dim: int = 256,
        influence_batch: int = 1,
        precision: int = DEFAULT_PRECISION,
    ) -> None:
        if not isinstance(pipeline, AttributionPipeline):
            missing = [m for m in _PROTOCOL if not hasattr(pipeline, m)]
            raise InputError(
                f"pipeline: expected an AttributionPipeline, got {type(pipeline).__name__} "
                f"(missing {missing})"
            )
        if method not in METHODS:
            raise InputError(f"method: must be one of {list(METHODS)}, got {method!r}")
        if negative not in ("clip", "error"):
            raise InputError(f"negative: must be 'clip' or 'error', got {negative!r}")
        for name, value in (
            ("max_exact", max_exact),
            ("projection_dim", projection_dim),
            ("influence_batch", influence_batch),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}: must be a positive int, got {value!r}")
        if (
            isinstance(precision, bool)
            or not isinstance(precision, int)
            or not 0 <= precision <= MAX_PRECISION
        ):
            raise InputError(f"precision: must be an int in 0..{MAX_PRECISION}, got {precision!r}")
        if target_stderr is not None:
            check_positive_float(target_stderr, name="target_stderr")
        if rank_patience is not None:
            check_positive_int(rank_patience, name="rank_patience")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise InputError(f"seed: must be an int >= 0, got {seed!r}")
        self.pipeline = pipeline
        self.method: Method = method
        self.seed = pipeline.seed if seed is None else seed
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"pipeline.seed: must be an int >= 0, got {self.seed!r}")
        self.negative: NegativePolicy = negative
        self.free_disposal = free_disposal
        self.max_exact = max_exact
        self.max_evaluations = max_evaluations
        self.target_stderr = target_stderr
        self.rank_patience = rank_patience
        self.projection_dim = projection_dim
        self.influence_batch = influence_batch
        self.precision = precision
        self._result: MultiStageResult | None = None
        # The log being fitted, the index of the event being attributed, and the data
        # stage's scores of the events of the last batched influence call, by id.
        self._log: Sequence[E] = ()
        self._at = 0
        self._rows: dict[str, dict[str, float]] = {}

    @property
    def result(self) -> MultiStageResult:
        """The attribution of the events passed to :meth:`fit`.

        Raises:
            AttributionError: If :meth:`fit` was not called.
        """
        if self._result is None:
            raise AttributionError("MultiStageAttribution is not fitted: call fit(events) first")
        return self._result

    def fit(
        self,
        events: Sequence[E],
        *,
        progress: Callable[[int, EventAttribution], None] | None = None,
    ) -> Self:
        """Attribute every event.

        Args:
            events: Events answered by :attr:`pipeline`, with distinct ids.
            progress: Called after each event with its index and attribution.

        Returns:
            This estimator; the split is :attr:`result`.

        Raises:
            InputError: If ``events`` is empty, ids repeat, or an event is malformed.
            AttributionError: With ``negative="error"``, if a value is negative.
        """
        if not events:
            raise InputError("events: need at least one event, got none")
        ids = [e.id for e in events]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise InputError(f"events: repeated ids {repeated}")
        out = []
        self._log, self._rows = events, {}
        # With free disposal every coalition's worth is asked for, so all are scored ahead.
        prefetch = (
            self.pipeline
            if self.free_disposal and isinstance(self.pipeline, PrefetchingPipeline)
            else None
        )
        for index, event in enumerate(events):
            self._at = index
            if prefetch is not None and index % PREFETCH_EVENTS == 0:
                prefetch.prefetch(events[index : index + PREFETCH_EVENTS])
            item = self._attribute(event)
            out.append(item)
            if progress is not None:
                progress(index, item)
        self._log, self._rows = (), {}
        self._result = MultiStageResult(
            tuple(out), self.method, self.negative, self.seed, self.precision, self.settings()
        )
        return self

    def settings(self) -> dict[str, Any]:
        """Every setting of the valuation, JSON-ready: what rerunning it needs."""
        return {
            "method": self.method,
            "seed": self.seed,
            "negative": self.negative,
            "free_disposal": self.free_disposal,
            "max_exact": self.max_exact,
            "max_evaluations": self.max_evaluations,
            # Named only when set, so a record written before they existed reads the same.
            **({"target_stderr": self.target_stderr} if self.target_stderr is not None else {}),
            **({"rank_patience": self.rank_patience} if self.rank_patience is not None else {}),
            "projection_dim": self.projection_dim,
            "influence_batch": self.influence_batch,
            "precision": self.precision,
        }

    # -- one event ---------------------------------------------------------------------

    def _attribute(self, event: E) -> EventAttribution:
        pipe = self.pipeline
        stages = _checked_stages(pipe.assets(event), event)
        asset_game = pipe.asset_game(event, free_disposal=self.free_disposal)
        if isinstance(asset_game, PipelineGame):
            # With free disposal the grand coalition needs every coalition's utility:
            # evaluated together, they are then lookups (the same floats).
            asset_game.tabulate()
        cached = CachedGame(asset_game)
        players = tuple(chain.from_iterable(stages.values()))
        bit = {a: 1 << i for i, a in enumerate(players)}

        rounded: dict[frozenset[str], tuple[int, int]] = {}

        def table() -> dict[int, int]:
            # Every worth evaluated so far, rounded: what the record publishes. Each
            # coalition is rounded once, however many times the table is read.
            for coalition, worth in cached.worths.items():
                if coalition not in rounded:
                    mask = sum(bit[a] for a in coalition)
                    rounded[coalition] = (mask, quantize(worth, self.precision))
            return {mask: q for mask, q in rounded.values() if mask}

        # The stage game's worths, then its exact values, decide which stages are valued.
        order = list(stages)
        for subset in range(1, 1 << len(order)):
            cached(frozenset(a for i, s in enumerate(order) if subset >> i & 1 for a in stages[s]))
        probe = EventRecord(event.id, event.revenue, "", tuple(stages.items()), table())
        positive = [s for s, v in stage_values(probe).items() if v > 0]

        owen: ValuationResult[str] | None = None
        if self.method == "owen" and any(len(stages[s]) > 1 for s in positive):
            self._check_cost(stages, asset_game)
            owen = owen_values(
                cached,
                [list(ids) for ids in stages.values()],
                seed=self._seed(event, "owen"),
                max_evaluations=self.max_evaluations,
                target_stderr=self.target_stderr,
                rank_patience=self.rank_patience,
            )
        labels: dict[str, str] = {}
        given: dict[str, float] = {}
        stderr: dict[str, dict[str, float]] = {}
        for stage in positive:
            assets = stages[stage]
            if len(assets) == 1:
                labels[stage], stderr[stage] = "single", {assets[0]: 0.0}
                continue
            if owen is not None:
                label, values, errors = (
                    owen.method,
                    {a: owen.values[a] for a in assets},
                    {a: owen.stderr[a] for a in assets},
                )
            else:
                label, values, errors = self._within(event, stage, stages, cached)
            labels[stage], stderr[stage] = label, errors
            if label not in EXACT_LABELS:
                given.update(values)
        record = EventRecord(
            id=event.id,
            revenue=event.revenue,
            output=output_digest(event.text),
            stages=tuple(stages.items()),
            worths=MappingProxyType(table()),
            labels=_frozen(labels),
            given=_frozen({a: quantize(v, self.precision) for a, v in given.items()}),
        )
        # The amounts come from the record alone, by the function an auditor runs on it.
        split = split_event(record, precision=self.precision, negative=self.negative)
        record = replace(record, notes=split.notes)
        unit = Fraction(1, 10**self.precision)
        out: dict[str, StageAttribution] = {}
        for stage, assets in stages.items():
            value = float(split.stage_values[stage] * unit)
            if stage not in split.labels:
                out[stage] = StageAttribution(
                    stage, assets, value, 0, "none", amounts=_frozen(dict.fromkeys(assets, 0))
                )
                continue
            out[stage] = StageAttribution(
                stage,
                assets,
                value,
                split.stage_amounts[stage],
                split.labels[stage],
                _frozen({a: float(split.asset_values[a] * unit) for a in assets}),
                _frozen(stderr[stage]),
                _frozen({a: split.amounts[a] for a in assets}),
            )
        within_label = "owen" if self.method == "owen" else self.method
        return EventAttribution(
            event,
            float(split.utility * unit),
            _frozen(out),
            f"stages=shapley/exact; within={within_label}",
            cached.n_evaluations,
            record,
            split.notes,
        )

    def _within(
        self,
        event: E,
        stage: str,
        stages: Mapping[str, tuple[str, ...]],
        cached: CachedGame[str],
    ) -> tuple[str, dict[str, float], dict[str, float]]:
        assets = stages[stage]
        if stage == DATA_STAGE and self.method in ("tracin", "tracin-projected"):
            dim = self.projection_dim if self.method == "tracin-projected" else None
            row = self._influence_row(event, dim)
            label = "tracin" if dim is None else f"tracin/projected(dim={dim})"
            return label, {a: row[a] for a in assets}, dict.fromkeys(assets, 0.0)
        rest = frozenset(a for s, ids in stages.items() if s != stage for a in ids)
        offset = cached(rest)
        game = PipelineGame(assets, lambda t: cached(t | rest) - offset, free_disposal=False)
        exact = len(assets) <= self.max_exact
        if exact:
            # The record's split recomputes an exact stage from the table of worths, so
            # only the coalitions it reads are evaluated, not the floats' Shapley values.
            for coalition in every_coalition(assets)[1:]:
                game(coalition)
            return "shapley/exact", {}, dict.fromkeys(assets, 0.0)
        self._check_cost(stages, cached.game)
        result = shapley_values(
            game,
            list(assets),
            method="exact" if exact else "permutation",
            sampler="antithetic",
            seed=self._seed(event, stage),
            max_evaluations=self.max_evaluations,
            target_stderr=self.target_stderr,
            rank_patience=self.rank_patience,
        )
        return (
            result.method,
            dict(result.values),
            dict(result.stderr),
        )

    def _influence_row(self, event: E, dim: int | None) -> dict[str, float]:
        """The data stage's scores of ``event``, from one ``influence`` call for a batch.

        The batch is ``event`` and the next events of the log with more than one data
        asset, up to :attr:`influence_batch`; their rows are kept until the next batch.
        """
        row = self._rows.pop(event.id, None)
        if row is not None:
            return row
        batch = [event]
        for later in self._log[self._at + 1 :]:
            if len(batch) >= self.influence_batch:
                break
            try:
                if len(self.pipeline.assets(later).get(DATA_STAGE, ())) > 1:
                    batch.append(later)
            except AmeError:
                # A malformed event is reported when its turn comes, by its own call.
                break
        try:
            scores = self.pipeline.influence(batch, projection_dim=dim)
        except AmeError:
            if len(batch) == 1:
                raise
            # Another event of the batch cannot be scored (e.g. gradients over LoRA
            # factors and no adapter): this one alone, so an error names its own event.
            batch = [event]
            scores = self.pipeline.influence(batch, projection_dim=dim)
        self._rows = {e.id: scores.row(i) for i, e in enumerate(batch)}
        return self._rows.pop(event.id)

    def _check_cost(self, stages: Mapping[str, tuple[str, ...]], game: object) -> None:
        n = len(stages.get(DATA_STAGE, ()))
        data = frozenset(stages.get(DATA_STAGE, ()))
        if isinstance(game, PipelineGame) and any(frozenset(b) == data for b in game.blocks):
            # The game disposes of the datasets together: a coalition needs two models.
            return
        if self.free_disposal and n > self.max_exact:
            raise InputError(
                f"method={self.method!r} with free disposal retrains the model on every subset "
                f"of the {n} datasets ({2**n} models); use method='tracin', "
                "free_disposal=False, or raise max_exact"
            )

    def _negative(self, notes: list[str], message: str) -> None:
        if self.negative == "error":
            raise AttributionError(f"negative contribution: {message}")
        notes.append(message)

    def _seed(self, event: PipelineEvent, stage: str) -> int:
        # From the event id, not its position: reordering events changes nothing.
        digest = hashlib.sha256(f"{self.seed}\0{event.id}\0{stage}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1


# The members isinstance(pipeline, AttributionPipeline) checks, named when one is missing.
_PROTOCOL = ("seed", "assets", "asset_game", "influence")


def _checked_stages(
    stages: Mapping[str, tuple[str, ...]], event: PipelineEvent
) -> dict[str, tuple[str, ...]]:
    """The pipeline's stages for ``event``, checked: string ids, each asset in one stage."""
    out: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    for stage, assets in stages.items():
        ids = tuple(assets)
        if not isinstance(stage, str) or not all(isinstance(a, str) for a in ids):
            raise InputError(
                f"pipeline.assets: stage {stage!r} of event {event.id!r} must be a string id "
                f"with a tuple of string asset ids, got {assets!r}"
            )
        repeated = sorted(seen.intersection(ids)) or sorted({a for a in ids if ids.count(a) > 1})
        if repeated:
            raise InputError(
                f"pipeline.assets: assets {repeated} of event {event.id!r} appear twice"
            )
        seen.update(ids)
        out[stage] = ids
    if not out:
        raise InputError(f"pipeline.assets: event {event.id!r} used no asset")
    return out
