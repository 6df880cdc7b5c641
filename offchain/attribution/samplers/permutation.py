r"""Permutation sampling of marginal contributions, shared by Shapley and Owen values.

For an order :math:`\pi` of the players, the marginal contribution of player :math:`i`
is :math:`v(P^\pi_i \cup \{i\}) - v(P^\pi_i)`, with :math:`P^\pi_i` the players before
:math:`i`. These contributions telescope to :math:`v(N) - v(\emptyset)` along every order,
so any average of whole orders is an efficient allocation (up to float rounding). The
Shapley value is their mean over uniformly random orders, the Owen (Winter) value their
mean over uniformly random orders that keep every union contiguous.

A *block* is a fixed set of orders derived from one random draw; its average is one
unbiased, efficient sample of the value vector, and the standard error is estimated from
the spread of independent blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from offchain.attribution.game import CachedGame
from offchain.attribution.samplers.stopping import RunningMean

__all__ = ["Orders", "PermutationEstimator"]

P = TypeVar("P", bound=Hashable)

#: Draws the orders of one block from a random generator.
Orders = Callable[[np.random.Generator], list[list[int]]]


class PermutationEstimator(Generic[P]):
    """Mean of block-averaged marginal contributions along sampled orders.

    Args:
        game: The cached game.
        players: Player ids; orders are permutations of their indices.
        draw: Draws the orders of one block.
        rng: The seeded generator.
    """

    def __init__(
        self,
        game: CachedGame[P],
        players: tuple[P, ...],
        draw: Orders,
        rng: np.random.Generator,
    ) -> None:
        self._game = game
        self._players = players
        self._draw = draw
        self._rng = rng
        self._empty = game(frozenset())
        self._full = game(frozenset(players))
        self._stats = RunningMean(len(players))
        self.n_orders = 0

    @property
    def n_blocks(self) -> int:
        """Blocks drawn so far."""
        return self._stats.count

    def step(self) -> None:
        """Draw one block of orders and fold its average into the estimate."""
        orders = self._draw(self._rng)
        block = np.zeros(len(self._players), dtype=np.float64)
        for order in orders:
            self._add_marginals(order, block)
        self._stats.add(block / len(orders))
        self.n_orders += len(orders)

    def estimate(self) -> NDArray[np.float64]:
        """Current value of each player."""
        return self._stats.mean.copy()

    def stderr(self) -> NDArray[np.float64]:
        """Current standard error of each player's value."""
        return self._stats.stderr()

    def _add_marginals(self, order: list[int], out: NDArray[np.float64]) -> None:
        players = self._players
        coalition: frozenset[P] = frozenset()
        previous = self._empty
        for index in order[:-1]:
            coalition = coalition.union((players[index],))
            worth = self._game(coalition)
            out[index] += worth - previous
            previous = worth
        out[order[-1]] += self._full - previous


def plain_orders(n: int) -> Orders:
    """One uniformly random permutation per block."""

    def draw(rng: np.random.Generator) -> list[list[int]]:
        return [rng.permutation(n).tolist()]

    return draw


def antithetic_orders(inner: Orders) -> Orders:
    """Each order drawn by ``inner`` followed by its reverse.

    The reverse of a uniform order is uniform, so the pair is unbiased; it lowers the
    variance when a player's contributions early and late in an order are negatively
    correlated, and doubles the cost for nothing in constant-sum games (majority votes),
    where an order and its reverse give every player the same contribution.
    """

    def draw(rng: np.random.Generator) -> list[list[int]]:
        orders = inner(rng)
        return orders + [order[::-1] for order in orders]

    return draw


def stratified_orders(n: int) -> Orders:
    """``n`` orders forming a random Latin square: every player takes every position once.

    Order ``j`` puts player ``cycle[(j + slot[t]) % n]`` at position ``t``, for two
    uniform permutations ``cycle`` (of players) and ``slot`` (of positions). For a fixed
    ``j`` that is a uniform permutation composed with a fixed bijection, hence uniform,
    so each order is unbiased; across the block each player meets each position (the
    size of the coalition it joins) exactly once. The position drives most of the
    variance of marginal contributions in data-valuation games, where contributions
    shrink as the coalition grows. Permuting the positions by ``slot`` keeps a player's
    predecessor sets within a block from being nested arcs of one cycle, which would
    correlate them.
    """

    def draw(rng: np.random.Generator) -> list[list[int]]:
        cycle = rng.permutation(n).tolist()
        slot = rng.permutation(n).tolist()
        return [[cycle[(j + s) % n] for s in slot] for j in range(n)]

    return draw
