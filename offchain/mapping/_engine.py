"""Map one epoch: attribution values + rights registry + policy -> allocation manifest.

Per event, in integers throughout:

1. **Weights.** The event's positive values are scaled by the lcm of their
   denominators and divided by their gcd (only ratios matter).
2. **Claims.** Each weighted asset's royalty split (:mod:`._royalties`) spreads its
   weight over itself and its ancestors: ``claim[x] = sum_a weight[a] * split[a][x]``.
3. **Hard filters.** Assets that may not be paid for this event (:mod:`._eligibility`)
   are withheld: under ``escrow`` their part is apportioned and held; under
   ``redistribute`` they leave the denominator, so the others share it pro rata
   (if nobody is left, everything is escrowed, reason ``no_eligible_contributor``).
   An event with no positive value is escrowed whole, reason ``unattributed``.
4. **Apportionment.** The revenue is split over the remaining claims by largest
   remainder, ties to the smaller asset id (:mod:`._apportion`).

Then per asset, the epoch's paid amount is apportioned over its owners by share
(ties to the lower address); per account, earnings plus carried balance are paid
if they reach the minimum payout, else carried forward; paid accounts become
leaves sorted by address. Nothing is rounded away: every unit of revenue is in a
leaf, in the carried ledger, or in escrow.
"""

from __future__ import annotations

import math
from collections import defaultdict

from ame_core.apportion import apportion
from offchain.exceptions import MappingError
from offchain.mapping._eligibility import Eligibility
from offchain.mapping._gc import paused_gc
from offchain.mapping._leaves import chain_leaves
from offchain.mapping._manifest import (
    MANIFEST_FORMAT,
    AccountBalance,
    AssetPayout,
    EscrowEntry,
    EventBreakdown,
    EventLine,
    InputDigest,
    LineAction,
    Manifest,
    ManifestInputs,
    OwnerPayout,
    RoyaltySplits,
    Totals,
)
from offchain.mapping._policy import CARRIED_FORMAT, CarriedLedger, Policy
from offchain.mapping._registry import Registry
from offchain.mapping._royalties import RoyaltyGraph
from offchain.mapping._types import AssetId, ChecksumAddress, TokenAmount
from offchain.mapping._values import Event, Values

__all__ = ["map_epoch"]

_UNATTRIBUTED = ("unattributed",)
_NO_ELIGIBLE = "no_eligible_contributor"


def _check_inputs(values: Values, registry: Registry, carried: CarriedLedger) -> None:
    if carried.epoch is not None and carried.epoch >= values.epoch:
        raise MappingError(
            f"carried ledger is from epoch {carried.epoch}, not before the values' epoch {values.epoch}"
        )
    known = registry.by_id
    for event in sorted(values.events, key=lambda e: e.id):
        for asset in sorted(event.values):
            if asset not in known:
                raise MappingError(
                    f"values: event {event.id!r}: values[{asset!r}]: asset {asset!r} is not in "
                    f"the registry (revision {registry.revision})"
                )


