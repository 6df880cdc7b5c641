r"""The revenue-sharing methods compared on the reference-judgment suite.

Every method gets the same inputs: a scenario's fitted pipeline
(:class:`~offchain.attribution.reference.pipeline.ReferencePipeline`), its answered events, and
per event the asset game :math:`v` over the assets the event used (the utility the
scenario's ``pipeline.utility`` names, by default the log-likelihood gain of the output,
with free disposal: :meth:`ReferencePipeline.asset_game`). Each method splits each
event's revenue :math:`R` over those assets, exactly, in integers (largest remainder
over its non-negative weights):

==================  ===================================================================
``uniform``         the same weight for every asset the event used
``data_size``       datasets in proportion to their tokens; nothing to the base model,
                    adapters or prompts (a contributor fund paid pro rata to volume)
``loo``             leave-one-out, :math:`v(N) - v(N \setminus \{i\})`
``shapley``         exact Shapley values of :math:`v` over all assets, no stages
``data_only``       exact Shapley values of the data game (the datasets, with the rest of
                    the pipeline present); only datasets are paid
``ame``             AME: :class:`~offchain.attribution.multistage.MultiStageAttribution`
                    (stages split by the Owen value of the stage game, datasets, adapters
                    and prompts by exact Shapley within their stage), then rights mapping
==================  ===================================================================

and two ablations, to see what each half of AME contributes: ``ame_unmapped`` (AME's
attribution, no rights mapping) and ``shapley_mapped`` (flat Shapley, then the same
rights mapping as AME).

A weight below zero is clipped to zero (with free disposal :math:`v` is monotone, so
none of these methods produces one); an event with no positive weight is unattributed
and its revenue held in escrow.

Rights. A method without rights mapping pays each asset's amount to the one owner the
scenario lists for it (``owner`` or ``author``). A mapped method writes the split as an
``ame.values/1`` document and maps it with the scenario's rights registry
(:func:`~offchain.mapping.map_epoch`, default policy: withheld value is escrowed), so
royalties, co-owners, licences and opt-outs apply; payees are the owners' registry
names. Without a registry, mapping changes nothing.

Every method is deterministic: exact games, the pipeline's seed, integer splits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from ame_core.apportion import apportion
from ame_core.exceptions import InputError
from offchain.attribution.methods.shapley import shapley_values
from offchain.exceptions import AttributionError
from offchain.mapping import map_epoch, parse_values
from offchain.scenario import Scenario

if TYPE_CHECKING:
    from offchain.attribution.reference.pipeline import Event, PipelineGame, ReferencePipeline

__all__ = [
    "ABLATIONS",
    "METHODS",
    "EventSplit",
    "Method",
    "MethodResult",
    "Payouts",
    "ScenarioRun",
    "pay",
    "run_method",
    "split_revenue",
]


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class EventSplit:
    """One method's split of one event.

    Attributes:
        event: Event id.
        revenue: The event's revenue, in base units.
        worth: :math:`v(N)`, the full pipeline's worth in the asset game (nats).
        values: The method's value of each asset the event used, in nats (for the
            split rules ``uniform`` and ``data_size``, their share of :math:`v(N)`).
        amounts: Revenue of each asset, in base units; sums to :attr:`revenue`, or to
            0 if no asset had a positive weight.
    """

    event: str
    revenue: int
    worth: float
    values: Mapping[str, float]
    amounts: Mapping[str, int]


@dataclass(frozen=True)
class Payouts:
    """What a method pays, over all of a scenario's events.

    Attributes:
        revenue: Total revenue of the events.
        assets: Amount paid to each asset (after royalties and filters when mapped).
        payees: Amount paid to each payee: registry owner names when mapped, the
            scenario's listed owners otherwise.
        escrowed: Revenue held back: withheld by the rights filters, or unattributed.
    """

    revenue: int
    assets: Mapping[str, int]
    payees: Mapping[str, int]
    escrowed: int

    def shares(self, level: str) -> dict[str, float]:
        """Each asset's (``level="assets"``) or payee's (``"payees"``) share of revenue.

        Raises:
            InputError: If ``level`` is neither.
        """
        if level not in ("assets", "payees"):
            raise InputError(f"level: must be 'assets' or 'payees', got {level!r}")
        paid = self.assets if level == "assets" else self.payees
        return {k: v / self.revenue for k, v in sorted(paid.items())} if self.revenue else {}


@dataclass(frozen=True)
class MethodResult:
    """A method's splits of a scenario's events and what it pays.

    Attributes:
        method: The method id.
        splits: Per event, in scenario order.
        payouts: What is paid, per asset and per payee.
        mapped: Whether the rights registry was applied.
    """

    method: str
    splits: tuple[EventSplit, ...]
    payouts: Payouts
    mapped: bool


def split_revenue(revenue: int, weights: Mapping[str, float]) -> dict[str, int]:
    """``revenue`` split exactly over the keys of ``weights``, in proportion to them.

    Negative weights count as 0. Floats are read exactly (they are dyadic rationals),
    scaled to integers and apportioned by largest remainder, ties to the smaller key.

    Args:
        revenue: Amount to split, in base units (>= 0).
        weights: Weight of each key; finite.

    Returns:
        Every key's amount; they sum to ``revenue``, or are all 0 if no weight is
        positive.

    Raises:
        InputError: If a weight is not finite or ``revenue`` is negative.
    """
    if revenue < 0:
        raise InputError(f"revenue: must be >= 0, got {revenue}")
    bad = sorted(k for k, w in weights.items() if not math.isfinite(w))
    if bad:
        raise InputError(f"weights: not finite for {bad}")
    out = dict.fromkeys(weights, 0)
    positive = {k: Fraction(w) for k, w in sorted(weights.items()) if w > 0}
    if not positive:
        return out
    scale = math.lcm(*(f.denominator for f in positive.values()))
    ints = [int(f * scale) for f in positive.values()]
    parts = apportion(revenue, ints, list(positive), sum(ints))
    out.update(zip(positive, parts, strict=True))
    return out


class ScenarioRun:
    """A scenario's fitted pipeline, answered events and cached games, shared by methods.

    Every method reads the same pipeline (retrained models are cached in it, so each
    counterfactual model is trained once) and the same asset game per event.

    Args:
        scenario: The market to evaluate on.
    """

    def __init__(self, scenario: Scenario) -> None:
        if not isinstance(scenario, Scenario):
            raise InputError(f"scenario: expected a Scenario, got {type(scenario).__name__}")
        self.scenario = scenario
        self._pipeline: ReferencePipeline | None = None
        self._events: tuple[Event, ...] = ()
        self._games: dict[str, PipelineGame] = {}
        self._splits: dict[str, tuple[EventSplit, ...]] = {}

    def fit(self, pipeline: ReferencePipeline | None = None) -> Self:
        """Train the scenario's pipeline and answer its events.

        Args:
            pipeline: The scenario's pipeline already fitted, to reuse the models it
                trained (e.g. :meth:`ReferencePipeline.with_options` of another run's);
                default a new one, trained here.

        Returns:
            This run.

        Raises:
            AttributionError: If ``pipeline`` was not built from the scenario.
        """
        # Imported here: listing the methods or paying a split needs no torch.
        from offchain.scenario import reference_pipeline, scenario_events

        self._pipeline = reference_pipeline(self.scenario).fit() if pipeline is None else pipeline
        self._events = tuple(scenario_events(self.scenario, self._pipeline))
        self._games.clear()
        self._splits.clear()
        return self

    @property
    def pipeline(self) -> ReferencePipeline:
        """The fitted pipeline.

        Raises:
            AttributionError: If :meth:`fit` was not called.
        """
        if self._pipeline is None:
            raise AttributionError("ScenarioRun is not fitted: call fit() first")
        return self._pipeline

    @property
    def events(self) -> tuple[Event, ...]:
        """The scenario's events, answered greedily, in scenario order."""
        _ = self.pipeline
        return self._events

    def game(self, event: Event) -> PipelineGame:
        """The event's asset game (free disposal), built once per event."""
        if event.id not in self._games:
            self._games[event.id] = self.pipeline.asset_game(event)
        return self._games[event.id]

    def players(self, event: Event) -> tuple[str, ...]:
        """The assets the event used, stage by stage."""
        return tuple(chain.from_iterable(self.pipeline.assets(event).values()))

    def worth(self, event: Event) -> float:
        """:math:`v(N)` of the event's asset game."""
        return self.game(event)(frozenset(self.players(event)))

    def splits(
        self, key: str, attribute: Callable[[ScenarioRun], tuple[EventSplit, ...]]
    ) -> tuple[EventSplit, ...]:
        """``attribute(self)``, computed once per ``key`` (methods sharing an attribution)."""
        if key not in self._splits:
            self._splits[key] = attribute(self)
        return self._splits[key]


def _split(run: ScenarioRun, event: Event, values: Mapping[str, float]) -> EventSplit:
    return EventSplit(
        event.id,
        event.revenue,
        run.worth(event),
        _frozen(values),
        _frozen(split_revenue(event.revenue, values)),
    )


def _uniform(run: ScenarioRun) -> tuple[EventSplit, ...]:
    out = []
    for event in run.events:
        players = run.players(event)
        worth = run.worth(event)
        out.append(_split(run, event, dict.fromkeys(players, worth / len(players))))
    return tuple(out)


def _data_size(run: ScenarioRun) -> tuple[EventSplit, ...]:
    tokens = {d.id: sum(len(s.split()) for s in d.sentences) for d in run.pipeline.corpora.datasets}
    total = sum(tokens.values())
    out = []
    for event in run.events:
        worth = run.worth(event)
        values = {a: worth * tokens[a] / total if a in tokens else 0.0 for a in run.players(event)}
        out.append(_split(run, event, values))
    return tuple(out)


def _loo(run: ScenarioRun) -> tuple[EventSplit, ...]:
    out = []
    for event in run.events:
        game, players = run.game(event), run.players(event)
        full = frozenset(players)
        out.append(_split(run, event, {a: game(full) - game(full - {a}) for a in players}))
    return tuple(out)


def _shapley(run: ScenarioRun) -> tuple[EventSplit, ...]:
    out = []
    for event in run.events:
        players = list(run.players(event))
        result = shapley_values(run.game(event), players, method="exact")
        out.append(_split(run, event, {a: result.values[a] for a in players}))
    return tuple(out)


def _data_only(run: ScenarioRun) -> tuple[EventSplit, ...]:
    out = []
    for event in run.events:
        game = run.pipeline.data_game(event)
        result = shapley_values(game, list(game.players), method="exact")
        values = {a: result.values.get(a, 0.0) for a in run.players(event)}
        out.append(_split(run, event, values))
    return tuple(out)


def _ame(run: ScenarioRun) -> tuple[EventSplit, ...]:
    from offchain.scenario import attribute_scenario

    # What `ame attribute` computes, on the run's pipeline (its retrained models shared).
    result, _ = attribute_scenario(run.scenario, method="shapley", pipeline=run.pipeline)
    out = []
    for item in result.events:
        # AME's value of an asset: its stage's Shapley value, shared in proportion to the
        # positive within-stage values, as its amounts are.
        values: dict[str, float] = {}
        for stage in item.stages.values():
            positive = {a: v for a, v in stage.asset_values.items() if v > 0}
            total = sum(positive.values())
            for asset in stage.assets:
                paid = stage.amount > 0 and total > 0 and asset in positive
                values[asset] = stage.value * positive[asset] / total if paid else 0.0
        out.append(
            EventSplit(
                item.event.id,
                item.revenue,
                item.utility,
                _frozen(values),
                _frozen(item.amounts),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Method:
    """A method of the comparison.

    Attributes:
        id: Its id in tables and JSON.
        label: Its name for people.
        attribution: Key of the attribution it uses (methods sharing one compute it once).
        attribute: Computes the attribution of a run's events.
        mapped: Whether the rights registry is applied to the attribution.
    """

    id: str
    label: str
    attribution: str
    attribute: Callable[[ScenarioRun], tuple[EventSplit, ...]] = field(repr=False)
    mapped: bool


_ALL = (
    Method("uniform", "uniform", "uniform", _uniform, mapped=False),
    Method("data_size", "split by data size", "data_size", _data_size, mapped=False),
    Method("loo", "leave-one-out", "loo", _loo, mapped=False),
    Method("shapley", "flat Shapley", "shapley", _shapley, mapped=False),
    Method("data_only", "data-only Shapley", "data_only", _data_only, mapped=False),
    Method("ame", "AME", "ame", _ame, mapped=True),
    Method("ame_unmapped", "AME without rights mapping", "ame", _ame, mapped=False),
    Method("shapley_mapped", "flat Shapley + rights mapping", "shapley", _shapley, mapped=True),
)
#: The compared methods, by id, in table order.
METHODS: Mapping[str, Method] = MappingProxyType({m.id: m for m in _ALL[:6]})
#: The ablations, by id.
ABLATIONS: Mapping[str, Method] = MappingProxyType({m.id: m for m in _ALL[6:]})


def pay(scenario: Scenario, splits: Sequence[EventSplit], *, mapped: bool) -> Payouts:
    """What a split of a scenario's events pays, per asset and per payee.

    Args:
        scenario: The scenario the events came from.
        splits: One split per event of the scenario (any subset, each event once).
        mapped: Apply the scenario's rights registry (:func:`~offchain.mapping.map_epoch`,
            default policy); without a registry this changes nothing.

    Returns:
        The payouts. Unmapped, each asset's amount goes to the owner the scenario
        lists; mapped, to the registry's owners (by name), after royalties and filters.

    Raises:
        InputError: If a split names an event the scenario does not have.
    """
    specs = {e.id: e for e in scenario.events}
    unknown = sorted(s.event for s in splits if s.event not in specs)
    if unknown:
        raise InputError(f"splits: events {unknown} are not in scenario {scenario.id!r}")
    if mapped and scenario.registry() is not None:
        return _mapped(scenario, splits)
    return _unmapped(scenario, splits)


def _unmapped(scenario: Scenario, splits: Sequence[EventSplit]) -> Payouts:
    owners = scenario.owners()
    assets: dict[str, int] = {}
    payees: dict[str, int] = {}
    for split in splits:
        for asset, amount in split.amounts.items():
            assets[asset] = assets.get(asset, 0) + amount
            payees[owners[asset]] = payees.get(owners[asset], 0) + amount
    revenue = sum(s.revenue for s in splits)
    return Payouts(revenue, _frozen(assets), _frozen(payees), revenue - sum(assets.values()))


def _mapped(scenario: Scenario, splits: Sequence[EventSplit]) -> Payouts:
    registry = scenario.registry()
    assert registry is not None  # pay() checked
    specs = {e.id: e for e in scenario.events}
    document = {
        "format": "ame.values/1",
        "epoch": scenario.epoch,
        "scenario": {"id": scenario.id, "sha256": scenario.digest()},
        "events": [
            {
                "id": s.event,
                "revenue": str(s.revenue),
                "commercial": specs[s.event].commercial,
                "date": specs[s.event].date.isoformat(),
                "values": {a: str(v) for a, v in s.amounts.items()},
            }
            for s in splits
        ],
    }
    manifest = map_epoch(parse_values(document, source=f"{scenario.id} values"), registry)
    names = {o.address: o.name or o.address for a in registry.assets for o in a.owners}
    payees: dict[str, int] = {}
    for paid in manifest.assets:
        for owner in paid.owners:
            name = names[owner.account]
            payees[name] = payees.get(name, 0) + owner.amount
    return Payouts(
        manifest.totals.revenue,
        _frozen({p.id: p.amount for p in manifest.assets}),
        _frozen(payees),
        manifest.totals.escrowed,
    )


def run_method(run: ScenarioRun, method: str | Method) -> MethodResult:
    """Split a fitted run's events with one method and pay them out.

    Args:
        run: A fitted :class:`ScenarioRun`.
        method: A method id of :data:`METHODS` or :data:`ABLATIONS`, or a :class:`Method`.

    Returns:
        The splits and payouts.

    Raises:
        InputError: If the method id is unknown.
    """
    if isinstance(method, str):
        known = {**METHODS, **ABLATIONS}
        if method not in known:
            raise InputError(f"method: unknown {method!r}, have {sorted(known)}")
        method = known[method]
    splits = run.splits(method.attribution, method.attribute)
    return MethodResult(
        method.id, splits, pay(run.scenario, splits, mapped=method.mapped), method.mapped
    )
