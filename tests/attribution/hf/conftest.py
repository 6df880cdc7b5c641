"""The Hugging Face tests never touch a hub: offline before any HF library loads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# huggingface_hub reads this once, on import; this conftest loads before the tests do.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny GPT-2, its LoRA adapter and the other models, built once per session."""
    from tests.attribution.hf.models import build

    return build(tmp_path_factory.mktemp("hf"))
