"""Derivation-DAG helpers: cycle search and a parents-first order, both deterministic.

Assets and parents are visited in sorted id order, so the cycle reported for a
malformed registry and every order derived here do not depend on file order.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from offchain.mapping._types import AssetId

__all__ = ["find_cycle", "parents_first"]


def find_cycle(parents: Mapping[AssetId, Sequence[AssetId]]) -> list[AssetId] | None:
    """Find one derivation cycle, if any.

    Iterative depth-first search (derivation chains can be deeper than Python's
    recursion limit). Parents that are not keys of ``parents`` are ignored.

    Args:
        parents: Each asset's parents.

    Returns:
        ``None`` for a DAG, else the cycle as ``[a, b, ..., a]`` where each asset
        is a parent of the one before it, starting from the smallest id on it.
    """
    done: set[AssetId] = set()
    for root in sorted(parents):
        if root in done:
            continue
        path: list[AssetId] = [root]
        on_path = {root}
        stack = [iter(sorted(parents[root]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt not in parents or nxt in done:
                continue
            if nxt in on_path:
                cycle = path[path.index(nxt) :]
                start = cycle.index(min(cycle))
                rotated = cycle[start:] + cycle[:start]
                return [*rotated, rotated[0]]
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(sorted(parents[nxt])))
    return None


def parents_first(parents: Mapping[AssetId, Sequence[AssetId]]) -> list[AssetId]:
    """Order assets so that every parent comes before its children (Kahn's algorithm).

    Ties are broken by id, so the order is a function of the graph alone.

    Args:
        parents: Each asset's parents; the graph must be acyclic and closed.

    Returns:
        Every key of ``parents``, parents first.

    Raises:
        ValueError: If the graph has a cycle (callers validate before this).
    """
    children: dict[AssetId, list[AssetId]] = {asset: [] for asset in parents}
    waiting = {asset: len(set(ps)) for asset, ps in parents.items()}
    for asset, ps in parents.items():
        for parent in set(ps):
            children[parent].append(asset)
    ready = [asset for asset, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[AssetId] = []
    while ready:
        asset = heapq.heappop(ready)
        order.append(asset)
        for child in children[asset]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(parents):
        raise ValueError("derivation graph has a cycle")
    return order
