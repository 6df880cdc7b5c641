r"""Exact semivalues of small games from the worth of every coalition.

For :math:`m` players (or groups of players acting as one) the worths of all
:math:`2^m` coalitions are stored in one array indexed by bit mask: bit :math:`j` of the
index says whether player :math:`j` is in the coalition. Reshaping that array to
``(-1, 2, 2**j)`` puts the coalitions without :math:`j` at ``[:, 0, :]`` and the same
coalitions with :math:`j` added at ``[:, 1, :]``, so every marginal contribution of
:math:`j` is one vectorised subtraction and a semivalue is one weighted sum:

.. math::

    \phi_j = \sum_{S \subseteq M \setminus \{j\}} w(|S|) \, [v(S \cup \{j\}) - v(S)],

with :math:`w(s) = s!\,(m-1-s)!/m!` for Shapley and :math:`w(s) = 2^{-(m-1)}` for
Banzhaf.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "banzhaf_from_worths",
    "shapley_from_worths",
    "shapley_weights",
    "subset_sizes",
    "subset_worths",
]

P = TypeVar("P", bound=Hashable)

# Coalitions are built as (low part | high part) so that only 2 * 2**(m/2) partial sets
# are ever held in memory, instead of all 2**m of them.
_LOW_BITS = 10


def subset_worths(
    evaluate: Callable[[frozenset[P]], float],
    base: frozenset[P],
    groups: Sequence[frozenset[P]],
) -> NDArray[np.float64]:
    """Worth of ``base`` joined with every union of ``groups``, indexed by bit mask.

    Args:
        evaluate: The (cached) game.
        base: Players present in every coalition (the context of a sub-game).
        groups: The ``m`` groups acting as players; entry ``mask`` of the result is the
            worth of ``base`` plus every group ``j`` whose bit ``j`` is set in ``mask``.

    Returns:
        Array of length ``2**m``.
    """
    n_low = min(len(groups), _LOW_BITS)
    low = [base]
    for group in groups[:n_low]:
        low += [coalition | group for coalition in low]
    high: list[frozenset[P]] = [frozenset()]
    for group in groups[n_low:]:
        high += [coalition | group for coalition in high]
    worths = np.empty(len(low) * len(high), dtype=np.float64)
    index = 0
    for upper in high:
        for lower in low:
            worths[index] = evaluate(lower | upper)
            index += 1
    return worths


def subset_sizes(m: int) -> NDArray[np.int64]:
    """Number of set bits of every mask in ``range(2**m)``."""
    sizes = np.zeros(1, dtype=np.int64)
    for _ in range(m):
        sizes = np.concatenate([sizes, sizes + 1])
    return sizes


def shapley_weights(m: int) -> NDArray[np.float64]:
    """Shapley weight ``s! (m-1-s)! / m!`` of a coalition of size ``s``, for ``s < m``."""
    return np.array([1.0 / (m * math.comb(m - 1, s)) for s in range(m)], dtype=np.float64)


def _n_players(worths: NDArray[np.float64]) -> int:
    m = len(worths).bit_length() - 1
    if len(worths) != 1 << m or m == 0:
        raise ValueError(f"expected 2**m worths with m >= 1; got {len(worths)}")
    return m


def shapley_from_worths(worths: NDArray[np.float64]) -> NDArray[np.float64]:
    """Exact Shapley values of the ``m`` players of a game given by its ``2**m`` worths."""
    m = _n_players(worths)
    # The full coalition never lacks a player: its weight slot is never read.
    weights = np.append(shapley_weights(m), 0.0)[subset_sizes(m)]
    values = np.empty(m, dtype=np.float64)
    for j in range(m):
        cube = worths.reshape(-1, 2, 1 << j)
        without_j = weights.reshape(-1, 2, 1 << j)[:, 0, :]
        values[j] = np.sum(without_j * (cube[:, 1, :] - cube[:, 0, :]))
    return values


def banzhaf_from_worths(worths: NDArray[np.float64]) -> NDArray[np.float64]:
    """Exact Banzhaf values of the ``m`` players of a game given by its ``2**m`` worths."""
    m = _n_players(worths)
    values = np.empty(m, dtype=np.float64)
    for j in range(m):
        cube = worths.reshape(-1, 2, 1 << j)
        values[j] = np.mean(cube[:, 1, :] - cube[:, 0, :])
    return values
