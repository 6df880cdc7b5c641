"""A tiny GPT-2, a word-level tokenizer and a LoRA adapter, trained here and saved.

Everything is built from config, trained for a few steps on text the tests write, saved
to a temporary directory and loaded back through the path a user's model takes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

WORDS = [
    *("the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "rug"),
    *("tree", "house", "red", "blue", "big", "small", "and"),
]
TEXT = [
    "the cat sat on the mat",
    "a dog ran under the tree",
    "the big cat sat on a red rug",
    "a small dog sat under the blue house",
    "the red cat ran on the big mat",
]
POEM = ["the blue tree and the red house", "a big rug and a small mat"]
PROMPTS = {"prompt:story": "tell a story {request} and", "prompt:list": "{request} the a"}


def _train(model: Any, tokenizer: Any, lines: list[str], steps: int) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    batch = tokenizer(lines, padding=True, return_tensors="pt")
    model.train()
    for _ in range(steps):
        logits = model(**batch).logits[:, :-1]
        targets = batch["input_ids"][:, 1:].masked_fill(batch["attention_mask"][:, 1:] == 0, -100)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def build(root: Path) -> dict[str, Path]:
    """A tiny GPT-2 and one LoRA adapter, trained and saved under ``root``."""
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join([*TEXT, *POEM, " ".join(WORDS), "tell story list"]))
    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train([str(corpus)], trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>"]))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="<s>"
    )
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=64,
        n_layer=2,
        n_embd=64,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    prefix = ["<s> " + t for t in TEXT]
    _train(model, tokenizer, prefix, steps=30)
    model_dir = root / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    lora = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True)
    )
    _train(lora, tokenizer, ["<s> " + t for t in POEM], steps=30)
    adapter_dir = root / "adapter"
    lora.save_pretrained(adapter_dir)
    # A commodity reference: the same architecture and tokenizer, trained less.
    torch.manual_seed(1)
    commodity = GPT2LMHeadModel(config)
    _train(commodity, tokenizer, prefix[:2], steps=5)
    reference_dir = root / "reference"
    commodity.save_pretrained(reference_dir)
    tokenizer.save_pretrained(reference_dir)
    # A model whose tokenizer has another vocabulary.
    other = Tokenizer(models.WordLevel({"<unk>": 0, "x": 1, "y": 2}, unk_token="<unk>"))
    other_dir = root / "other"
    GPT2LMHeadModel(replace(config, vocab_size=3)).save_pretrained(other_dir)
    PreTrainedTokenizerFast(tokenizer_object=other, unk_token="<unk>").save_pretrained(other_dir)
    return {
        "model": model_dir,
        "adapter": adapter_dir,
        "reference": reference_dir,
        "other": other_dir,
    }
