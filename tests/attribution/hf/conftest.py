"""The Hugging Face tests never touch a hub: offline before any HF library loads."""

from __future__ import annotations

import os

# huggingface_hub reads this once, on import; this conftest loads before the tests do.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
