"""Cooperative games and the cache every valuation method evaluates them through.

A game on a finite player set :math:`N` is a characteristic function
:math:`v: 2^N \\to \\mathbb{R}`; here it is any callable that takes a ``frozenset`` of
hashable player ids (a coalition) and returns its worth as a float. Valuation methods
evaluate coalitions through :class:`CachedGame`, which stores each worth so that a
coalition reached twice (by two permutations, or by two methods sharing one cache) costs
one evaluation, and counts the distinct evaluations that reached the game.
:class:`PipelineGame` is a game over named players, optionally with free disposal
(:math:`v(S) = \\max_{R \\subseteq S} u(R)`), as pipelines build them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, Generic, TypeAlias, TypeVar

import numpy as np

from ame_core.exceptions import InputError
from offchain.exceptions import AttributionError

__all__ = ["MAX_TABULATED_PLAYERS", "CachedGame", "Game", "PipelineGame", "every_coalition"]

P = TypeVar("P", bound=Hashable)

#: A characteristic function: the worth of a coalition of player ids.
Game: TypeAlias = Callable[[frozenset[P]], float]
#: Most players :meth:`PipelineGame.tabulate` evaluates every coalition of (65,536).
MAX_TABULATED_PLAYERS: Final = 16


class CachedGame(Generic[P]):
    """Memoise a game and count the distinct coalitions it was asked to evaluate.

    Wrapping is idempotent for the valuation functions: they reuse a ``CachedGame``
    they are given (and its cache) instead of wrapping it again.

    Args:
        game: The characteristic function to wrap.

    Raises:
        InputError: If ``game`` is not callable.

    Example:
        >>> game = CachedGame(lambda s: float(len(s)))
        >>> game(frozenset({"a", "b"})), game(frozenset({"b", "a"}))
        (2.0, 2.0)
        >>> game.n_evaluations
        1
    """

    __slots__ = ("_cache", "_game", "_n_queries")

    def __init__(self, game: Game[P]) -> None:
        if not callable(game):
            raise InputError(f"game must be callable; got {type(game).__name__}")
        self._game = game
        self._cache: dict[frozenset[P], float] = {}
        self._n_queries = 0

    def __call__(self, coalition: frozenset[P]) -> float:
        """Return the worth of ``coalition``, evaluating the game only on a cache miss.

        Raises:
            AttributionError: If the game returns something that is not a finite number.
        """
        self._n_queries += 1
        try:
            return self._cache[coalition]
        except KeyError:
            pass
        raw = self._game(coalition)
        try:
            worth = float(raw)
        except (TypeError, ValueError) as err:
            raise AttributionError(
                f"game returned {raw!r} for coalition {_show(coalition)}; expected a number"
            ) from err
        if not math.isfinite(worth):
            raise AttributionError(
                f"game returned {worth!r} for coalition {_show(coalition)}; expected a finite number"
            )
        self._cache[coalition] = worth
        return worth

    @property
    def game(self) -> Game[P]:
        """The wrapped characteristic function."""
        return self._game

    @property
    def worths(self) -> Mapping[frozenset[P], float]:
        """Every worth evaluated so far, by coalition (a read-only view)."""
        return MappingProxyType(self._cache)

    @property
    def n_evaluations(self) -> int:
        """Distinct coalitions evaluated so far (cache misses)."""
        return len(self._cache)

    @property
    def n_queries(self) -> int:
        """Coalitions asked for so far, cache hits included."""
        return self._n_queries

    def __repr__(self) -> str:
        return (
            f"CachedGame({self._game!r}, n_evaluations={self.n_evaluations}, "
            f"n_queries={self._n_queries})"
        )


class PipelineGame:
    """A game over a pipeline's assets or stages: a callable on coalitions of string ids.

    It is a :data:`Game` (what ``shapley_values`` and ``owen_values`` consume) that also
    knows its players, refuses unknown ids and keeps every worth it computed, so several
    valuation methods share the counterfactual models behind them. Any pipeline may
    return one from :meth:`~offchain.attribution.pipeline.AttributionPipeline.asset_game`.

    Args:
        players: The player ids.
        worth: The raw characteristic function :math:`u`, called once per coalition.
        free_disposal: If True, ``v(S) = max over R within S of u(R)`` (monotone);
            otherwise ``v = u``.
        blocks: With free disposal, groups of players a coalition may only leave out
            together: ``R`` ranges over the unions of some of the sets ``S & block``
            (every player not in a block is a block of its own). ``u`` is then asked for
            ``2**k`` coalitions of ``S``, ``k`` the blocks ``S`` meets, instead of
            ``2**|S|``: what bounds a pipeline that retrains a model per subset of a
            block's players. None: every player on its own.
        batch_worth: Optionally, ``u`` of many coalitions in one call (a pipeline that
            scores them together), used by :meth:`tabulate`; it must give each
            coalition the float ``worth`` gives it alone.

    Raises:
        InputError: If a player id repeats, or a block is empty, names an unknown player
            or shares a player with another block.
    """

    def __init__(
        self,
        players: Iterable[str],
        worth: Callable[[frozenset[str]], float],
        *,
        free_disposal: bool = True,
        blocks: Iterable[Iterable[str]] | None = None,
        batch_worth: Callable[[Sequence[frozenset[str]]], Sequence[float]] | None = None,
    ) -> None:
        self.players: tuple[str, ...] = tuple(players)
        if len(set(self.players)) != len(self.players):
            raise InputError(f"players: duplicate ids in {self.players}")
        self.free_disposal = free_disposal
        grouped = [tuple(block) for block in blocks or ()]
        seen: set[str] = set()
        for index, block in enumerate(grouped):
            unknown = sorted(set(block).difference(self.players))
            if not block or unknown or seen.intersection(block) or len(set(block)) < len(block):
                why = f"unknown players {unknown}" if unknown else "empty or overlapping"
                raise InputError(f"blocks[{index}]: {why}, got {list(block)}")
            seen.update(block)
        grouped += [(p,) for p in self.players if p not in seen]
        #: The disposal blocks, every player in exactly one (singletons included).
        self.blocks: tuple[tuple[str, ...], ...] = tuple(grouped)
        self._block_of = {p: frozenset(block) for block in grouped for p in block}
        self._worth = worth
        self._batch_worth = batch_worth
        self._raw: dict[frozenset[str], float] = {}
        self._best: dict[frozenset[str], float] = {frozenset(): 0.0}

    def _check(self, coalition: Iterable[str]) -> frozenset[str]:
        chosen = frozenset(coalition)
        unknown = chosen.difference(self.players)
        if unknown:
            raise InputError(f"coalition: unknown players {sorted(unknown)}, have {self.players}")
        return chosen

    def worth(self, coalition: Iterable[str]) -> float:
        """The raw worth :math:`u(S)`, all of the coalition's assets in use.

        Raises:
            InputError: If the coalition holds an id that is not a player.
        """
        chosen = self._check(coalition)
        if chosen not in self._raw:
            self._raw[chosen] = float(self._worth(chosen))
        return self._raw[chosen]

    def __call__(self, coalition: frozenset[str]) -> float:
        """The worth :math:`v(S)` of a coalition (see the class).

        Raises:
            InputError: If the coalition holds an id that is not a player.
        """
        if self.free_disposal:
            # A coalition already valued needs no check: only valid ones are stored.
            try:
                best = self._best.get(coalition)
            except TypeError:  # an unhashable iterable of ids, checked below
                best = None
            if best is not None:
                return best
        chosen = self._check(coalition)
        if not self.free_disposal:
            return self.worth(chosen) if chosen else 0.0
        best = self._best.get(chosen)
        if best is None:
            # max over the allowed subsets = max(u(S), max_b v(S - b)) over the blocks b
            # S meets; each allowed subset is visited once.
            if len(self.blocks) == len(self.players):
                drops = [chosen - {p} for p in sorted(chosen)]
            else:
                firsts = sorted({min(self._block_of[p] & chosen) for p in chosen})
                drops = [chosen - self._block_of[p] for p in firsts]
            best = self._best[chosen] = max(self.worth(chosen), *map(self, drops))
        return best

    def tabulate(self) -> bool:
        """Value every coalition at once, when the game will need every one anyway.

        With free disposal and every player its own block, the grand coalition's worth
        is the maximum of :math:`u` over all its subsets, so valuing it evaluates every
        coalition. This evaluates them together instead (``batch_worth`` when given, else
        ``worth`` one by one), then takes the maximum over subsets with one vectorised
        pass per player, :math:`v(S) = \\max(v(S), v(S \\setminus \\{j\\}))` for each
        ``j``, instead of one recursive call per coalition and subset. A maximum is
        exact, so every worth is the float the recursion gives (up to the sign of a
        zero, which no published worth keeps: :func:`~.record.quantize`). Later calls
        are lookups.

        Returns:
            True if the game was tabulated; False (and nothing evaluated) without free
            disposal, with disposal blocks of several players (whose point is not to
            evaluate every subset), or above :data:`MAX_TABULATED_PLAYERS` players.

        Raises:
            AttributionError: If ``batch_worth`` returns another number of worths than
                coalitions asked for.
        """
        n = len(self.players)
        if not self.free_disposal or len(self.blocks) != n or n > MAX_TABULATED_PLAYERS:
            return False
        if len(self._best) == 1 << n:
            return True
        coalitions = every_coalition(self.players)
        missing = [c for c in coalitions[1:] if c not in self._raw]
        if missing:
            if self._batch_worth is None:
                found = [float(self._worth(c)) for c in missing]
            else:
                found = [float(w) for w in self._batch_worth(missing)]
                if len(found) != len(missing):
                    raise AttributionError(
                        f"batch_worth returned {len(found)} worths for {len(missing)} coalitions"
                    )
            self._raw.update(zip(missing, found, strict=True))
        best = np.array([0.0, *(self._raw[c] for c in coalitions[1:])], dtype=np.float64)
        # The empty coalition is worth 0 and every other one at least that (free disposal
        # of everything), as the recursion's v(empty) = 0 gives it.
        for j in range(n):
            cube = best.reshape(-1, 2, 1 << j)
            np.maximum(cube[:, 1, :], cube[:, 0, :], out=cube[:, 1, :])
        self._best = dict(zip(coalitions, best.tolist(), strict=True))
        return True

    def __repr__(self) -> str:
        return f"PipelineGame(players={self.players}, free_disposal={self.free_disposal})"


def every_coalition(players: Sequence[P]) -> list[frozenset[P]]:
    """Every coalition of ``players``, indexed by bit mask: bit ``j`` is ``players[j]``.

    Example:
        >>> every_coalition(["a", "b"]) == [set(), {"a"}, {"b"}, {"a", "b"}]
        True
    """
    # Doubling the list per player adds it to every coalition so far: one union each.
    out: list[frozenset[P]] = [frozenset()]
    for player in players:
        single = frozenset((player,))
        out += [c | single for c in out]
    return out


def as_cached(game: Game[P] | CachedGame[P]) -> CachedGame[P]:
    """Return ``game`` itself if it is already cached, else a fresh cache around it."""
    return game if isinstance(game, CachedGame) else CachedGame(game)


def _show(coalition: frozenset[P], limit: int = 8) -> str:
    """Render a coalition for an error message, shortened past ``limit`` members."""
    members = sorted(map(repr, coalition))
    shown = ", ".join(members[:limit])
    more = f", ... ({len(members)} players)" if len(members) > limit else ""
    return "{" + shown + more + "}"
