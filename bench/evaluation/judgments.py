r"""Score revenue-sharing methods against the reference judgments of a suite.

For each scenario of a suite (:func:`~bench.evaluation.suite.load_suite`), the
scenario's pipeline is trained once (:class:`~bench.evaluation.methods.ScenarioRun`)
and every method splits its events. Each method's payouts, as shares of the revenue,
are compared with the scenario's reference at its level (payees when the reference
judges who is paid, assets otherwise) by Kendall :math:`\tau_b`, Spearman
:math:`\rho`, top-1 agreement and L1 distance (:mod:`bench.evaluation.metrics`).

Axioms are checked on each event's attribution, before rights mapping (royalties and
licences move money on purpose):

* **efficiency**: the method's values add up to the full pipeline's worth,
  :math:`|\sum_i \phi_i - v(N)| \le 10^{-6} \max(1, |v(N)|)`, so paying out the revenue
  needs no rescaling of them (the split rules ``uniform`` and ``data_size`` divide
  :math:`v(N)` by definition);
* **symmetry of duplicates**: verbatim copies of a dataset are paid the same, within
  :data:`~bench.evaluation.metrics.TIE` of the revenue;
* **null player**: an asset that adds nothing by construction (a random-walk dataset,
  a pass-through prompt) is paid at most :data:`NULL_TOLERANCE` of the revenue: the
  retrained model is stochastic, so unrelated text can move the likelihood by a hair.

A violation is counted per event (and per duplicate pair or null asset).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

from ame_core.exceptions import InputError
from bench.evaluation.methods import (
    ABLATIONS,
    METHODS,
    EventSplit,
    MethodResult,
    ScenarioRun,
    run_method,
)
from bench.evaluation.metrics import (
    TIE,
    kendall_tau,
    l1_distance,
    spearman_rho,
    top1_agreement,
)
from bench.evaluation.suite import JudgmentScenario
from offchain.attribution.reference.settings import SLOT
from offchain.scenario import (
    CopyGenerator,
    RandomWalkGenerator,
    Scenario,
    parse_scenario,
)

if TYPE_CHECKING:
    from offchain.attribution.reference.pipeline import Event, ReferencePipeline

__all__ = [
    "NULL_TOLERANCE",
    "MethodSummary",
    "ScenarioEvaluation",
    "ScenarioScore",
    "Violations",
    "check_premise",
    "duplicate_groups",
    "evaluate_scenario",
    "grounded",
    "grounded_in",
    "null_assets",
    "score",
    "summarise",
    "violations",
    "with_pipeline",
]

#: Largest share of an event's revenue a null player may be paid without a violation.
NULL_TOLERANCE = 0.01
_EFFICIENCY = 1e-6


@dataclass(frozen=True)
class Violations:
    """Axiom violations of one method on one scenario (see the module).

    Attributes:
        efficiency: Events whose values do not add up to :math:`v(N)`.
        symmetry: (event, duplicate pair) where the copies are paid differently.
        null_player: (event, null asset) where a null asset is paid over the tolerance.
    """

    efficiency: int = 0
    symmetry: int = 0
    null_player: int = 0

    @property
    def total(self) -> int:
        """All violations."""
        return self.efficiency + self.symmetry + self.null_player


@dataclass(frozen=True)
class ScenarioScore:
    """How one method's payouts on one scenario agree with its reference.

    Attributes:
        scenario: Scenario id.
        family: Its family.
        method: Method id.
        level: ``"assets"`` or ``"payees"``: what the reference judges.
        tau: Kendall :math:`\\tau_b` against the reference ranking.
        rho: Spearman :math:`\\rho` against the reference ranking.
        top1: Top-1 agreement (fractional when tied).
        l1: L1 distance to the reference shares.
        violations: Axiom violations.
        shares: The method's share of the revenue per asset or payee (at ``level``).
        escrowed: Share of the revenue held in escrow.
    """

    scenario: str
    family: str
    method: str
    level: str
    tau: float
    rho: float
    top1: float
    l1: float
    violations: Violations
    shares: Mapping[str, float]
    escrowed: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (shares rounded to 6 decimals)."""
        out = asdict(self)
        out["shares"] = {k: round(v, 6) for k, v in self.shares.items()}
        out["violations"] = asdict(self.violations)
        return out


