r"""Owen values of games with a coalition structure, and Winter values for deeper ones.

With the players partitioned into unions :math:`B_1, \dots, B_m` (the top level of the
structure), the Owen value (Owen 1977) of player :math:`i \in B_k` averages its marginal
contribution over the orders in which every union stays contiguous, each such order
equally likely:

.. math::

    \psi_i(v) = \sum_{T \subseteq M \setminus \{k\}} \sum_{S \subseteq B_k \setminus \{i\}}
        \frac{|T|!\,(m - |T| - 1)!}{m!} \, \frac{|S|!\,(b_k - |S| - 1)!}{b_k!}
        \big[ v(B_T \cup S \cup \{i\}) - v(B_T \cup S) \big],

with :math:`B_T = \bigcup_{t \in T} B_t` and :math:`b_k = |B_k|`. Unions of unions, to
any depth, give the levels-structure value of Winter (1989): the same average over
orders that keep every union of every level contiguous, i.e. one Shapley weight per
level. The value is efficient, symmetric inside a union, and the total of a union is
the Shapley value of the union in the quotient game :math:`v_M(T) = v(B_T)` (the
quotient-game property). With every player alone in its union, or all in one union, it
is the Shapley value.

``method="exact"`` walks the structure: at each union it evaluates the quotient game
of its children in the current context (all :math:`2^c` unions of children, vectorised
as in :mod:`offchain.attribution.methods._exact`), credits players standing directly in the union
with their Shapley value in that quotient game, and recurses into each child union for
every set of siblings before it, weighted by the Shapley weight. It evaluates exactly
the prefixes of admissible orders. ``method="permutation"`` averages marginal
contributions over admissible orders drawn by shuffling the children of every union,
each order efficient, in blocks of one order (``"plain"``) or an order and its reverse,
which is admissible too (``"antithetic"``).

References:
    Owen, G. (1977). Values of games with a priori unions. In: Henn, R., Moeschlin, O.
    (eds) Mathematical Economics and Game Theory, 76-88. Springer.

    Winter, E. (1989). A value for cooperative games with levels structure of
    cooperation. International Journal of Game Theory 18, 227-240.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from ame_core.exceptions import InputError
from offchain.attribution._validation import (
    AUTO_EXACT_EVALUATIONS,
    MAX_EXACT_EVALUATIONS,
    check_choice,
    check_players,
    check_seed,
)
from offchain.attribution.game import CachedGame, Game, as_cached
from offchain.attribution.methods._exact import (
    shapley_from_worths,
    shapley_weights,
    subset_sizes,
    subset_worths,
)
from offchain.attribution.methods._structure import Node, exact_evaluations, parse_structure
from offchain.attribution.result import ValuationResult
from offchain.attribution.samplers.permutation import (
    Orders,
    PermutationEstimator,
    antithetic_orders,
)
from offchain.attribution.samplers.stopping import StoppingRules, min_blocks, run

__all__ = ["owen_values"]

P = TypeVar("P", bound=Hashable)

OwenMethod = Literal["auto", "exact", "permutation"]
OwenSampler = Literal["plain", "antithetic"]


def owen_values(
    game: Game[P] | CachedGame[P],
    structure: Sequence[object],
    *,
    players: Sequence[P] | None = None,
    method: OwenMethod = "auto",
    sampler: OwenSampler = "plain",
    seed: int = 0,
    max_evaluations: int | None = None,
    target_stderr: float | None = None,
    rank_patience: int | None = None,
) -> ValuationResult[P]:
    """Owen value (Winter value for more than two levels) of every player.

    Args:
        game: Worth of a coalition (a ``frozenset`` of player ids).
        structure: Nested lists whose leaves are player ids, e.g.
            ``[["d1", "d2", ["p1", "p2"]], ["m"]]``. Lists are unions; any other item
            is a player id (so tuples can be ids); a bare id is its own singleton union.
        players: If given, the structure must hold exactly these players, and the
            result lists them in this order; otherwise in the structure's order.
        method: ``"exact"`` evaluates every prefix of an admissible order (refused past
            ``2**20`` of them); ``"permutation"`` samples admissible orders; ``"auto"``
            is exact up to ``2**14`` evaluations.
        sampler: ``"plain"`` (one order per block) or ``"antithetic"`` (an order and
            its reverse).
        seed: Seed of the random orders; the same inputs and seed give bit-identical
            values.
        max_evaluations: Budget of game queries for sampling (cache hits count).
            Defaults to ``1000 * n``, raised if needed to cover the minimum blocks.
        target_stderr: Stop once every player's standard error is at most this.
        rank_patience: Stop once the ranking by value has not changed for this many
            consecutive blocks.

    Returns:
        Values with standard errors (0 when exact) and the orders sampled as counts.

    Raises:
        InputError: If the structure is malformed (not a list, an empty union, a set, a
            repeated or unhashable player), does not match ``players``, or an option is
            invalid, or if ``"exact"`` would need more than ``2**20`` evaluations.
        AttributionError: If the game returns a value that is not a finite number.

    Example:
        >>> glove = lambda s: float(min(len(s & {"l"}), len(s & {"r1", "r2"})))
        >>> result = owen_values(glove, [["l", "r1"], ["r2"]])
        >>> [round(result.values[p], 6) for p in ("l", "r1", "r2")]
        [0.75, 0.25, 0.0]
    """
    expected = None if players is None else check_players(players)
    check_choice(method, ("auto", "exact", "permutation"), name="method")
    check_choice(sampler, ("plain", "antithetic"), name="sampler")
    seed = check_seed(seed)
    order, root = parse_structure(structure, expected)
    members = cast(tuple[P, ...], order)
    n = len(members)
    orders_per_block = 2 if sampler == "antithetic" else 1
    block_queries = orders_per_block * (n - 1)
    trust_after = min_blocks(orders_per_block)
    rules = StoppingRules.build(
        max_evaluations=max_evaluations,
        target_stderr=target_stderr,
        rank_patience=rank_patience,
        default_budget=max(1000 * n, 2 + trust_after * block_queries),
    )
    cached = as_cached(game)
    start = cached.n_evaluations
    exact_cost = exact_evaluations(root)
    if method == "auto":
        method = "exact" if exact_cost <= AUTO_EXACT_EVALUATIONS else "permutation"
    stopped_by: str | None = None
    if method == "exact" or n == 1:
        if exact_cost > MAX_EXACT_EVALUATIONS:
            raise InputError(
                f"method='exact' needs {exact_cost} coalition evaluations for this "
                f"structure, above the limit of {MAX_EXACT_EVALUATIONS}; "
                "use method='permutation'"
            )
        values = np.zeros(n, dtype=np.float64)
        _exact(root, cached, members, frozenset(), 1.0, values)
        stderr = np.zeros(n, dtype=np.float64)
        counts = np.ones(n, dtype=np.int64)
        label = "owen/exact"
    else:
        draw: Orders = _admissible_orders(root)
        if sampler == "antithetic":
            draw = antithetic_orders(draw)
        estimator = PermutationEstimator(cached, members, draw, np.random.default_rng(seed))
        stopped_by = run(
            estimator,
            rules,
            setup_queries=2,
            block_queries=block_queries,
            trust_after=trust_after,
        )
        values, stderr = estimator.estimate(), estimator.stderr()
        counts = np.full(n, estimator.n_orders, dtype=np.int64)
        label = f"owen/permutation/{sampler}"
    if expected is not None:
        index = {player: position for position, player in enumerate(members)}
        take = [index[player] for player in expected]
        members, values, stderr, counts = expected, values[take], stderr[take], counts[take]
    return ValuationResult(
        players=members,
        values=values,
        stderr=stderr,
        counts=counts,
        method=label,
        n_evaluations=cached.n_evaluations - start,
        stopped_by=stopped_by,
    )


def _exact(
    node: Node,
    game: CachedGame[P],
    members: tuple[P, ...],
    context: frozenset[P],
    weight: float,
    out: NDArray[np.float64],
) -> None:
    """Add ``weight`` times the Winter value of ``node``'s players, given ``context``."""
    groups = [
        frozenset(members[i] for i in (child.leaves if isinstance(child, Node) else (child,)))
        for child in node.children
    ]
    quotient = shapley_from_worths(subset_worths(game, context, groups))
    m = len(groups)
    before: list[frozenset[P]] | None = None
    for j, child in enumerate(node.children):
        if not isinstance(child, Node):
            out[child] += weight * quotient[j]
            continue
        if before is None:
            # Every union of whole siblings, indexed by bit mask, each with its weight.
            before = [context]
            for group in groups:
                before += [coalition | group for coalition in before]
            sizes = subset_sizes(m).tolist()
            weights = shapley_weights(m).tolist()
        for mask, coalition in enumerate(before):
            if not mask >> j & 1:
                _exact(child, game, members, coalition, weight * weights[sizes[mask]], out)


def _admissible_orders(root: Node) -> Orders:
    """Uniform orders that keep every union contiguous, one per block."""

    def visit(node: Node, rng: np.random.Generator, out: list[int]) -> None:
        for position in rng.permutation(len(node.children)).tolist():
            child = node.children[position]
            if isinstance(child, Node):
                visit(child, rng, out)
            else:
                out.append(child)

    def draw(rng: np.random.Generator) -> list[list[int]]:
        order: list[int] = []
        visit(root, rng, order)
        return [order]

    return draw
