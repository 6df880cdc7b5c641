"""Benchmark: game evaluations needed to reach a standard error of 0.01, 50 players.

Runs :func:`offchain.attribution.shapley_values` with ``method="permutation"`` and
``target_stderr=0.01`` (every player's standard error at most 0.01) for each sampler,
over several seeds, and counts the distinct game evaluations it needed. The baseline is
plain permutation sampling (Castro et al. 2009), run in the same process with the same
stopping rule. Every game has exact Shapley values, so the table also shows the error
actually reached and how often the exact value lay within two standard errors.

Games (50 players each):

* ``data`` (the target): data valuation of 50 training points for a 5-nearest-neighbour
  classifier, the game of Jia et al. (2019). The worth of a training set is the number
  of correct neighbour votes, divided by K, summed over 10 validation points (the
  expected number of validation points classified correctly), so a value of 0.01 is a
  hundredth of a correct prediction. Two noisy features, labels from a noisy linear
  rule. Exact values: ``knn_shapley`` times the 10 validation points.
* ``voting-lognormal``: a shareholder vote, 50 holders with log-normal stakes (a few
  large, many small), simple majority. Exact: Shapley-Shubik index by dynamic
  programming (``games.WeightedVotingGame``).
* ``voting-uniform``: the same with stakes uniform on 1..20.

Target: the default (stratified) sampler needs at most 0.5x the evaluations of plain
sampling on the data game. Prints a table, then one JSON line.

Usage::

    .venv/bin/python bench/sampler_efficiency.py
    .venv/bin/python bench/sampler_efficiency.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.attribution import CachedGame, knn_shapley, shapley_values
from offchain.attribution.games import WeightedVotingGame

N_PLAYERS = 50
TARGET_STDERR = 0.01
TARGET_RATIO = 0.5
SAMPLERS = ("plain", "stratified", "antithetic")


class KNNDataGame:
    """Expected number of validation points a K-NN classifier on the coalition gets right.

    Ties in distance are broken by training index, as in ``knn_shapley``.
    """

    def __init__(self, n_train: int, n_valid: int, k: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x_train = rng.normal(size=(n_train, 2))
        self.y_train = (self.x_train[:, 0] + 0.7 * rng.normal(size=n_train) > 0).astype(int)
        self.x_valid = rng.normal(size=(n_valid, 2))
        self.y_valid = (self.x_valid[:, 0] + 0.7 * rng.normal(size=n_valid) > 0).astype(int)
        self.k = k
        distances = ((self.x_valid[:, None, :] - self.x_train[None, :, :]) ** 2).sum(axis=-1)
        order = np.argsort(distances, axis=1, kind="stable")
        self._rank = np.argsort(order, axis=1)
        self._correct = (self.y_train[None, :] == self.y_valid[:, None]).astype(np.float64)
        self._rows = np.arange(n_valid)[:, None]
        self.players = tuple(range(n_train))

    def __call__(self, coalition: frozenset[int]) -> float:
        if not coalition:
            return 0.0
        members = np.fromiter(coalition, dtype=np.intp, count=len(coalition))
        if len(members) > self.k:
            nearest = np.argpartition(self._rank[:, members], self.k - 1, axis=1)[:, : self.k]
            chosen = members[nearest]
        else:
            chosen = np.broadcast_to(members, (len(self.y_valid), len(members)))
        return float(self._correct[self._rows, chosen].sum() / self.k)

    def shapley_values(self) -> np.ndarray:
        per_point = knn_shapley(self.x_train, self.y_train, self.x_valid, self.y_valid, self.k)
        return per_point.value_array * len(self.y_valid)


@dataclass
class Case:
    name: str
    game: Callable[[frozenset[int]], float]
    exact: np.ndarray


def make_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    data = KNNDataGame(N_PLAYERS, n_valid=10, k=5, seed=seed)
    cases = [Case("data", data, data.shapley_values())]
    stakes = {
        "voting-lognormal": np.maximum(1, np.round(rng.lognormal(2.0, 1.0, N_PLAYERS))),
        "voting-uniform": rng.integers(1, 21, N_PLAYERS),
    }
    for name, weights in stakes.items():
        as_ints = {i: int(w) for i, w in enumerate(weights)}
        voting = WeightedVotingGame(as_ints, quota=sum(as_ints.values()) // 2 + 1)
        exact = voting.shapley_values()
        cases.append(Case(name, voting, np.array([exact[i] for i in range(N_PLAYERS)])))
    return cases


def measure(case: Case, sampler: str, seeds: range) -> dict[str, Any]:
    evaluations, errors, covered, seconds = [], [], [], 0.0
    for seed in seeds:
        cached = CachedGame(case.game)
        start = time.perf_counter()
        result = shapley_values(
            cached,
            list(range(N_PLAYERS)),
            method="permutation",
            sampler=sampler,  # type: ignore[arg-type]
            seed=seed,
            target_stderr=TARGET_STDERR,
            max_evaluations=10_000_000,
        )
        seconds += time.perf_counter() - start
        if result.stopped_by != "target_stderr":
            raise RuntimeError(f"{case.name}/{sampler} stopped by {result.stopped_by}")
        error = np.abs(result.value_array - case.exact)
        evaluations.append(result.n_evaluations)
        errors.append(float(error.max()))
        covered.append(float(np.mean(error <= 2 * result.stderr_array + 1e-12)))
    return {
        "evaluations": float(np.mean(evaluations)),
        "evaluations_sd": float(np.std(evaluations)),
        "max_abs_error": float(np.mean(errors)),
        "within_2se": float(np.mean(covered)),
        "seconds": seconds / len(seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="sampling seeds per sampler")
    parser.add_argument("--game-seed", type=int, default=0, help="seed of the games' data")
    args = parser.parse_args()

    seeds = range(args.seeds)
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for case in make_cases(args.game_seed):
        rows[case.name] = {sampler: measure(case, sampler, seeds) for sampler in SAMPLERS}

    print(
        f"\nShapley sampling to max stderr {TARGET_STDERR}, {N_PLAYERS} players, "
        f"mean over {args.seeds} seeds (evaluations = distinct coalitions)"
    )
    header = f"{'game':<18}{'sampler':<12}{'evaluations':>14}{'vs plain':>10}"
    print(header + f"{'max |err|':>11}{'err<=2se':>10}{'s/run':>8}")
    for name, by_sampler in rows.items():
        plain = by_sampler["plain"]["evaluations"]
        for sampler, row in by_sampler.items():
            row["ratio_vs_plain"] = row["evaluations"] / plain
            print(
                f"{name:<18}{sampler:<12}{row['evaluations']:>14,.0f}"
                f"{row['ratio_vs_plain']:>10.2f}{row['max_abs_error']:>11.4f}"
                f"{row['within_2se']:>10.2f}{row['seconds']:>8.2f}"
            )
    ratio = rows["data"]["stratified"]["ratio_vs_plain"]
    print(
        json.dumps(
            {
                "bench": "sampler_efficiency",
                "players": N_PLAYERS,
                "target_stderr": TARGET_STDERR,
                "seeds": args.seeds,
                "target_game": "data",
                "stratified_vs_plain": round(ratio, 3),
                "target_ratio": TARGET_RATIO,
                "target_met": bool(ratio <= TARGET_RATIO),
                "results": {
                    game: {s: {k: round(v, 5) for k, v in r.items()} for s, r in by.items()}
                    for game, by in rows.items()
                },
                "python": platform.python_version(),
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
