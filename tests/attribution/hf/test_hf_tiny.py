"""Tiny models for demos and tests: built from config, seeded, loaded as a user's would be."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import torch

from ame_core.exceptions import InputError
from offchain.attribution.hf import HFEvent, HFPipeline
from offchain.attribution.hf.tiny import build_tiny_model, train_lora

pytestmark = pytest.mark.torch

_DAY = dt.date(2026, 12, 1)
_TEXTS = ["the cat sat on the mat", "a dog ran in the park"]


def _weights(directory: Path) -> bytes:
    return (directory / "model.safetensors").read_bytes()


def test_the_same_seed_builds_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    a = build_tiny_model(tmp_path / "a", _TEXTS, steps=5, seed=3)
    b = build_tiny_model(tmp_path / "b", _TEXTS, steps=5, seed=3)
    c = build_tiny_model(tmp_path / "c", _TEXTS, steps=5, seed=4)
    assert _weights(a) == _weights(b) != _weights(c)
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()
    # The caller's RNG and thread count are left as they were.
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    first = train_lora(a, tmp_path / "la", ["the moon sang"], steps=3, seed=1)
    second = train_lora(a, tmp_path / "lb", ["the moon sang"], steps=3, seed=1)
    name = "adapter_model.safetensors"
    assert (first / name).read_bytes() == (second / name).read_bytes()


def test_the_models_load_through_the_pipeline_and_learn_their_texts(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m", _TEXTS, vocabulary=["the moon sang"], steps=60)
    adapter = train_lora(model, tmp_path / "poem", ["the moon sang"], steps=40)
    pipe = HFPipeline(model, adapters={"adapter:poem": adapter})
    event = HFEvent("e", "the cat", None, "adapter:poem", "sat on the mat", 1, True, _DAY)
    (learned,) = pipe.token_log_probs([event], adapter=False)
    # Trained on the sentence: far likelier than the uniform distribution over the words.
    assert learned.mean() > -0.5 * float(torch.log(torch.tensor(pipe.vocab_size)))
    # The vocabulary holds the extra words, so the adapter's text is not unknown.
    assert pipe.tokenizer.convert_tokens_to_ids("moon") != pipe.tokenizer.unk_token_id


@pytest.mark.parametrize("texts", [[], [" "], "the cat"])
def test_blank_texts_are_refused(tmp_path: Path, texts: list[str]) -> None:
    with pytest.raises(InputError, match=r"^texts: expected a non-empty list"):
        build_tiny_model(tmp_path / "m", texts)
    assert not (tmp_path / "m").exists()
