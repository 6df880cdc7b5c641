r"""Largest-remainder (Hamilton) apportionment of an integer amount, exactly.

Given an amount :math:`A` and non-negative integer weights :math:`c_i` summing to
:math:`T > 0`, each line first gets :math:`\lfloor A c_i / T \rfloor`; the
:math:`A - \sum_i \lfloor A c_i / T \rfloor < n` units left over go, one each, to the
lines with the largest remainders :math:`A c_i \bmod T`, ties to the smallest key.
The result sums to :math:`A` exactly and every line is within one unit of its exact
quota :math:`A c_i / T`. Integers only: no rounding mode, no float, no dust.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["apportion"]

K = TypeVar("K", str, int)


def apportion(amount: int, weights: Sequence[int], keys: Sequence[K], total: int) -> list[int]:
    """Split ``amount`` in proportion to ``weights``, to the unit.

    Args:
        amount: The non-negative integer to split.
        weights: Non-negative integer weights, one per line.
        keys: Tie-break keys, one per line, distinct; the smaller key wins a tie.
        total: ``sum(weights)``, positive (passed in because callers know it).

    Returns:
        Integer parts, one per line, summing to ``amount``.

    Raises:
        ValueError: If ``total`` is not positive or is not the sum of ``weights``.
    """
    if total <= 0 or sum(weights) != total:
        raise ValueError(f"weights must sum to the positive total {total}, got {sum(weights)}")
    splits = [divmod(amount * weight, total) for weight in weights]
    parts = [part for part, _ in splits]
    left = amount - sum(parts)
    if left:
        ranked = sorted(
            (-remainder, key, i)
            for i, ((_, remainder), key) in enumerate(zip(splits, keys, strict=True))
        )
        for _, _, i in ranked[:left]:
            parts[i] += 1
    return parts
