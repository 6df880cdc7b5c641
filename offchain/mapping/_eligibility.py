"""Hard filters: may an asset be paid for a given event?

An asset is *withheld* from an event, for the reasons listed, when

* ``opted_out:<use>:<signal>`` - one of its signals refuses a use its kind is put
  to (:attr:`Policy.uses`): TDM reservation, do-not-train, or a C2PA/CAWG
  training-and-data-mining ``notAllowed`` entry;
* ``derivative_not_allowed:<ancestor>`` - it derives, directly or through other
  assets, from an ancestor whose licence forbids derivatives;
* ``non_commercial`` / ``ancestor_non_commercial:<ancestor>`` - the event is
  commercial and its own licence, or an ancestor's (restrictions are inherited
  down the derivation DAG), forbids commercial use;
* ``licence_expired:<day>`` - the event is dated after its licence's last day.

Restrictions are computed once per asset; :meth:`Eligibility.reasons` only adds the
event's date and commercial flag.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from offchain.mapping._policy import Policy
from offchain.mapping._registry import Registry
from offchain.mapping._types import AssetId

__all__ = ["Eligibility"]

_NONE: frozenset[AssetId] = frozenset()


class _Restriction(NamedTuple):
    always: tuple[str, ...]
    commercial: tuple[str, ...]
    expires: date | None


class Eligibility:
    """Per-asset restrictions from licences, derivations and opt-out signals.

    Args:
        registry: The validated registry.
        policy: Supplies the uses each asset kind is put to.
    """

    def __init__(self, registry: Registry, policy: Policy) -> None:
        by_id = registry.by_id
        no_commercial: dict[AssetId, frozenset[AssetId]] = {}
        no_derivatives: dict[AssetId, frozenset[AssetId]] = {}
        self._restrictions: dict[AssetId, _Restriction] = {}
        uses = {kind: tuple(sorted(u)) for kind, u in policy.uses.items()}
        for asset_id in registry.order:
            asset = by_id[asset_id]
            nc_up: frozenset[AssetId] = _NONE
            nd_up: frozenset[AssetId] = _NONE
            for parent in asset.parents:
                licence = by_id[parent.asset].licence
                nc_here = no_commercial[parent.asset]
                nd_here = no_derivatives[parent.asset]
                if not licence.commercial_use:
                    nc_here = nc_here | {parent.asset}
                if not licence.derivatives_allowed:
                    nd_here = nd_here | {parent.asset}
                nc_up = nc_up | nc_here if nc_here else nc_up
                nd_up = nd_up | nd_here if nd_here else nd_up
            no_commercial[asset_id] = nc_up
            no_derivatives[asset_id] = nd_up
            signals = asset.signals
            licence = asset.licence
            opted = signals.tdm_reservation or signals.do_not_train or signals.training_mining
            if not (opted or nc_up or nd_up or licence.expires) and licence.commercial_use:
                continue  # unrestricted, the common case: nothing to record
            refused = signals.refused() if opted else {}
            always = [
                f"opted_out:{use}:{refused[use]}" for use in uses[asset.kind] if use in refused
            ]
            always += [f"derivative_not_allowed:{a}" for a in sorted(nd_up)]
            commercial = [] if licence.commercial_use else ["non_commercial"]
            commercial += [f"ancestor_non_commercial:{a}" for a in sorted(nc_up)]
            restriction = _Restriction(tuple(always), tuple(commercial), licence.expires)
            if restriction.always or restriction.commercial or restriction.expires:
                self._restrictions[asset_id] = restriction
        self.restricted: frozenset[AssetId] = frozenset(self._restrictions)
        """Assets with any restriction; every other asset may be paid in every event."""

    def reasons(self, asset: AssetId, *, commercial: bool, day: date) -> tuple[str, ...]:
        """Why ``asset`` may not be paid for an event; empty if it may.

        Args:
            asset: An asset id (assets unknown to the registry are unrestricted).
            commercial: Whether the event is commercial.
            day: The event's date.

        Returns:
            Reason codes in a fixed order (see the module docstring).
        """
        restriction = self._restrictions.get(asset)
        if restriction is None:
            return ()
        always, on_commercial, expires = restriction
        if (
            not always
            and (not on_commercial or not commercial)
            and (expires is None or day <= expires)
        ):
            return ()
        reasons = list(always)
        if commercial:
            reasons += on_commercial
        if expires is not None and day > expires:
            reasons.append(f"licence_expired:{expires.isoformat()}")
        return tuple(reasons)
