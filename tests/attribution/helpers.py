"""Games and hypothesis strategies shared by the attribution tests."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from hypothesis import strategies as st

from offchain.attribution.game import Game, PipelineGame

if TYPE_CHECKING:
    from offchain.attribution.tda import GroupedScores

Worths = Callable[[frozenset[Hashable]], float]


def table_game(players: Sequence[Hashable], worths: Sequence[float]) -> Worths:
    """A game given by the worth of every coalition, indexed by bit mask of ``players``."""
    bit = {player: 1 << i for i, player in enumerate(players)}
    assert len(worths) == 1 << len(players)

    def game(coalition: frozenset[Hashable]) -> float:
        return float(worths[sum(bit[p] for p in coalition)])

    return game


@st.composite
def table_games(
    draw: st.DrawFn, min_players: int = 2, max_players: int = 5
) -> tuple[list[str], Worths]:
    """Random games with integer worths on a few players named ``p0``, ``p1``, ..."""
    n = draw(st.integers(min_players, max_players))
    players = [f"p{i}" for i in range(n)]
    worths = draw(st.lists(st.integers(-20, 20), min_size=1 << n, max_size=1 << n))
    return players, table_game(players, worths)


@st.composite
def symmetric_pair_games(draw: st.DrawFn) -> tuple[list[str], Worths]:
    """Random games in which ``p0`` and ``p1`` are interchangeable."""
    n = draw(st.integers(2, 5))
    players = [f"p{i}" for i in range(n)]
    rest = players[2:]
    # Worth depends on how many of p0, p1 are present (0..2) and on the others exactly.
    table = draw(st.lists(st.integers(-20, 20), min_size=3 << len(rest), max_size=3 << len(rest)))
    bit = {player: 1 << i for i, player in enumerate(rest)}

    def game(coalition: frozenset[Hashable]) -> float:
        pair = len(coalition & {"p0", "p1"})
        others = sum(bit[p] for p in coalition if p in bit)
        return float(table[pair * (1 << len(rest)) + others])

    return players, game


def knn_utility(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int
) -> Worths:
    """The KNN-Shapley utility: mean over test points of correct votes among K nearest / K.

    Ties in distance are broken by training index, the convention of ``knn_shapley``.
    """
    distances = ((x_test[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=-1)
    order = np.argsort(distances, axis=1, kind="stable")

    def game(coalition: frozenset[Hashable]) -> float:
        total = 0.0
        for row, label in zip(order, y_test, strict=True):
            nearest = [int(i) for i in row if int(i) in coalition][:k]
            total += sum(y_train[i] == label for i in nearest) / k
        return total / len(y_test)

    return game


@dataclass(frozen=True)
class Sale:
    """A test event: what the pipeline protocol asks of one, nothing more."""

    id: str
    revenue: int
    prompt: str | None = None
    adapter: str | None = None
    text: str = "out"


class TablePipeline:
    """A pipeline whose asset game is a worth table: any game, any sign, no model.

    Args:
        stages: Each stage's assets, in order.
        worths: The worth of every coalition of assets.
        scores: The data stage's score per dataset (default: a fixed spread of signs).
        tabulated: False hides the :class:`PipelineGame` behind a plain callable, so
            every worth is valued coalition by coalition.
    """

    seed = 0

    def __init__(
        self,
        stages: dict[str, tuple[str, ...]],
        worths: dict[frozenset[str], float],
        scores: dict[str, float] | None = None,
        *,
        tabulated: bool = True,
    ) -> None:
        self.stages, self.worths, self.tabulated = stages, worths, tabulated
        self.scores = scores

    def assets(self, event: Sale) -> dict[str, tuple[str, ...]]:
        return self.stages

    def asset_game(self, event: Sale, *, free_disposal: bool = True) -> Game[str]:
        players = [a for ids in self.stages.values() for a in ids]
        game = PipelineGame(players, self.worths.__getitem__, free_disposal=free_disposal)
        return game if self.tabulated else lambda coalition: game(coalition)

    def influence(
        self, events: Sequence[Sale], *, projection_dim: int | None = None
    ) -> GroupedScores:
        from offchain.attribution.tda import GroupedScores  # torch, for the data stage only

        data = self.stages["data"]
        scores = self.scores or {d: (i - 1.5) * 0.37 for i, d in enumerate(data)}
        values = np.array([[scores[d] for d in data] for _ in events])
        return GroupedScores(data, values, np.ones(len(data), dtype=np.int64), "sum")
