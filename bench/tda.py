"""Benchmark: score one generation against 100,000 training examples with projected TracIn.

Prints a table, then one JSON line. Everything is generated and trained here, on CPU:

- corpus: ``--n-train`` sentences ``the <relation> of <a> <b> is <value> .`` (and the
  paraphrase ``<value> is the <relation> of <a> <b> .``) over seeded pseudo-words, so
  the vocabulary stays small (~600 words) while the facts are many;
- model: the reference pipeline's transformer (``ModelSettings()`` defaults), trained
  with ``offchain.attribution.lm.pretrain`` for ``--steps`` steps, keeping
  ``--checkpoints`` checkpoints;
- event: a training fact's request through the ``the ... is`` prompt, answered greedily;
- attribution: TracIn through every parameter of the model, exact (per-example
  gradients streamed at query time) and projected (count sketch, one ``k``-dimensional
  feature per training example, computed once by ``fit``).

Measured in the same run:

- projected: ``fit`` on all training examples (reported apart), then scoring the event
  end to end (its gradients, projection, one matrix product) and the matrix product
  alone, the median of ``--repeats`` runs; target <= 20 ms;
- exact baseline: TracIn on ``--subset`` training examples drawn at random, timed and
  extrapolated linearly to ``--n-train`` (labelled as such);
- agreement: Spearman rho (target >= 0.95) and Pearson r between exact and projected
  scores on that subset, for each ``k`` in ``--dims``; the ``k`` of the full run is
  ``--dim``. Scoring time for the other ``k`` is one product with an
  ``(n_train x k)`` matrix of the same shape as real features (labelled).

Usage::

    .venv/bin/python bench/tda.py
    .venv/bin/python bench/tda.py --n-train 20000 --subset 1000 --dims 256 1024 --dim 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from offchain.attribution.lm import (  # noqa: E402
    BOS,
    IGNORE,
    NeuralLM,
    Vocabulary,
    encode_sentences,
    pretrain,
    sequence_nll,
)
from offchain.attribution.pipeline import ModelSettings, TrainSettings  # noqa: E402
from offchain.attribution.tda import ProjectedTracIn, TracIn  # noqa: E402

TARGET_MS = 20.0
TARGET_RHO = 0.95
RELATIONS = ("capital", "diet", "color", "river", "ruler", "song", "tool", "mood")


def _words(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    onsets, vowels = list("bdfgklmnprstvz"), ["a", "e", "i", "o", "u", "ia", "ou"]
    out: list[str] = []
    while len(out) < count:
        word = "".join(str(rng.choice(onsets)) + str(rng.choice(vowels)) for _ in range(3))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def corpus(n: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """``n`` fact sentences and the ``(request, answer)`` of every fact, seeded."""
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    firsts, seconds, values = (
        _words(rng, 100, taken),
        _words(rng, 70, taken),
        _words(rng, 400, taken),
    )
    n_facts = (n + 1) // 2
    cells = rng.choice(len(firsts) * len(seconds) * len(RELATIONS), size=n_facts, replace=False)
    sentences, facts = [], []
    for cell in cells.tolist():
        subject, relation = divmod(cell, len(RELATIONS))
        a, b = firsts[subject // len(seconds)], seconds[subject % len(seconds)]
        value = values[int(rng.integers(len(values)))]
        rel = RELATIONS[relation]
        sentences += [f"the {rel} of {a} {b} is {value} .", f"{value} is the {rel} of {a} {b} ."]
        facts.append((f"{rel} of {a} {b}", value))
    return sentences[:n], facts


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=2_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--checkpoints", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    sentences, facts = corpus(args.n_train, args.seed)
    vocab = Vocabulary.from_texts(sentences)
    model_settings = ModelSettings()
    inputs, targets = encode_sentences(vocab, sentences, model_settings.max_len)
    generate_s = time.perf_counter() - start

    start = time.perf_counter()
    train_settings = TrainSettings(
        pretrain_steps=args.steps, batch_size=64, n_checkpoints=args.checkpoints
    )
    trained = pretrain(vocab, sentences, model_settings, train_settings, args.seed)
    train_s = time.perf_counter() - start

    request, answer = facts[0]
    context = [BOS, *vocab.encode(f"the {request} is")]
    output = NeuralLM(trained.model).generate(context, 4)
    ids = [*context, *output]
    event = (
        torch.tensor([ids[:-1]]),
        torch.tensor([[IGNORE] * (len(context) - 1) + output]),
    )
    n_params = sum(p.numel() for p in trained.model.parameters())
    args_tracin = (trained.model, trained.checkpoints, sequence_nll)

    rng = np.random.default_rng(args.seed + 1)
    subset = torch.from_numpy(np.sort(rng.choice(args.n_train, size=args.subset, replace=False)))
    sub_x, sub_y = inputs[subset], targets[subset]

    exact_est = TracIn(*args_tracin, batch_size=256).fit(sub_x, sub_y)
    start = time.perf_counter()
    exact = exact_est.score(*event)[0]
    exact_subset_s = time.perf_counter() - start
    exact_full_s = exact_subset_s * args.n_train / args.subset

    sweep: dict[int, dict[str, float]] = {}
    for k in sorted(set(args.dims) | {args.dim}):
        est = ProjectedTracIn(
            *args_tracin, projection_dim=k, projection="countsketch", batch_size=256
        )
        estimate = est.fit(sub_x, sub_y).score(*event)[0]
        query, shaped = torch.randn(1, k), torch.randn(args.n_train, k)

        def product(q: torch.Tensor = query, m: torch.Tensor = shaped) -> torch.Tensor:
            return q @ m.T

        sweep[k] = {
            "spearman": float(spearmanr(exact, estimate).statistic),
            "pearson": float(pearsonr(exact, estimate).statistic),
            "product_ms_same_shape": median_ms(product, args.repeats),
            "features_mb": args.n_train * k * 4 / 2**20,
        }
        del query, shaped, product

    projected = ProjectedTracIn(
        *args_tracin, projection_dim=args.dim, projection="countsketch", batch_size=256
    )
    start = time.perf_counter()
    projected.fit(inputs, targets)
    fit_s = time.perf_counter() - start
    features = projected.project(*event)
    end_to_end_ms = median_ms(lambda: projected.score(*event), args.repeats)
    product_ms = median_ms(lambda: projected.score_features(features), args.repeats)
    full = projected.score_features(features)[0]
    # Features do not depend on the other training examples: the full fit's rows of the
    # subset are the subset fit's, so the sweep's rho is the full run's.
    rho = float(spearmanr(exact, full[subset.numpy()]).statistic)

    print(
        f"AME projected TracIn benchmark ({platform.python_implementation()} "
        f"{platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
        f"{args.threads} threads)"
    )
    print(
        f"corpus {args.n_train:,} sentences, vocabulary {len(vocab):,}, model {n_params:,} "
        f"parameters, {len(trained.checkpoints)} checkpoints; generated in {generate_s:.1f} s, "
        f"trained ({args.steps} steps) in {train_s:.1f} s"
    )
    print(f"event: 'the {request} is' -> {vocab.decode(output)!r} (planted answer {answer!r})\n")
    header = (
        f"{'method':<46}{'k':>6}{'score 1 event ms':>18}{'Spearman':>10}{'Pearson':>9}{'MB':>8}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'exact TracIn (extrapolated from subset)':<46}{'-':>6}{exact_full_s * 1e3:>18,.0f}"
        f"{1.0:>10.3f}{1.0:>9.3f}{'-':>8}"
    )
    for k, row in sweep.items():
        label = "projected (count sketch), product on same-shape matrix"
        if k == args.dim:
            label = "projected (count sketch), end to end"
        ms = end_to_end_ms if k == args.dim else row["product_ms_same_shape"]
        print(
            f"{label:<46}{k:>6}{ms:>18.1f}{row['spearman']:>10.3f}{row['pearson']:>9.3f}"
            f"{row['features_mb']:>8.0f}"
        )
    print(
        f"\nexact TracIn: {args.subset:,} examples scored in {exact_subset_s:.2f} s, "
        f"x{args.n_train / args.subset:.0f} -> {exact_full_s:.0f} s per event at {args.n_train:,}"
    )
    print(
        f"projected k={args.dim}: fit {fit_s:.1f} s once for {args.n_train:,} examples; "
        f"score one event {end_to_end_ms:.1f} ms end to end, {product_ms:.1f} ms matrix product "
        f"(target <= {TARGET_MS:.0f} ms: {'met' if end_to_end_ms <= TARGET_MS else 'MISSED'}); "
        f"speed-up over exact {exact_full_s * 1e3 / end_to_end_ms:,.0f}x"
    )
    best = [k for k, row in sweep.items() if row["spearman"] >= TARGET_RHO]
    print(
        f"Spearman rho at k={args.dim}: {rho:.3f} (target >= {TARGET_RHO}: "
        f"{'met' if rho >= TARGET_RHO else 'MISSED'}); smallest k reaching it: "
        f"{min(best) if best else 'none in ' + str(sorted(sweep))}"
    )
    result: dict[str, Any] = {
        "bench": "tda",
        "n_train": args.n_train,
        "vocab": len(vocab),
        "n_params": n_params,
        "checkpoints": len(trained.checkpoints),
        "threads": args.threads,
        "train_s": round(train_s, 2),
        "exact": {
            "subset": args.subset,
            "subset_s": round(exact_subset_s, 3),
            "extrapolated_s": round(exact_full_s, 1),
        },
        "projected": {
            "k": args.dim,
            "projection": "countsketch",
            "fit_s": round(fit_s, 1),
            "score_ms": round(end_to_end_ms, 2),
            "product_ms": round(product_ms, 2),
            "spearman": round(rho, 4),
        },
        "sweep": {
            str(k): {name: round(value, 4) for name, value in row.items()}
            for k, row in sweep.items()
        },
        "target_ms": TARGET_MS,
        "target_spearman": TARGET_RHO,
        "met_ms": end_to_end_ms <= TARGET_MS,
        "met_spearman": rho >= TARGET_RHO,
    }
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
