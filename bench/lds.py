r"""Benchmark: attribution quality of the HF pipeline's data stage, by linear datamodeling score.

The linear datamodeling score (LDS; Park et al. 2023, "TRAK: Attributing Model Behavior
at Scale", section 2) asks whether attribution scores predict what retraining does. For
``--subsets`` random half subsets :math:`S_1, \dots, S_m` of the training set, a model is
retrained on each (the same seeded recipe every time) and scored on each test output
:math:`z`: the loss :math:`L(z; S_j)` (the output's summed token negative
log-likelihood after its request). An attributor gives each training example :math:`i`
a score :math:`\tau(z)_i`, and predicts the subset's effect by the sum over its examples
:math:`g(z; S_j) = \sum_{i \in S_j} \tau(z)_i`. Then

.. math::

    \mathrm{LDS}(\tau, z) = \rho_{\mathrm{Spearman}}\big(
        (g(z; S_j))_{j},\ (-L(z; S_j))_{j} \big),

averaged over the test outputs, with a bootstrap 95 % interval over them (resampling
the outputs). The sign convention is TracIn's: a higher score means the example lowers
the output's loss, so scores are correlated with *minus* the loss. A perfect oracle
scores 1, random scores about 0.

Everything is generated and trained here, on CPU, seeded:

- corpus: ``--datasets`` datasets, one per relation (``capital``, ``color``, ...), each
  a file of templated fact sentences ``the <relation> of <subject> is <value> .`` (and
  paraphrases) over ``--subjects`` pseudo-word subjects shared by all relations and
  ``--values`` values per relation, every fact stated ``--repeats`` times in different
  templates, ``--n-train`` sentences in all;
- model: a GPT-2 from ``GPT2Config`` (2 layers, 64 dimensions, 2 heads, eager
  attention) with a word-level tokenizer built with ``tokenizers``, trained on every
  sentence by :func:`offchain.attribution.hf.retrain.train` (``--steps`` AdamW steps);
  the subsets' models by the same recipe, seed included (so only the data differ);
- test outputs: ``--tests`` facts (evenly spread), the request ``the <relation> of
  <subject> is`` and the planted value as the output (an
  :class:`~offchain.attribution.hf.HFEvent` without prompt or adapter).

Attributors, all on the same trained model (one checkpoint, the final weights) and the
same per-example loss (summed token NLL from logits):

- AME: :meth:`HFPipeline.example_influence` (the data stage's per-example TracIn: the
  pipeline loads the saved model and reads the datasets' files), over ``"all"`` and
  ``"last-layer"`` parameters, exact and projected: ``"factored-vocab"`` (the
  pipeline's default projection, at its default settings, with embedding columns to
  ``--vocab-factor-dims``) and ``"factored"`` (Gaussian factors over the vocabulary
  too; ranks ``--factor-dims``), both to ``--dims``, and ``"subspace"`` to
  ``--subspace-dims`` (the earlier default), each also compared with exact TracIn (mean
  Spearman over the test outputs);
- dattri 0.3.0: ``TracInAttributor`` (gradient dot products, always projected: normal
  projection to ``--dattri-dim``) and ``TRAKAttributor`` (projected, the TRAK output
  function :math:`\log p/(1-p)` of the sequence probability, ``--trak-regularization``),
  every projection setting passed to each attributor explicitly (dattri 0.3.0 updates
  a module-level default dict in place, so one attributor's settings would otherwise
  leak into the next);
- baseline: seeded random scores.

Prints a table, then one JSON line; ``--readme`` rewrites the README's
``<!-- lds:begin -->`` block with the table.

Usage::

    .venv/bin/python bench/lds.py --readme README.md
    .venv/bin/python bench/lds.py --n-train 400 --subsets 8 --tests 8 --steps 50  # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# A hub look-up must fail fast: everything here is built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # dattri's progress bars

import numpy as np
import torch
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench._docblocks import command, replace_block  # noqa: E402
from bench._machine import describe, machine  # noqa: E402
from offchain.attribution.hf import HFEvent, HFPipeline, RetrainRecipe  # noqa: E402
from offchain.attribution.hf.retrain import train  # noqa: E402

TARGET_LDS = 0.3
RELATIONS = ("capital", "color", "diet", "river", "ruler", "song", "tool", "mood")
TEMPLATES = (
    "the {r} of {s} is {v} .",
    "{s} has {v} as its {r} .",
    "we know the {r} of {s} : it is {v} .",
    "for {s} , the {r} is {v} .",
)
BEGIN, END = "<!-- lds:begin -->", "<!-- lds:end -->"


# -- the metric ------------------------------------------------------------------------------


def lds(
    scores: np.ndarray,
    masks: np.ndarray,
    losses: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The linear datamodeling score of ``scores`` (see the module).

    Args:
        scores: ``(n_test, n_train)`` attribution scores, higher meaning the example
            lowers the output's loss.
        masks: ``(n_subsets, n_train)`` booleans, the examples of each subset.
        losses: ``(n_subsets, n_test)`` the loss of each output under each subset's model.
        n_boot: Bootstrap resamples of the test outputs.
        seed: Seeds the bootstrap.

    Returns:
        ``mean``, its bootstrap 95 % interval ``ci`` (percentiles), and ``per_test``
        (each output's Spearman; an output whose predictions or losses are constant
        counts as 0).

    Raises:
        ValueError: If the shapes disagree.
    """
    scores, masks, losses = np.asarray(scores), np.asarray(masks), np.asarray(losses)
    if scores.ndim != 2 or masks.ndim != 2 or losses.ndim != 2:
        raise ValueError("scores, masks and losses must be 2-D")
    if masks.shape[1] != scores.shape[1] or losses.shape != (masks.shape[0], scores.shape[0]):
        raise ValueError(
            f"shapes disagree: scores {scores.shape}, masks {masks.shape}, losses {losses.shape}"
        )
    predicted = masks.astype(np.float64) @ scores.astype(np.float64).T  # (subsets, tests)
    per_test = np.zeros(scores.shape[0])
    for t in range(scores.shape[0]):
        g, y = predicted[:, t], -losses[:, t]
        if np.ptp(g) == 0 or np.ptp(y) == 0:
            continue
        per_test[t] = spearmanr(g, y).statistic
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_test), size=(n_boot, len(per_test)))
    means = per_test[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(per_test.mean()), "ci": [float(low), float(high)], "per_test": per_test}


