"""The Hugging Face market demo behind ``ame demo --market hf``: a real model's story.

The same story as :mod:`ame.demos.market`, with the operator's model a ``transformers``
causal LM and a ``peft`` LoRA adapter rather than the reference pipeline:

1. **A market on disk.** :func:`write_hf_market` trains, in seconds and seeded, a tiny
   GPT-2 (built from config with a word-level tokenizer,
   :mod:`~offchain.attribution.hf.tiny`) on three contributors' datasets, a LoRA adapter
   on a fourth's poems, and a commodity reference model; and writes what an operator
   has: the ``ame.pipeline/1`` configuration, the JSONL event log of paid outputs and
   the rights registry (``ame.registry/1``).
2. **Attribution** through the code path of ``ame attribute --pipeline --events``
   (:func:`~offchain.attribution.hf.config.attribute_events`): the training gradients
   indexed, the logged outputs scored, each event's revenue split over the data, base
   model, adapter and prompt stages, and the data stage over the datasets by projected
   TracIn; the ``ame.values/1`` document written atomically beside them.
3. **Settlement, a caught cheat, audit and claims**, as in the reference demo
   (:func:`~ame.demos.market.settle_and_claim`).

Nothing is downloaded: every model is built here and loaded from its directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ame.demos.market import MarketDemoResult, contributor_accounts, settle_and_claim, tell_events
from ame.workflow import Progress, quiet_progress
from ame.workflow._settle import MappingInputs
from ame_chain.chains import Chain
from ame_core.exceptions import InputError
from ame_core.files import atomic_write, content_digest
from offchain.mapping import load_registry, parse_values

__all__ = ["HFMarket", "run_hf_market_demo", "write_hf_market"]

# Each dataset's owner and its examples: three small worlds the model learns. The
# capitals are written as the fact prompt frames them, so that the prompt earns its part.
_DATASETS: dict[str, tuple[str, list[str]]] = {
    "dataset:animals": ("alice", [
        "the cat sat on the mat", "the dog ran in the park", "a bird sang in the tree",
        "the cat chased the bird", "the dog slept on the rug", "a fox ran in the wood",
    ]),
    "dataset:capitals": ("bob", [
        "fact : paris is the capital of france", "fact : rome is the capital of italy",
        "fact : berlin is the capital of germany", "fact : madrid is the capital of spain",
        "fact : lisbon is the capital of portugal", "fact : vienna is the capital of austria",
    ]),
    "dataset:kitchen": ("carol", [
        "mix the flour and the eggs", "bake the bread in the oven",
        "boil the rice in the pot", "cut the bread with the knife",
        "stir the soup in the pot", "bake the cake in the oven",
    ]),
}  # fmt: skip
_POEMS = [
    "story : the moon sang a silver song", "story : the sea sang a silver song",
    "story : the moon slept on a silver sea", "story : a star sang in the silver night",
]  # fmt: skip
_PROMPTS = {"prompt:story": "story : {request}", "prompt:fact": "fact : {request}"}
# The commodity reference model reads generic text only.
_COMMODITY = ["the cat is in the house", "a dog is in the park", "the capital is big"]
# (id, request, prompt, adapter, output, revenue in wei): outputs continue the request.
_EVENTS: list[tuple[str, str, str | None, str | None, str, int]] = [
    ("e1", "paris is the capital of", "prompt:fact", None, "france", 10**18),
    ("e2", "the cat sat on", None, None, "the mat", 6 * 10**17),
    ("e3", "the moon", "prompt:story", "adapter:poetry", "sang a silver song", 8 * 10**17),
    ("e4", "bake the bread", None, None, "in the oven", 4 * 10**17),
    ("e5", "rome is the capital of", "prompt:fact", None, "italy", 5 * 10**17),
]  # fmt: skip
# Asset id -> (kind, owner name); the owners are paid at contributor accounts 10, 11, ...
_OWNERS: dict[str, tuple[str, str]] = {
    **{d: ("dataset", owner) for d, (owner, _) in _DATASETS.items()},
    "model:tiny-gpt2": ("base_model", "model_developer"),
    "adapter:poetry": ("adapter", "frank"),
    "prompt:story": ("prompt", "paula"),
    "prompt:fact": ("prompt", "quinn"),
}
# Asset id -> the files it is, relative to the market's directory: its content hash is
# theirs (a prompt's is its template's).
_CONTENT: dict[str, str] = {
    **{d: f"data/{d.split(':')[1]}.txt" for d in _DATASETS},
    "model:tiny-gpt2": "models/base",
    "adapter:poetry": "models/poetry",
}
_DATE = "2026-12-01"


@dataclass(frozen=True)
class HFMarket:
    """The files of a Hugging Face market, as an operator has them.

    Attributes:
        pipeline: The ``ame.pipeline/1`` configuration.
        events: The JSONL event log.
        registry: The ``ame.registry/1`` rights registry.
    """

    pipeline: Path
    events: Path
    registry: Path


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_hf_market(directory: str | Path, *, seed: int = 0) -> HFMarket:
    """Train the demo's models and write its configuration, event log and registry.

    Args:
        directory: Where everything goes (created): ``models/``, ``data/``,
            ``pipeline.yaml``, ``events.jsonl``, ``registry.yaml``.
        seed: Seeds every model's training.

    Returns:
        The paths of the three documents.
    """
    from offchain.attribution.hf.tiny import build_tiny_model, train_lora

    root = Path(directory)
    (root / "data").mkdir(parents=True, exist_ok=True)
    texts = [t for _, examples in _DATASETS.values() for t in examples]
    # Every word the market uses, so that the models share one vocabulary.
    words = [*texts, *_POEMS, *_PROMPTS.values(), *_COMMODITY, *(e[1] for e in _EVENTS)]
    vocabulary = [w.replace("{request}", "") for w in words]
    # Trained short of memorising its 18 sentences: at a memorised model's weights the
    # training gradients are near zero and TracIn's signs are noise (with 80 steps the
    # kitchen data scored -192 for "bake the bread" -> "in the oven"; with 20, +61, and
    # each event's own dataset scores highest).
    base = build_tiny_model(root / "models/base", texts, vocabulary=vocabulary, steps=20, seed=seed)
    train_lora(base, root / "models/poetry", _POEMS, steps=60, seed=seed)
    build_tiny_model(
        root / "models/commodity", _COMMODITY, vocabulary=vocabulary, steps=10, seed=seed + 1
    )
    for dataset, (_, examples) in _DATASETS.items():
        (root / "data" / f"{dataset.split(':')[1]}.txt").write_text("\n".join(examples) + "\n")
    config: dict[str, Any] = {
        "format": "ame.pipeline/1",
        "id": "hf-demo",
        "model": "models/base",
        "base_model": "model:tiny-gpt2",
        "reference_model": "models/commodity",
        "adapters": {"adapter:poetry": "models/poetry"},
        "prompts": _PROMPTS,
        "neutral_template": "{request}",
        "datasets": {d: _CONTENT[d] for d in _DATASETS},
        "cache_dir": "cache",
        "attribution": {
            "method": "tracin-projected",
            "gradient_params": "all",
            # The subspace projection is exact from as many dimensions as examples (the
            # pipeline's default, factored-vocab, is for training sets of thousands).
            "projection": "subspace",
            "projection_dim": 32,
            "seed": seed,
            "batch_size": 8,
        },
    }
    pipeline = root / "pipeline.yaml"
    atomic_write(pipeline, yaml.safe_dump(config, sort_keys=False))
    lines = [
        json.dumps(
            {"id": i, "request": r, "prompt": p, "adapter": a, "text": t, "revenue": str(v),
             "commercial": True, "date": _DATE}
        )
        for i, r, p, a, t, v in _EVENTS
    ]  # fmt: skip
    events = root / "events.jsonl"
    atomic_write(events, "\n".join(lines) + "\n")
    accounts = contributor_accounts(len({owner for _, owner in _OWNERS.values()}))
    address: dict[str, str] = {}
    for _, owner in _OWNERS.values():
        address.setdefault(owner, str(accounts[len(address)].address))
    licence = {"commercial_use": True, "derivatives_allowed": True}
    assets = []
    for asset, (kind, owner) in _OWNERS.items():
        entry: dict[str, Any] = {
            "id": asset,
            "kind": kind,
            "content_hash": "sha256:" + content_digest(root / _CONTENT[asset])
            if asset in _CONTENT
            else _sha256(_PROMPTS[asset].encode()),
            "uri": f"ame://hf-demo/{asset.replace(':', '/')}",
            "owners": [{"address": address[owner], "share": "1", "name": owner}],
            "licence": licence,
        }
        if kind == "adapter":
            entry["parents"] = [
                {"asset": "model:tiny-gpt2", "relation": "fine_tuned_from", "royalty": "10%"}
            ]
        assets.append(entry)
    registry = root / "registry.yaml"
    document = {"format": "ame.registry/1", "revision": 1, "royalty_mode": "LAP", "assets": assets}
    atomic_write(registry, yaml.safe_dump(document, sort_keys=False))
    return HFMarket(pipeline, events, registry)


def run_hf_market_demo(
    chain: Chain,
    workdir: Path,
    *,
    say: Callable[[str], None] = print,
    progress: Progress = quiet_progress,
) -> MarketDemoResult:
    """Run the Hugging Face market on ``chain`` (which must have 5 funded development accounts).

    Args:
        chain: An in-process chain, a managed Anvil, or a node with funded accounts.
        workdir: Where the market's files (``market/``), the values, the roles' states,
            the published documents and the report go (a fresh directory).
        say: Where the story is told, one line a step.
        progress: Reports the long steps (training, indexing, scoring, valuing, claims).

    Raises:
        InputError: ``chain`` has too few funded accounts, or ``workdir`` was used before.
    """
    from offchain.attribution.hf import load_events, load_pipeline_config
    from offchain.attribution.hf.config import attribute_events, inputs_digest, record_lines

    if len(chain.dev_accounts) < 5:
        raise InputError(
            "chain: the demo needs 5 funded development accounts (in-process or anvil)"
        )
    workdir = Path(workdir)
    if (workdir / "market").exists() or (workdir / "values.json").exists():
        raise InputError(f"workdir: {workdir} holds an earlier run; the demo needs a fresh one")

    # 1. The market on disk.
    progress.step("training a tiny GPT-2, a LoRA adapter and a reference model")
    market = write_hf_market(workdir / "market")
    say(f"wrote the market: {market.pipeline}, {market.events}, {market.registry}")

    # 2. Attribution, as `ame attribute --pipeline --events` does it.
    config = load_pipeline_config(market.pipeline)
    events = load_events(market.events)
    attribution, document = attribute_events(
        config,
        events,
        inputs=(config.id, inputs_digest(market.pipeline, market.events)),
        progress=progress,
    )
    values_file = workdir / "values.json"
    atomic_write(values_file, json.dumps(document, indent=2) + "\n")
    tell_events(attribution, say)
    registry = load_registry(market.registry)

    inputs = (config.id, inputs_digest(market.pipeline, market.events))

    def inputs_for(epoch: int) -> MappingInputs:
        at_epoch = {**document, "epoch": epoch}
        record = list(record_lines(config, attribution, epoch=epoch, inputs=inputs))
        values = parse_values(at_epoch, source=f"epoch {epoch}")
        return MappingInputs(values, registry, attribution=lambda: record)

    # 3. Settlement, a caught cheat, audit and claims.
    return settle_and_claim(
        chain, workdir, attribution, inputs_for, registry, say=say, progress=progress
    )
