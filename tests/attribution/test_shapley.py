"""Shapley values: closed-form games, axioms, sampling, stopping rules, bad input."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import CachedGame, shapley_values
from offchain.attribution.games import (
    AirportGame,
    BankruptcyGame,
    GloveGame,
    UnanimityGame,
    WeightedVotingGame,
)
from offchain.exceptions import AttributionError
from tests.attribution.helpers import symmetric_pair_games, table_game, table_games

SAMPLERS = ["stratified", "antithetic", "plain"]


def _voting_10() -> WeightedVotingGame[int]:
    weights = [9, 7, 7, 5, 4, 3, 2, 2, 1, 1]
    return WeightedVotingGame(dict(enumerate(weights)), quota=21)


# Each case: a game with players, and its Shapley value from the game's own formula.
CLOSED_FORM: dict[str, Callable[[], tuple[object, dict[Hashable, float]]]] = {
    "glove": lambda: (g := GloveGame(["l1", "l2"], ["r1", "r2", "r3"]), g.shapley_values()),
    "airport": lambda: (
        g := AirportGame({"a": 1.0, "b": 3.0, "c": 3.0, "d": 7.0, "e": 10.0}),
        g.shapley_values(),
    ),
    "unanimity": lambda: (
        g := UnanimityGame(["p0", "p1", "p2", "p3", "p4"], {"p0", "p2", "p3"}),
        g.shapley_values(),
    ),
    "voting": lambda: (g := _voting_10(), g.shapley_values()),
    "bankruptcy": lambda: (
        g := BankruptcyGame({"a": 100.0, "b": 200.0, "c": 300.0, "d": 50.0}, 400.0),
        g.shapley_values(),
    ),
}

# Values known by hand, independent of any code.
HAND_KNOWN: list[tuple[str, Callable[[frozenset[Hashable]], float], list[str], list[float]]] = [
    (
        "voting [51; 50, 49, 1]: the 1-vote party is as strong as the 49-vote one",
        WeightedVotingGame({"x": 50, "y": 49, "z": 1}, 51),
        ["x", "y", "z"],
        [2 / 3, 1 / 6, 1 / 6],
    ),
    (
        "glove: one left, two right",
        GloveGame(["l"], ["r1", "r2"]),
        ["l", "r1", "r2"],
        [2 / 3, 1 / 6, 1 / 6],
    ),
    (
        "Talmud, estate 100: equal division",
        BankruptcyGame({"a": 100.0, "b": 200.0, "c": 300.0}, 100.0),
        ["a", "b", "c"],
        [100 / 3, 100 / 3, 100 / 3],
    ),
    (
        "Talmud, estate 300: proportional division",
        BankruptcyGame({"a": 100.0, "b": 200.0, "c": 300.0}, 300.0),
        ["a", "b", "c"],
        [50.0, 100.0, 150.0],
    ),
    (
        "airport: costs 1, 3, 7",
        AirportGame({"a": 1.0, "b": 3.0, "c": 7.0}),
        ["a", "b", "c"],
        [1 / 3, 1 / 3 + 1.0, 1 / 3 + 1.0 + 4.0],
    ),
]


@pytest.mark.parametrize(("label", "game", "players", "expected"), HAND_KNOWN)
def test_exact_matches_values_known_by_hand(
    label: str,
    game: Callable[[frozenset[Hashable]], float],
    players: list[str],
    expected: list[float],
) -> None:
    result = shapley_values(game, players, method="exact")
    np.testing.assert_allclose(result.value_array, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_exact_matches_closed_form(name: str) -> None:
    game, expected = CLOSED_FORM[name]()
    result = shapley_values(game, game.players, method="exact")  # type: ignore[attr-defined]
    assert result.method == "shapley/exact"
    for player, value in expected.items():
        assert result.values[player] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_permutation_is_within_a_few_stderr_of_closed_form(name: str, sampler: str) -> None:
    game, expected = CLOSED_FORM[name]()
    players = game.players  # type: ignore[attr-defined]
    scale = max(abs(v) for v in expected.values())
    result = shapley_values(
        game,
        players,
        method="permutation",
        sampler=sampler,
        seed=7,
        target_stderr=0.03 * scale,
        max_evaluations=400_000,
    )
    assert result.method == f"shapley/permutation/{sampler}"
    assert result.stopped_by == "target_stderr"
    for player, value in expected.items():
        assert abs(result.values[player] - value) <= 4 * result.stderr[player] + 1e-12
    full = game(frozenset(players)) - game(frozenset())  # type: ignore[operator]
    assert result.total == pytest.approx(full, rel=1e-12, abs=1e-12)


def test_auto_is_exact_for_few_players_and_samples_for_many() -> None:
    few = shapley_values(lambda s: float(len(s)), list(range(14)))
    many = shapley_values(lambda s: float(len(s)), list(range(15)), max_evaluations=20_000)
    assert few.method == "shapley/exact"
    assert few.stopped_by is None
    assert many.method == "shapley/permutation/stratified"
    np.testing.assert_allclose(many.value_array, 1.0)


def test_exact_counts_distinct_evaluations_and_reuses_a_given_cache() -> None:
    cached = CachedGame(lambda s: float(len(s) ** 2))
    first = shapley_values(cached, ["a", "b", "c", "d"], method="exact")
    second = shapley_values(cached, ["a", "b", "c", "d"], method="exact")
    assert first.n_evaluations == 16
    assert second.n_evaluations == 0
    np.testing.assert_array_equal(first.value_array, second.value_array)


def test_single_player_gets_the_whole_surplus_whatever_the_method() -> None:
    result = shapley_values(lambda s: 5.0 if s else 2.0, ["only"], method="permutation")
    assert result.values == {"only": 3.0}
    assert result.method == "shapley/exact"


# --- axioms -------------------------------------------------------------------------


@settings(max_examples=60)
@given(table_games())
def test_exact_is_efficient(case: tuple[list[str], Callable[[frozenset[Hashable]], float]]) -> None:
    players, game = case
    result = shapley_values(game, players, method="exact")
    assert result.total == pytest.approx(game(frozenset(players)) - game(frozenset()), abs=1e-9)


@settings(max_examples=60)
@given(symmetric_pair_games())
def test_exact_gives_symmetric_players_equal_values(
    case: tuple[list[str], Callable[[frozenset[Hashable]], float]],
) -> None:
    players, game = case
    result = shapley_values(game, players, method="exact")
    assert result.values["p0"] == pytest.approx(result.values["p1"], abs=1e-9)


@settings(max_examples=60)
@given(table_games(max_players=4))
def test_exact_gives_a_null_player_nothing(
    case: tuple[list[str], Callable[[frozenset[Hashable]], float]],
) -> None:
    players, game = case

    def with_null(coalition: frozenset[Hashable]) -> float:
        return game(coalition - {"null"})

    result = shapley_values(with_null, [*players, "null"], method="exact")
    assert result.values["null"] == 0.0


@settings(max_examples=40)
@given(
    st.integers(2, 5).flatmap(
        lambda n: st.tuples(*[st.lists(st.integers(-9, 9), min_size=1 << n, max_size=1 << n)] * 2)
    )
)
def test_exact_is_additive(tables: tuple[list[int], list[int]]) -> None:
    n = len(tables[0]).bit_length() - 1
    players = [f"p{i}" for i in range(n)]
    first, second = (table_game(players, t) for t in tables)
    both = table_game(players, [a + b for a, b in zip(*tables, strict=True)])
    separate = (
        shapley_values(first, players).value_array + shapley_values(second, players).value_array
    )
    np.testing.assert_allclose(shapley_values(both, players).value_array, separate, atol=1e-9)


@settings(max_examples=25)
@given(table_games(min_players=3, max_players=6), st.sampled_from(SAMPLERS), st.integers(0, 2**32))
def test_permutation_estimate_is_efficient_and_null_players_get_exactly_zero(
    case: tuple[list[str], Callable[[frozenset[Hashable]], float]], sampler: str, seed: int
) -> None:
    players, game = case

    def with_null(coalition: frozenset[Hashable]) -> float:
        return game(coalition - {"null"})

    everyone = [*players, "null"]
    result = shapley_values(
        with_null, everyone, method="permutation", sampler=sampler, seed=seed, max_evaluations=3000
    )
    assert result.total == pytest.approx(game(frozenset(players)) - game(frozenset()), abs=1e-9)
    assert result.values["null"] == 0.0
    assert result.stderr["null"] == 0.0


# --- sampling: reproducibility, error bars, stopping rules ---------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_gives_bit_identical_values(sampler: str) -> None:
    game = _voting_10()

    def run(seed: int) -> np.ndarray:
        return shapley_values(
            game,
            game.players,
            method="permutation",
            sampler=sampler,
            seed=seed,
            max_evaluations=5000,
        ).value_array

    assert run(11).tobytes() == run(11).tobytes()
    assert run(11).tobytes() != run(12).tobytes()


def test_stderr_is_calibrated_over_many_seeds() -> None:
    game = _voting_10()
    exact = np.array([game.shapley_values()[p] for p in game.players])
    z = []
    for seed in range(20):
        result = shapley_values(
            game,
            game.players,
            method="permutation",
            sampler="plain",
            seed=seed,
            max_evaluations=2000,
        )
        # A player never pivotal in the sampled orders has estimate and stderr 0.
        seen = result.stderr_array > 0
        z.append((result.value_array[seen] - exact[seen]) / result.stderr_array[seen])
    z_all = np.concatenate(z)
    # Standardised errors of a calibrated estimator are about N(0, 1).
    assert abs(float(np.mean(z_all))) < 0.3
    assert 0.7 < float(np.std(z_all)) < 1.3


def test_max_evaluations_bounds_the_queries_made() -> None:
    cached = CachedGame(_voting_10())
    result = shapley_values(
        cached,
        cached.game.players,
        method="permutation",
        sampler="plain",
        max_evaluations=500,  # type: ignore[attr-defined]
    )
    assert result.stopped_by == "max_evaluations"
    assert 500 - 9 < cached.n_queries <= 500
    assert result.counts[0] == (cached.n_queries - 2) // 9


def test_target_stderr_stops_once_every_stderr_is_below_it() -> None:
    game = _voting_10()
    result = shapley_values(game, game.players, method="permutation", target_stderr=0.02)
    assert result.stopped_by == "target_stderr"
    assert max(result.stderr.values()) <= 0.02


def test_rank_patience_stops_once_the_ranking_is_stable() -> None:
    # Additive game with distinct weights: the ranking is right from the first block.
    weights = {f"p{i}": float(i) for i in range(16)}
    result = shapley_values(
        lambda s: sum(weights[p] for p in s), list(weights), method="permutation", rank_patience=3
    )
    assert result.stopped_by == "rank_stability"
    assert result.counts["p0"] == 7 * 16  # 7 blocks of 16 orders: the 100 orders trusted
    assert result.ranking() == list(reversed(weights))


def test_default_budget_covers_the_minimum_blocks() -> None:
    cached = CachedGame(lambda s: float(len(s) > 15))
    result = shapley_values(cached, list(range(30)), method="permutation")
    assert result.stopped_by == "max_evaluations"
    assert cached.n_queries <= 1000 * 30


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("players", "kwargs", "message"),
    [
        ([], {}, "players is empty: a game needs at least one player"),
        (["a", "b", "a"], {}, "players[2] = 'a' is a duplicate player id"),
        ("abc", {}, "players must be a sequence of player ids, not a string: 'abc'"),
        ({"a", "b"}, {}, "players must be an ordered sequence (list or tuple), not a set"),
        ([["a"], "b"], {}, "players[0] = ['a'] is not hashable; player ids must be hashable"),
        (
            ["a"],
            {"method": "monte-carlo"},
            "method must be one of 'auto', 'exact', 'permutation'; got 'monte-carlo'",
        ),
        (
            ["a"],
            {"sampler": "sobol"},
            "sampler must be one of 'stratified', 'antithetic', 'plain'; got 'sobol'",
        ),
        (["a"], {"seed": -1}, "seed must be a non-negative int; got -1"),
        (["a"], {"seed": 1.5}, "seed must be a non-negative int; got 1.5 (float)"),
        (["a"], {"max_evaluations": 0}, "max_evaluations must be at least 1; got 0"),
        (["a"], {"max_evaluations": True}, "max_evaluations must be an int; got True (bool)"),
        (["a"], {"target_stderr": 0.0}, "target_stderr must be a finite number above 0; got 0.0"),
        (
            ["a"],
            {"target_stderr": float("nan")},
            "target_stderr must be a finite number above 0; got nan",
        ),
        (["a"], {"rank_patience": 0}, "rank_patience must be at least 1; got 0"),
        (
            list(range(21)),
            {"method": "exact"},
            "method='exact' evaluates all 2**21 coalitions, above the limit of 1048576; "
            "use method='permutation' for 21 players",
        ),
        (
            list(range(30)),
            {"method": "permutation", "sampler": "plain", "max_evaluations": 59},
            "max_evaluations=59 is below 60, the cost of the two sampling blocks needed for a "
            "standard error (29 evaluations each plus 2 once)",
        ),
    ],
)
def test_bad_input_is_refused_with_its_reason(
    players: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        shapley_values(lambda s: 0.0, players, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("worth", "message"),
    [
        (float("nan"), "game returned nan for coalition {}; expected a finite number"),
        ("high", "game returned 'high' for coalition {}; expected a number"),
    ],
)
def test_a_game_returning_a_non_number_is_an_attribution_error(worth: object, message: str) -> None:
    with pytest.raises(AttributionError, match=re.escape(message)):
        shapley_values(lambda s: worth, ["a", "b"])  # type: ignore[arg-type, return-value]