def with_pipeline(scenario: Scenario, pipeline: Mapping[str, Any]) -> Scenario:
    """The scenario with its ``pipeline`` block updated (e.g. tiny sizes for a smoke run).

    Args:
        scenario: The scenario.
        pipeline: Fields of the ``pipeline`` block to set; ``model`` and ``train`` are
            merged field by field.

    Returns:
        A validated copy (its digest differs when anything changed).

    Raises:
        InputError: If the updated block is invalid.
    """
    doc = scenario.canonical()
    block = dict(doc.get("pipeline", {}))
    for key, value in pipeline.items():
        if key in ("model", "train") and isinstance(value, Mapping):
            block[key] = {**block.get(key, {}), **value}
        else:
            block[key] = value
    doc["pipeline"] = block
    return parse_scenario(doc, source=f"{scenario.id} (pipeline updated)")


def duplicate_groups(scenario: Scenario) -> list[tuple[str, ...]]:
    """Groups of datasets with identical sentences (verbatim copies), each sorted.

    Read from the scenario's corpora (no training): the pipeline trains on a dataset's
    sentences only, so identical sentences make interchangeable players.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for d in scenario.corpora().datasets:
        groups.setdefault(tuple(sorted(d.sentences)), []).append(d.id)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def null_assets(scenario: Scenario) -> frozenset[str]:
    """Assets that add nothing by construction.

    Random-walk datasets (and copies of them) share no word with any other text, and a
    prompt whose template is ``{request}`` renders exactly the neutral prompt.
    """
    specs = {d.id: d for d in scenario.datasets}
    out = set()
    for d in scenario.datasets:
        source = d
        while isinstance(source.generate, CopyGenerator):
            source = specs[source.generate.of]
        if isinstance(source.generate, RandomWalkGenerator):
            out.add(d.id)
    out.update(p.id for p in scenario.prompts if p.template == "{request}")
    return frozenset(out)


def violations(scenario: Scenario, splits: Sequence[EventSplit]) -> Violations:
    """Axiom violations of a split of the scenario's events (see the module).

    Args:
        scenario: The scenario (its duplicates and null assets).
        splits: The method's split of each event, before rights mapping.

    Returns:
        The counts.
    """
    efficiency = symmetry = null = 0
    duplicates, nulls = duplicate_groups(scenario), null_assets(scenario)
    for split in splits:
        if abs(sum(split.values.values()) - split.worth) > _EFFICIENCY * max(1.0, abs(split.worth)):
            efficiency += 1
        if split.revenue == 0:
            continue
        share = {a: v / split.revenue for a, v in split.amounts.items()}
        for group in duplicates:
            present = [share[a] for a in group if a in share]
            symmetry += sum(abs(x - present[0]) > TIE for x in present[1:])
        null += sum(share[a] > NULL_TOLERANCE for a in nulls if a in share)
    return Violations(efficiency, symmetry, null)


def score(item: JudgmentScenario, result: MethodResult) -> ScenarioScore:
    """Compare one method's result on a scenario with the scenario's reference.

    Args:
        item: The suite scenario (family and reference).
        result: The method's result on the scenario.

    Returns:
        The scores.
    """
    shares = result.payouts.shares(item.level)
    revenue = result.payouts.revenue
    return ScenarioScore(
        scenario=item.id,
        family=item.family,
        method=result.method,
        level=item.level,
        tau=kendall_tau(item.ranking, shares),
        rho=spearman_rho(item.ranking, shares),
        top1=top1_agreement(item.ranking, shares),
        l1=l1_distance(item.shares, shares),
        violations=violations(item.scenario, result.splits),
        shares=shares,
        escrowed=result.payouts.escrowed / revenue if revenue else 0.0,
    )


def grounded(pipeline: ReferencePipeline, event: Event) -> bool:
    """Whether an event's output continues its request as the training text does.

    The premise of a judgment such as "the output repeats geo's capital" is a property
    of the generated output alone, checked here without any attribution method: the
    rendered prompt followed by the output (less a trailing style tail of the event's
    adapter) must run to the end of some pretraining sentence, e.g. ``the capital of
    zorbia is`` + ``kelvo .``; or prompt and output must be one of the adapter's
    demonstrations. An output that wanders (``capital of zorbia`` -> ``is the``) makes
    any reference about its source ill-posed.

    Args:
        pipeline: The fitted pipeline that answered the event.
        event: The event.

    Returns:
        True if the output is grounded in the training text.
    """
    return bool(grounded_in(pipeline, event))


def grounded_in(pipeline: ReferencePipeline, event: Event) -> tuple[str, ...]:
    """Where an event's output is grounded: the text a judge checks its premise against.

    The ids of the pretraining datasets holding a sentence that the rendered prompt (the
    pipeline's neutral template for an event without one) followed by the output (less a trailing style tail of the event's adapter) runs to
    the end of, in dataset order; or the adapter's id alone when prompt and output are
    one of its demonstrations. Only text is compared: no model is queried.

    Args:
        pipeline: The fitted pipeline that answered the event.
        event: The event.

    Returns:
        The ids; empty when the output is not grounded (see :func:`grounded`).
    """
    # A prompt-less event was answered in the pipeline's neutral template (by default the
    # bare request): that is the text before its output.
    template = (
        pipeline.settings.neutral_template
        if event.prompt is None
        else pipeline.prompts[event.prompt].template
    )
    context = template.replace(SLOT, event.request).split()
    output = event.text.split()
    contents = [output]
    if event.adapter is not None:
        pairs = next(d.pairs for d in pipeline.corpora.adapter_data if d.id == event.adapter)
        if any(c.split() == context and t.split() == output for c, t in pairs):
            return (event.adapter,)
        for tail in sorted({tuple(t.split()) for _, t in pairs}):
            if len(output) > len(tail) and tuple(output[-len(tail) :]) == tail:
                contents.append(output[: -len(tail)])
    found = []
    for d in pipeline.corpora.datasets:
        for content, sentence in product(contents, d.sentences):
            text, words = context + content, sentence.split()
            if len(words) >= len(text) and words[len(words) - len(text) :] == text:
                found.append(d.id)
                break
    return tuple(found)


@dataclass(frozen=True)
class ScenarioEvaluation:
    """Every method scored on one scenario, and whether the scenario's premise held.

    Attributes:
        scenario: Scenario id.
        family: Its family.
        level: ``"assets"`` or ``"payees"``.
        outputs: Each event's generated output, by event id.
        grounded: Each event's :func:`grounded` verdict, by event id.
        scores: One score per method, in the order asked.
        seconds: Wall time of training and scoring.
        found_in: Each event's :func:`grounded_in` datasets (or adapter), by event id.
    """

    scenario: str
    family: str
    level: str
    outputs: Mapping[str, str]
    grounded: Mapping[str, bool]
    scores: tuple[ScenarioScore, ...]
    seconds: float
    found_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def well_posed(self) -> bool:
        """Whether every event's output is grounded (the reference's premise holds)."""
        return all(self.grounded.values())


def evaluate_scenario(
    item: JudgmentScenario,
    methods: Sequence[str] | None = None,
    *,
    pipeline: Mapping[str, Any] | None = None,
) -> ScenarioEvaluation:
    """Train a scenario's pipeline once and score every method on it.

    Args:
        item: The suite scenario.
        methods: Method ids (default: :data:`METHODS` then :data:`ABLATIONS`).
        pipeline: Overrides of the scenario's ``pipeline`` block (see
            :func:`with_pipeline`), e.g. for a smoke run.

    Returns:
        The scores, one per method in the order given, and the events' outputs.

    Raises:
        InputError: If a method id is unknown or the overrides are invalid.
    """
    ids = list(methods) if methods is not None else [*METHODS, *ABLATIONS]
    unknown = [m for m in ids if m not in METHODS and m not in ABLATIONS]
    if unknown:
        raise InputError(f"methods: unknown {unknown}, have {[*METHODS, *ABLATIONS]}")
    return _evaluate(item, ids, pipeline)


def check_premise(
    item: JudgmentScenario, *, pipeline: Mapping[str, Any] | None = None
) -> ScenarioEvaluation:
    """Train a scenario's pipeline, answer its events and check each output is grounded.

    No method runs and no game is evaluated: this is what a judge may see while writing
    a reference (the outputs), and nothing of how any method would split them.

    Args:
        item: The suite scenario.
        pipeline: Overrides of the scenario's ``pipeline`` block (see
            :func:`with_pipeline`).

    Returns:
        The evaluation with the outputs and :func:`grounded` verdicts, and no scores.

    Raises:
        InputError: If the overrides are invalid.
    """
    return _evaluate(item, [], pipeline)


def _evaluate(
    item: JudgmentScenario, methods: Sequence[str], pipeline: Mapping[str, Any] | None
) -> ScenarioEvaluation:
    start = time.perf_counter()
    scenario = item.scenario if not pipeline else with_pipeline(item.scenario, pipeline)
    run = ScenarioRun(scenario).fit()
    scores = tuple(score(item, run_method(run, m)) for m in methods)
    found = {e.id: grounded_in(run.pipeline, e) for e in run.events}
    return ScenarioEvaluation(
        scenario=item.id,
        family=item.family,
        level=item.level,
        outputs={e.id: e.text for e in run.events},
        grounded={e: bool(where) for e, where in found.items()},
        scores=scores,
        seconds=time.perf_counter() - start,
        found_in=found,
    )


@dataclass(frozen=True)
class MethodSummary:
    """One method over a suite: means over scenarios, per family, and the worst family.

    Attributes:
        method: Method id.
        scenarios: Scenarios scored.
        tau: Mean Kendall :math:`\\tau_b`.
        rho: Mean Spearman :math:`\\rho`.
        top1: Mean top-1 agreement.
        l1: Mean L1 distance.
        violations: Total axiom violations, by axiom.
        families: Per family, the mean of each metric (``tau``, ``rho``, ``top1``, ``l1``).
        worst_family: The family with the lowest mean :math:`\\tau_b`.
    """

    method: str
    scenarios: int
    tau: float
    rho: float
    top1: float
    l1: float
    violations: Violations
    families: Mapping[str, Mapping[str, float]]
    worst_family: str

    @property
    def worst_tau(self) -> float:
        """Mean :math:`\\tau_b` of the worst family."""
        return self.families[self.worst_family]["tau"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, numbers rounded to 4 decimals."""
        return {
            "scenarios": self.scenarios,
            "tau": round(self.tau, 4),
            "rho": round(self.rho, 4),
            "top1": round(self.top1, 4),
            "l1": round(self.l1, 4),
            "worst_family": self.worst_family,
            "worst_tau": round(self.worst_tau, 4),
            "violations": asdict(self.violations),
            "families": {
                f: {k: round(v, 4) for k, v in m.items()} for f, m in self.families.items()
            },
        }


