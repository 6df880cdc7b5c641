"""The cached game, the result object, the reference games and the exported names."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest

import offchain.attribution
import offchain.attribution.games
import offchain.attribution.methods
import offchain.attribution.samplers
from ame_core.exceptions import InputError
from offchain.attribution import CachedGame, ValuationResult
from offchain.attribution.games import (
    AirportGame,
    BankruptcyGame,
    GloveGame,
    UnanimityGame,
    WeightedVotingGame,
)
from offchain.exceptions import AttributionError


def test_public_api_is_pinned() -> None:
    assert offchain.attribution.__all__ == [
        "BASE_MODEL",
        "DATA_STAGE",
        "RETRAINED_UTILITY_TOLERANCE",
        "STAGES",
        "UTILITIES",
        "UTILITY_FUNCTIONS",
        "UTILITY_TOLERANCE",
        "VALUES_FORMAT",
        "AttributionPipeline",
        "CachedGame",
        "Checkpoint",
        "Event",
        "EventAttribution",
        "EventTerms",
        "Game",
        "GroupedScores",
        "MultiStageAttribution",
        "MultiStageResult",
        "PipelineEvent",
        "PipelineGame",
        "PipelineSettings",
        "PrefetchingPipeline",
        "ProjectedTracIn",
        "ReferencePipeline",
        "StageAttribution",
        "Tolerance",
        "TracIn",
        "Utility",
        "ValuationResult",
        "aggregate_scores",
        "banzhaf_values",
        "knn_shapley",
        "loglik",
        "loglik_floored",
        "loglik_prefix",
        "loo_values",
        "owen_values",
        "shapley_values",
        "token_gains",
        "utility",
        "utility_rows",
        "values_document",
        "within_tolerance",
    ]
    assert offchain.attribution.methods.__all__ == [
        "banzhaf_values",
        "knn_shapley",
        "loo_values",
        "owen_values",
        "shapley_values",
    ]
    assert offchain.attribution.samplers.__all__ == [
        "MIN_BLOCKS",
        "MIN_SAMPLES",
        "BlockEstimator",
        "Orders",
        "PermutationEstimator",
        "RunningMean",
        "StoppingRules",
        "min_blocks",
        "run",
    ]
    assert offchain.attribution.games.__all__ == [
        "AirportGame",
        "BankruptcyGame",
        "GloveGame",
        "UnanimityGame",
        "WeightedVotingGame",
    ]
    for name in offchain.attribution.__all__:
        assert getattr(offchain.attribution, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = offchain.attribution.nope


def test_importing_the_package_does_not_import_torch() -> None:
    # The reference pipeline and TracIn load torch on first use; the protocol, the
    # utilities, the values writer and the multi-stage engine never do.
    code = (
        "import sys, offchain.attribution as a, offchain.attribution.reference as r; "
        "import offchain.scenario as s; s.Scenario; r.PipelineSettings; "
        "a.AttributionPipeline; a.utility; a.values_document; a.MultiStageAttribution; "
        "assert 'torch' not in sys.modules; "
        "a.ReferencePipeline; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "module",
    [
        "__init__",
        "methods.banzhaf",
        "game",
        "methods.knn",
        "methods.loo",
        "methods.owen",
        "methods.shapley",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    name = "offchain.attribution" + ("" if module == "__init__" else f".{module}")
    failed, attempted = doctest.testmod(importlib.import_module(name), report=False)
    assert attempted > 0
    assert failed == 0


# --- CachedGame ------------------------------------------------------------------


def test_cached_game_evaluates_each_coalition_once_and_counts_queries() -> None:
    calls: list[frozenset[str]] = []

    def game(coalition: frozenset[str]) -> float:
        calls.append(coalition)
        return float(len(coalition))

    cached = CachedGame(game)
    assert cached(frozenset({"a", "b"})) == 2.0
    assert cached(frozenset({"b", "a"})) == 2.0
    assert cached(frozenset()) == 0.0
    assert calls == [frozenset({"a", "b"}), frozenset()]
    assert (cached.n_evaluations, cached.n_queries) == (2, 3)
    assert cached.game is game
    assert repr(cached).endswith("n_evaluations=2, n_queries=3)")


def test_cached_game_accepts_numpy_numbers() -> None:
    assert CachedGame(lambda s: np.float32(0.5))(frozenset()) == 0.5


def test_cached_game_refuses_a_non_callable() -> None:
    with pytest.raises(InputError, match=re.escape("game must be callable; got int")):
        CachedGame(3)  # type: ignore[arg-type]


def test_cached_game_names_the_coalition_of_a_bad_worth() -> None:
    cached = CachedGame(lambda s: float("inf") if len(s) > 9 else 0.0)
    with pytest.raises(
        AttributionError,
        match=re.escape(
            "game returned inf for coalition {0, 1, 10, 2, 3, 4, 5, 6, ... (11 players)}; "
            "expected a finite number"
        ),
    ):
        cached(frozenset(range(11)))


# --- ValuationResult -------------------------------------------------------------


def test_result_exposes_mappings_and_read_only_arrays() -> None:
    result = ValuationResult(
        players=["a", "b", "c"],
        values=[0.5, 2.0, 0.5],
        stderr=[0.1, 0.0, 0.2],
        counts=[3, 3, 3],
        method="test",
        n_evaluations=7,
    )
    assert result.values == {"a": 0.5, "b": 2.0, "c": 0.5}
    assert result.stderr["c"] == 0.2
    assert result.counts == {"a": 3, "b": 3, "c": 3}
    assert result["b"] == 2.0
    assert result.ranking() == ["b", "a", "c"]
    assert result.total == 3.0
    assert len(result) == 3
    with pytest.raises(TypeError):
        result.values["a"] = 1.0  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        result.value_array[0] = 1.0
    assert "method='test'" in repr(result)


def test_result_defaults_to_exact_errors_and_unit_counts() -> None:
    result = ValuationResult(players=[1, 2], values=[1.0, 2.0], method="m", n_evaluations=0)
    np.testing.assert_array_equal(result.stderr_array, [0.0, 0.0])
    np.testing.assert_array_equal(result.count_array, [1, 1])
    assert result.stopped_by is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": [1.0]}, "values must have shape (2,), one entry per player; got (1,)"),
        ({"values": [1.0, np.nan]}, "values must be finite; got [1.0, nan]"),
        ({"stderr": [0.1, -0.1]}, "stderr must be non-negative; got [0.1, -0.1]"),
        ({"players": ["a", "a"]}, "players[1] = 'a' is a duplicate player id"),
    ],
)
def test_result_refuses_inconsistent_arrays(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "players": ["a", "b"],
        "values": [1.0, 2.0],
        "method": "m",
        "n_evaluations": 0,
        **kwargs,
    }
    with pytest.raises(InputError, match=re.escape(message)):
        ValuationResult(**arguments)  # type: ignore[arg-type]


# --- reference games ---------------------------------------------------------------


def test_reference_games_compute_their_worths() -> None:
    assert GloveGame(["l1", "l2"], ["r"])(frozenset({"l1", "l2", "r"})) == 1.0
    assert AirportGame({"a": 1.0, "b": 4.0})(frozenset({"a", "b"})) == 4.0
    assert AirportGame({"a": 1.0})(frozenset()) == 0.0
    assert UnanimityGame(["a", "b", "c"], {"a", "b"})(frozenset({"a", "b"})) == 1.0
    assert WeightedVotingGame({"a": 2, "b": 1}, 3)(frozenset({"a"})) == 0.0
    assert BankruptcyGame({"a": 1.0, "b": 2.0}, 2.5)(frozenset({"b"})) == 1.5


def test_voting_indices_of_a_dictator_and_dummies() -> None:
    game = WeightedVotingGame({"d": 10, "x": 1, "y": 0}, 10)
    assert game.shapley_values() == {"d": 1.0, "x": 0.0, "y": 0.0}
    assert game.banzhaf_values() == {"d": 1.0, "x": 0.0, "y": 0.0}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: UnanimityGame(["a"], set()),
            "carrier is empty; a unanimity game needs at least one player",
        ),
        (lambda: UnanimityGame(["a"], {"b"}), "carrier has players [\"'b'\"] not in players"),
        (lambda: GloveGame(["a"], ["a"]), "left + right[1] = 'a' is a duplicate player id"),
        (
            lambda: AirportGame({"a": -1.0}),
            "costs must be finite and non-negative; got {'a': -1.0}",
        ),
        (
            lambda: WeightedVotingGame({"a": 1.5}, 1),
            "weights must be non-negative ints; got {'a': 1.5}",
        ),
        (lambda: WeightedVotingGame({"a": 1}, 0), "quota must be an int of at least 1; got 0"),
        (
            lambda: BankruptcyGame({"a": 1.0}, 2.0),
            "estate must be between 0 and the total claim; got 2.0",
        ),
        (
            lambda: WeightedVotingGame(dict.fromkeys(range(63), 1), 32).shapley_values(),
            "exact voting indices support at most 62 players; got 63",
        ),
    ],
)
def test_reference_games_refuse_bad_parameters(build: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        build()  # type: ignore[operator]
