"""Banzhaf (exact and MSR) and leave-one-out values."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable

import numpy as np
import pytest
from hypothesis import given, settings

from ame_core.exceptions import InputError
from offchain.attribution import banzhaf_values, loo_values
from offchain.attribution.games import UnanimityGame, WeightedVotingGame
from offchain.exceptions import AttributionError
from tests.attribution.helpers import symmetric_pair_games, table_game, table_games

Game = Callable[[frozenset[Hashable]], float]


def _voting_12() -> WeightedVotingGame[int]:
    weights = [9, 7, 7, 5, 4, 3, 2, 2, 1, 1, 6, 3]
    return WeightedVotingGame(dict(enumerate(weights)), quota=26)


def test_banzhaf_of_weighted_voting_known_by_hand() -> None:
    # [51; 50, 49, 1]: x swings in {y}, {z}, {y, z}; y and z only in {x}.
    game = WeightedVotingGame({"x": 50, "y": 49, "z": 1}, 51)
    result = banzhaf_values(game, ["x", "y", "z"], method="exact")
    np.testing.assert_allclose(result.value_array, [3 / 4, 1 / 4, 1 / 4], atol=1e-15)


@pytest.mark.parametrize("method", ["exact", "msr"])
def test_banzhaf_matches_closed_forms(method: str) -> None:
    unanimity = UnanimityGame([f"p{i}" for i in range(6)], {"p1", "p4"})
    voting = _voting_12()
    for game in (unanimity, voting):
        expected = game.banzhaf_values()  # type: ignore[attr-defined]
        result = banzhaf_values(
            game,
            game.players,
            method=method,
            seed=2,
            target_stderr=0.01,
            max_evaluations=100_000,  # type: ignore[arg-type]
        )
        assert result.method == f"banzhaf/{method}"
        for player, value in expected.items():
            assert abs(result.values[player] - value) <= 4 * result.stderr[player] + 1e-12


def test_msr_is_reproducible_and_stops_on_its_rules() -> None:
    game = _voting_12()
    first = banzhaf_values(game, game.players, method="msr", seed=9, target_stderr=0.05)
    again = banzhaf_values(game, game.players, method="msr", seed=9, target_stderr=0.05)
    other = banzhaf_values(game, game.players, method="msr", seed=10, target_stderr=0.05)
    assert first.value_array.tobytes() == again.value_array.tobytes()
    assert first.value_array.tobytes() != other.value_array.tobytes()
    assert first.stopped_by == "target_stderr"
    assert max(first.stderr.values()) <= 0.05
    budget = banzhaf_values(game, game.players, method="msr", max_evaluations=1000)
    assert budget.stopped_by == "max_evaluations"
    assert budget.counts[0] == 996  # 83 blocks of 12 coalitions


def test_auto_banzhaf_is_exact_for_few_players_and_msr_for_many() -> None:
    assert banzhaf_values(lambda s: float(len(s)), list(range(14))).method == "banzhaf/exact"
    many = banzhaf_values(lambda s: float(len(s)), list(range(15)), max_evaluations=3000)
    assert many.method == "banzhaf/msr"
    np.testing.assert_allclose(many.value_array, 1.0, atol=0.5)


@settings(max_examples=40)
@given(symmetric_pair_games())
def test_exact_banzhaf_is_symmetric_and_gives_null_players_nothing(
    case: tuple[list[str], Game],
) -> None:
    players, game = case

    def with_null(coalition: frozenset[Hashable]) -> float:
        return game(coalition - {"null"})

    result = banzhaf_values(with_null, [*players, "null"], method="exact")
    assert result.values["p0"] == pytest.approx(result.values["p1"], abs=1e-9)
    assert result.values["null"] == 0.0


@settings(max_examples=30)
@given(table_games(max_players=4), table_games(max_players=4))
def test_exact_banzhaf_is_additive(
    first: tuple[list[str], Game], second: tuple[list[str], Game]
) -> None:
    players = first[0] if len(first[0]) <= len(second[0]) else second[0]

    def both(coalition: frozenset[Hashable]) -> float:
        return first[1](coalition) + second[1](coalition)

    separate = sum(banzhaf_values(g, players).value_array for g in (first[1], second[1]))
    np.testing.assert_allclose(banzhaf_values(both, players).value_array, separate, atol=1e-9)


def test_msr_refuses_a_budget_too_small_to_see_every_player() -> None:
    with pytest.raises(
        AttributionError,
        match=re.escape("MSR sampling stopped after 4 coalitions before players"),
    ):
        banzhaf_values(lambda s: 0.0, ["a", "b"], method="msr", max_evaluations=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "permutation"},
            "method must be one of 'auto', 'exact', 'msr'; got 'permutation'",
        ),
        (
            {"max_evaluations": 3},
            "max_evaluations=3 is below 4, the cost of the two sampling blocks",
        ),
        ({"method": "msr", "seed": "1"}, "seed must be a non-negative int; got '1' (str)"),
    ],
)
def test_banzhaf_bad_input_is_refused_with_its_reason(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        banzhaf_values(lambda s: 0.0, ["a", "b"], **{"method": "msr", **kwargs})  # type: ignore[arg-type]


def test_loo_is_what_the_grand_coalition_loses() -> None:
    worths = [0, 1, 2, 4, 3, 5, 6, 10]  # bit 0: a, bit 1: b, bit 2: c
    result = loo_values(table_game(["a", "b", "c"], worths), ["a", "b", "c"])
    assert result.values == {"a": 10 - 6, "b": 10 - 5, "c": 10 - 4}
    assert result.n_evaluations == 4
    assert result.method == "loo"
    assert result.stopped_by is None


def test_loo_gives_duplicated_contributors_nothing() -> None:
    result = loo_values(lambda s: float(bool(s & {"copy1", "copy2"})), ["copy1", "copy2", "other"])
    assert result.values == {"copy1": 0.0, "copy2": 0.0, "other": 0.0}


def test_loo_refuses_an_empty_player_list() -> None:
    with pytest.raises(
        InputError, match=re.escape("players is empty: a game needs at least one player")
    ):
        loo_values(lambda s: 0.0, [])
