"""Owen and Winter values: closed forms, quotient game, axioms, sampling, bad structures."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import CachedGame, owen_values, shapley_values
from offchain.attribution.games import GloveGame, UnanimityGame, WeightedVotingGame
from tests.attribution.helpers import symmetric_pair_games, table_games

Game = Callable[[frozenset[Hashable]], float]


def _winter_unanimity(
    structure: list[object], carrier: frozenset[Hashable]
) -> dict[Hashable, float]:
    """Closed form for a unanimity game: at every union, split the share equally among
    the children that hold a carrier player (Owen 1977, Winter 1989)."""
    values: dict[Hashable, float] = {}

    def members(item: object) -> set[Hashable]:
        return set().union(*map(members, item)) if isinstance(item, list) else {item}

    def visit(items: list[object], share: float) -> None:
        holding = [item for item in items if members(item) & carrier]
        for item in items:
            part = share / len(holding) if item in holding else 0.0
            if isinstance(item, list):
                visit(item, part)
            else:
                values[item] = part

    visit(structure, 1.0)
    return values


NESTED = [["d1", "d2", ["p1", "p2"]], ["m"], "x"]
NESTED_PLAYERS = ["d1", "d2", "p1", "p2", "m", "x"]


@pytest.mark.parametrize(
    "carrier",
    [{"d1", "p1", "m"}, {"p1", "p2"}, {"d2", "x"}, {"d1", "d2", "p1", "p2", "m", "x"}, {"m"}],
)
@pytest.mark.parametrize("method", ["exact", "permutation"])
def test_winter_value_of_unanimity_game_matches_closed_form(carrier: set[str], method: str) -> None:
    game = UnanimityGame(NESTED_PLAYERS, carrier)
    expected = _winter_unanimity(NESTED, frozenset(carrier))
    result = owen_values(
        game, NESTED, method=method, seed=3, target_stderr=0.005, max_evaluations=10**6
    )
    for player, value in expected.items():
        assert abs(result.values[player] - value) <= 4 * result.stderr[player] + 1e-12
    assert result.total == pytest.approx(1.0, abs=1e-12)


def test_owen_value_of_glove_game_known_by_hand() -> None:
    # Unions {l, r1} and {r2}: the pair {l, r1} earns 1 in the quotient game; inside it,
    # l gets 1/2 alone and 1 after r2, so 3/4.
    result = owen_values(GloveGame(["l"], ["r1", "r2"]), [["l", "r1"], ["r2"]], method="exact")
    np.testing.assert_allclose(result.value_array, [0.75, 0.25, 0.0], atol=1e-15)
    assert result.method == "owen/exact"
    assert result.n_evaluations == 8


def test_players_argument_fixes_the_result_order() -> None:
    game = UnanimityGame(NESTED_PLAYERS, {"d1", "m"})
    result = owen_values(game, NESTED, players=list(reversed(NESTED_PLAYERS)))
    assert result.players == tuple(reversed(NESTED_PLAYERS))
    assert result.values["d1"] == 0.5
    assert result.values["m"] == 0.5


@st.composite
def structured_games(draw: st.DrawFn) -> tuple[list[str], Game, list[list[str]]]:
    players, game = draw(table_games(min_players=2, max_players=6))
    labels = draw(st.lists(st.integers(0, 3), min_size=len(players), max_size=len(players)))
    unions = [
        [p for p, u in zip(players, labels, strict=True) if u == label]
        for label in sorted(set(labels))
    ]
    return players, game, unions


@settings(max_examples=50)
@given(structured_games())
def test_union_totals_are_the_shapley_values_of_the_quotient_game(
    case: tuple[list[str], Game, list[list[str]]],
) -> None:
    players, game, unions = case
    result = owen_values(game, unions, method="exact")

    def quotient(indices: frozenset[Hashable]) -> float:
        return game(frozenset(p for i in indices for p in unions[i]))  # type: ignore[index]

    totals = shapley_values(quotient, list(range(len(unions))), method="exact").value_array
    got = [sum(result.values[p] for p in union) for union in unions]
    np.testing.assert_allclose(got, totals, atol=1e-9)
    assert result.total == pytest.approx(game(frozenset(players)) - game(frozenset()), abs=1e-9)


@settings(max_examples=40)
@given(table_games(min_players=1, max_players=6))
def test_singleton_unions_and_a_single_union_both_give_shapley(
    case: tuple[list[str], Game],
) -> None:
    players, game = case
    shapley = shapley_values(game, players, method="exact").value_array
    for structure in ([[p] for p in players], [list(players)], list(players)):
        owen = owen_values(game, structure, method="exact").value_array
        np.testing.assert_allclose(owen, shapley, atol=1e-9)


@settings(max_examples=40)
@given(symmetric_pair_games(), st.booleans())
def test_symmetric_players_in_one_union_get_equal_values(
    case: tuple[list[str], Game], nested: bool
) -> None:
    players, game = case
    inner: list[object] = [["p0", "p1"]] if nested else ["p0", "p1"]
    structure: list[object] = (
        [inner + players[2:3], players[3:]] if players[3:] else [inner + players[2:]]
    )
    result = owen_values(game, structure, method="exact")
    assert result.values["p0"] == pytest.approx(result.values["p1"], abs=1e-9)


@pytest.mark.parametrize("sampler", ["plain", "antithetic"])
def test_sampled_owen_is_efficient_reproducible_and_close_to_exact(sampler: str) -> None:
    weights = [9, 7, 7, 5, 4, 3, 2, 2, 1, 1, 6, 3]
    game = WeightedVotingGame(dict(enumerate(weights)), quota=26)
    structure = [[0, 1, [2, 3]], [4, 5, 6], [[7, 8], [9, 10]], 11]
    exact = owen_values(game, structure, method="exact")

    def sample(seed: int) -> np.ndarray:
        result = owen_values(
            game,
            structure,
            method="permutation",
            sampler=sampler,
            seed=seed,
            target_stderr=0.01,
            max_evaluations=200_000,
        )
        assert result.stopped_by == "target_stderr"
        assert result.method == f"owen/permutation/{sampler}"
        assert result.total == pytest.approx(1.0, abs=1e-12)
        assert np.all(
            np.abs(result.value_array - exact.value_array) <= 4 * result.stderr_array + 1e-12
        )
        return result.value_array

    assert sample(5).tobytes() == sample(5).tobytes()
    assert sample(5).tobytes() != sample(6).tobytes()


def test_auto_samples_when_exact_would_be_too_costly() -> None:
    # Two unions of 13 need 2**2 + 2 * 2 * (2**13 - 2) = 32764 > 2**14 evaluations.
    players = list(range(26))
    result = owen_values(
        lambda s: float(len(s) >= 9), [players[:13], players[13:]], max_evaluations=4000
    )
    assert result.method == "owen/permutation/plain"
    small = owen_values(lambda s: float(len(s) >= 3), [[0, 1], [2, 3], [4]])
    assert small.method == "owen/exact"


def test_exact_evaluates_only_prefixes_of_admissible_orders() -> None:
    cached = CachedGame(lambda s: float(len(s)) ** 2)
    owen_values(cached, [["a", "b", "c"], ["d", "e"]], method="exact")
    # Union sets: 2**2 = 4; plus whole-or-not other union times proper prefixes:
    # 2 * ((2**3 - 2) + (2**2 - 2)) = 16.
    assert cached.n_evaluations == 20


@pytest.mark.parametrize(
    ("structure", "kwargs", "message"),
    [
        (("a", "b"), {}, "structure must be a list of unions (lists) and player ids; got tuple"),
        ([], {}, "structure is an empty union; every union needs a player"),
        ([["a"], []], {}, "structure[1] is an empty union; every union needs a player"),
        (
            [["a", "b"], ["c", "a"]],
            {},
            "structure[1][1]: player 'a' appears more than once (first at structure[0][0])",
        ),
        ([["a"], {"b"}], {}, "structure[1] is a set; unions are lists"),
        ([["a"], [{"b": 1}]], {}, "structure[1][0] = {'b': 1} is not a hashable player id"),
        (
            [["a"], ["b"]],
            {"players": ["a", "b", "c"]},
            "structure is missing players ['c'] listed in players",
        ),
        (
            [["a"], ["b", "z"]],
            {"players": ["a", "b"]},
            "structure has players ['z'] that are not in players",
        ),
        ([["a"], ["b"]], {"players": ["a", "a"]}, "players[1] = 'a' is a duplicate player id"),
        (
            [["a"], ["b"]],
            {"sampler": "stratified"},
            "sampler must be one of 'plain', 'antithetic'; got 'stratified'",
        ),
        (
            [["a"], ["b"]],
            {"method": "msr"},
            "method must be one of 'auto', 'exact', 'permutation'; got 'msr'",
        ),
        (
            # 2**2 whole-union sets, plus 2 * 2 * (2**20 - 2) with one union partial.
            [list(range(20)), list(range(20, 40))],
            {"method": "exact"},
            "method='exact' needs 4194300 coalition evaluations for this structure, above "
            "the limit of 1048576; use method='permutation'",
        ),
    ],
)
def test_bad_structure_is_refused_with_its_reason(
    structure: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        owen_values(lambda s: 0.0, structure, **kwargs)  # type: ignore[arg-type]
