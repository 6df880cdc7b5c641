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

Layout, as pyDVL lays out its valuation package: :mod:`~offchain.attribution.methods`
(the valuation methods), :mod:`~offchain.attribution.samplers` (Monte Carlo samplers and
stopping rules), :mod:`~offchain.attribution.game` and :mod:`~offchain.attribution.games`
(the game protocol and closed-form games), :mod:`~offchain.attribution.result`;
:mod:`~offchain.attribution.tda` (gradient-based data attribution);
:mod:`~offchain.attribution.multistage` (revenue split over stages, then assets); and
:mod:`~offchain.attribution.reference` (the reference generative pipeline). Scenario
files live above attribution, in :mod:`offchain.scenario`.

Loaded on first use, so that importing this package does not import torch:

* the reference generative pipeline (:class:`ReferencePipeline`, its :class:`Event`,
  :class:`PipelineGame` and :class:`PipelineSettings`, :data:`BASE_MODEL`,
  :data:`STAGES`);
* multi-stage attribution of events' revenue (:class:`MultiStageAttribution`, its
  :class:`MultiStageResult`, :class:`EventAttribution`, :class:`StageAttribution`; a
  scenario's whole run is :func:`offchain.scenario.attribute_scenario`);
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
from offchain.attribution.game import CachedGame, Game
from offchain.attribution.methods import (
    banzhaf_values,
    knn_shapley,
    loo_values,
    owen_values,
    shapley_values,
)
from offchain.attribution.result import ValuationResult

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
        PipelineGame,
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
    "PipelineGame": "reference.pipeline",
    "PipelineSettings": "reference.pipeline",
    "ReferencePipeline": "reference.pipeline",
    "Checkpoint": "tda",
    "GroupedScores": "tda",
    "ProjectedTracIn": "tda",
    "TracIn": "tda",
    "aggregate_scores": "tda",
}

__all__ = [
    "BASE_MODEL",
    "STAGES",
    "CachedGame",
    "Checkpoint",
    "Event",
    "EventAttribution",
    "Game",
    "GroupedScores",
    "MultiStageAttribution",
    "MultiStageResult",
    "PipelineGame",
    "PipelineSettings",
    "ProjectedTracIn",
    "ReferencePipeline",
    "StageAttribution",
    "TracIn",
    "ValuationResult",
    "aggregate_scores",
    "banzhaf_values",
    "knn_shapley",
    "loo_values",
    "owen_values",
    "shapley_values",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
