"""Tiny causal LMs and LoRA adapters built from config and trained in seconds, for demos and tests.

A real operator brings a model; a demo, a test or a tutorial needs one that exists
without a download. :func:`build_tiny_model` makes a word-level tokenizer (with
``tokenizers``, its vocabulary the sorted words of the texts) and a small GPT-2 from a
``GPT2Config`` (2 layers, 64 dimensions by default), trains it on the texts and saves
both with ``save_pretrained``; :func:`train_lora` trains a ``peft`` LoRA adapter of such
a model on other texts and saves it. What they write is what a user's model directory
holds, so :class:`~offchain.attribution.hf.pipeline.HFPipeline` loads them through the
same path (``local_files_only``: nothing is ever downloaded).

Training is seeded and deterministic on one machine (same torch build): full-batch AdamW
on the mean token negative log-likelihood from logits, each text read after a
begin-of-sequence token, the global RNG seeded for the initial weights and dropout and
restored afterwards. It runs on one thread: a model this small gains nothing from more,
and on a shared machine the threads' synchronisation made it 27 times slower here (80
steps: 56 s on 2 threads under load, 2.1 s on one).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import torch

from ame_core.exceptions import InputError
from offchain.attribution._threads import torch_threads

__all__ = ["BOS", "build_tiny_model", "train_lora"]

#: The begin-of-sequence token every text is read after.
BOS: Final = "<s>"
_SPECIALS: Final = ("<pad>", "<unk>", BOS)


def _check_texts(field: str, texts: Sequence[str]) -> list[str]:
    if (
        isinstance(texts, str)
        or not texts
        or not all(isinstance(t, str) and t.split() for t in texts)
    ):
        raise InputError(f"{field}: expected a non-empty list of non-blank strings, got {texts!r}")
    return list(texts)


def _fit(model: Any, tokenizer: Any, texts: list[str], steps: int, learning_rate: float) -> None:
    with torch_threads(1):
        _steps(model, tokenizer, texts, steps, learning_rate)


def _steps(model: Any, tokenizer: Any, texts: list[str], steps: int, learning_rate: float) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate)
    batch = tokenizer([f"{BOS} {t}" for t in texts], padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    model.train()
    for _ in range(steps):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        # The loss from logits (never labels=): padding positions are not scored.
        logp = logits.float().log_softmax(-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        keep = mask[:, 1:].float()
        loss = -(logp * keep).sum() / keep.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def build_tiny_model(
    directory: str | Path,
    texts: Sequence[str],
    *,
    vocabulary: Sequence[str] = (),
    steps: int = 60,
    learning_rate: float = 1e-2,
    seed: int = 0,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 64,
) -> Path:
    """Build, train and save a tiny GPT-2 and its word-level tokenizer.

    Args:
        directory: Where the model and tokenizer are saved (created).
        texts: The training texts, whitespace-separated words.
        vocabulary: More texts whose words the tokenizer knows (e.g. the requests and
            outputs the model will score, or another model's texts, so that two models
            share a vocabulary).
        steps: Full-batch optimiser steps.
        learning_rate: AdamW's learning rate.
        seed: Seeds the initial weights.
        n_layer: Transformer blocks.
        n_embd: Embedding dimensions.
        n_head: Attention heads.
        n_positions: Longest sequence, in tokens.

    Returns:
        ``directory``, as a path.

    Raises:
        InputError: If the texts are empty or blank.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = _check_texts("texts", texts)
    words = sorted({w for t in [*texts, *vocabulary] for w in t.split()} - set(_SPECIALS))
    # The vocabulary is built here, sorted, so that it does not depend on frequency ties.
    vocab = {token: i for i, token in enumerate([*_SPECIALS, *words])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", bos_token=BOS, eos_token=BOS
    )
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=n_positions,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        bos_token_id=vocab[BOS],
        eos_token_id=vocab[BOS],
        pad_token_id=vocab["<pad>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
        _fit(model, tokenizer, texts, steps, learning_rate)
    path = Path(directory)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def train_lora(
    model_dir: str | Path,
    directory: str | Path,
    texts: Sequence[str],
    *,
    rank: int = 4,
    steps: int = 40,
    learning_rate: float = 1e-2,
    seed: int = 0,
    target_modules: Sequence[str] = ("c_attn",),
) -> Path:
    """Train a LoRA adapter of a saved model on ``texts`` and save it.

    Args:
        model_dir: The model's directory (:func:`build_tiny_model`, or any GPT-2).
        directory: Where the adapter is saved (created).
        texts: The adapter's training texts.
        rank: LoRA rank (``lora_alpha`` is twice it).
        steps: Full-batch optimiser steps.
        learning_rate: AdamW's learning rate.
        seed: Seeds the LoRA factors' initialisation.
        target_modules: The modules adapted (GPT-2's fused attention projection).

    Returns:
        ``directory``, as a path.

    Raises:
        InputError: If the texts are empty or blank.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = _check_texts("texts", texts)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, attn_implementation="eager"
        )
        config = LoraConfig(
            r=rank,
            lora_alpha=2 * rank,
            target_modules=list(target_modules),
            fan_in_fan_out=True,  # GPT-2's Conv1D stores weights transposed
        )
        with warnings.catch_warnings():
            # peft asks transformers a deprecated question; nothing for our caller to do.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
            lora = get_peft_model(base, config)
        _fit(lora, tokenizer, texts, steps, learning_rate)
    path = Path(directory)
    lora.save_pretrained(str(path))
    return path
