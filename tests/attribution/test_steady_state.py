"""The steady state's fast paths give the bits of the straightforward ones they replace.

Each rewritten piece of arithmetic is checked against the code it replaced, kept here as
the reference: rounding a worth (through ``Fraction``), the exact Shapley sums (a loop over
every player and subset), free disposal (one recursive call per coalition and subset),
the utilities (one counterfactual at a time) and a whole event's record (its game valued
coalition by coalition).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ame_core.exceptions import AmeError, InputError
from offchain.attribution import record as record_module
from offchain.attribution.game import (
    MAX_TABULATED_PLAYERS,
    PipelineGame,
    every_coalition,
)
from offchain.attribution.multistage import EventAttribution, MultiStageAttribution
from offchain.attribution.record import MAX_PRECISION, quantize
from offchain.attribution.utilities import UTILITIES, utility, utility_rows
from offchain.exceptions import AttributionError
from tests.attribution.helpers import Sale, TablePipeline

# Worths of every class: any float, exact zeros of both signs, ties (small integers),
# halves (rounding ties), tiny and huge magnitudes, negatives.
_WORTHS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.integers(-5, 5).map(float),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 2.5, -2.5, 5e-324, -5e-324, 1e300, -1e300]),
    st.integers(-(10**6), 10**6).map(lambda k: k / 1024),
)


# Up to 256 worths drawn an example: slow to generate on a loaded machine, which is no
# fault of the code under test (the searches are seeded, so they stay the same).
_SLOW_DRAWS = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _quantize_before(worth: float, precision: int) -> int:
    """The rounding this module replaced: the float's exact Fraction, rounded."""
    scaled: Fraction = Fraction(worth) * 10**precision
    return round(scaled)


@settings(max_examples=600, derandomize=True)
@given(
    st.one_of(_WORTHS, st.integers(-(10**20), 10**20)),
    st.integers(0, MAX_PRECISION),
)
def test_quantize_equals_rounding_the_floats_exact_fraction(worth: float, precision: int) -> None:
    assert quantize(worth, precision) == _quantize_before(worth, precision)


def _shapley_before(groups: Sequence[int], base: int, q: Callable[[int], int]) -> list[Fraction]:
    """The exact Shapley sums this module replaced: every player, every subset, in turn."""
    m = len(groups)
    weights = [math.factorial(s) * math.factorial(m - 1 - s) for s in range(m)]
    out = []
    for j, group in enumerate(groups):
        others = [g for i, g in enumerate(groups) if i != j]
        total = 0
        for subset in range(1 << len(others)):
            union, size = base, 0
            for i, other in enumerate(others):
                if subset >> i & 1:
                    union |= other
                    size += 1
            total += weights[size] * (q(union | group) - q(union))
        out.append(Fraction(total, math.factorial(m)))
    return out


@st.composite
def _grouped_tables(draw: st.DrawFn) -> tuple[list[int], int, dict[int, int]]:
    """Groups of bits (players or stages), a base coalition and integer worths, any sign."""
    n_bits = draw(st.integers(1, 8))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=6))
    groups, at = [], 0
    for size in sizes:
        if at + size > n_bits:
            break
        groups.append(((1 << size) - 1) << at)
        at += size
    if not groups:
        groups = [1]
        at = 1
    base = draw(st.integers(0, (1 << n_bits) - 1)) & ~((1 << at) - 1)
    worth = st.one_of(st.integers(-5, 5), st.integers(-(10**30), 10**30))
    table = {mask: draw(worth) for mask in range(1 << n_bits)}
    table[0] = 0
    return groups, base, table


@settings(max_examples=300, derandomize=True, suppress_health_check=_SLOW_DRAWS)
@given(_grouped_tables())
def test_exact_shapley_sums_equal_the_loop_over_every_player_and_subset(
    case: tuple[list[int], int, dict[int, int]],
) -> None:
    groups, base, table = case
    assert record_module._shapley(groups, base, table.__getitem__) == _shapley_before(
        groups, base, table.__getitem__
    )


@st.composite
def _raw_games(draw: st.DrawFn) -> tuple[list[str], dict[frozenset[str], float]]:
    players = [f"p{i}" for i in range(draw(st.integers(0, 8)))]
    return players, {c: draw(_WORTHS) for c in every_coalition(players)[1:]}


@settings(max_examples=200, derandomize=True, suppress_health_check=_SLOW_DRAWS)
@given(_raw_games(), st.booleans())
def test_tabulated_free_disposal_gives_every_coalition_the_recursions_worth(
    game: tuple[list[str], dict[frozenset[str], float]], batched: bool
) -> None:
    players, raw = game
    asked: list[frozenset[str]] = []

    def batch(coalitions: Sequence[frozenset[str]]) -> list[float]:
        asked.extend(coalitions)
        return [raw[c] for c in coalitions]

    recursive = PipelineGame(players, raw.__getitem__)
    tabulated = PipelineGame(players, raw.__getitem__, batch_worth=batch if batched else None)
    assert tabulated.tabulate() is True
    assert sorted(map(sorted, asked)) == (sorted(map(sorted, raw)) if batched else [])
    for coalition in every_coalition(players):
        # The same number (a maximum is exact); only a zero's sign may differ, which
        # rounding for the record drops.
        assert tabulated(coalition) == recursive(coalition)
        assert quantize(tabulated(coalition), 12) == quantize(recursive(coalition), 12)
    assert tabulated.tabulate() is True  # a second call evaluates nothing


