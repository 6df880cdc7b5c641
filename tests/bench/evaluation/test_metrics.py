"""Agreement metrics: closed-form cases first, then scipy on seeded random orders."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import kendalltau, spearmanr

from ame_core.exceptions import InputError
from bench.evaluation import TIE, kendall_tau, l1_distance, spearman_rho, top1_agreement

RANKING = ["geo", "fauna", "walk"]


def test_a_split_in_the_reference_order_agrees_fully() -> None:
    shares = {"geo": 0.5, "fauna": 0.1, "walk": 0.0, "transformer": 0.4}
    assert kendall_tau(RANKING, shares) == 1.0
    assert spearman_rho(RANKING, shares) == pytest.approx(1.0)
    assert top1_agreement(RANKING, shares) == 1.0


def test_the_reversed_order_disagrees_fully() -> None:
    shares = {"geo": 0.0, "fauna": 0.1, "walk": 0.5}
    assert kendall_tau(RANKING, shares) == -1.0
    assert spearman_rho(RANKING, shares) == pytest.approx(-1.0)
    assert top1_agreement(RANKING, shares) == 0.0


def test_a_method_that_ties_everything_says_nothing() -> None:
    uniform = dict.fromkeys(RANKING, 1 / 3)
    assert kendall_tau(RANKING, uniform) == 0.0
    assert spearman_rho(RANKING, uniform) == 0.0
    assert top1_agreement(RANKING, uniform) == pytest.approx(1 / 3)


def test_partial_ties_follow_tau_b() -> None:
    # geo > fauna = walk: 2 concordant pairs, 1 tied; tau_b = 2 / sqrt(3 * 2).
    shares = {"geo": 0.6, "fauna": 0.2, "walk": 0.2}
    assert kendall_tau(RANKING, shares) == pytest.approx(2 / math.sqrt(6))
    assert top1_agreement(RANKING, shares) == 1.0
    # The top shared by two: half the credit.
    assert top1_agreement(RANKING, {"geo": 0.4, "fauna": 0.4}) == 0.5


def test_shares_closer_than_the_tie_tolerance_are_tied() -> None:
    shares = {"geo": 0.3, "fauna": 0.3 + TIE / 10, "walk": 0.0}
    assert top1_agreement(RANKING, shares) == 0.5
    assert kendall_tau(RANKING, shares) == pytest.approx(2 / math.sqrt(6))


def test_missing_contributors_count_as_paid_nothing() -> None:
    assert kendall_tau(RANKING, {"geo": 1.0}) == pytest.approx(2 / math.sqrt(6))
    assert l1_distance({"geo": 0.5, "fauna": 0.5}, {"geo": 0.5, "walk": 0.25}) == 0.75


def test_l1_is_zero_on_the_reference_and_two_on_disjoint_splits() -> None:
    reference = {"geo": 0.55, "transformer": 0.4, "fauna": 0.05}
    assert l1_distance(reference, reference) == 0.0
    assert l1_distance({"a": 1.0}, {"b": 1.0}) == 2.0


@pytest.mark.parametrize("ranking", [["geo"], [], ["geo", "geo"]])
def test_a_ranking_needs_two_distinct_contributors(ranking: list[str]) -> None:
    for metric in (kendall_tau, spearman_rho, top1_agreement):
        with pytest.raises(InputError, match=r"^ranking: "):
            metric(ranking, {"geo": 1.0})


@given(st.lists(st.integers(0, 4), min_size=2, max_size=8))
def test_tau_and_rho_agree_with_scipy_when_the_method_is_not_constant(levels: list[int]) -> None:
    names = [f"a{i}" for i in range(len(levels))]
    shares = {n: level / 10 for n, level in zip(names, levels, strict=True)}
    reference = np.arange(len(names), 0, -1)
    got = np.array([shares[n] for n in names])
    if np.all(got == got[0]):
        assert kendall_tau(names, shares) == 0.0
        return
    assert kendall_tau(names, shares) == pytest.approx(kendalltau(reference, got).statistic)
    assert spearman_rho(names, shares) == pytest.approx(spearmanr(reference, got).statistic)
