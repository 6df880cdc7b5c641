r"""Games whose values are known in closed form, to check valuation methods against.

Each game is a callable on coalitions (``frozenset`` of player ids) with a ``players``
tuple and a ``shapley_values()`` computed from its own formula, never by enumerating
coalitions through the game, so that a method and its reference do not share code.

* :class:`UnanimityGame`: :math:`u_T(S) = \mathbb{1}[T \subseteq S]`; Shapley
  :math:`1/|T|` on :math:`T`, Banzhaf :math:`2^{1-|T|}` on :math:`T`, 0 elsewhere.
* :class:`GloveGame`: :math:`v(S) = \min(|S \cap L|, |S \cap R|)` (Shapley 1959); the
  value of a left-glove holder is the probability that, among the players before it in
  a random order, right gloves outnumber left ones.
* :class:`AirportGame`: cost :math:`c(S) = \max_{i \in S} c_i` of a runway (Littlechild
  & Owen 1973); with costs sorted :math:`c_1 \le \dots \le c_n`,
  :math:`\phi_i = \sum_{j \le i} (c_j - c_{j-1}) / (n - j + 1)`.
* :class:`WeightedVotingGame`: :math:`v(S) = \mathbb{1}[w(S) \ge q]`; Shapley-Shubik and
  Banzhaf indices by counting, with dynamic programming over (size, weight), the
  coalitions in which a player is pivotal (Matsui & Matsui 2000).
* :class:`BankruptcyGame`: :math:`v(S) = \max(0, E - \sum_{j \notin S} d_j)` (O'Neill
  1982); its Shapley value is the random-arrival rule, and for the Talmud's estates
  100 and 300 with claims 100, 200, 300 it equals the Talmud's division.

References:
    Shapley, L. S. (1959). The solutions of a symmetric market game. Annals of
    Mathematics Studies 40, 145-162.

    Littlechild, S. C., Owen, G. (1973). A simple expression for the Shapley value in a
    special case. Management Science 20(3), 370-372.

    Matsui, T., Matsui, Y. (2000). A survey of algorithms for calculating power indices
    of weighted majority games. Journal of the Operations Research Society of Japan
    43(1), 71-86.

    O'Neill, B. (1982). A problem of rights arbitration from the Talmud. Mathematical
    Social Sciences 2(4), 345-371.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import permutations
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import check_players

__all__ = [
    "AirportGame",
    "BankruptcyGame",
    "GloveGame",
    "UnanimityGame",
    "WeightedVotingGame",
]

P = TypeVar("P", bound=Hashable)

# Subset counts of the voting DP are held in int64: exact up to C(62, 31) < 2**63.
_MAX_VOTING_PLAYERS = 62


class UnanimityGame(Generic[P]):
    """Worth 1 exactly when every player of ``carrier`` is in the coalition.

    Args:
        players: All players.
        carrier: The players that must all be present; a non-empty subset.

    Raises:
        InputError: If the carrier is empty or names a non-player.
    """

    def __init__(self, players: Sequence[P], carrier: Iterable[P]) -> None:
        self.players = check_players(players)
        self.carrier = frozenset(carrier)
        if not self.carrier:
            raise InputError("carrier is empty; a unanimity game needs at least one player")
        outside = self.carrier - set(self.players)
        if outside:
            raise InputError(f"carrier has players {sorted(map(repr, outside))} not in players")

    def __call__(self, coalition: frozenset[P]) -> float:
        return 1.0 if self.carrier <= coalition else 0.0

    def shapley_values(self) -> dict[P, float]:
        """``1/|T|`` for the carrier, 0 for the others."""
        share = 1.0 / len(self.carrier)
        return {p: share if p in self.carrier else 0.0 for p in self.players}

    def banzhaf_values(self) -> dict[P, float]:
        """``2**(1 - |T|)`` for the carrier, 0 for the others."""
        share = 2.0 ** (1 - len(self.carrier))
        return {p: share if p in self.carrier else 0.0 for p in self.players}


class GloveGame(Generic[P]):
    """Number of matched pairs of left and right gloves in the coalition.

    Args:
        left: Holders of a left glove.
        right: Holders of a right glove.

    Raises:
        InputError: If a side is empty or a player holds both.
    """

    def __init__(self, left: Sequence[P], right: Sequence[P]) -> None:
        self.left = frozenset(check_players(left, name="left"))
        self.right = frozenset(check_players(right, name="right"))
        self.players = (*left, *right)
        check_players(self.players, name="left + right")

    def __call__(self, coalition: frozenset[P]) -> float:
        return float(min(len(coalition & self.left), len(coalition & self.right)))

    def shapley_values(self) -> dict[P, float]:
        """Probability that a holder's glove completes a pair when it joins."""
        n_left, n_right = len(self.left), len(self.right)
        left_value = _glove_value(n_left - 1, n_right)
        right_value = _glove_value(n_right - 1, n_left)
        return {p: left_value if p in self.left else right_value for p in self.players}


def _glove_value(same: int, other: int) -> float:
    """P(other side outnumbers own side among the predecessors), uniform random order."""
    n = same + other + 1
    total = 0.0
    for size in range(n):
        favourable = sum(
            math.comb(same, own) * math.comb(other, size - own)
            for own in range(max(0, size - other), min(same, size) + 1)
            if size - own > own
        )
        total += favourable / math.comb(n - 1, size)
    return total / n


