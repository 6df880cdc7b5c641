"""Scenario files, ``ame.scenario/1``: a whole market in one validated document.

A scenario names a market's datasets, base model, adapters, prompts, events and the
rights over them (docs/scenario.md). It sits above attribution and mapping: it turns
into the reference pipeline's inputs (:func:`build_corpora`, :func:`reference_pipeline`)
and reads the rights registry, and neither of those knows about it. The embedded
reference market is :func:`reference_scenario`.

From a scenario to values, the one orchestration every caller shares (the CLI, the
demos, the evaluation) is :func:`attribute_scenario`; its steps are
:func:`reference_pipeline`, :func:`scenario_events` and :func:`values_document`. They
load on first use, so that reading a scenario does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ame_core.lazy import lazy_exports
from offchain.scenario._batch import ScenarioBatchSpec
from offchain.scenario._document import (
    REFERENCE_SCENARIO,
    SCENARIO_FORMAT,
    UTILITIES,
    AdapterSpec,
    BaseModelSpec,
    CopyGenerator,
    DatasetSpec,
    Demonstration,
    EventSpec,
    FactRef,
    FactsGenerator,
    NoisyCopyGenerator,
    PayeeReference,
    PipelineSpec,
    PromptSpec,
    RandomWalkGenerator,
    Reference,
    Rights,
    Scenario,
    StyleGenerator,
    ValuationSpec,
    build_corpora,
    load_scenario,
    parse_scenario,
    reference_scenario,
    reference_specs,
)

if TYPE_CHECKING:
    from offchain.scenario._attribution import (
        asset_hashes,
        attribute_scenario,
        record_lines,
        reference_pipeline,
        scenario_estimator,
        scenario_events,
        values_document,
    )
    from offchain.scenario._rerun import PipelineRerun, Problem

# The pipeline and the attribution import torch; the document does not.
_LAZY = {
    "asset_hashes": "_attribution",
    "attribute_scenario": "_attribution",
    "record_lines": "_attribution",
    "reference_pipeline": "_attribution",
    "scenario_estimator": "_attribution",
    "scenario_events": "_attribution",
    "values_document": "_attribution",
    "PipelineRerun": "_rerun",
    "Problem": "_rerun",
}

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
    "PipelineRerun",
    "PipelineSpec",
    "Problem",
    "PromptSpec",
    "RandomWalkGenerator",
    "Reference",
    "Rights",
    "Scenario",
    "ScenarioBatchSpec",
    "StyleGenerator",
    "ValuationSpec",
    "asset_hashes",
    "attribute_scenario",
    "build_corpora",
    "load_scenario",
    "parse_scenario",
    "record_lines",
    "reference_pipeline",
    "reference_scenario",
    "reference_specs",
    "scenario_estimator",
    "scenario_events",
    "values_document",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
