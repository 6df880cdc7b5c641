"""Builders shared by the workflow and CLI tests: input files, workspaces, dishonest proposals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ame.deployment import deploy_settlement
from ame.workflow import DurableSender, FetchPolicy, StateStore, Workspace, keccak_hex
from ame.workflow._publish import epoch_folder, publish
from ame.workflow._settle import MappingInputs
from ame_chain.chains import Chain
from ame_chain.client import SettlementClient, SettlementConfig
from ame_chain.leaves import EpochHeader, PayoutLeaf
from ame_chain.tx import Transactor
from offchain.mapping import Manifest, parse_manifest
from tests.mapping._builders import asset_doc, event_doc, registry_doc, values_doc

ETHER = 10**18
#: How the tests read what they publish: local files allowed (development), defaults otherwise.
LOCAL_FETCH = FetchPolicy(allow_local=True)
CONFIG = SettlementConfig(
    challenge_window=3600,
    dispute_window=86400,
    claim_period=30 * 86400,
    operator_bond=10**17,
    dispute_bond=10**16,
)

#: The durable points of a transaction where a DurableSender calls its ``on_step`` hook,
#: and where the crash tests stop the process.
CRASH_POINTS = ("before-send", "after-send", "after-mined")

# Account roles by development-account index, the same on every chain fixture.
ADMIN, OPERATOR, ARBITER, WATCHDOG = 0, 1, 2, 3
CONTRIBUTORS = (4, 5, 6, 7)


def contributors(chain: Chain) -> list[str]:
    """Addresses of the contributors (development accounts 4..7)."""
    return [chain.dev_accounts[i].address for i in CONTRIBUTORS]


def write_inputs(
    directory: Path,
    chain: Chain,
    epoch: int,
    revenue: int = ETHER,
    *,
    policy: dict[str, Any] | None = None,
) -> tuple[Path, Path, Path | None]:
    """Values (asset a<i> worth i+1) and a registry (a<i> owned by contributor i) for ``epoch``."""
    directory.mkdir(parents=True, exist_ok=True)
    registry = directory / "registry.json"
    registry.write_text(
        json.dumps(
            registry_doc(
                [asset_doc(f"a{i}", owners=[(a, "1")]) for i, a in enumerate(contributors(chain))]
            )
        )
    )
    values = directory / f"values-{epoch}.json"
    values.write_text(
        json.dumps(
            values_doc([event_doc("e1", revenue, {f"a{i}": i + 1 for i in range(4)})], epoch=epoch)
        )
    )
    policy_path = None
    if policy is not None:
        policy_path = directory / "policy.json"
        policy_path.write_text(json.dumps({"format": "ame.policy/1", **policy}))
    return values, registry, policy_path


def deploy(chain: Chain) -> SettlementClient:
    """A fresh contract: admin deploys, OPERATOR proposes, ARBITER arbitrates."""
    accounts = chain.dev_accounts
    client, _ = deploy_settlement(
        Transactor(chain.w3, accounts[ADMIN]),
        config=CONFIG,
        operators=[accounts[OPERATOR].address],
        arbiters=[accounts[ARBITER].address],
    )
    return client


def workspace(
    chain: Chain, client: SettlementClient, root: Path, account: LocalAccount | None, **kwargs: Any
) -> Workspace:
    """A workspace with its own state (``root/state``), publishing under ``root/published``.

    Local documents are allowed: the tests publish into folders on this machine (the
    development setting of :class:`~ame.workflow.FetchPolicy`).
    """
    state = StateStore(root / "state")
    sender = DurableSender(chain.w3, account, state, **kwargs) if account is not None else None
    return Workspace(
        chain, client, state, root / "published", sender=sender, fetch_policy=LOCAL_FETCH
    )


def shift_one_unit(manifest: Manifest) -> Manifest:
    """The manifest with one unit moved from leaf 1 to leaf 0: a valid tree, wrong amounts."""
    doc = json.loads(manifest.to_json_bytes())
    leaves = doc["leaves"]
    leaves[0]["amount"] = str(int(leaves[0]["amount"]) + 1)
    leaves[1]["amount"] = str(int(leaves[1]["amount"]) - 1)
    leaves[1]["amountBefore"] = str(int(leaves[1]["amountBefore"]) + 1)
    return parse_manifest(json.dumps(doc))


def double_leaf(manifest: Manifest, position: int) -> list[PayoutLeaf]:
    """The manifest's leaves with one amount doubled: a broken chain, provable on-chain."""
    leaves = list(manifest.leaves)
    leaves[position] = dataclasses.replace(leaves[position], amount=leaves[position].amount * 2)
    return leaves


def propose_published(
    ws: Workspace,
    epoch: int,
    inputs: MappingInputs,
    manifest: Manifest | bytes,
    leaves: list[PayoutLeaf] | None = None,
) -> EpochHeader:
    """Publish ``manifest`` (and the honest inputs beside it) and propose ``leaves`` (default: its own).

    How a dishonest operator proposes, bypassing ``settle_epoch``'s own checks.
    """
    data = manifest if isinstance(manifest, bytes) else manifest.to_json_bytes()
    parsed = parse_manifest(data)
    folder = epoch_folder(ws.client.chain_id, ws.client.address, epoch)
    for name, document in inputs.documents().items():
        publish(ws.publish_dir, None, folder / f"{name}.json", document)
    uri = publish(ws.publish_dir, None, folder / "manifest.json", data)
    tree = ws.client.epoch_tree(epoch, leaves if leaves is not None else parsed.leaves)
    pool = sum(leaf.amount for leaf in parsed.leaves)
    with ws.acting("propose", epoch) as client:
        proposed = client.propose_tree(
            tree, manifest_hash=keccak_hex(data), manifest_uri=uri, pool=pool
        )
    return proposed.header
