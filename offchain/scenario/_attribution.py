"""From a scenario to values: one orchestration, which every caller shares.

``ame attribute``, ``ame settle --scenario``, the market demo and the judgment-suite
evaluation all go the same way:

1. :func:`reference_pipeline`: the scenario's pipeline, the reference pipeline over the
   scenario's settings (seed and ``pipeline`` block), corpora and base model;
2. :func:`scenario_events`: the scenario's events, answered greedily by it;
3. :class:`~offchain.attribution.multistage.MultiStageAttribution`: each event's revenue
   split over the stages, then over each stage's assets, exactly to the unit;
4. :func:`values_document`: the split as the ``ame.values/1`` document mapping reads,
   with the scenario's id and digest naming the inputs.

:func:`attribute_scenario` runs all four and reports its progress. The attribution only
sees plain inputs (settings, corpora, events): it knows nothing of scenario files.
Imports torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ame_core.exceptions import InputError
from ame_core.progress import Progress, quiet_progress
from offchain.attribution.multistage import (
    Method,
    MultiStageAttribution,
    MultiStageResult,
    NegativePolicy,
)
from offchain.attribution.record import iter_record_lines
from offchain.attribution.reference.pipeline import Event, ReferencePipeline
from offchain.attribution.values import EventTerms
from offchain.attribution.values import values_document as attribution_values
from offchain.exceptions import AttributionError
from offchain.scenario._document import EventSpec, Scenario

__all__ = [
    "asset_hashes",
    "attribute_scenario",
    "record_lines",
    "reference_pipeline",
    "scenario_events",
    "values_document",
]


def asset_hashes(scenario: Scenario) -> dict[str, str]:
    """The content hash of every asset of a scenario, computed from the content itself.

    What the reference market's registry lists (``reference.registry.yaml``): SHA-256
    of each dataset's sentences joined by newlines, of each adapter's demonstrations as
    context TAB completion, of each template's text, and of the base model's training
    recipe (its pipeline settings less the counterfactual options, which train nothing).
    """
    corpora = scenario.corpora()

    def digest(text: str) -> str:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    out = {d.id: digest("\n".join(d.sentences)) for d in corpora.datasets}
    out.update(
        {a.id: digest("\n".join(f"{c}\t{t}" for c, t in a.pairs)) for a in corpora.adapter_data}
    )
    out.update({p.id: digest(p.template) for p in corpora.prompts})
    recipe = scenario.pipeline.model_dump(
        mode="json", exclude={"neutral_template", "reference_model"}
    )
    out[scenario.base_model.id] = digest(json.dumps(recipe, sort_keys=True))
    return out


def scenario_estimator(
    scenario: Scenario,
    pipeline: ReferencePipeline,
    *,
    method: Method = "shapley",
    negative: NegativePolicy = "clip",
) -> MultiStageAttribution[Event]:
    """The estimator a scenario's events are attributed with, wherever they run.

    Seeded with the scenario's seed and given its ``valuation`` settings: the one place
    :func:`attribute_scenario` and every batch worker build it, so both give the same bits.
    """
    return MultiStageAttribution(
        pipeline,
        method=method,
        seed=scenario.seed,
        negative=negative,
        **scenario.valuation.options(),
    )


def record_lines(
    result: MultiStageResult, scenario: Scenario, *, epoch: int | None = None
) -> Iterator[bytes]:
    """The ``ame.attribution/1`` record of a scenario's attribution, line by line.

    :func:`offchain.attribution.record.iter_record_lines` with the scenario's asset
    hashes (:func:`asset_hashes`) and, as the pipeline, the reference pipeline's
    settings (utility and counterfactuals included) and the scenario's id and digest.

    Args:
        result: The attribution of the scenario's events (:func:`attribute_scenario`).
        scenario: The scenario.
        epoch: Epoch of the values the record explains; default the scenario's.
    """
    pipeline = {
        "kind": "reference",
        "seed": scenario.seed,
        "settings": scenario.pipeline.model_dump(mode="json"),
        "inputs": {"id": scenario.id, "sha256": scenario.digest()},
    }
    return iter_record_lines(
        result,
        epoch=scenario.epoch if epoch is None else epoch,
        assets=asset_hashes(scenario),
        pipeline=pipeline,
    )


def reference_pipeline(scenario: Scenario) -> ReferencePipeline:
    """The pipeline of an ``ame.scenario/1`` market (not fitted yet).

    Its settings are :meth:`Scenario.settings` (seed and ``pipeline`` block), its
    corpora :meth:`Scenario.corpora`, its base model the scenario's ``base_model``. The
    reference scenario gives the same pipeline as ``ReferencePipeline()``.

    Raises:
        InputError: If ``scenario`` is not a :class:`Scenario`.
    """
    if not isinstance(scenario, Scenario):
        raise InputError(f"scenario: expected a Scenario, got {type(scenario).__name__}")
    return ReferencePipeline(
        scenario.settings(),
        corpora=scenario.corpora(),
        base_model=scenario.base_model.id,
        owner=scenario.base_model.owner,
    )


def scenario_events(scenario: Scenario, pipeline: ReferencePipeline) -> list[Event]:
    """The scenario's events, answered greedily by its fitted pipeline, in scenario order.

    Args:
        scenario: The market.
        pipeline: Its pipeline (:func:`reference_pipeline`), fitted.

    Returns:
        One event per event of the scenario, with its id and revenue.

    Raises:
        AttributionError: If ``pipeline`` was not built from ``scenario`` (other
            settings, base model or corpora), or is not fitted.
    """
    if pipeline.settings != scenario.settings() or pipeline.base_id != scenario.base_model.id:
        raise AttributionError(
            f"scenario_events: the pipeline was not built from scenario {scenario.id!r}"
        )
    if pipeline.corpora != scenario.corpora():
        raise AttributionError(
            f"scenario_events: the pipeline was not built from scenario {scenario.id!r} "
            "(other corpora)"
        )
    return _answer(scenario, pipeline, scenario.events)


def _answer(
    scenario: Scenario, pipeline: ReferencePipeline, specs: Sequence[EventSpec]
) -> list[Event]:
    # One way to answer an event, whether all of them here or a batch on a worker.
    return [
        pipeline.run(
            scenario.request(e),
            prompt=e.prompt,
            adapter=e.adapter,
            revenue=e.revenue,
            event_id=e.id,
        )
        for e in specs
    ]


def values_document(
    result: MultiStageResult, scenario: Scenario, *, epoch: int | None = None
) -> dict[str, Any]:
    """The ``ame.values/1`` document of a scenario's attributed events (JSON-ready).

    :func:`offchain.attribution.values.values_document` with the scenario's metadata:
    each event's ``commercial`` and ``date`` from the scenario, the scenario's id and
    digest naming the inputs.

    Args:
        result: The attribution of (some of) the scenario's events.
        scenario: The scenario the events came from.
        epoch: Epoch of the document; default the scenario's.

    Raises:
        InputError: If an event is not one of the scenario's.
    """
    specs = {e.id: e for e in scenario.events}
    for item in result.events:
        spec = specs.get(item.event.id)
        if spec is None or spec.revenue != item.revenue:
            raise InputError(
                f"events: {item.event.id!r} is not an event of scenario {scenario.id!r}"
            )
    return attribution_values(
        result,
        epoch=scenario.epoch if epoch is None else epoch,
        terms={e.id: EventTerms(e.commercial, e.date) for e in scenario.events},
        inputs=(scenario.id, scenario.digest()),
    )


def attribute_scenario(
    scenario: Scenario,
    *,
    method: Method = "shapley",
    negative: NegativePolicy = "clip",
    epoch: int | None = None,
    pipeline: ReferencePipeline | None = None,
    progress: Progress = quiet_progress,
) -> tuple[MultiStageResult, dict[str, Any]]:
    """Build and fit the scenario's pipeline, answer its events, attribute them.

    Args:
        scenario: The market.
        method: Within-stage method, one of
            :data:`~offchain.attribution.multistage.METHODS`.
        negative: Negative-contribution policy (``"clip"`` or ``"error"``).
        epoch: Epoch of the values document; default the scenario's.
        pipeline: The scenario's pipeline already fitted (:func:`reference_pipeline`),
            to reuse the models it trained; default a new one, trained here.
        progress: Told when training and attribution start, and advanced per event.

    Returns:
        The split of every event's revenue (seeded with the scenario's seed) and its
        ``ame.values/1`` document (:func:`values_document`).

    Raises:
        InputError: If an argument is invalid (before any training).
        AttributionError: If ``pipeline`` is not the scenario's, or with
            ``negative="error"``, if a value is negative.
    """
    pipe = reference_pipeline(scenario) if pipeline is None else pipeline
    # Built before training, so that a bad argument fails at once.
    estimator = scenario_estimator(scenario, pipe, method=method, negative=negative)
    if pipeline is None:
        progress.step(
            f"training the pipeline of {scenario.id!r} (datasets: {len(scenario.datasets)}, "
            f"adapters: {len(scenario.adapters)}, prompts: {len(scenario.prompts)})"
        )
        pipe.fit()
    events = scenario_events(scenario, pipe)
    progress.step(f"attributing {len(events)} events (within stages: {method})")
    with progress.bar("events", len(events)) as advance:
        result = estimator.fit(events, progress=lambda _i, _item: advance(1)).result
    return result, values_document(result, scenario, epoch=epoch)
