r"""Banzhaf values: exact over all coalitions, or by maximum sample reuse (MSR).

The Banzhaf value (Banzhaf 1965) of player :math:`i` weighs every coalition of the
others equally:

.. math::

    \beta_i(v) = \frac{1}{2^{n-1}} \sum_{S \subseteq N \setminus \{i\}}
        [v(S \cup \{i\}) - v(S)]
      = \mathbb{E}[v(S) \mid i \in S] - \mathbb{E}[v(S) \mid i \notin S],

where :math:`S` is uniform over all subsets of :math:`N`. It is symmetric, additive and
gives null players nothing, but is not efficient. Its equal weights make it the
semivalue most robust to noise in the utility (Wang & Jia 2023).

``method="exact"`` evaluates all :math:`2^n` coalitions (see
:mod:`offchain.attribution.methods._exact`). ``method="msr"`` is the maximum-sample-reuse
estimator of Wang & Jia (2023): each sampled coalition :math:`S` (every player in with
probability 1/2) updates every player, into the "with" mean of its members and the
"without" mean of the others, and the estimate is the difference of the two means. Its
standard error is :math:`\sqrt{s^2_{in}/n_{in} + s^2_{out}/n_{out}}`. Coalitions are
drawn in blocks of :math:`n`, after each of which the stopping rules of
:mod:`offchain.attribution.samplers.stopping` are checked.

References:
    Banzhaf, J. F. (1965). Weighted voting doesn't work: a mathematical analysis.
    Rutgers Law Review 19, 317-343.

    Wang, J. T., Jia, R. (2023). Data Banzhaf: a robust data valuation framework for
    machine learning. In: Proceedings of AISTATS 2023, PMLR 206, 6388-6421.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import (
    AUTO_EXACT_EVALUATIONS,
    MAX_EXACT_EVALUATIONS,
    check_choice,
    check_players,
    check_seed,
)
from offchain.attribution.game import CachedGame, Game, as_cached
from offchain.attribution.methods._exact import banzhaf_from_worths, subset_worths
from offchain.attribution.result import ValuationResult
from offchain.attribution.samplers.stopping import StoppingRules, min_blocks, run
from offchain.exceptions import AttributionError

__all__ = ["banzhaf_values"]

P = TypeVar("P", bound=Hashable)

BanzhafMethod = Literal["auto", "exact", "msr"]


def banzhaf_values(
    game: Game[P] | CachedGame[P],
    players: Sequence[P],
    *,
    method: BanzhafMethod = "auto",
    seed: int = 0,
    max_evaluations: int | None = None,
    target_stderr: float | None = None,
    rank_patience: int | None = None,
) -> ValuationResult[P]:
    """Banzhaf value of every player of a cooperative game.

    Args:
        game: Worth of a coalition (a ``frozenset`` of player ids).
        players: The players, in a fixed order (the order that seeds index into).
        method: ``"exact"`` evaluates all ``2**n`` coalitions (at most 20 players);
            ``"msr"`` samples coalitions; ``"auto"`` is exact up to 14 players.
        seed: Seed of the sampled coalitions; the same inputs and seed give
            bit-identical values.
        max_evaluations: Budget of game queries for sampling (cache hits count).
            Defaults to ``1000 * n``.
        target_stderr: Stop once every player's standard error is at most this.
        rank_patience: Stop once the ranking by value has not changed for this many
            consecutive blocks of ``n`` coalitions.

    Returns:
        Values with standard errors (0 when exact) and, for MSR, the number of sampled
        coalitions as counts.

    Raises:
        InputError: If the players, method, seed or a stopping rule is invalid, if
            ``"exact"`` is asked for more than 20 players, or if ``max_evaluations``
            does not cover two blocks of ``n`` coalitions.
        AttributionError: If the game returns a value that is not a finite number, or
            if sampling ended before every player was seen twice in and twice out of a
            sampled coalition.

    Example:
        >>> result = banzhaf_values(lambda s: float(len(s) >= 2), ["a", "b", "c"])
        >>> [result.values[p] for p in "abc"]
        [0.5, 0.5, 0.5]
    """
    members = check_players(players)
    check_choice(method, ("auto", "exact", "msr"), name="method")
    seed = check_seed(seed)
    n = len(members)
    trust_after = min_blocks(n)
    rules = StoppingRules.build(
        max_evaluations=max_evaluations,
        target_stderr=target_stderr,
        rank_patience=rank_patience,
        default_budget=max(1000 * n, trust_after * n),
    )
    cached = as_cached(game)
    start = cached.n_evaluations
    exact_cost = 1 << n
    if method == "auto":
        method = "exact" if exact_cost <= AUTO_EXACT_EVALUATIONS else "msr"
    if method == "exact":
        if exact_cost > MAX_EXACT_EVALUATIONS:
            raise InputError(
                f"method='exact' evaluates all 2**{n} coalitions, above the limit of "
                f"{MAX_EXACT_EVALUATIONS}; use method='msr' for {n} players"
            )
        singletons = [frozenset((player,)) for player in members]
        values = banzhaf_from_worths(subset_worths(cached, frozenset(), singletons))
        return ValuationResult(
            players=members,
            values=values,
            counts=np.full(n, 1 << (n - 1), dtype=np.int64),
            method="banzhaf/exact",
            n_evaluations=cached.n_evaluations - start,
        )

    estimator = _MSREstimator(cached, members, np.random.default_rng(seed))
    stopped_by = run(estimator, rules, setup_queries=0, block_queries=n, trust_after=trust_after)
    stderr = estimator.stderr()
    unseen = [members[i] for i in np.flatnonzero(np.isinf(stderr))]
    if unseen:
        raise AttributionError(
            f"MSR sampling stopped after {estimator.n_samples} coalitions before players "
            f"{unseen!r} were each seen twice in and twice out of one; raise max_evaluations"
        )
    return ValuationResult(
        players=members,
        values=estimator.estimate(),
        stderr=stderr,
        counts=np.full(n, estimator.n_samples, dtype=np.int64),
        method="banzhaf/msr",
        n_evaluations=cached.n_evaluations - start,
        stopped_by=stopped_by,
    )


class _MSREstimator(Generic[P]):
    """Running "with" and "without" means of the worth of uniform random coalitions."""

    def __init__(
        self, game: CachedGame[P], players: tuple[P, ...], rng: np.random.Generator
    ) -> None:
        n = len(players)
        self._game = game
        self._players = players
        self._rng = rng
        self.n_blocks = 0
        self.n_samples = 0
        # Row 0: coalitions without the player; row 1: with it.
        self._count = np.zeros((2, n), dtype=np.float64)
        self._mean = np.zeros((2, n), dtype=np.float64)
        self._m2 = np.zeros((2, n), dtype=np.float64)

    def step(self) -> None:
        """Sample ``n`` coalitions and fold each into every player's two means."""
        n = len(self._players)
        masks = self._rng.random((n, n)) < 0.5
        for mask in masks:
            worth = self._game(frozenset(self._players[i] for i in np.flatnonzero(mask)))
            side = np.stack([~mask, mask]).astype(np.float64)
            self._count += side
            delta = worth - self._mean
            self._mean += side * delta / np.maximum(self._count, 1.0)
            self._m2 += side * delta * (worth - self._mean)
        self.n_samples += n
        self.n_blocks += 1

    def estimate(self) -> NDArray[np.float64]:
        """Difference of the two means; NaN where a side has no sample yet."""
        seen = np.all(self._count > 0, axis=0)
        return np.where(seen, self._mean[1] - self._mean[0], np.nan)

    def stderr(self) -> NDArray[np.float64]:
        """Standard error of the difference; ``inf`` until each side has two samples."""
        enough = np.all(self._count > 1, axis=0)
        safe = np.maximum(self._count, 2.0)
        variance = np.sum(np.maximum(self._m2, 0.0) / (safe - 1) / safe, axis=0)
        return np.where(enough, np.sqrt(variance), np.inf)
