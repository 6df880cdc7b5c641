"""Per-example LM-loss gradients of a Hugging Face model, for the data stage's TracIn.

The model is wrapped so that :mod:`~offchain.attribution.tda` sees what it expects: a
module of one input tensor (token ids and attention mask stacked, ``(n, 2, L)``) and a
per-example loss of its output (:func:`token_nll`). Parameters are selected by
:func:`select_params`; features are cached on disk by :class:`FeatureCache`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from offchain.exceptions import AttributionError

#: Where a token's target is not scored (context, padding).
IGNORE: Final = -100
#: Version of the cached features' layout and of what goes into their key.
CACHE_FORMAT: Final = "ame.tracin-features/2"
_MAGIC: Final = CACHE_FORMAT.encode() + b"\n"
#: Bytes of a cache file's digest line: 64 hex digits and a newline.
_DIGEST_LINE: Final = 65
#: A cache file's header line is at most this long (a few arrays' names and shapes).
_MAX_HEADER: Final = 1 << 16
#: Arrays in a cache file start on this boundary (a cache line; any dtype's alignment).
_ALIGN: Final = 64
#: Bytes hashed or written at a time: bounds the memory a cache file costs beside its arrays.
_CHUNK: Final = 1 << 20
_PEFT_PREFIX: Final = "base_model.model."
#: Wrapped parameter names are the model's under this prefix.
PREFIX: Final = "lm."

#: The parameters gradients are taken over: a named set, or ``fnmatch`` patterns.
ParamSelection = Literal["all", "last-layer", "lora"] | Sequence[str]
NAMED_SELECTIONS: Final = ("all", "last-layer", "lora")


class LogitsOf(nn.Module):
    """``forward(x)``: the logits of a causal LM for ``x = stack([ids, mask], 1)``."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        # A new module is in training mode; tda restores the mode it finds after each
        # gradient pass, and would leave the model's dropout on.
        self.train(lm.training)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(n, L, V)`` of ids ``x[:, 0]`` under attention mask ``x[:, 1]``."""
        logits: Tensor = self.lm(input_ids=x[:, 0], attention_mask=x[:, 1]).logits
        return logits


def token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Summed negative log-likelihood of the scored tokens, from logits.

    Position ``t`` predicts ``targets[:, t + 1]``; targets equal to :data:`IGNORE`
    (context, padding) count for nothing. Written without data-dependent control flow
    so that ``torch.func.vmap`` can batch it (``labels=`` cannot: it calls ``.item()``).
    """
    logp = logits[:, :-1].float().log_softmax(-1)
    wanted = targets[:, 1:]
    keep = wanted != IGNORE
    picked = logp.gather(-1, wanted.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * keep).sum()


def canonical_name(name: str) -> str:
    """A parameter's name as in the plain ``transformers`` model, without ``peft``'s wrapping."""
    if name.startswith(_PEFT_PREFIX):
        name = name[len(_PEFT_PREFIX) :]
    return name.replace(".base_layer.", ".")


def _is_lora(name: str) -> bool:
    return ".lora_" in name


def select_params(model: nn.Module, selection: ParamSelection, adapter: str | None) -> list[str]:
    """Names (as in ``model.named_parameters()``) of the parameters a selection picks.

    Args:
        model: The pipeline's model (a ``transformers`` model or a ``peft`` one).
        selection: ``"all"``, ``"last-layer"``, ``"lora"`` or ``fnmatch`` patterns
            over the plain model's parameter names (see
            :class:`~offchain.attribution.hf.pipeline.HFPipeline`).
        adapter: For ``"lora"``: the adapter whose LoRA factors are picked.

    Raises:
        InputError: If the selection picks nothing or a pattern matches no parameter.
    """
    names = [n for n, _ in model.named_parameters()]
    base = [n for n in names if not _is_lora(n)]
    if selection == "all":
        picked = base
    elif selection == "last-layer":
        picked = _last_layer(base)
    elif selection == "lora":
        if adapter is None:
            raise AttributionError(
                "gradient_params='lora' attributes through an adapter's LoRA factors; "
                "an event without an adapter has none"
            )
        picked = [n for n in names if _is_lora(n) and f".{adapter}." in n]
    elif isinstance(selection, str):
        raise InputError(
            f"gradient_params: must be one of {list(NAMED_SELECTIONS)} or a list of name "
            f"patterns, got {selection!r}"
        )
    else:
        picked = []
        for pattern in selection:
            hits = [n for n in base if fnmatch.fnmatchcase(canonical_name(n), pattern)]
            if not hits:
                raise InputError(f"gradient_params: pattern {pattern!r} matches no parameter")
            picked += [n for n in hits if n not in picked]
    if not picked:
        raise InputError(f"gradient_params: {selection!r} selects no parameter of the model")
    return picked


def _last_layer(names: Sequence[str]) -> list[str]:
    """The highest-numbered block's parameters and those listed after it (final norm)."""
    index = {n: int(m.group(1)) for n in names if (m := re.search(r"\.(\d+)\.", n))}
    if not index:
        return list(names)
    top = max(index.values())
    last = max(i for i, n in enumerate(names) if index.get(n) == top)
    return [n for i, n in enumerate(names) if index.get(n) == top or i > last]


