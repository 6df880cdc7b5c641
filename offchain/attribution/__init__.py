"""Attribution: how much of a generated value each contributor created.

Cooperative-game valuation over any hashable player ids (data sources, models,
prompts...), with a game given as a callable on ``frozenset`` coalitions:

* :func:`shapley_values`: exact over all coalitions, or permutation sampling
  (stratified, antithetic or plain) with standard errors and stopping rules;
* :func:`owen_values`: Owen values for a coalition structure, Winter values for nested
  structures of any depth;
* :func:`banzhaf_values`: exact, or maximum sample reuse (MSR);
* :func:`loo_values`: leave-one-out;
* :func:`knn_shapley`: exact Shapley values of training points for a K-nearest-neighbour
  classifier, vectorised over test points.

Each returns a :class:`ValuationResult`. Games are evaluated through a
:class:`CachedGame`; :mod:`offchain.attribution.games` has games with known values.

Example:
    >>> from offchain.attribution import shapley_values
    >>> result = shapley_values(lambda s: float(len(s) >= 2), ["a", "b", "c"])
    >>> round(result.values["a"], 6), result.method
    (0.333333, 'shapley/exact')
"""

from offchain.attribution.banzhaf import banzhaf_values
from offchain.attribution.game import CachedGame, Game
from offchain.attribution.knn import knn_shapley
from offchain.attribution.loo import loo_values
from offchain.attribution.owen import owen_values
from offchain.attribution.result import ValuationResult
from offchain.attribution.shapley import shapley_values

__all__ = [
    "CachedGame",
    "Game",
    "ValuationResult",
    "banzhaf_values",
    "knn_shapley",
    "loo_values",
    "owen_values",
    "shapley_values",
]
