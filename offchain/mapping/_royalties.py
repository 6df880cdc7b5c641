r"""Royalty propagation up the derivation DAG, exactly, in integers.

Revenue attributed to an asset ``d`` is split between ``d`` and its ancestors by one
of Story Protocol's two royalty policies (docs.story.foundation, "Liquid Absolute
Percentage" and "Liquid Relative Percentage"). With :math:`r_{yx}` the royalty the
child ``y`` owes its parent ``x``:

* **LAP** (absolute per path): every ancestor ``x`` takes its royalty of ``d``'s
  revenue once per path from ``d`` to ``x``,

  .. math:: V_d[x] = \sum_{p:\,d \leadsto y \to x} r_{yx}, \qquad
            V_d[d] = 1 - \sum_{x \ne d} V_d[x].

  Computed by :math:`R_d = \sum_{p \in parents(d)} (r_{dp} e_p + R_p)` with
  :math:`R_d` the vector of ancestor shares.

* **LRP** (relative multiplicative): each asset pays its royalties on everything it
  receives, so percentages multiply along a path. With :math:`F_d[y]` the part of
  ``d``'s revenue that reaches ``y`` (:math:`F_d = \sum_p r_{dp}(e_p + F_p)`) and
  :math:`S_y = \sum_x r_{yx}` the royalties ``y`` pays on,

  .. math:: V_d[y] = F_d[y]\,(1 - S_y), \qquad V_d[d] = 1 - S_d.

Chain A <- B <- C, 5 % owed by B to A, 10 % by C to B, revenue 1000 paid to C:
LAP gives A 50, B 100, C 850; LRP gives A 5, B 95, C 900.

Every split is a tuple of integer numerators over one denominator shared by the
whole registry: ``D`` (the lcm of all royalty denominators) for LAP, and
``D ** (H + 1)`` for LRP, ``H`` being the longest derivation chain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from offchain.mapping._registry import Registry, RoyaltyMode
from offchain.mapping._types import AssetId

__all__ = ["RoyaltyGraph", "RoyaltySplit"]


class RoyaltySplit(NamedTuple):
    """Recipients of revenue attributed to one asset (itself and its ancestors).

    Attributes:
        shares: ``(recipient, numerator)`` pairs sorted by recipient, numerators > 0,
            summing to the graph's denominator.
    """

    shares: tuple[tuple[AssetId, int], ...]


class RoyaltyGraph:
    """The registry's derivation DAG with royalty splits computed on demand.

    Args:
        registry: A validated registry (acyclic, closed, stacks within 100 %).

    Attributes:
        mode: ``'LAP'`` or ``'LRP'``.
        denominator: The denominator shared by every split.
    """

    def __init__(self, registry: Registry) -> None:
        self.mode: RoyaltyMode = registry.royalty_mode
        unit = math.lcm(1, *(p.royalty.denominator for a in registry.assets for p in a.parents))
        self._unit = unit
        self._edges: dict[AssetId, tuple[tuple[AssetId, int], ...]] = {
            a.id: tuple(
                sorted(
                    (p.asset, p.royalty.numerator * (unit // p.royalty.denominator))
                    for p in a.parents
                )
            )
            for a in registry.assets
        }
        self._height: dict[AssetId, int] = {}
        for asset in registry.order:
            parents = self._edges[asset]
            self._height[asset] = 1 + max(self._height[p] for p, _ in parents) if parents else 0
        self._top = max(self._height.values(), default=0)
        self.denominator: int = unit if self.mode == "LAP" else unit ** (self._top + 1)
        # Per-asset ancestor vectors, filled parents-first on demand.
        self._up: dict[AssetId, dict[AssetId, int]] = {}
        self._splits: dict[AssetId, RoyaltySplit] = {}

    def split(self, asset: AssetId) -> RoyaltySplit:
        """The split of revenue attributed to ``asset``.

        Args:
            asset: An asset id of the registry.

        Returns:
            Recipients and numerators over :attr:`denominator`.

        Raises:
            KeyError: If ``asset`` is not in the registry.
        """
        cached = self._splits.get(asset)
        if cached is None:
            cached = self._splits[asset] = self._compute(asset)
        return cached

    def splits(self, assets: Iterable[AssetId]) -> Mapping[AssetId, RoyaltySplit]:
        """Splits of several assets, keyed by asset id in sorted order."""
        return {asset: self.split(asset) for asset in sorted(set(assets))}

    def _ensure_up(self, asset: AssetId) -> dict[AssetId, int]:
        # Fill ancestor vectors of the asset's whole ancestry, parents first, without
        # recursion (derivation chains may be deeper than the recursion limit).
        if asset in self._up:
            return self._up[asset]
        pending = [asset]
        todo: list[AssetId] = []
        seen = {asset}
        while pending:
            current = pending.pop()
            todo.append(current)
            for parent, _ in self._edges[current]:
                if parent not in self._up and parent not in seen:
                    seen.add(parent)
                    pending.append(parent)
        for current in sorted(todo, key=self._height.__getitem__):
            self._up[current] = self._vector(current)
        return self._up[asset]

    def _vector(self, asset: AssetId) -> dict[AssetId, int]:
        up: dict[AssetId, int] = {}
        if self.mode == "LAP":
            # Numerators over unit: royalty to each direct parent, plus the parent's own.
            for parent, royalty in self._edges[asset]:
                up[parent] = up.get(parent, 0) + royalty
                for ancestor, share in self._up[parent].items():
                    up[ancestor] = up.get(ancestor, 0) + share
            return up
        # LRP: inflow scaled by unit ** height(asset), so every division below is exact.
        height = self._height[asset]
        for parent, royalty in self._edges[asset]:
            lift = self._unit ** (height - 1)
            up[parent] = up.get(parent, 0) + royalty * lift
            scale = self._unit ** (height - 1 - self._height[parent])
            for ancestor, inflow in self._up[parent].items():
                up[ancestor] = up.get(ancestor, 0) + royalty * inflow * scale
        return up

    def _compute(self, asset: AssetId) -> RoyaltySplit:
        up = self._ensure_up(asset)
        unit = self._unit
        if self.mode == "LAP":
            shares = {ancestor: share for ancestor, share in up.items() if share}
        else:
            scale = unit ** (self._top - self._height[asset])
            shares = {}
            for ancestor, inflow in up.items():
                paid_on = sum(royalty for _, royalty in self._edges[ancestor])
                kept = inflow * (unit - paid_on) * scale
                if kept:
                    shares[ancestor] = kept
        kept_self = self.denominator - sum(shares.values())
        if kept_self:
            shares[asset] = kept_self
        return RoyaltySplit(tuple(sorted(shares.items())))