class AirportGame(Generic[P]):
    """Cost of the runway a coalition needs: the largest cost among its members.

    Args:
        costs: Cost each player's plane needs, non-negative.

    Raises:
        InputError: If there are no players or a cost is negative or not finite.
    """

    def __init__(self, costs: Mapping[P, float]) -> None:
        self.players = check_players(list(costs), name="costs")
        self.costs = {p: float(c) for p, c in costs.items()}
        bad = {p: c for p, c in self.costs.items() if not (math.isfinite(c) and c >= 0)}
        if bad:
            raise InputError(f"costs must be finite and non-negative; got {bad!r}")

    def __call__(self, coalition: frozenset[P]) -> float:
        return max((self.costs[p] for p in coalition), default=0.0)

    def shapley_values(self) -> dict[P, float]:
        """Littlechild-Owen: each runway segment is split among the planes that need it."""
        ordered = sorted(self.players, key=lambda p: self.costs[p])
        values: dict[P, float] = {}
        share, previous = 0.0, 0.0
        for position, player in enumerate(ordered):
            cost = self.costs[player]
            share += (cost - previous) / (len(ordered) - position)
            values[player] = share
            previous = cost
        return {p: values[p] for p in self.players}


class WeightedVotingGame(Generic[P]):
    """A coalition wins (worth 1) when its total weight reaches the quota.

    Args:
        weights: Non-negative integer weight of each player.
        quota: Weight needed to win, at least 1.

    Raises:
        InputError: If a weight is not a non-negative int or the quota not a positive
            int.
    """

    def __init__(self, weights: Mapping[P, int], quota: int) -> None:
        self.players = check_players(list(weights), name="weights")
        bad = {
            p: w
            for p, w in weights.items()
            if isinstance(w, bool) or not isinstance(w, int) or w < 0
        }
        if bad:
            raise InputError(f"weights must be non-negative ints; got {bad!r}")
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
            raise InputError(f"quota must be an int of at least 1; got {quota!r}")
        self.weights = dict(weights)
        self.quota = quota

    def __call__(self, coalition: frozenset[P]) -> float:
        return 1.0 if sum(self.weights[p] for p in coalition) >= self.quota else 0.0

    def shapley_values(self) -> dict[P, float]:
        """Shapley-Shubik index: pivotal coalitions counted by size, Shapley-weighted."""
        n = len(self.players)
        weights = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)], dtype=np.float64)
        return {
            p: float(weights @ swings.sum(axis=1).astype(np.float64))
            for p, swings in zip(self.players, self._swings(), strict=True)
        }

    def banzhaf_values(self) -> dict[P, float]:
        """Banzhaf index: pivotal coalitions over ``2**(n-1)``."""
        scale = 2.0 ** (1 - len(self.players))
        return {
            p: float(swings.sum()) * scale
            for p, swings in zip(self.players, self._swings(), strict=True)
        }

    def _swings(self) -> list[NDArray[np.int64]]:
        """Per player, counts of pivotal coalitions of the others by (size, weight).

        ``table[s, w]`` counts the coalitions of size ``s`` and weight ``w < quota``;
        heavier ones can never be made winning by a player, so they are dropped. The
        table without player ``i`` is recovered from the full one by undoing ``i``'s
        step, ``without[s, w] = table[s, w] - without[s - 1, w - w_i]``.
        """
        n, quota = len(self.players), self.quota
        if n > _MAX_VOTING_PLAYERS:
            raise InputError(
                f"exact voting indices support at most {_MAX_VOTING_PLAYERS} players; got {n}"
            )
        table = np.zeros((n + 1, quota), dtype=np.int64)
        table[0, 0] = 1
        for player in self.players:
            w = self.weights[player]
            if w < quota:
                table[1:, w:] += table[:-1, : quota - w].copy()
        result = []
        for player in self.players:
            w = self.weights[player]
            without = table.copy()
            if w < quota:
                for s in range(1, n + 1):
                    without[s, w:] -= without[s - 1, : quota - w]
            low = max(0, quota - w)
            result.append(without[:n, low:quota])
        return result


class BankruptcyGame(Generic[P]):
    """What a coalition is sure to get of an estate after paying everyone else's claims.

    Args:
        claims: Each creditor's non-negative claim.
        estate: The estate to divide, between 0 and the sum of the claims.

    Raises:
        InputError: If a claim is negative or the estate out of range.
    """

    def __init__(self, claims: Mapping[P, float], estate: float) -> None:
        self.players = check_players(list(claims), name="claims")
        self.claims = {p: float(c) for p, c in claims.items()}
        if any(not (math.isfinite(c) and c >= 0) for c in self.claims.values()):
            raise InputError(f"claims must be finite and non-negative; got {self.claims!r}")
        if not 0 <= estate <= sum(self.claims.values()):
            raise InputError(f"estate must be between 0 and the total claim; got {estate!r}")
        self.estate = float(estate)

    def __call__(self, coalition: frozenset[P]) -> float:
        outside = sum(c for p, c in self.claims.items() if p not in coalition)
        return max(0.0, self.estate - outside)

    def shapley_values(self) -> dict[P, float]:
        """Random-arrival rule: creditors paid in full in random order while it lasts.

        Averaged over all ``n!`` arrival orders, so meant for a handful of creditors.
        """
        totals = dict.fromkeys(self.players, 0.0)
        orders = 0
        for order in permutations(self.players):
            left = self.estate
            for player in order:
                paid = min(self.claims[player], left)
                totals[player] += paid
                left -= paid
            orders += 1
        return {p: total / orders for p, total in totals.items()}
