"""Stopping rules and running statistics shared by the Monte Carlo estimators.

A sampler draws *blocks*: one permutation, an antithetic pair, a stratified set of
rotations, or a batch of random coalitions. Each block costs a fixed number of game
queries, known before it is drawn. After every block the rules are checked in this
order, and the first that holds ends sampling:

1. ``target_stderr``: the largest standard error over all players is at or below it;
2. ``rank_stability``: the ranking of the players by estimated value has not changed
   for ``rank_patience`` consecutive blocks;
3. ``max_evaluations``: the next block could take the number of game queries (cache
   hits included, so the bound also holds for games small enough to be fully cached)
   past the budget.

The first two only apply after :func:`min_blocks` blocks: at least :data:`MIN_BLOCKS`
blocks and :data:`MIN_SAMPLES` orders or coalitions. A standard error from a handful of
samples of a game with few distinct marginal contributions can be exactly 0 by chance
(every block alike), which would stop sampling on a wrong value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import check_positive_float, check_positive_int

__all__ = [
    "MIN_BLOCKS",
    "MIN_SAMPLES",
    "BlockEstimator",
    "RunningMean",
    "StoppingRules",
    "min_blocks",
    "run",
]

#: Blocks drawn before ``target_stderr`` or ``rank_patience`` may stop sampling.
MIN_BLOCKS = 5

#: Orders (or coalitions) drawn before ``target_stderr`` or ``rank_patience`` may stop.
MIN_SAMPLES = 100


def min_blocks(samples_per_block: int) -> int:
    """Blocks to draw before a standard error or a ranking is trusted."""
    return max(MIN_BLOCKS, -(-MIN_SAMPLES // samples_per_block))


@dataclass(frozen=True)
class StoppingRules:
    """Validated stopping rules of one sampling run."""

    max_evaluations: int
    target_stderr: float | None
    rank_patience: int | None

    @classmethod
    def build(
        cls,
        *,
        max_evaluations: int | None,
        target_stderr: float | None,
        rank_patience: int | None,
        default_budget: int,
    ) -> StoppingRules:
        """Check user-given rules, filling in ``default_budget`` if no budget is given.

        Raises:
            InputError: If a rule is not a positive number of the right type.
        """
        return cls(
            max_evaluations=default_budget
            if max_evaluations is None
            else check_positive_int(max_evaluations, name="max_evaluations"),
            target_stderr=None
            if target_stderr is None
            else check_positive_float(target_stderr, name="target_stderr"),
            rank_patience=None
            if rank_patience is None
            else check_positive_int(rank_patience, name="rank_patience"),
        )


class RunningMean:
    """Welford's running mean and variance of vectors, one entry per player."""

    __slots__ = ("count", "m2", "mean")

    def __init__(self, n: int) -> None:
        self.count = 0
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)

    def add(self, sample: NDArray[np.float64]) -> None:
        """Fold one sample vector into the statistics."""
        self.count += 1
        delta = sample - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (sample - self.mean)

    def stderr(self) -> NDArray[np.float64]:
        """Standard error of the mean; ``inf`` until two samples are in."""
        if self.count < 2:
            return np.full_like(self.mean, np.inf)
        variance = np.maximum(self.m2, 0.0) / (self.count - 1)
        return np.asarray(np.sqrt(variance / self.count), dtype=np.float64)


class BlockEstimator(Protocol):
    """What :func:`run` drives: draws blocks and reports the current estimate."""

    @property
    def n_blocks(self) -> int:
        """Blocks drawn so far."""
        ...

    def step(self) -> None:
        """Draw one block and fold it into the estimate."""
        ...

    def estimate(self) -> NDArray[np.float64]:
        """Current value of each player."""
        ...

    def stderr(self) -> NDArray[np.float64]:
        """Current standard error of each player's value."""
        ...


def run(
    estimator: BlockEstimator,
    rules: StoppingRules,
    *,
    setup_queries: int,
    block_queries: int,
    trust_after: int,
) -> str:
    """Draw blocks until a stopping rule holds, and return that rule's name.

    Args:
        estimator: The sampler to drive.
        rules: When to stop.
        setup_queries: Game queries made once before the first block.
        block_queries: Game queries made by every block.
        trust_after: Blocks to draw before ``target_stderr`` or ``rank_patience`` may
            stop sampling (see :func:`min_blocks`).

    Returns:
        ``"target_stderr"``, ``"rank_stability"`` or ``"max_evaluations"``.

    Raises:
        InputError: If the budget does not cover two blocks, the fewest that give a
            standard error.
    """
    needed = setup_queries + 2 * block_queries
    if rules.max_evaluations < needed:
        raise InputError(
            f"max_evaluations={rules.max_evaluations} is below {needed}, the cost of the two "
            f"sampling blocks needed for a standard error ({block_queries} evaluations each "
            f"plus {setup_queries} once)"
        )
    queries = setup_queries
    previous_ranking: NDArray[np.intp] | None = None
    unchanged = 0
    while True:
        estimator.step()
        queries += block_queries
        if rules.rank_patience is not None:
            ranking = np.argsort(-estimator.estimate(), kind="stable")
            same = previous_ranking is not None and np.array_equal(ranking, previous_ranking)
            unchanged = unchanged + 1 if same else 0
            previous_ranking = ranking
        if estimator.n_blocks >= trust_after:
            if (
                rules.target_stderr is not None
                and float(np.max(estimator.stderr())) <= rules.target_stderr
            ):
                return "target_stderr"
            if rules.rank_patience is not None and unchanged >= rules.rank_patience:
                return "rank_stability"
        if queries + block_queries > rules.max_evaluations:
            return "max_evaluations"