def _weights(event: Event) -> list[tuple[AssetId, int]]:
    ratios = [(a, *v.as_integer_ratio()) for a, v in sorted(event.values.items()) if v]
    if not ratios:
        return []
    unit = math.lcm(*(d for _, _, d in ratios))
    scaled = (
        [(a, n * (unit // d)) for a, n, d in ratios]
        if unit != 1
        else [(a, n) for a, n, _ in ratios]
    )
    common = math.gcd(*(w for _, w in scaled))
    return scaled if common == 1 else [(a, w // common) for a, w in scaled]


_new_line = tuple.__new__  # builds an EventLine without the NamedTuple constructor's frame


class _EventMapper:
    """Turns events into breakdowns, totalling what each asset is paid and what is escrowed.

    Attributes:
        paid: Units paid to each asset so far, across events.
        escrow: Escrow entries so far, in (event, asset) order when events are mapped
            in id order.
    """

    def __init__(
        self,
        splits: dict[AssetId, tuple[tuple[AssetId, int], ...]],
        eligibility: Eligibility,
        policy: Policy,
    ) -> None:
        self._splits = splits
        self._eligibility = eligibility
        self._restricted = eligibility.restricted
        self._redistribute = policy.withheld == "redistribute"
        self.paid: dict[AssetId, int] = defaultdict(int)
        self.escrow: list[EscrowEntry] = []

    def map(self, event: Event) -> EventBreakdown:
        weights = _weights(event)
        if not weights:
            if event.revenue:
                self.escrow.append(EscrowEntry(event.id, None, event.revenue, _UNATTRIBUTED))
            return EventBreakdown(
                id=event.id,
                revenue=event.revenue,
                commercial=event.commercial,
                date=event.date,
                weights=(),
                denominator=0,
                lines=(),
                escrowed=event.revenue,
            )
        claims: dict[AssetId, int] = {}
        splits = self._splits
        for asset, weight in weights:
            for recipient, share in splits[asset]:
                claims[recipient] = claims.get(recipient, 0) + weight * share
        assets = sorted(claims)
        if self._restricted.isdisjoint(assets):
            lines, denominator, escrowed = self._all_paid(event, assets, claims)
        else:
            lines, denominator, escrowed = self._filtered(event, assets, claims)
        return EventBreakdown(
            id=event.id,
            revenue=event.revenue,
            commercial=event.commercial,
            date=event.date,
            weights=tuple(weights),
            denominator=denominator,
            lines=lines,
            escrowed=TokenAmount(escrowed),
        )

    def _all_paid(
        self, event: Event, assets: list[AssetId], claims: dict[AssetId, int]
    ) -> tuple[tuple[EventLine, ...], int, int]:
        shares = [claims[a] for a in assets]
        denominator = sum(shares)
        amounts = apportion(event.revenue, shares, assets, denominator)
        paid = self.paid
        for asset, amount in zip(assets, amounts, strict=True):
            paid[asset] += amount
        lines = tuple(
            _new_line(EventLine, (a, c, m, "paid", ()))
            for a, c, m in zip(assets, shares, amounts, strict=True)
        )
        return lines, denominator, 0

    def _filtered(
        self, event: Event, assets: list[AssetId], claims: dict[AssetId, int]
    ) -> tuple[tuple[EventLine, ...], int, int]:
        reasons = [
            self._eligibility.reasons(a, commercial=event.commercial, day=event.date)
            for a in assets
        ]
        actions: list[LineAction] = ["escrowed" if r else "paid" for r in reasons]
        if self._redistribute and any(reasons):
            if all(reasons):
                reasons = [(*r, _NO_ELIGIBLE) for r in reasons]
            else:
                actions = ["redistributed" if r else "paid" for r in reasons]
        shared = [i for i, action in enumerate(actions) if action != "redistributed"]
        shared_claims = [claims[assets[i]] for i in shared]
        denominator = sum(shared_claims)
        amounts = [0] * len(assets)
        parts = apportion(event.revenue, shared_claims, [assets[i] for i in shared], denominator)
        for i, part in zip(shared, parts, strict=True):
            amounts[i] = part
        lines = tuple(
            _new_line(EventLine, (a, claims[a], amounts[i], actions[i], reasons[i]))
            for i, a in enumerate(assets)
        )
        escrowed = 0
        for line in lines:
            if line.action == "paid":
                self.paid[line.asset] += line.amount
            elif line.action == "escrowed" and line.amount:
                escrowed += line.amount
                self.escrow.append(EscrowEntry(event.id, line.asset, line.amount, line.reasons))
        return lines, denominator, escrowed


def _asset_payouts(registry: Registry, paid: dict[AssetId, int]) -> list[AssetPayout]:
    payouts = []
    by_id = registry.by_id
    for asset_id in sorted(paid):
        asset = by_id[asset_id]
        owners, keys, weights, unit = asset.owner_weights
        amount = paid[asset_id]
        parts = [amount] if len(owners) == 1 else apportion(amount, weights, keys, unit)
        payouts.append(
            AssetPayout(
                asset_id,
                TokenAmount(amount),
                asset.licence.attribution_required,
                tuple(
                    OwnerPayout(o.address, o.share, TokenAmount(part))
                    for o, part in zip(owners, parts, strict=True)
                ),
            )
        )
    return payouts


def _balances(
    payouts: list[AssetPayout], carried: CarriedLedger, min_payout: int
) -> list[AccountBalance]:
    earned: dict[ChecksumAddress, int] = defaultdict(int)
    for payout in payouts:
        for owner in payout.owners:
            earned[owner.account] += owner.amount
    accounts = {a for a, amount in earned.items() if amount} | set(carried.balances)
    balances = []
    for account in sorted(accounts, key=lambda a: int(a, 16)):
        gained = earned.get(account, 0)
        carried_in = carried.balances.get(account, 0)
        due = gained + carried_in
        paid = due if due >= min_payout else 0
        balances.append(
            AccountBalance(
                account=account,
                earned=TokenAmount(gained),
                carried_in=TokenAmount(carried_in),
                paid=TokenAmount(paid),
                carried_out=TokenAmount(due - paid),
            )
        )
    return balances


def map_epoch(
    values: Values,
    registry: Registry,
    policy: Policy | None = None,
    *,
    carried: CarriedLedger | None = None,
) -> Manifest:
    """Map one epoch of attribution values to exact payouts.

    The result depends only on the inputs' contents, not on the order of events,
    assets, owners or parents in them: the same inputs give a byte-identical
    :meth:`Manifest.to_json_bytes`.

    Args:
        values: The epoch's events and attribution values (``ame.values/1``).
        registry: The rights registry (``ame.registry/1``).
        policy: What to do with withheld value, minimum payout, uses per kind;
            defaults to :class:`Policy()` (escrow, minimum 1).
        carried: Balances carried from earlier epochs; defaults to none.

    Returns:
        The allocation manifest.

    Raises:
        MappingError: If a value names an asset missing from the registry, or the
            carried ledger is not from an earlier epoch.
    """
    policy = policy if policy is not None else Policy()
    carried = carried if carried is not None else CarriedLedger()
    _check_inputs(values, registry, carried)
    with paused_gc():
        return _map(values, registry, policy, carried)


def _map(values: Values, registry: Registry, policy: Policy, carried: CarriedLedger) -> Manifest:
    graph = RoyaltyGraph(registry)
    attributed = sorted({a for e in values.events for a, v in e.values.items() if v})
    splits = {asset: graph.split(asset).shares for asset in attributed}
    mapper = _EventMapper(splits, Eligibility(registry, policy), policy)

    events = [mapper.map(event) for event in sorted(values.events, key=lambda e: e.id)]
    escrow = mapper.escrow
    payouts = _asset_payouts(registry, mapper.paid)
    balances = _balances(payouts, carried, policy.min_payout)
    leaves = chain_leaves((b.account, b.paid) for b in balances if b.paid)
    totals = Totals.model_construct(
        revenue=TokenAmount(sum(e.revenue for e in values.events)),
        carried_in=carried.total,
        escrowed=TokenAmount(sum(x.amount for x in escrow)),
        carried_out=TokenAmount(sum(b.carried_out for b in balances)),
        pool=TokenAmount(sum(leaf.amount for leaf in leaves)),
    )
    if totals.revenue + totals.carried_in != totals.pool + totals.carried_out + totals.escrowed:
        raise MappingError(f"conservation failed (a bug, please report): {totals}")
    return Manifest.model_construct(
        format=MANIFEST_FORMAT,
        epoch=values.epoch,
        inputs=_input_digests(values, registry, policy, carried),
        royalty_mode=registry.royalty_mode,
        policy=policy,
        splits=RoyaltySplits.model_construct(denominator=graph.denominator, assets=splits),
        events=tuple(events),
        assets=tuple(payouts),
        accounts=tuple(balances),
        escrow=tuple(escrow),
        carried=CarriedLedger.model_construct(
            format=CARRIED_FORMAT,
            epoch=values.epoch,
            balances={b.account: b.carried_out for b in balances if b.carried_out},
        ),
        totals=totals,
        leaves=tuple(leaves),
    )


def _input_digests(
    values: Values, registry: Registry, policy: Policy, carried: CarriedLedger
) -> ManifestInputs:
    def digest(
        tag: str,
        sha256: str,
        *,
        epoch: int | None = None,
        revision: int | None = None,
        scenario: dict[str, str] | None = None,
    ) -> InputDigest:
        return InputDigest.model_construct(
            format=tag, sha256=sha256, epoch=epoch, revision=revision, scenario=scenario
        )

    return ManifestInputs.model_construct(
        values=digest(
            values.format,
            values.digest(),
            epoch=values.epoch,
            scenario=None if values.scenario is None else values.scenario.model_dump(),
        ),
        registry=digest(registry.format, registry.digest(), revision=registry.revision),
        policy=digest(policy.format, policy.digest()),
        carried=digest(carried.format, carried.digest(), epoch=carried.epoch),
    )
