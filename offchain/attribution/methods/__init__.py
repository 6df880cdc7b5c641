"""Valuation methods: each turns a game (or, for KNN-Shapley, a dataset) into values.

* :func:`shapley_values`: exact over all coalitions, or permutation sampling;
* :func:`owen_values`: Owen and Winter values for (nested) coalition structures;
* :func:`banzhaf_values`: exact, or maximum sample reuse;
* :func:`loo_values`: leave-one-out;
* :func:`knn_shapley`: exact Shapley values of a K-nearest-neighbour classifier's
  training points.

The Monte Carlo methods draw from :mod:`offchain.attribution.samplers`.
"""

from offchain.attribution.methods.banzhaf import banzhaf_values
from offchain.attribution.methods.knn import knn_shapley
from offchain.attribution.methods.loo import loo_values
from offchain.attribution.methods.owen import owen_values
from offchain.attribution.methods.shapley import shapley_values

__all__ = ["banzhaf_values", "knn_shapley", "loo_values", "owen_values", "shapley_values"]