def encode(rows: Sequence[tuple[list[int], list[int]]]) -> tuple[Tensor, Tensor]:
    """Right-padded ``(n, 2, L)`` inputs and ``(n, L)`` targets of (context, scored) ids.

    Context tokens are read but not scored; the scored tokens are. Right padding keeps
    each row's positions ``0..n-1``, so a padded row scores as it does alone.
    """
    width = max(len(c) + len(o) for c, o in rows)
    inputs = torch.zeros((len(rows), 2, width), dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (context, scored) in enumerate(rows):
        n = len(context) + len(scored)
        inputs[i, 0, :n] = torch.tensor(context + scored)
        inputs[i, 1, :n] = 1
        targets[i, len(context) : n] = torch.tensor(scored)
    return inputs, targets


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer of ``model``: names, shapes, dtypes, bytes."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{tuple(array.shape)}\0{array.dtype}\0".encode())
        digest.update(array.view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    return digest.hexdigest()


class FeatureCache:
    """Training features on disk under a content key, memory-mapped; never trusted if damaged.

    A file is ``CACHE_FORMAT``, a newline, the SHA-256 (hex) of everything after its
    own line, a newline, then a JSON header line naming each array (its dtype, shape,
    memory order and byte offset), zero padding, and the arrays' raw bytes, each at an
    offset aligned to :data:`_ALIGN`. Written with :func:`~ame_core.files.atomic_write`
    from the arrays' own memory, chunk by chunk (no copy of the payload), so a reader
    sees a whole file or none. :meth:`load` hashes the file in chunks and, only if it
    matches, maps each array from the file (``numpy.memmap``, copy-on-write): reading
    an index costs its pages, not a copy, and worker processes that load the same index
    share them. A file is replaced by rename, never edited in place, so a mapped index
    keeps the bytes that were hashed.

    Args:
        directory: The cache directory (created on first write).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(parts: Mapping[str, Any]) -> str:
        """The content key of features computed from ``parts`` (canonical JSON, hashed)."""
        return sha256_hex(canonical_json({"format": CACHE_FORMAT, **parts}))

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.directory / f"{key}.tracin"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, memory-mapped; None if absent, truncated or corrupt."""
        path = self.path(key)
        try:
            with path.open("rb") as file:
                if file.read(len(_MAGIC)) != _MAGIC:
                    return None
                recorded = file.readline(_DIGEST_LINE + 1)
                body = file.tell()
                header = file.readline(_MAX_HEADER)
                digest = hashlib.sha256(header)
                while chunk := file.read(_CHUNK):
                    digest.update(chunk)
                size = file.tell()
        except OSError:
            return None
        if recorded != digest.hexdigest().encode() + b"\n" or not header.endswith(b"\n"):
            return None
        layout = _layout(header, body + len(header), size)
        if layout is None:
            return None
        out: dict[str, np.ndarray] = {}
        try:
            for name, (dtype, shape, order, offset) in layout.items():
                if math.prod(shape) == 0:
                    out[name] = np.zeros(shape, dtype=dtype, order=order)
                    continue
                out[name] = np.memmap(
                    path, dtype=dtype, mode="c", offset=offset, shape=shape, order=order
                )
        except (OSError, ValueError):
            return None
        return out

    def store(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` (C- or Fortran-contiguous, kept so) under ``key``, atomically.

        Raises:
            InputError: If the cache directory cannot be written, naming it.
        """
        views: list[tuple[str, np.ndarray, str]] = []
        for name, array in arrays.items():
            if array.flags.f_contiguous and not array.flags.c_contiguous:
                views.append((name, array, "F"))
            else:
                views.append((name, np.ascontiguousarray(array), "C"))
        entries = []
        offset = 0
        for name, array, order in views:
            entries.append(
                {
                    "name": name,
                    "dtype": array.dtype.str,
                    "shape": list(array.shape),
                    "order": order,
                    "offset": offset,
                }
            )
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        header = canonical_json({"arrays": entries, "length": offset}) + b"\n"
        # Payload offsets count from the aligned end of the header, so the file's
        # arrays start on _ALIGN boundaries whatever the header's length.
        start = len(_MAGIC) + _DIGEST_LINE + len(header)
        lead = b"\0" * (-start % _ALIGN)

        def body() -> Iterator[bytes | memoryview]:
            yield header + lead
            for _, array, order in views:
                if not array.nbytes:
                    continue  # memoryview cannot cast an empty array's view to bytes
                raw = (array.T if order == "F" else array).data.cast("B")
                for at in range(0, len(raw), _CHUNK):
                    yield raw[at : at + _CHUNK]
                if array.nbytes % _ALIGN:
                    yield b"\0" * (_ALIGN - array.nbytes % _ALIGN)

        digest = hashlib.sha256()
        for chunk in body():
            digest.update(chunk)
        line = digest.hexdigest().encode() + b"\n"
        try:
            atomic_write(self.path(key), itertools.chain((_MAGIC + line,), body()))  # type: ignore[arg-type]
        except OSError as err:
            raise InputError(
                f"cache_dir: cannot write {str(self.path(key))!r} ({err.strerror or err})"
            ) from None


def _layout(
    header: bytes, payload: int, size: int
) -> dict[str, tuple[np.dtype[Any], tuple[int, ...], Literal["C", "F"], int]] | None:
    """Each array's dtype, shape, order and file offset from a hashed header, if sound.

    ``payload`` is where the header line ends; the arrays must tile the file from the
    next :data:`_ALIGN` boundary to ``size`` exactly.
    """
    try:
        parsed = json.loads(header)
        base = payload + (-payload % _ALIGN)
        if parsed["length"] != size - base:
            return None
        out: dict[str, tuple[np.dtype[Any], tuple[int, ...], Literal["C", "F"], int]] = {}
        for entry in parsed["arrays"]:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(n) for n in entry["shape"])
            order = entry["order"]
            offset = int(entry["offset"])
            if (
                dtype.kind not in "fiu"
                or order not in ("C", "F")
                or min(shape, default=0) < 0
                or offset % _ALIGN
                or offset + dtype.itemsize * math.prod(shape) > parsed["length"]
            ):
                return None
            out[str(entry["name"])] = (dtype, shape, order, base + offset)
        return out
    except (ValueError, TypeError, KeyError):
        return None
