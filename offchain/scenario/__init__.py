"""Scenario files, ``ame.scenario/1``: a whole market in one validated document.

A scenario names a market's datasets, base model, adapters, prompts, events and the
rights over them (docs/scenario.md). It sits above attribution and mapping: it builds
the reference pipeline's corpora and reads the rights registry, and neither of those
knows about it. The embedded reference market is :func:`reference_scenario`.
"""

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
    load_scenario,
    parse_scenario,
    reference_scenario,
)

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
    "load_scenario",
    "parse_scenario",
    "reference_scenario",
]