def test_a_game_that_need_not_value_every_coalition_is_not_tabulated() -> None:
    def worth(coalition: frozenset[str]) -> float:
        raise AssertionError(f"evaluated {sorted(coalition)}")

    many = [f"p{i}" for i in range(MAX_TABULATED_PLAYERS + 1)]
    assert PipelineGame(["a", "b"], worth, free_disposal=False).tabulate() is False
    assert PipelineGame(["a", "b", "c"], worth, blocks=[["a", "b"]]).tabulate() is False
    assert PipelineGame(many, worth).tabulate() is False


def test_a_batch_worth_of_the_wrong_length_is_an_attribution_error() -> None:
    game = PipelineGame(["a", "b"], lambda c: 1.0, batch_worth=lambda cs: [1.0])
    with pytest.raises(AttributionError, match=r"batch_worth returned 1 worths for 3 coalitions"):
        game.tabulate()


@st.composite
def _token_rows(draw: st.DrawFn) -> tuple[list[list[float]], list[float]]:
    length = draw(st.integers(0, 40))
    log_prob = st.one_of(
        st.floats(-50, 0, allow_nan=False), st.sampled_from([0.0, -0.0, -1.0, -2.5])
    )
    row = st.lists(log_prob, min_size=length, max_size=length)
    return draw(st.lists(row, min_size=1, max_size=12)), draw(row)


@settings(max_examples=300, derandomize=True)
@given(_token_rows(), st.sampled_from(UTILITIES))
def test_utility_rows_give_each_row_the_bits_of_utility(
    case: tuple[list[list[float]], list[float]], name: Any
) -> None:
    rows, reference = case
    got = utility_rows(name, rows, reference)
    want = np.array([utility(name, row, reference) for row in rows], dtype=np.float64)
    assert got.dtype == np.float64
    assert got.tobytes() == want.tobytes()


def test_utility_rows_name_the_bad_argument_row_and_token() -> None:
    with pytest.raises(InputError, match=r"^utility: must be one of"):
        utility_rows("nope", [[0.0]], [0.0])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^log_probs\[1\]: not finite at token 2 \(nan\)"):
        utility_rows("loglik", [[0.0] * 3, [0.0, 0.0, float("nan")]], [0.0] * 3)
    with pytest.raises(InputError, match=r"^log_probs: expected one row of 3 .* shape \(1, 2\)"):
        utility_rows("loglik", [[0.0, 0.0]], [0.0] * 3)
    with pytest.raises(InputError, match=r"^reference: not finite at token 0"):
        utility_rows("loglik", [[0.0]], [float("inf")])


@st.composite
def _market_games(
    draw: st.DrawFn,
) -> tuple[dict[str, tuple[str, ...]], dict[frozenset[str], float]]:
    names = ["data", "base_model", "adapter", "prompt"][: draw(st.integers(1, 4))]
    # Up to 8 players, the reference market's (5 datasets, base, adapter, prompt): 256
    # worths an example.
    room = 8 - len(names)
    stages = {}
    for i, name in enumerate(names):
        size = draw(st.integers(1, 1 + min(room, 4 if i == 0 else 1)))
        room -= size - 1
        stages[name] = tuple(f"{name[0]}{j}" for j in range(size))
    players = [a for ids in stages.values() for a in ids]
    # Utilities in nats: a sampled stage's running variance of 1e300-sized worths
    # overflows a float, in either path.
    worth = _WORTHS.filter(lambda w: abs(w) <= 1e6)
    return stages, {c: draw(worth) for c in every_coalition(players)[1:]}


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=_SLOW_DRAWS)
@given(
    _market_games(),
    st.integers(0, 10**24),
    st.integers(0, 15),
    st.sampled_from(["shapley", "owen", "tracin"]),
    st.booleans(),
    st.integers(1, 6),
)
def test_an_events_attribution_is_the_same_as_valuing_its_game_coalition_by_coalition(
    game: tuple[dict[str, tuple[str, ...]], dict[frozenset[str], float]],
    revenue: int,
    precision: int,
    method: Any,
    free_disposal: bool,
    max_exact: int,
) -> None:
    """Negative worths (clipped and noted), ties, zeros and unattributed events included."""
    stages, worths = game
    if method == "tracin" and len(stages["data"]) == 1:
        method = "shapley"
    results: list[EventAttribution | str] = []
    for tabulated in (True, False):
        estimator = MultiStageAttribution(
            TablePipeline(stages, worths, tabulated=tabulated),
            method=method,
            precision=precision,
            free_disposal=free_disposal,
            max_exact=max_exact,
            max_evaluations=200,
        )
        try:
            results.append(estimator.fit([Sale("e", revenue)]).result.events[0])
        except AmeError as err:
            # Refused alike: too many datasets for free disposal, or a sampled stage's
            # worths overflow a float.
            results.append(f"{type(err).__name__}: {err}")
    fast, slow = results
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
        return
    assert fast.record == slow.record
    assert fast.amounts == slow.amounts and fast.notes == slow.notes
    assert fast.n_evaluations == slow.n_evaluations
    for stage in stages:
        a, b = fast.stages[stage], slow.stages[stage]
        assert (a.value, a.amount, a.method, a.amounts) == (b.value, b.amount, b.method, b.amounts)
        assert dict(a.asset_values) == dict(b.asset_values)
        assert dict(a.asset_stderr) == dict(b.asset_stderr)
