"""Rights mapping: from per-asset attribution values to exact payouts per account.

AME's second stage. Attribution says how much value each asset created in each
event; mapping decides who is paid and how much, to the last token unit::

    from pathlib import Path

    from offchain.mapping import load_registry, load_values, map_epoch

    manifest = map_epoch(load_values("values.json"), load_registry("registry.yaml"))
    Path("manifest.json").write_bytes(manifest.to_json_bytes())

Inputs: ``ame.values/1`` (:class:`Values`), ``ame.registry/1`` (:class:`Registry`,
``docs/registry.md``), ``ame.policy/1`` (:class:`Policy`) and ``ame.carried/1``
(:class:`CarriedLedger`). Output: ``ame.manifest/1`` (:class:`Manifest`,
``docs/manifest.md``), which :func:`verify_manifest` checks. Its leaves are
:class:`PayoutLeaf` objects, the one leaf type the settlement tree
(:mod:`ame_chain.leaves`) encodes and claims send; :func:`build_leaves` lays out any
``account -> amount`` payouts the same way.
"""

from offchain.mapping._engine import map_epoch
from offchain.mapping._flow import FlowLine
from offchain.mapping._leaves import PayoutLeaf, build_leaves
from offchain.mapping._manifest import (
    MANIFEST_FORMAT,
    AccountBalance,
    AssetPayout,
    EscrowEntry,
    EventBreakdown,
    EventLine,
    InputDigest,
    Manifest,
    ManifestAttribution,
    ManifestInputs,
    ManifestProofs,
    OwnerPayout,
    RoyaltySplits,
    Totals,
    load_manifest,
    parse_manifest,
    read_manifest,
    verify_manifest,
)
from offchain.mapping._policy import (
    CARRIED_FORMAT,
    DEFAULT_USES,
    POLICY_FORMAT,
    CarriedLedger,
    Policy,
    load_carried,
    load_policy,
    parse_carried,
    parse_policy,
)
from offchain.mapping._registry import (
    REGISTRY_FORMAT,
    Asset,
    Licence,
    Owner,
    Parent,
    Registry,
    Signals,
    load_registry,
    parse_registry,
)
from offchain.mapping._royalties import RoyaltyGraph, RoyaltySplit
from offchain.mapping._types import AssetId, EventId, TokenAmount, addresses_checked_once
from offchain.mapping._values import (
    VALUES_FORMAT,
    Event,
    Scenario,
    Values,
    load_values,
    parse_values,
)

__all__ = [
    "CARRIED_FORMAT",
    "DEFAULT_USES",
    "MANIFEST_FORMAT",
    "POLICY_FORMAT",
    "REGISTRY_FORMAT",
    "VALUES_FORMAT",
    "AccountBalance",
    "Asset",
    "AssetId",
    "AssetPayout",
    "CarriedLedger",
    "EscrowEntry",
    "Event",
    "EventBreakdown",
    "EventId",
    "EventLine",
    "FlowLine",
    "InputDigest",
    "Licence",
    "Manifest",
    "ManifestAttribution",
    "ManifestInputs",
    "ManifestProofs",
    "Owner",
    "OwnerPayout",
    "Parent",
    "PayoutLeaf",
    "Policy",
    "Registry",
    "RoyaltyGraph",
    "RoyaltySplit",
    "RoyaltySplits",
    "Scenario",
    "Signals",
    "TokenAmount",
    "Totals",
    "Values",
    "addresses_checked_once",
    "build_leaves",
    "load_carried",
    "load_manifest",
    "load_policy",
    "load_registry",
    "load_values",
    "map_epoch",
    "parse_carried",
    "parse_manifest",
    "parse_policy",
    "parse_registry",
    "parse_values",
    "read_manifest",
    "verify_manifest",
]
