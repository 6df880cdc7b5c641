"""The public API of offchain.mapping is pinned: changing it is a deliberate act."""

import offchain.mapping

EXPECTED = [
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


def test_all_is_pinned() -> None:
    assert offchain.mapping.__all__ == EXPECTED


def test_every_exported_name_exists_and_is_public() -> None:
    for name in offchain.mapping.__all__:
        assert hasattr(offchain.mapping, name), name
        assert not name.startswith("_")


def test_public_names_are_all_exported() -> None:
    public = {
        name
        for name, value in vars(offchain.mapping).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("offchain.mapping")
    }
    assert public <= set(offchain.mapping.__all__)
