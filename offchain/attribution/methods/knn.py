r"""Exact Shapley values of training points for a K-nearest-neighbour classifier.

For one test point :math:`(x, y)`, the utility of a training set :math:`S` is the
fraction of correct votes among its :math:`K` nearest neighbours,

.. math::

    u(S) = \frac{1}{K} \sum_{j=1}^{\min(K, |S|)} \mathbb{1}[y_{\alpha_j(S)} = y],

with :math:`\alpha_j(S)` the :math:`j`-th nearest point of :math:`S` to :math:`x`. Jia et
al. (2019, Theorem 1) give its Shapley values in closed form: with the :math:`N`
training points sorted by distance, :math:`\alpha_1` nearest, and
:math:`m_j = \mathbb{1}[y_{\alpha_j} = y]`,

.. math::

    s_{\alpha_N} = \frac{m_N}{\max(K, N)}, \qquad
    s_{\alpha_j} = s_{\alpha_{j+1}} + \frac{m_j - m_{j+1}}{\max(K, j)}
    \quad (j = N-1, \dots, 1),

and the value of a training point is its :math:`s` averaged over the test points
(:math:`1/\max(K, j) = \min(K, j) / (K j)` as in the paper). The recursion is a
cumulative sum over the reversed sort order, so all test points are handled at once:
one distance matrix, one ``argsort`` per row (stable only where a row has ties), one
reversed ``cumsum``, and a ``bincount`` that credits each training point. Test points are processed in chunks to
bound memory.

Conventions, chosen to reproduce pyDVL's ``KNNShapleyValuation`` (which sorts with
scikit-learn's ``kneighbors`` and the ``KNeighborsClassifier`` default Minkowski p=2,
i.e. Euclidean, metric): Euclidean distance by default; the value of each test point
enters the average with weight :math:`1/n_{test}`. Ties in distance are broken by training
index (a stable sort); scikit-learn breaks them in an order of its own, so with tied
points of different labels the two can differ (points of one label give the same values
in either order). The first term uses :math:`\max(K, N)` rather than the paper's
:math:`N`: both agree for :math:`K \le N`, and only the former is the Shapley value of
:math:`u` when :math:`K > N` (every point is then always among the neighbours).

References:
    Jia, R., Dao, D., Wang, B., Hubis, F. A., Gürel, N. M., Li, B., Zhang, C., Spanos,
    C. J., Song, D. (2019). Efficient task-specific data valuation for nearest neighbor
    algorithms. Proceedings of the VLDB Endowment 12(11), 1610-1623.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import check_choice, check_players, check_positive_int
from offchain.attribution.result import ValuationResult

__all__ = ["knn_shapley"]

Metric = Literal["euclidean", "cityblock", "cosine"]

# Distances actually computed: squared Euclidean sorts like Euclidean without a sqrt
# that could merge two distinct distances into a tie.
_SCIPY_METRIC = {"euclidean": "sqeuclidean", "cityblock": "cityblock", "cosine": "cosine"}

# Entries of one chunk of the (test x train) matrices: the half-MB temporaries stay in
# cache, which measured ~10% faster than one big chunk, and memory stays bounded.
_CHUNK_ENTRIES = 1 << 16


def knn_shapley(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    k: int,
    *,
    metric: Metric = "euclidean",
    players: Sequence[Hashable] | None = None,
) -> ValuationResult[Hashable]:
    """Exact KNN-Shapley value of every training point, averaged over the test points.

    Args:
        x_train: Training features, shape ``(n_train, n_features)``.
        y_train: Training labels, shape ``(n_train,)``.
        x_test: Test features, shape ``(n_test, n_features)``.
        y_test: Test labels, shape ``(n_test,)``.
        k: Number of neighbours ``K`` of the classifier.
        metric: ``"euclidean"`` (as pyDVL with a default ``KNeighborsClassifier``),
            ``"cityblock"`` or ``"cosine"``.
        players: Ids of the training points; ``0 .. n_train - 1`` if omitted.

    Returns:
        Exact values (standard errors 0), counts equal to ``n_test``, and
        ``n_evaluations`` 0: no utility is evaluated.

    Raises:
        InputError: If an array has the wrong shape, a feature is not finite, the
            feature counts differ, ``k`` is not an int of at least 1, the metric is
            unknown, or ``players`` does not name each training point once.

    Example:
        >>> result = knn_shapley([[1.0], [2.0], [3.0]], [1, 0, 1], [[0.0]], [1], k=1)
        >>> [round(v, 6) for v in result.values.values()]
        [0.833333, -0.166667, 0.333333]
    """
    train = _features(x_train, "x_train")
    test = _features(x_test, "x_test")
    labels_train = _labels(y_train, "y_train", len(train), "x_train")
    labels_test = _labels(y_test, "y_test", len(test), "x_test")
    if train.shape[1] != test.shape[1]:
        raise InputError(
            f"x_train has {train.shape[1]} features but x_test has {test.shape[1]}; they must match"
        )
    k = check_positive_int(k, name="k")
    check_choice(metric, tuple(_SCIPY_METRIC), name="metric")
    n = len(train)
    ids = tuple(range(n)) if players is None else check_players(players)
    if len(ids) != n:
        raise InputError(f"players names {len(ids)} points but x_train has {n} rows")

    # Imported here: scipy.spatial costs ~0.4 s, which every `ame` command paid for
    # importing the attribution package.
    from scipy.spatial.distance import cdist

    # Step j (0-based) of the recursion divides by max(K, j + 1); the last by max(K, N).
    divisors = np.maximum(k, np.arange(1, n + 1)).astype(np.float64)
    divisors[-1] = max(k, n)
    totals = np.zeros(n, dtype=np.float64)
    rows = max(1, _CHUNK_ENTRIES // n)
    for begin in range(0, len(test), rows):
        chunk = slice(begin, begin + rows)
        distances = cdist(test[chunk], train, metric=_SCIPY_METRIC[metric])
        if not np.all(np.isfinite(distances)):
            raise InputError(f"metric={metric!r} gives undefined distances (zero vectors?)")
        order = _sort_rows(distances)
        correct = (labels_train[order] == labels_test[chunk, None]).astype(np.float64)
        steps = np.empty_like(correct)
        steps[:, -1] = correct[:, -1]
        steps[:, :-1] = correct[:, :-1] - correct[:, 1:]
        steps /= divisors
        shapley = np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
        totals += np.bincount(order.ravel(), weights=shapley.ravel(), minlength=n)
    return ValuationResult(
        players=ids,
        values=totals / len(test),
        counts=np.full(n, len(test), dtype=np.int64),
        method="knn-shapley",
        n_evaluations=0,
    )


def _sort_rows(distances: NDArray[np.float64]) -> NDArray[np.intp]:
    """Indices sorting each row, ties broken by column index (as a stable sort would).

    A stable sort of floats is about twice as slow as numpy's default one, and ties are
    rare with real features: sort fast, then re-sort stably only the rows with a tie.
    """
    order = np.argsort(distances, axis=1)
    ranked = np.take_along_axis(distances, order, axis=1)
    tied = np.flatnonzero(np.any(ranked[:, 1:] == ranked[:, :-1], axis=1))
    if tied.size:
        order[tied] = np.argsort(distances[tied], axis=1, kind="stable")
    return order


def _features(data: ArrayLike, name: str) -> NDArray[np.float64]:
    array: NDArray[Any] = np.asarray(data)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(
            f"{name} must be a non-empty 2-D array (n_samples, n_features); got shape {array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputError(f"{name} must be numeric; got dtype {array.dtype}")
    features = array.astype(np.float64)
    if not np.all(np.isfinite(features)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(features))[0])
        raise InputError(f"{name} has a non-finite value at {bad}")
    return features


def _labels(data: ArrayLike, name: str, rows: int, features: str) -> NDArray[Any]:
    labels: NDArray[Any] = np.asarray(data)
    if labels.ndim != 1:
        raise InputError(f"{name} must be 1-D (n_samples,); got shape {labels.shape}")
    if len(labels) != rows:
        raise InputError(f"{name} has {len(labels)} labels but {features} has {rows} rows")
    return labels