_METRICS: dict[str, Callable[[ScenarioScore], float]] = {
    "tau": lambda s: s.tau,
    "rho": lambda s: s.rho,
    "top1": lambda s: s.top1,
    "l1": lambda s: s.l1,
}


def summarise(scores: Iterable[ScenarioScore]) -> dict[str, MethodSummary]:
    """Aggregate scenario scores per method: overall means, family means, worst family.

    Args:
        scores: Scores of any methods on any scenarios.

    Returns:
        Per method id (in order of first appearance), its summary.

    Raises:
        InputError: If there are no scores.
    """
    by_method: dict[str, list[ScenarioScore]] = {}
    for s in scores:
        by_method.setdefault(s.method, []).append(s)
    if not by_method:
        raise InputError("scores: nothing to summarise")
    out = {}
    for method, items in by_method.items():
        families: dict[str, list[ScenarioScore]] = {}
        for s in items:
            families.setdefault(s.family, []).append(s)
        means = {
            f: {k: statistics.fmean(get(s) for s in group) for k, get in _METRICS.items()}
            for f, group in sorted(families.items())
        }
        worst = min(means, key=lambda f: (means[f]["tau"], f))
        out[method] = MethodSummary(
            method=method,
            scenarios=len(items),
            tau=statistics.fmean(s.tau for s in items),
            rho=statistics.fmean(s.rho for s in items),
            top1=statistics.fmean(s.top1 for s in items),
            l1=statistics.fmean(s.l1 for s in items),
            violations=Violations(
                sum(s.violations.efficiency for s in items),
                sum(s.violations.symmetry for s in items),
                sum(s.violations.null_player for s in items),
            ),
            families=means,
            worst_family=worst,
        )
    return out
