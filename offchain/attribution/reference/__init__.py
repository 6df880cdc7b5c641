"""The reference generative pipeline: a small language model market trained here.

Five kinds of assets, one per stage: datasets (:mod:`~.corpora`), a base model
pretrained on them, LoRA adapters and prompt templates (:mod:`~.lm`), put together by
:class:`~.pipeline.ReferencePipeline`, whose :class:`~.pipeline.PipelineGame` is the
utility of a coalition of assets for one event. Its settings (:mod:`~.settings`) are
plain pydantic models and load without torch; the pipeline and the model load on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ame_core.lazy import lazy_exports
from offchain.attribution.reference.settings import (
    NEUTRAL_TEMPLATE,
    REFERENCE_KINDS,
    SLOT,
    UTILITIES,
    CorpusSettings,
    ModelSettings,
    PipelineSettings,
    ReferenceKind,
    ReferenceModelSettings,
    TrainSettings,
    Utility,
)

if TYPE_CHECKING:
    from offchain.attribution.reference.pipeline import (
        BASE_MODEL,
        MODEL_DEVELOPER,
        STAGES,
        Event,
        PipelineGame,
        ReferencePipeline,
    )

# The pipeline imports torch; the settings do not.
_LAZY = {
    "BASE_MODEL": "pipeline",
    "MODEL_DEVELOPER": "pipeline",
    "STAGES": "pipeline",
    "Event": "pipeline",
    "PipelineGame": "pipeline",
    "ReferencePipeline": "pipeline",
}

__all__ = [
    "BASE_MODEL",
    "MODEL_DEVELOPER",
    "NEUTRAL_TEMPLATE",
    "REFERENCE_KINDS",
    "SLOT",
    "STAGES",
    "UTILITIES",
    "CorpusSettings",
    "Event",
    "ModelSettings",
    "PipelineGame",
    "PipelineSettings",
    "ReferenceKind",
    "ReferenceModelSettings",
    "ReferencePipeline",
    "TrainSettings",
    "Utility",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
