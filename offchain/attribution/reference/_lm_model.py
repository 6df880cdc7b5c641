"""Torch modules of the reference language model: a tiny causal transformer and LoRA.

The transformer is written with plain tensor operations (no fused attention kernels), so
that ``torch.func.vmap`` over per-example gradients works on every layer.

LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models") adapts a
frozen linear layer ``y = W x + b`` to ``y = W x + b + (alpha / r) B A x`` with trainable
``A`` (``r x in``, random) and ``B`` (``out x r``, zero), so an untrained adapter is the
identity and the base weights never change.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from offchain.attribution.reference.settings import ModelSettings

__all__ = ["LORA_TARGETS", "LoRAAdapter", "LoRALinear", "TinyTransformerLM", "wrap_with_lora"]

#: Suffixes of the layers LoRA adapts: the token embedding (words that only fine-tuning
#: uses need one), every projection of every block, and the head.
LORA_TARGETS = ("tok", "attn_q", "attn_k", "attn_v", "attn_o", "mlp_up", "mlp_down", "head")


@functools.cache
def _future(length: int, device: torch.device) -> Tensor:
    """The causal mask of a sequence of ``length``: True where a position is in the future.

    Built once per length: scoring runs thousands of small passes a second. Built as
    a normal tensor even when first asked for under ``torch.inference_mode`` (scoring),
    so that training, which saves it for the backward pass, can use it too.
    """
    with torch.inference_mode(False):
        return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class _Block(nn.Module):
    """Pre-norm transformer block: causal self-attention then a GELU MLP."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        d = settings.d_model
        self.n_heads = settings.n_heads
        self.norm_attn = nn.LayerNorm(d)
        self.attn_q = nn.Linear(d, d)
        self.attn_k = nn.Linear(d, d)
        self.attn_v = nn.Linear(d, d)
        self.attn_o = nn.Linear(d, d)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp_up = nn.Linear(d, settings.d_ff)
        self.mlp_down = nn.Linear(settings.d_ff, d)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        head = width // self.n_heads
        h = self.norm_attn(x)

        def split(t: Tensor) -> Tensor:
            return t.reshape(batch, length, self.n_heads, head).transpose(1, 2)

        q, k, v = split(self.attn_q(h)), split(self.attn_k(h)), split(self.attn_v(h))
        scores = q @ k.transpose(-2, -1) / math.sqrt(head)
        scores = scores.masked_fill(_future(length, x.device), float("-inf"))
        mixed = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, width)
        x = x + self.attn_o(mixed)
        out: Tensor = x + self.mlp_down(nn.functional.gelu(self.mlp_up(self.norm_mlp(x))))
        return out


class TinyTransformerLM(nn.Module):
    """A causal transformer over word tokens: ``(batch, length)`` ids to next-token logits.

    Args:
        vocab_size: Number of token ids.
        settings: Width, depth, heads and maximum length.
    """

    def __init__(self, vocab_size: int, settings: ModelSettings) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.max_len = settings.max_len
        self.tok = nn.Embedding(vocab_size, settings.d_model)
        self.pos = nn.Embedding(settings.max_len, settings.d_model)
        self.blocks = nn.ModuleList(_Block(settings) for _ in range(settings.n_layers))
        self.norm = nn.LayerNorm(settings.d_model)
        self.head = nn.Linear(settings.d_model, vocab_size)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits of the next token at every position, ``(batch, length, vocab)``."""
        positions = torch.arange(tokens.shape[-1], device=tokens.device)
        x = self.tok(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        logits: Tensor = self.head(self.norm(x))
        return logits


class LoRALinear(nn.Module):
    """A frozen linear or embedding layer plus a trainable update ``(alpha / r) B A``.

    For a linear layer ``W`` is ``out x in``; for an embedding it is the
    ``vocab x width`` table, and ``A`` is ``r x width`` (so ``B A`` has the table's shape
    in both cases and merges by addition).

    Args:
        base: The layer to adapt; its parameters are frozen, not copied.
        rank: Rank ``r`` of the update.
        alpha: Scale numerator.
        generator: Seeds the initialisation of ``A``.
    """

    def __init__(
        self, base: nn.Linear | nn.Embedding, rank: int, alpha: float, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        rows, cols = base.weight.shape
        bound = 1.0 / math.sqrt(cols)
        a = (torch.rand(rank, cols, generator=generator) * 2 - 1) * bound
        self.lora_a = nn.Parameter(a)
        self.lora_b = nn.Parameter(torch.zeros(rows, rank))
        self.scale = alpha / rank

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.base(x)
        if isinstance(self.base, nn.Embedding):
            return out + self.scale * (self.lora_b[x] @ self.lora_a)
        return out + self.scale * ((x @ self.lora_a.T) @ self.lora_b.T)


@dataclass(frozen=True)
class LoRAAdapter:
    """Trained LoRA factors of one fine-tuner, detached from any model.

    Attributes:
        id: Asset id of the adapter.
        owner: The fine-tuner who owns it.
        scale: ``alpha / r``.
        factors: For each adapted linear layer (by module name), the pair ``(A, B)``.
    """

    id: str
    owner: str
    scale: float
    factors: Mapping[str, tuple[Tensor, Tensor]]

    def deltas(self) -> dict[str, Tensor]:
        """The weight update of each adapted layer, ``scale * B @ A``, by parameter name."""
        return {f"{name}.weight": self.scale * (b @ a) for name, (a, b) in self.factors.items()}

    def apply(self, model: TinyTransformerLM) -> TinyTransformerLM:
        """A copy of ``model`` with :meth:`deltas` added to the adapted weights.

        The adapter is additive, so it merges into any model of the same shape.

        Raises:
            KeyError: If ``model`` lacks an adapted parameter.
        """
        merged = copy.deepcopy(model)
        params = dict(merged.named_parameters())
        with torch.no_grad():
            for name, delta in self.deltas().items():
                params[name].add_(delta)
        return merged


def wrap_with_lora(
    model: TinyTransformerLM, rank: int, alpha: float, generator: torch.Generator
) -> tuple[TinyTransformerLM, dict[str, LoRALinear]]:
    """A copy of ``model`` whose :data:`LORA_TARGETS` layers are :class:`LoRALinear`.

    Every base parameter of the copy is frozen; only the LoRA factors train.

    Returns:
        The wrapped copy and its LoRA layers by module name (in module order).
    """
    wrapped = copy.deepcopy(model)
    for p in wrapped.parameters():
        p.requires_grad_(False)
    lora: dict[str, LoRALinear] = {}
    targets = [
        (name, module)
        for name, module in wrapped.named_modules()
        if isinstance(module, nn.Linear | nn.Embedding) and name.rsplit(".", 1)[-1] in LORA_TARGETS
    ]
    for name, module in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = wrapped.get_submodule(parent_name) if parent_name else wrapped
        layer = LoRALinear(module, rank, alpha, generator)
        setattr(parent, attr, layer)
        lora[name] = layer
    return wrapped, lora
