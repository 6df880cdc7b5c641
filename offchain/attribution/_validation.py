"""Argument checks shared by the valuation functions.

Every check raises :class:`~ame_core.exceptions.InputError` with a message that names
the argument, the offending value and the reason, so a caller can fix the call without
reading the source.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from ame_core.exceptions import InputError

__all__ = [
    "check_choice",
    "check_players",
    "check_positive_float",
    "check_positive_int",
    "check_seed",
]

P = TypeVar("P", bound=Hashable)

#: Exact methods refuse games that need more coalition evaluations than this.
MAX_EXACT_EVALUATIONS = 1 << 20

#: ``method="auto"`` evaluates exactly up to this many coalitions, and samples above it.
AUTO_EXACT_EVALUATIONS = 1 << 14


def check_players(players: Sequence[P], *, name: str = "players") -> tuple[P, ...]:
    """Return ``players`` as a tuple after checking it is a usable player list.

    The order of the sequence fixes the index of each player in the samplers, which is
    what makes a seeded run reproducible; a set has no reproducible order (string hashes
    change between processes), so it is refused rather than silently sorted.

    Args:
        players: Player ids, each hashable, none repeated.
        name: Argument name used in error messages.

    Returns:
        The players as a tuple, in the given order.

    Raises:
        InputError: If ``players`` is a string, a set, not a sequence, empty, holds an
            unhashable id, or repeats an id.
    """
    if isinstance(players, str | bytes):
        raise InputError(f"{name} must be a sequence of player ids, not a string: {players!r}")
    if isinstance(players, set | frozenset):
        raise InputError(
            f"{name} must be an ordered sequence (list or tuple), not a {type(players).__name__}: "
            "the order fixes the sampling, so a set would not reproduce across runs"
        )
    if not isinstance(players, Sequence):
        raise InputError(f"{name} must be a sequence of player ids; got {type(players).__name__}")
    result = tuple(players)
    if not result:
        raise InputError(f"{name} is empty: a game needs at least one player")
    seen: set[P] = set()
    for position, player in enumerate(result):
        if not isinstance(player, Hashable):
            raise InputError(
                f"{name}[{position}] = {player!r} is not hashable; player ids must be hashable"
            )
        if player in seen:
            raise InputError(f"{name}[{position}] = {player!r} is a duplicate player id")
        seen.add(player)
    return result


def check_choice(value: str, choices: Iterable[str], *, name: str) -> str:
    """Return ``value`` if it is one of ``choices``.

    Raises:
        InputError: If it is not, naming the allowed values.
    """
    allowed = tuple(choices)
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_positive_int(value: int, *, name: str) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least 1.

    Raises:
        InputError: Otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    if value < 1:
        raise InputError(f"{name} must be at least 1; got {value}")
    return value


def check_positive_float(value: float, *, name: str) -> float:
    """Return ``value`` as a float if it is a finite number above zero.

    Raises:
        InputError: Otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number above 0; got {value!r}")
    return float(value)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it can seed :func:`numpy.random.default_rng` reproducibly.

    Raises:
        InputError: If it is not a non-negative ``int``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be a non-negative int; got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise InputError(f"seed must be a non-negative int; got {seed}")
    return seed
