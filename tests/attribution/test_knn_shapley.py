"""KNN-Shapley against a loop reference, a hand-computed case and the game it values."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ame_core.exceptions import InputError
from offchain.attribution import knn_shapley, shapley_values
from offchain.attribution.methods import knn as knn_impl
from tests.attribution.helpers import knn_utility


def reference_knn_shapley(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int
) -> np.ndarray:
    """Jia et al. (2019) Theorem 1, written as loops, one test point at a time."""
    n = len(x_train)
    values = np.zeros(n)
    for x, y in zip(x_test, y_test, strict=True):
        distances = [float(np.sum((x - row) ** 2)) for row in x_train]
        order = sorted(range(n), key=lambda i: (distances[i], i))
        s = [0.0] * n
        s[n - 1] = float(y_train[order[n - 1]] == y) / max(k, n)
        for j in range(n - 2, -1, -1):
            here, after = y_train[order[j]] == y, y_train[order[j + 1]] == y
            s[j] = s[j + 1] + (float(here) - float(after)) / max(k, j + 1)
        for j, i in enumerate(order):
            values[i] += s[j]
    return values / len(x_test)


def _data(
    seed: int, n_train: int, n_test: int, features: int = 3, classes: int = 3
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n_train, features)),
        rng.integers(0, classes, n_train),
        rng.normal(size=(n_test, features)),
        rng.integers(0, classes, n_test),
    )


def test_hand_computed_case() -> None:
    # Test point at 0 with label 1; training points at 1, 2, 3 with labels 1, 0, 1; K = 1.
    # s3 = 1/3; s2 = 1/3 + (0 - 1)/2 = -1/6; s1 = -1/6 + (1 - 0)/1 = 5/6. Checked against
    # the six orders by hand: the nearest point is the prediction.
    result = knn_shapley([[1.0], [2.0], [3.0]], [1, 0, 1], [[0.0]], [1], k=1)
    np.testing.assert_allclose(result.value_array, [5 / 6, -1 / 6, 1 / 3], atol=1e-15)
    assert result.method == "knn-shapley"
    assert result.n_evaluations == 0


@pytest.mark.parametrize(
    ("n_train", "n_test", "k"), [(1, 1, 1), (7, 5, 1), (40, 17, 3), (60, 9, 5), (25, 4, 25)]
)
def test_matches_the_loop_reference(n_train: int, n_test: int, k: int) -> None:
    x_train, y_train, x_test, y_test = _data(n_train * 31 + k, n_train, n_test)
    got = knn_shapley(x_train, y_train, x_test, y_test, k).value_array
    np.testing.assert_allclose(
        got, reference_knn_shapley(x_train, y_train, x_test, y_test, k), atol=1e-12
    )


@pytest.mark.parametrize("k", [1, 2, 3, 9])
def test_is_the_exact_shapley_value_of_the_knn_utility(k: int) -> None:
    # k = 9 > 8 training points: every point is always a neighbour, values are additive.
    x_train, y_train, x_test, y_test = _data(k, 8, 6, classes=2)
    game = knn_utility(x_train, y_train, x_test, y_test, k)
    exact = shapley_values(game, list(range(8)), method="exact").value_array
    got = knn_shapley(x_train, y_train, x_test, y_test, k).value_array
    np.testing.assert_allclose(got, exact, atol=1e-12)


def test_ties_are_broken_by_training_index() -> None:
    # Two training points at the same place with different labels: the lower index is
    # taken as nearer, exactly as the utility in helpers.knn_utility does.
    x_train = np.array([[1.0], [1.0], [2.0]])
    y_train = np.array([0, 1, 1])
    game = knn_utility(x_train, y_train, np.array([[0.0]]), np.array([1]), 1)
    exact = shapley_values(game, [0, 1, 2], method="exact").value_array
    got = knn_shapley(x_train, y_train, [[0.0]], [1], k=1).value_array
    np.testing.assert_allclose(got, exact, atol=1e-15)


def test_string_labels_ids_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    x_train, y_train, x_test, y_test = _data(4, 30, 11)
    names = np.array(["cat", "dog", "eel"])
    ids = [f"asset-{i}" for i in range(30)]
    whole = knn_shapley(x_train, names[y_train], x_test, names[y_test], 3, players=ids)
    monkeypatch.setattr(knn_impl, "_CHUNK_ENTRIES", 64)  # 2 test rows per chunk
    assert knn_impl._CHUNK_ENTRIES // 30 < 11
    chunked = knn_shapley(x_train, y_train, x_test, y_test, 3, players=ids)
    assert whole.players == tuple(ids)
    np.testing.assert_allclose(chunked.value_array, whole.value_array, atol=1e-15)
    assert whole.counts["asset-0"] == 11


def test_other_metrics_sort_by_their_own_distance() -> None:
    x_train = np.array([[1.0, 0.0], [0.0, 3.0], [5.0, 0.1]])
    y_train = np.array([0, 1, 1])
    test = [[4.0, 0.0]]
    # Euclidean (and Manhattan): order 2, 0, 1 with correct votes 0, 1, 0:
    # s1 = 0, s0 = 0 + (1 - 0)/2 = 1/2, s2 = 1/2 + (0 - 1)/1 = -1/2.
    euclid = knn_shapley(x_train, y_train, test, [0], k=1).value_array
    np.testing.assert_allclose(euclid, [0.5, 0.0, -0.5], atol=1e-15)
    cityblock = knn_shapley(x_train, y_train, test, [0], k=1, metric="cityblock").value_array
    np.testing.assert_allclose(cityblock, euclid, atol=1e-15)
    # Cosine ignores length: point 0 points exactly the test's way, so order 0, 2, 1.
    cosine = knn_shapley(x_train, y_train, test, [0], k=1, metric="cosine").value_array
    np.testing.assert_allclose(cosine, [1.0, 0.0, 0.0], atol=1e-15)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([[1.0]], [1], [[0.0]], [1], 0), {}, "k must be at least 1; got 0"),
        (([[1.0]], [1], [[0.0]], [1], 1.0), {}, "k must be an int; got 1.0 (float)"),
        (
            ([1.0, 2.0], [1, 0], [[0.0]], [1], 1),
            {},
            "x_train must be a non-empty 2-D array (n_samples, n_features); got shape (2,)",
        ),
        (
            (np.zeros((0, 2)), [], [[0.0, 0.0]], [1], 1),
            {},
            "x_train must be a non-empty 2-D array (n_samples, n_features); got shape (0, 2)",
        ),
        (([[1.0], [2.0]], [1], [[0.0]], [1], 1), {}, "y_train has 1 labels but x_train has 2 rows"),
        (
            ([[1.0]], [[1]], [[0.0]], [1], 1),
            {},
            "y_train must be 1-D (n_samples,); got shape (1, 1)",
        ),
        (([[1.0]], [1], [[0.0]], [1, 2], 1), {}, "y_test has 2 labels but x_test has 1 rows"),
        (
            ([[1.0]], [1], [[0.0, 1.0]], [1], 1),
            {},
            "x_train has 1 features but x_test has 2; they must match",
        ),
        (([[np.nan]], [1], [[0.0]], [1], 1), {}, "x_train has a non-finite value at (0, 0)"),
        (([["a"]], [1], [[0.0]], [1], 1), {}, "x_train must be numeric; got dtype <U1"),
        (
            ([[1.0]], [1], [[0.0]], [1], 1),
            {"metric": "minkowski"},
            "metric must be one of 'euclidean', 'cityblock', 'cosine'; got 'minkowski'",
        ),
        (
            ([[1.0]], [1], [[0.0]], [1], 1),
            {"players": ["a", "b"]},
            "players names 2 points but x_train has 1 rows",
        ),
        (
            ([[0.0, 0.0]], [1], [[1.0, 0.0]], [1], 1),
            {"metric": "cosine"},
            "metric='cosine' gives undefined distances (zero vectors?)",
        ),
    ],
)
def test_bad_input_is_refused_with_its_reason(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        knn_shapley(*args, **kwargs)  # type: ignore[arg-type]
