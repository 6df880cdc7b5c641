"""Attribution: how much of a generated value each contributor created.

Cooperative-game valuation over any hashable player ids (data sources, models,
prompts...), with a game given as a callable on ``frozenset`` coalitions:

* :func:`shapley_values`: exact over all coalitions, or permutation sampling
  (stratified, antithetic or plain) with standard errors and stopping rules;
* :func:`owen_values`: Owen values for a coalition structure, Winter values for nested
  structures of any depth;
* :func:`banzhaf_values`: exact, or maximum sample reuse (MSR);
* :func:`loo_values`: leave-one-out;
* :func:`knn_shapley`: exact Shapley values of training points for a K-nearest-neighbour
  classifier, vectorised over test points.

Each returns a :class:`ValuationResult`. Games are evaluated through a
:class:`CachedGame`; :mod:`offchain.attribution.games` has games with known values.

Generative pipelines plug into multi-stage attribution through a protocol,
:class:`AttributionPipeline` (:mod:`~offchain.attribution.pipeline`: the assets an event
used by stage, its asset game, per-dataset influence scores, a seed) over events that
are :class:`PipelineEvent`; their games score outputs with the shared utilities of
:mod:`~offchain.attribution.utilities` (:func:`utility`, :func:`loglik`,
:func:`loglik_prefix`, :func:`loglik_floored`).

Layout, as pyDVL lays out its valuation package: :mod:`~offchain.attribution.methods`
(the valuation methods), :mod:`~offchain.attribution.samplers` (Monte Carlo samplers and
stopping rules), :mod:`~offchain.attribution.game` and :mod:`~offchain.attribution.games`
(the game protocol and closed-form games), :mod:`~offchain.attribution.result`;
:mod:`~offchain.attribution.tda` (gradient-based data attribution);
:mod:`~offchain.attribution.pipeline` (the pipeline protocol),
:mod:`~offchain.attribution.utilities` (utilities of an output),
:mod:`~offchain.attribution.multistage` (revenue split over stages, then assets),
:mod:`~offchain.attribution.values` (its ``ame.values/1`` document),
:mod:`~offchain.attribution.tolerance` (how far an auditor's recomputed coalition worth
may be from the published one: :data:`UTILITY_TOLERANCE`,
:data:`RETRAINED_UTILITY_TOLERANCE`, :func:`within_tolerance`); and
:mod:`~offchain.attribution.reference` (the reference generative pipeline). Scenario
files live above attribution, in :mod:`offchain.scenario`.

Loaded on first use, so that importing this package does not import torch:

* the reference generative pipeline, one :class:`AttributionPipeline`
  (:class:`ReferencePipeline`, its :class:`Event` and :class:`PipelineSettings`,
  :data:`BASE_MODEL`, :data:`STAGES`);
* multi-stage attribution of events' revenue (:class:`MultiStageAttribution`, its
  :class:`MultiStageResult`, :class:`EventAttribution`, :class:`StageAttribution`) and
  its ``ame.values/1`` document (:func:`values_document`, :class:`EventTerms`); a
  scenario's whole run is :func:`offchain.scenario.attribute_scenario`;
* gradient-based training-data attribution (:class:`TracIn`, :class:`ProjectedTracIn`,
  :class:`Checkpoint`, :class:`GroupedScores`, :func:`aggregate_scores`).

Example:
    >>> from offchain.attribution import shapley_values
    >>> result = shapley_values(lambda s: float(len(s) >= 2), ["a", "b", "c"])
    >>> round(result.values["a"], 6), result.method
    (0.333333, 'shapley/exact')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ame_core.lazy import lazy_exports
from offchain.attribution.game import CachedGame, Game, PipelineGame
from offchain.attribution.methods import (
    banzhaf_values,
    knn_shapley,
    loo_values,
    owen_values,
    shapley_values,
)
from offchain.attribution.pipeline import (
    DATA_STAGE,
    AttributionPipeline,
    PipelineEvent,
    PrefetchingPipeline,
)
from offchain.attribution.result import ValuationResult
from offchain.attribution.tolerance import (
    RETRAINED_UTILITY_TOLERANCE,
    UTILITY_TOLERANCE,
    Tolerance,
    within_tolerance,
)
from offchain.attribution.utilities import (
    UTILITIES,
    UTILITY_FUNCTIONS,
    Utility,
    loglik,
    loglik_floored,
    loglik_prefix,
    token_gains,
    utility,
    utility_rows,
)

if TYPE_CHECKING:
    from offchain.attribution.multistage import (
        EventAttribution,
        MultiStageAttribution,
        MultiStageResult,
        StageAttribution,
    )
    from offchain.attribution.reference.pipeline import (
        BASE_MODEL,
        STAGES,
        Event,
        PipelineSettings,
        ReferencePipeline,
    )
    from offchain.attribution.tda import (
        Checkpoint,
        GroupedScores,
        ProjectedTracIn,
        TracIn,
        aggregate_scores,
    )
    from offchain.attribution.values import VALUES_FORMAT, EventTerms, values_document

# Imported on first use: these pull in torch (pipeline, tda), which the
# cooperative-game core does not need.
_LAZY = {
    "EventAttribution": "multistage",
    "MultiStageAttribution": "multistage",
    "MultiStageResult": "multistage",
    "StageAttribution": "multistage",
    "BASE_MODEL": "reference.pipeline",
    "STAGES": "reference.pipeline",
    "Event": "reference.pipeline",
    "PipelineSettings": "reference.pipeline",
    "ReferencePipeline": "reference.pipeline",
    "Checkpoint": "tda",
    "GroupedScores": "tda",
    "ProjectedTracIn": "tda",
    "TracIn": "tda",
    "aggregate_scores": "tda",
    "VALUES_FORMAT": "values",
    "EventTerms": "values",
    "values_document": "values",
}

__all__ = [
    "BASE_MODEL",
    "DATA_STAGE",
    "RETRAINED_UTILITY_TOLERANCE",
    "STAGES",
    "UTILITIES",
    "UTILITY_FUNCTIONS",
    "UTILITY_TOLERANCE",
    "VALUES_FORMAT",
    "AttributionPipeline",
    "CachedGame",
    "Checkpoint",
    "Event",
    "EventAttribution",
    "EventTerms",
    "Game",
    "GroupedScores",
    "MultiStageAttribution",
    "MultiStageResult",
    "PipelineEvent",
    "PipelineGame",
    "PipelineSettings",
    "PrefetchingPipeline",
    "ProjectedTracIn",
    "ReferencePipeline",
    "StageAttribution",
    "Tolerance",
    "TracIn",
    "Utility",
    "ValuationResult",
    "aggregate_scores",
    "banzhaf_values",
    "knn_shapley",
    "loglik",
    "loglik_floored",
    "loglik_prefix",
    "loo_values",
    "owen_values",
    "shapley_values",
    "token_gains",
    "utility",
    "utility_rows",
    "values_document",
    "within_tolerance",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
