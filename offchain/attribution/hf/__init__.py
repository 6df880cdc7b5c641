"""A Hugging Face ``transformers`` + ``peft`` pipeline for multi-stage attribution.

Needs the ``hf`` extra (``pip install ame[hf]``) and torch. :class:`HFPipeline` (in
:mod:`~offchain.attribution.hf.pipeline`) implements
:class:`~offchain.attribution.AttributionPipeline` over a local causal LM, its LoRA
adapters, prompt templates and datasets (each a :class:`TrainingSet`, a local file of
training examples: :mod:`~offchain.attribution.hf.training`); its events are
:class:`HFEvent`, read from a JSONL log by :func:`load_events`
(:mod:`~offchain.attribution.hf.events`). An ``ame.pipeline/1`` file describes a pipeline
and how it attributes (:mod:`~offchain.attribution.hf.config`: :func:`load_pipeline_config`,
:func:`build_pipeline`, :func:`attribute_events`); its JSON Schema ships as
:data:`PIPELINE_SCHEMA` (:func:`pipeline_schema`).
"""

from __future__ import annotations

from offchain.attribution.hf.config import (
    PIPELINE_FORMAT,
    PIPELINE_SCHEMA,
    PipelineConfig,
    attribute_events,
    build_pipeline,
    load_pipeline_config,
    parse_pipeline_config,
    pipeline_schema,
)
from offchain.attribution.hf.events import HFEvent, load_events, parse_events
from offchain.attribution.hf.pipeline import SLOT, STAGES, HFPipeline, ParamSelection
from offchain.attribution.hf.retrain import RetrainRecipe
from offchain.attribution.hf.training import TrainingSet

__all__ = [
    "PIPELINE_FORMAT",
    "PIPELINE_SCHEMA",
    "SLOT",
    "STAGES",
    "HFEvent",
    "HFPipeline",
    "ParamSelection",
    "PipelineConfig",
    "RetrainRecipe",
    "TrainingSet",
    "attribute_events",
    "build_pipeline",
    "load_events",
    "load_pipeline_config",
    "parse_events",
    "parse_pipeline_config",
    "pipeline_schema",
]
