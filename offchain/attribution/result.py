"""The result every valuation function returns.

A :class:`ValuationResult` holds, for each player in a fixed order, an estimated value,
its standard error and the number of samples behind it, as numpy arrays, with read-only
mappings from player id for convenient lookup. Exact methods report a standard error of
0. The same shape as pyDVL's ``ValuationResult``, reduced to what AME needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import check_players

__all__ = ["ValuationResult"]

P = TypeVar("P", bound=Hashable)
T = TypeVar("T")


class ValuationResult(Generic[P]):
    """Values of a set of players, with standard errors and sample counts.

    Args:
        players: Player ids, in the order of the arrays.
        values: Estimated value of each player.
        stderr: Standard error of each estimate; zeros (exact) if omitted.
        counts: Samples behind each estimate (marginal contributions, coalitions or
            test points, depending on the method); ones if omitted.
        method: Which algorithm produced the values, e.g. ``"shapley/exact"`` or
            ``"shapley/permutation/stratified"``.
        n_evaluations: Distinct coalitions of the game evaluated to produce them.
        stopped_by: For sampled methods, the stopping rule that ended sampling
            (``"max_evaluations"``, ``"target_stderr"`` or ``"rank_stability"``);
            ``None`` for exact methods.

    Raises:
        InputError: If the players are invalid or an array does not have one finite
            entry per player.
    """

    __slots__ = (
        "_count_map",
        "_counts",
        "_players",
        "_stderr",
        "_stderr_map",
        "_value_map",
        "_values",
        "method",
        "n_evaluations",
        "stopped_by",
    )

    def __init__(
        self,
        *,
        players: Sequence[P],
        values: ArrayLike,
        stderr: ArrayLike | None = None,
        counts: ArrayLike | None = None,
        method: str,
        n_evaluations: int,
        stopped_by: str | None = None,
    ) -> None:
        self._players = check_players(players)
        n = len(self._players)
        self._values: NDArray[np.float64] = _frozen_array(values, n, "values", np.float64)
        self._stderr: NDArray[np.float64] = _frozen_array(
            np.zeros(n) if stderr is None else stderr, n, "stderr", np.float64
        )
        self._counts: NDArray[np.int64] = _frozen_array(
            np.ones(n, dtype=np.int64) if counts is None else counts, n, "counts", np.int64
        )
        if np.any(self._stderr < 0):
            raise InputError(f"stderr must be non-negative; got {self._stderr.tolist()}")
        self._value_map: Mapping[P, float] = _mapping(self._players, self._values.tolist())
        self._stderr_map: Mapping[P, float] = _mapping(self._players, self._stderr.tolist())
        self._count_map: Mapping[P, int] = _mapping(self._players, self._counts.tolist())
        self.method = method
        self.n_evaluations = int(n_evaluations)
        self.stopped_by = stopped_by

    @property
    def players(self) -> tuple[P, ...]:
        """Player ids, in the order of the arrays."""
        return self._players

    @property
    def values(self) -> Mapping[P, float]:
        """Estimated value of each player (read-only)."""
        return self._value_map

    @property
    def stderr(self) -> Mapping[P, float]:
        """Standard error of each player's value (read-only); 0 where exact."""
        return self._stderr_map

    @property
    def counts(self) -> Mapping[P, int]:
        """Number of samples behind each player's value (read-only)."""
        return self._count_map

    @property
    def value_array(self) -> NDArray[np.float64]:
        """Values as a read-only array in the order of :attr:`players`."""
        return self._values

    @property
    def stderr_array(self) -> NDArray[np.float64]:
        """Standard errors as a read-only array in the order of :attr:`players`."""
        return self._stderr

    @property
    def count_array(self) -> NDArray[np.int64]:
        """Sample counts as a read-only array in the order of :attr:`players`."""
        return self._counts

    @property
    def total(self) -> float:
        """Sum of the values; ``v(N) - v(∅)`` for efficient methods."""
        return float(np.sum(self._values))

    def ranking(self) -> list[P]:
        """Players from highest to lowest value; ties keep the order of :attr:`players`."""
        order = np.argsort(-self._values, kind="stable")
        return [self._players[i] for i in order]

    def __len__(self) -> int:
        return len(self._players)

    def __getitem__(self, player: P) -> float:
        """Value of ``player``.

        Raises:
            KeyError: If ``player`` is not one of :attr:`players`.
        """
        return self.values[player]

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{p!r}: {v:.6g} ± {e:.2g}"
            for p, v, e in zip(self._players[:6], self._values, self._stderr, strict=False)
        )
        more = ", ..." if len(self._players) > 6 else ""
        return (
            f"ValuationResult(method={self.method!r}, n_evaluations={self.n_evaluations}, "
            f"values={{{shown}{more}}})"
        )


def _frozen_array(data: ArrayLike, n: int, name: str, dtype: type[np.generic]) -> Any:
    """Copy ``data`` into a read-only 1-D array of ``n`` finite entries."""
    array = np.array(data, dtype=dtype)
    if array.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), one entry per player; got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} must be finite; got {array.tolist()}")
    array.flags.writeable = False
    return array


def _mapping(players: tuple[P, ...], items: list[T]) -> Mapping[P, T]:
    return MappingProxyType(dict(zip(players, items, strict=True)))
