r"""Agreement of a split with a reference judgment.

A reference (:class:`~offchain.scenario.Reference`) ranks the contributors
people agree on, :math:`r_1 \succ r_2 \succ \dots \succ r_m` (a strict order), and gives
approximate shares :math:`s^*`; a method's split gives shares :math:`s` (what each
contributor is paid, as a fraction of the revenue). Shares closer than :data:`TIE` (a
millionth of the revenue) are treated as equal: integer splits give symmetric
contributors amounts one unit apart, which is no ranking.

* **Kendall** :math:`\tau_b` over the ranked contributors:
  :math:`\tau_b = (C - D) / \sqrt{n_0 (n_0 - n_2)}` with :math:`C, D` the concordant
  and discordant pairs, :math:`n_0 = m(m-1)/2` and :math:`n_2` the pairs the method
  ties (the reference ties none). A method that ties every ranked contributor says
  nothing about their order: :math:`\tau_b = 0`.
* **Spearman** :math:`\rho`: Pearson correlation of the ranks (ties get their average
  rank); 0 when the method ties everything.
* **Top-1 agreement**: 1 if :math:`r_1` is paid strictly the most among the ranked
  contributors, :math:`1/k` if it shares the top with :math:`k-1` others, else 0.
* **L1 distance**: :math:`\sum_k |s_k - s^*_k|` over every contributor either names
  (a missing share is 0); 0 is perfect, 2 the worst.

Kendall (1945), "The treatment of ties in ranking problems", Biometrika 33(3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from ame_core.exceptions import InputError

__all__ = ["TIE", "kendall_tau", "l1_distance", "spearman_rho", "top1_agreement"]

#: Shares closer than this (a fraction of the revenue) count as tied.
TIE = 1e-6


def _ranked(ranking: Sequence[str], shares: Mapping[str, float]) -> np.ndarray:
    """Shares of the ranked contributors, in reference order, on the tie grid."""
    if len(ranking) < 2:
        raise InputError(f"ranking: needs at least two contributors, got {list(ranking)}")
    if len(set(ranking)) != len(ranking):
        raise InputError(f"ranking: repeats a contributor in {list(ranking)}")
    return np.round(np.array([float(shares.get(k, 0.0)) for k in ranking]) / TIE)


def kendall_tau(ranking: Sequence[str], shares: Mapping[str, float]) -> float:
    """Kendall's :math:`\\tau_b` between a strict reference order and a method's shares.

    Args:
        ranking: Contributors from most to least deserving (at least two, no repeats).
        shares: The method's share of each contributor (missing means 0).

    Returns:
        :math:`\\tau_b` in [-1, 1]; 0 if the method ties every ranked contributor.

    Raises:
        InputError: If the ranking has fewer than two contributors or repeats one.
    """
    got = _ranked(ranking, shares)
    m = len(got)
    # Reference position i < j means i is more deserving: concordant if got[i] > got[j].
    upper = np.triu_indices(m, k=1)
    sign = np.sign(got[upper[0]] - got[upper[1]])
    n0 = m * (m - 1) // 2
    n2 = int(np.sum(sign == 0))
    if n2 == n0:
        return 0.0
    return float(np.sum(sign)) / math.sqrt(n0 * (n0 - n2))


def spearman_rho(ranking: Sequence[str], shares: Mapping[str, float]) -> float:
    """Spearman's :math:`\\rho` between a strict reference order and a method's shares.

    Args:
        ranking: Contributors from most to least deserving (at least two, no repeats).
        shares: The method's share of each contributor (missing means 0).

    Returns:
        :math:`\\rho` in [-1, 1]; 0 if the method ties every ranked contributor.

    Raises:
        InputError: If the ranking has fewer than two contributors or repeats one.
    """
    got = _ranked(ranking, shares)
    if np.all(got == got[0]):
        return 0.0
    reference = np.arange(len(got), 0, -1, dtype=float)
    ranks = rankdata(got)
    a, b = reference - reference.mean(), ranks - ranks.mean()
    return float(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)))


def top1_agreement(ranking: Sequence[str], shares: Mapping[str, float]) -> float:
    """1 if the reference's first contributor is paid the most among the ranked ones.

    Args:
        ranking: Contributors from most to least deserving (at least two, no repeats).
        shares: The method's share of each contributor (missing means 0).

    Returns:
        1, or ``1/k`` if ``k`` ranked contributors tie for the top with it, or 0.

    Raises:
        InputError: If the ranking has fewer than two contributors or repeats one.
    """
    got = _ranked(ranking, shares)
    top = got.max()
    if got[0] != top:
        return 0.0
    return 1.0 / int(np.sum(got == top))


def l1_distance(reference: Mapping[str, float], shares: Mapping[str, float]) -> float:
    """:math:`\\sum_k |s_k - s^*_k|` over every contributor either mapping names.

    Args:
        reference: Reference shares (missing contributors count as 0).
        shares: The method's shares (missing contributors count as 0).

    Returns:
        The distance, in [0, 2] for shares that sum to at most 1.
    """
    keys = sorted(set(reference) | set(shares))
    return float(sum(abs(float(shares.get(k, 0.0)) - float(reference.get(k, 0.0))) for k in keys))
