"""Which attributed asset created each unit an asset received: the epoch's royalty flow.

In an event, an asset ``x`` is credited with the claim ``c_x = Σ_a w_a · s_a(x)``, where
``w_a`` is the weight of attributed asset ``a`` and ``s_a(x)`` the part of ``a``'s
royalty split that reaches ``x`` (``x`` itself, or an ancestor by royalty). The line's
amount ``m_x`` (paid or escrowed) is apportioned back over those ``a`` in proportion to
``w_a · s_a(x)``, by the same largest remainder as every other split (ties to the
smaller asset id), so the parts of a line add up to ``m_x`` exactly. Summed over the
epoch's events, ``origin -> recipient`` amounts say how much of each recipient's money
its own value earned and how much came up the royalty chain from each descendant.

Everything needed is in the manifest (weights, royalty splits, lines), so the flow of
a manifest read back from its published bytes is the flow of the one
:func:`~offchain.mapping.map_epoch` built.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from ame_core.apportion import apportion
from offchain.mapping._types import AssetId, TokenAmount

if TYPE_CHECKING:  # the manifest holds the flow, so it imports this module
    from offchain.mapping._manifest import EventBreakdown

__all__ = ["FlowLine", "royalty_flow"]


class FlowLine(NamedTuple):
    """Units that ``origin``'s attributed value sent to ``recipient`` over the epoch.

    Attributes:
        origin: The attributed asset whose value created the units.
        recipient: The asset whose event lines received them: ``origin`` itself, or an
            ancestor by royalty.
        amount: Units, paid or escrowed (a redistributed line carries none), > 0.
    """

    origin: AssetId
    recipient: AssetId
    amount: TokenAmount


def royalty_flow(
    events: Iterable[EventBreakdown], splits: Mapping[AssetId, Iterable[tuple[AssetId, int]]]
) -> tuple[FlowLine, ...]:
    """The epoch's ``origin -> recipient`` amounts, from its events and royalty splits.

    A line whose claim is not ``Σ_a w_a · s_a(x)`` (a manifest that fails
    :func:`~offchain.mapping.verify_manifest`) cannot be traced; its amount is credited
    to the recipient itself.

    Args:
        events: The manifest's event breakdowns (their ``weights`` and ``lines``).
        splits: Each attributed asset's royalty split, numerators over one denominator.

    Returns:
        One line per ``(origin, recipient)`` with a positive amount, sorted by both.
    """
    parts_of = {asset: dict(shares) for asset, shares in splits.items()}
    totals: dict[tuple[AssetId, AssetId], int] = defaultdict(int)
    for event in events:
        for line in event.lines:
            if line.amount == 0:
                continue
            sources = [
                (origin, k)
                for origin, weight in sorted(event.weights)
                if (k := weight * parts_of.get(origin, {}).get(line.asset, 0)) > 0
            ]
            claim = sum(k for _, k in sources)
            if claim != line.claim or not sources:
                sources, claim = [(line.asset, 1)], 1
            shares = apportion(
                line.amount, [k for _, k in sources], [origin for origin, _ in sources], claim
            )
            for (origin, _), part in zip(sources, shares, strict=True):
                totals[origin, line.asset] += part
    return tuple(
        FlowLine(origin, recipient, TokenAmount(amount))
        for (origin, recipient), amount in sorted(totals.items())
        if amount
    )