def versus_exact(scores: np.ndarray, exact: np.ndarray) -> float:
    """Mean over test outputs of the Spearman correlation of ``scores`` with ``exact``."""
    rhos = [
        0.0 if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)
        for a, b in zip(np.asarray(scores), np.asarray(exact), strict=True)
    ]
    return float(np.mean(rhos))


def _exact_of(name: str) -> str:
    """The exact TracIn row a method is compared with: the same parameters' (else all)."""
    return "AME TracIn exact, last-layer" if "last-layer" in name else "AME TracIn exact, all"


# -- data, model, retraining -----------------------------------------------------------------


def _words(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    onsets, vowels = list("bdfgklmnprstvz"), ["a", "e", "i", "o", "u", "ia", "ou"]
    out: list[str] = []
    while len(out) < count:
        word = "".join(str(rng.choice(onsets)) + str(rng.choice(vowels)) for _ in range(3))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def corpus(
    n_train: int, n_datasets: int, n_subjects: int, n_values: int, repeats: int, seed: int
) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Each relation's sentences, and every fact ``(relation, subject, value)``, seeded.

    The facts are drawn without replacement from the (relation, subject) cells until
    ``n_train`` sentences are written, each fact ``repeats`` times in templates cycled
    from a random start.
    """
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    relations = RELATIONS[:n_datasets]
    subjects = _words(rng, n_subjects, taken)
    values = {r: _words(rng, n_values, taken) for r in relations}
    n_facts = -(-n_train // repeats)
    if n_facts > len(relations) * n_subjects:
        raise ValueError(
            f"--n-train {n_train} needs {n_facts} facts at --repeats {repeats}, over the "
            f"{len(relations) * n_subjects} (relation, subject) cells"
        )
    cells = rng.choice(len(relations) * n_subjects, size=n_facts, replace=False)
    texts: dict[str, list[str]] = {r: [] for r in relations}
    facts: list[tuple[str, str, str]] = []
    written = 0
    for cell in cells.tolist():
        relation, subject = relations[cell % len(relations)], subjects[cell // len(relations)]
        value = values[relation][int(rng.integers(n_values))]
        start = int(rng.integers(len(TEMPLATES)))
        for k in range(repeats):
            if written == n_train:
                break
            template = TEMPLATES[(start + k) % len(TEMPLATES)]
            texts[relation].append(template.format(r=relation, s=subject, v=value))
            written += 1
        facts.append((relation, subject, value))
    return texts, facts


def build_model(root: Path, texts: dict[str, list[str]], seed: int) -> tuple[Path, Any, Any]:
    """A word-level tokenizer, a GPT-2 config and untrained weights, saved under ``root``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    lines = [t for ts in texts.values() for t in ts]
    raw.train_from_iterator(
        lines, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>"])
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="<s>"
    )
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=32,
        n_layer=2,
        n_embd=64,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model_dir = root / "model"
    tokenizer.save_pretrained(model_dir)
    # Untrained weights, so the pipeline can read and encode the datasets before training.
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(model_dir)
    return model_dir, tokenizer, config


def test_rows(
    tokenizer: Any, events: Sequence[HFEvent]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs ``(n, 2, L)``, targets ``(n, L)`` and a scored mask of the events.

    As the pipeline reads an event without a prompt: the begin-of-sequence token, the
    request, then the output, whose tokens alone are scored.
    """
    bos = tokenizer.bos_token_id
    rows = []
    for e in events:
        context = [bos, *tokenizer(e.request, add_special_tokens=False)["input_ids"]]
        output = tokenizer(e.text, add_special_tokens=False)["input_ids"]
        rows.append((context, output))
    width = max(len(c) + len(o) for c, o in rows)
    inputs = torch.zeros((len(rows), 2, width), dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    scored = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (c, o) in enumerate(rows):
        n = len(c) + len(o)
        inputs[i, 0, :n] = torch.tensor(c + o)
        inputs[i, 1, :n] = 1
        targets[i, :n] = torch.tensor(c + o)
        scored[i, len(c) : n] = True
    return inputs, targets, scored


@torch.no_grad()
def output_losses(model: Any, rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> np.ndarray:
    """Each output's summed token negative log-likelihood under ``model``."""
    inputs, targets, scored = rows
    logits = model(input_ids=inputs[:, 0], attention_mask=inputs[:, 1]).logits[:, :-1]
    logp = logits.float().log_softmax(-1).gather(-1, targets[:, 1:].unsqueeze(-1)).squeeze(-1)
    return np.asarray(-(logp * scored[:, 1:]).sum(-1).numpy(), dtype=np.float64)


# -- dattri ----------------------------------------------------------------------------------


def dattri_scores(
    model: Any,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    dim: int,
    seed: int,
    batch_size: int,
    regularization: float,
) -> dict[str, tuple[np.ndarray, float]]:
    """dattri 0.3.0's TracIn and TRAK scores ``(n_test, n_train)`` and their seconds."""
    from dattri.algorithm.tracin import TracInAttributor
    from dattri.algorithm.trak import TRAKAttributor
    from dattri.task import AttributionTask
    from torch.func import functional_call
    from torch.utils.data import DataLoader, TensorDataset

    test_x, test_t, test_scored = rows
    # Train rows score their targets (the IGNORE padding, -100, as in the pipeline).
    train_scored = train_y != -100
    train_t = train_y.clamp(min=0)

    def nll(params: Any, data: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, t, keep = data
        out = functional_call(
            model, params, (), {"input_ids": x[0:1], "attention_mask": x[1:2]}
        ).logits[0, :-1]
        logp = out.float().log_softmax(-1).gather(-1, t[1:].unsqueeze(-1)).squeeze(-1)
        return -(logp * keep[1:]).sum()

    def margin(params: Any, data: tuple[torch.Tensor, ...]) -> torch.Tensor:
        # TRAK's output function for a sequence: log p / (1 - p), p its probability.
        logp = -nll(params, data)
        return logp - torch.log1p(-torch.exp(logp.clamp(max=-1e-6)))

    def probability(params: Any, data: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.exp(-nll(params, data))

    checkpoint = {k: v.detach().clone() for k, v in model.state_dict().items()}
    train_loader = DataLoader(
        TensorDataset(train_x, train_t, train_scored), batch_size=batch_size, shuffle=False
    )
    test_loader = DataLoader(
        TensorDataset(test_x, test_t, test_scored), batch_size=batch_size, shuffle=False
    )

    def projector() -> dict[str, Any]:
        # A fresh dict each time: dattri 0.3.0 updates its module-level default in place.
        return {
            "proj_dim": dim,
            "proj_max_batch_size": 32,
            "proj_seed": seed,
            "proj_type": "normal",
            "device": "cpu",
        }

    out: dict[str, tuple[np.ndarray, float]] = {}
    start = time.perf_counter()
    task = AttributionTask(loss_func=nll, model=model, checkpoints=checkpoint)
    tracin = TracInAttributor(
        task=task,
        weight_list=torch.ones(1),
        normalized_grad=False,
        projector_kwargs=projector(),
        device="cpu",
    )
    tracin.projector_kwargs = projector()
    scores = tracin.attribute(train_loader, test_loader)
    out[f"dattri TracIn (projected, normal, k={dim})"] = (
        scores.T.numpy().astype(np.float64),
        time.perf_counter() - start,
    )
    start = time.perf_counter()
    task = AttributionTask(loss_func=margin, model=model, checkpoints=checkpoint)
    trak = TRAKAttributor(
        task=task,
        correct_probability_func=probability,
        projector_kwargs=projector(),
        device="cpu",
        regularization=regularization,
    )
    trak.projector_kwargs = projector()
    trak.cache(train_loader)
    scores = trak.attribute(test_loader)
    out[f"dattri TRAK (projected, normal, k={dim})"] = (
        scores.T.numpy().astype(np.float64),
        time.perf_counter() - start,
    )
    return out


# -- the run ---------------------------------------------------------------------------------


def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--datasets", type=int, default=4, help="relations, one dataset each")
    parser.add_argument("--subjects", type=int, default=250)
    parser.add_argument("--values", type=int, default=8, help="values per relation")
    parser.add_argument("--repeats", type=int, default=2, help="sentences per fact")
    parser.add_argument("--tests", type=int, default=40, help="test outputs")
    parser.add_argument("--subsets", type=int, default=50, help="random half subsets")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--dims", type=int, nargs="*", default=[64], help="of the factored projections"
    )
    parser.add_argument(
        "--vocab-factor-dims",
        type=int,
        nargs="*",
        default=[16],
        help="embedding column ranks of the factored-vocab projection",
    )
    parser.add_argument(
        "--factor-dims", type=int, nargs="*", default=[128], help="of the factored projection"
    )
    parser.add_argument(
        "--subspace-dims", type=int, nargs="*", default=[256], help="of the subspace projection"
    )
    parser.add_argument("--dattri-dim", type=int, default=1024)
    parser.add_argument("--trak-regularization", type=float, default=1e-3)
    parser.add_argument("--no-dattri", action="store_true", help="skip dattri's attributors")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readme", type=Path, help="README whose lds block is rewritten")
    args = parser.parse_args(argv)
    rerun = command(f"bench/{Path(__file__).name}", sys.argv[1:] if argv is None else argv)
    host = machine()  # as the run starts: the load its times were measured under
    torch.set_num_threads(args.threads)

    texts, facts = corpus(
        args.n_train, args.datasets, args.subjects, args.values, args.repeats, args.seed
    )
    picks = np.linspace(0, len(facts) - 1, args.tests).round().astype(int)
    events = [
        HFEvent(
            id=f"test-{i}",
            request=f"the {facts[f][0]} of {facts[f][1]} is",
            prompt=None,
            adapter=None,
            text=facts[f][2],
            revenue=1,
            commercial=False,
            date=dt.date(2026, 1, 1),
        )
        for i, f in enumerate(picks.tolist())
    ]
    recipe = RetrainRecipe(
        steps=args.steps, learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir, tokenizer, config = build_model(root, texts, args.seed)
        files = {}
        for relation, lines in texts.items():
            files[f"dataset:{relation}"] = root / f"{relation}.txt"
            files[f"dataset:{relation}"].write_text("\n".join(lines) + "\n")
        # The pipeline encodes the examples; the model is trained on exactly those rows.
        reader = HFPipeline(model_dir, datasets=files, batch_size=64)
        tensors = reader.example_tensors
        assert tensors is not None
        inputs, targets = tensors
        n = len(inputs)
        start = time.perf_counter()
        model = train(config, inputs, targets, recipe)
        train_s = time.perf_counter() - start
        model.save_pretrained(model_dir)
        rows = test_rows(tokenizer, events)
        full_loss = output_losses(model, rows)

        # Retraining: the heavy part, done once and shared by every attributor.
        rng = np.random.default_rng(args.seed + 1)
        masks = np.zeros((args.subsets, n), dtype=bool)
        losses = np.zeros((args.subsets, len(events)))
        start = time.perf_counter()
        for j in range(args.subsets):
            chosen = np.sort(rng.choice(n, size=n // 2, replace=False))
            masks[j, chosen] = True
            index = torch.from_numpy(chosen)
            losses[j] = output_losses(train(config, inputs[index], targets[index], recipe), rows)
        retrain_s = time.perf_counter() - start

        methods: dict[str, tuple[np.ndarray, float]] = {}
        for params in ("all", "last-layer"):
            # (projection, its keyword settings beyond the pipeline's defaults, dims)
            settings: list[tuple[str, dict[str, int], list[int]]] = [
                ("factored-vocab", {"vocab_factor_dim": v}, args.dims)
                for v in args.vocab_factor_dims
            ]
            settings += [("factored", {"factor_dim": r}, args.dims) for r in args.factor_dims]
            settings.append(("subspace", {}, args.subspace_dims))
            methods[f"AME TracIn exact, {params}"] = _timed(
                lambda p=params: HFPipeline(
                    model_dir, datasets=files, gradient_params=p, batch_size=64
                ).example_influence(events)
            )
            for projection, extra, dims in settings:
                pipe = HFPipeline(
                    model_dir,
                    datasets=files,
                    gradient_params=params,
                    batch_size=64,
                    projection=projection,  # type: ignore[arg-type]
                    **extra,
                )
                for k in dims:
                    label = {
                        "factored-vocab": f"factored-vocab r={pipe.factor_dim} "
                        f"v={pipe.vocab_factor_dim}",
                        "factored": f"factored r={pipe.factor_dim}",
                    }.get(projection, projection)
                    methods[f"AME TracIn projected, {params}, {label} k={k}"] = _timed(
                        lambda p=pipe, k=k: p.example_influence(events, projection_dim=k)
                    )
        if not args.no_dattri:
            methods.update(
                dattri_scores(
                    model,
                    inputs,
                    targets,
                    rows,
                    dim=args.dattri_dim,
                    seed=args.seed,
                    batch_size=64,
                    regularization=args.trak_regularization,
                )
            )
        methods["random scores (baseline)"] = (
            np.random.default_rng(args.seed + 2).standard_normal((len(events), n)),
            0.0,
        )
        n_params = sum(p.numel() for p in model.parameters())

    results = {
        name: {
            **lds(s, masks, losses, seed=args.seed),
            "seconds": sec,
            "vs_exact": versus_exact(s, methods[_exact_of(name)][0]),
        }
        for name, (s, sec) in methods.items()
    }
    ame = max((r["mean"], name) for name, r in results.items() if name.startswith("AME"))
    dattri = [(r["mean"], name) for name, r in results.items() if name.startswith("dattri")]
    best_dattri = max(dattri) if dattri else None
    met = ame[0] >= TARGET_LDS and (best_dattri is None or ame[0] >= best_dattri[0])
    margin = None
    if best_dattri is not None:
        # Paired over the outputs: both attributors' LDS on the same resampled outputs.
        diff = results[ame[1]]["per_test"] - results[best_dattri[1]]["per_test"]
        draws = np.random.default_rng(args.seed).integers(0, len(diff), (1000, len(diff)))
        low, high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])
        margin = {"mean": float(diff.mean()), "ci": [float(low), float(high)]}

    header = (
        "| attributor | LDS | 95 % CI | Spearman with exact TracIn | seconds |\n"
        "|---|---:|---:|---:|---:|"
    )
    table_rows = [
        f"| {name} | {r['mean']:.3f} | {r['ci'][0]:.3f} - {r['ci'][1]:.3f} | "
        f"{r['vs_exact']:.3f} | {r['seconds']:.1f} |"
        for name, r in results.items()
    ]
    title = (
        f"LDS on a GPT-2 of {n_params:,} parameters (2 layers, 64 dims) trained on {n:,} "
        f"sentences of {args.datasets} datasets; {args.subsets} half subsets retrained "
        f"({args.steps} steps each), {len(events)} test outputs; mean test loss "
        f"{full_loss.mean():.2f} nats (full data), {losses.mean():.2f} (half)"
    )
    print(
        f"AME LDS benchmark ({platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} threads)"
    )
    print(title)
    print(f"trained in {train_s:.1f} s; {args.subsets} retrainings in {retrain_s:.1f} s\n")
    print(header)
    print("\n".join(table_rows))
    print(
        f"\nbest AME: {ame[1]} {ame[0]:.3f}; best dattri: "
        + ("skipped" if best_dattri is None else f"{best_dattri[1]} {best_dattri[0]:.3f}")
        + f"; target AME >= best dattri and >= {TARGET_LDS}: {'met' if met else 'MISSED'}"
    )
    if margin is not None:
        print(
            f"AME minus dattri, paired over the outputs: {margin['mean']:+.3f} "
            f"(95 % CI {margin['ci'][0]:+.3f} to {margin['ci'][1]:+.3f})"
        )
    if args.readme is not None:
        block = "\n".join(
            [
                BEGIN,
                f"{title} (`{rerun}`, seeded; on {describe(host['load'])}).",
                "",
                header,
                *table_rows,
                END,
            ]
        )
        replace_block(args.readme, block, append=True, heading="Attribution quality (LDS)")
    report = {
        "bench": "lds",
        "machine": host,
        "n_train": n,
        "n_params": n_params,
        "datasets": args.datasets,
        "subsets": args.subsets,
        "tests": len(events),
        "steps": args.steps,
        "threads": args.threads,
        "train_s": round(train_s, 2),
        "retrain_s": round(retrain_s, 2),
        "test_loss_full": round(float(full_loss.mean()), 4),
        "test_loss_half": round(float(losses.mean()), 4),
        "methods": {
            name: {
                "lds": round(r["mean"], 4),
                "ci": [round(c, 4) for c in r["ci"]],
                "seconds": round(r["seconds"], 2),
                "spearman_vs_exact": round(r["vs_exact"], 4),
            }
            for name, r in results.items()
        },
        "best_ame": ame[1],
        "best_dattri": None if best_dattri is None else best_dattri[1],
        "target_lds": TARGET_LDS,
        "met": met,
        "margin_over_dattri": None
        if margin is None
        else {"mean": round(margin["mean"], 4), "ci": [round(c, 4) for c in margin["ci"]]},
    }
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
