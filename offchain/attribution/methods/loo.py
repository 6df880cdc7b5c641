r"""Leave-one-out (LOO) values.

The LOO value of player :math:`i` is what the grand coalition loses without it:

.. math::

    \lambda_i(v) = v(N) - v(N \setminus \{i\}).

It costs :math:`n + 1` evaluations and is exact, but not efficient, and it gives nothing
to players whose contribution another player duplicates (two copies of the same data
point both get 0). It is the semivalue that weighs only coalitions of size
:math:`n - 1` (Koh & Liang 2017 use it as the baseline of influence functions).

References:
    Koh, P. W., Liang, P. (2017). Understanding black-box predictions via influence
    functions. In: Proceedings of ICML 2017, PMLR 70, 1885-1894.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

from offchain.attribution._validation import check_players
from offchain.attribution.game import CachedGame, Game, as_cached
from offchain.attribution.result import ValuationResult

__all__ = ["loo_values"]

P = TypeVar("P", bound=Hashable)


def loo_values(game: Game[P] | CachedGame[P], players: Sequence[P]) -> ValuationResult[P]:
    """Leave-one-out value of every player.

    Args:
        game: Worth of a coalition (a ``frozenset`` of player ids).
        players: The players.

    Returns:
        Exact values (standard errors 0).

    Raises:
        InputError: If the players are invalid.
        AttributionError: If the game returns a value that is not a finite number.

    Example:
        >>> result = loo_values(lambda s: float(len(s) >= 2), ["a", "b", "c"])
        >>> [result.values[p] for p in "abc"]
        [0.0, 0.0, 0.0]
    """
    members = check_players(players)
    cached = as_cached(game)
    start = cached.n_evaluations
    everyone = frozenset(members)
    full = cached(everyone)
    values = np.array([full - cached(everyone - {player}) for player in members])
    return ValuationResult(
        players=members,
        values=values,
        method="loo",
        n_evaluations=cached.n_evaluations - start,
    )
