"""The market demo behind ``ame demo``: from a scenario to paid contributors, end to end.

One run goes through everything AME does, on one chain:

1. **Attribution.** Train the reference pipeline of the reference market
   (``offchain/scenario/data/reference.yaml``: five datasets, a base model, two
   adapters, two prompts), answer its events, and split each event's revenue over the
   stages and assets (:func:`~offchain.scenario.attribute_scenario`).
2. **Mapping.** Map the values to the rights holders of ``reference.registry.yaml``
   (co-ownership, royalties to the base model and to a parent prompt, an opt-out, a
   non-commercial licence), exactly to the wei.
3. **A cheating operator** proposes epoch 1 with one leaf's amount doubled (a valid tree,
   wrong accounting). A watchdog with its own state audits the published manifest and
   proves the fraud on-chain; the epoch is voided and its pool refunded.
4. **An honest epoch** 2 is settled (published, funded, proposed), audited clean by an
   independent auditor, and finalised after its challenge window.
5. **Claims.** A few contributors claim with their own keys; a relayer pays everyone else
   in one ``claimMany``. A last audit checks the chain, and an HTML report is written.

Contributor accounts are development accounts 10-20 of the public test mnemonic (the
registry's addresses): they hold real keys, so the demo funds a little gas for the ones
that claim themselves. Anyone can spend them: demo use only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

from ame.demos.settlement import DEMO_CONFIG
from ame.deployment import deploy_settlement
from ame.workflow import (
    DurableSender,
    FetchPolicy,
    Progress,
    StateStore,
    Workspace,
    audit_epoch,
    challenge_epoch,
    claim_leaves,
    finalize_epoch,
    keccak_hex,
    load_published,
    quiet_progress,
    refund_epoch,
    settle_epoch,
)
from ame.workflow._publish import MANIFEST_NAME, epoch_folder, publish
from ame.workflow._settle import MappingInputs
from ame_chain.chains import Chain, anvil_dev_accounts
from ame_chain.client import SettlementClient
from ame_chain.leaves import EpochHeader
from ame_chain.tx import Transactor
from ame_core.exceptions import InputError
from offchain.mapping import Registry, parse_manifest, parse_values

if TYPE_CHECKING:
    from offchain.attribution.multistage import MultiStageResult

__all__ = [
    "ContributorLine",
    "EventLine",
    "MarketDemoResult",
    "contributor_accounts",
    "run_market_demo",
    "settle_and_claim",
    "tell_events",
]

#: Development-account index of the first contributor in the reference registry.
FIRST_CONTRIBUTOR_INDEX = 10
#: How many contributors claim with their own keys (the rest are paid in one batch).
SELF_CLAIMS = 3
#: Gas money each self-claiming contributor receives first.
GAS_MONEY = 10**17

# Each role keeps its own state and published copy under workdir/<role>.
_ROLES = ("operator", "watchdog", "auditor", "relayer")

CONFIG = DEMO_CONFIG


@dataclass(frozen=True)
class EventLine:
    """One attributed event: what the pipeline generated and how its revenue split by stage."""

    id: str
    output: str
    revenue: int
    stages: dict[str, int]


@dataclass(frozen=True)
class ContributorLine:
    """One contributor's outcome in the honest epoch.

    Attributes:
        name: The owner's name in the registry.
        account: Their payout address.
        roles: What they contributed (asset kinds, co-ownership, royalties).
        share: Their part of the epoch's pool.
        amount: What they were paid, in wei.
        claimed: Whether their leaf was claimed (always, at the end of the demo).
        claimed_by: ``self`` or ``relayer``.
    """

    name: str
    account: str
    roles: tuple[str, ...]
    share: Fraction
    amount: int
    claimed: bool
    claimed_by: str


@dataclass(frozen=True)
class MarketDemoResult:
    """What the market demo did.

    Attributes:
        settlement: Address of the settlement contract.
        chain: Name of the chain it ran on.
        events: Per event: id, generated text, revenue and per-stage amounts.
        fraud: The fault proven on the cheating epoch (kind name and leaf positions).
        honest_epoch: Number of the finalised epoch.
        pool: Its pool, in wei.
        contributors: One line per paid account, largest amount first.
        audit_passed: Whether the final audit found nothing wrong.
        gas: Gas used per step.
        report: Path of the HTML report.
        workdir: Where the state and published documents are.
    """

    settlement: str
    chain: str
    events: list[EventLine]
    fraud: tuple[str, tuple[int, ...]]
    honest_epoch: int
    pool: int
    contributors: list[ContributorLine]
    audit_passed: bool
    gas: dict[str, int]
    report: Path
    workdir: Path


def contributor_accounts(count: int = 11) -> list[LocalAccount]:
    """The reference registry's payout accounts: test-mnemonic accounts 10, 11, ..."""
    return anvil_dev_accounts(count, first=FIRST_CONTRIBUTOR_INDEX)


def _workspace(
    chain: Chain,
    client: SettlementClient,
    root: Path,
    account: LocalAccount | None,
    progress: Progress,
) -> Workspace:
    state = StateStore(root / "state")
    sender = DurableSender(chain.w3, account, state) if account is not None else None
    # The demo publishes into its own folder and reads it back: local documents are its own.
    return Workspace(
        chain,
        client,
        state,
        root / "published",
        sender=sender,
        progress=progress,
        fetch_policy=FetchPolicy(allow_local=True),
    )


def _propose_tampered(ws: Workspace, inputs: MappingInputs) -> EpochHeader:
    """Publish and propose a manifest whose largest leaf is doubled.

    What a cheating operator does: the tree is well formed and published (contributors
    need its proofs), but its accounting does not add up: the doubled leaf's successor
    does not start where it ends. ``settle_epoch`` refuses to do this; it is done by hand.
    """
    document = json.loads(inputs.manifest().to_json_bytes())
    leaves = document["leaves"]
    victim = max(range(len(leaves)), key=lambda i: (int(leaves[i]["amount"]), -i))
    leaves[victim]["amount"] = str(2 * int(leaves[victim]["amount"]))
    data = parse_manifest(json.dumps(document)).to_json_bytes()
    manifest = parse_manifest(data)
    folder = epoch_folder(ws.client.chain_id, ws.client.address, inputs.epoch)
    for name, published in inputs.documents().items():
        publish(ws.publish_dir, ws.base_uri, folder / f"{name}.json", published)
    uri = publish(ws.publish_dir, ws.base_uri, folder / MANIFEST_NAME, data)
    tree = ws.client.epoch_tree(inputs.epoch, manifest.leaves)
    with ws.acting("propose", inputs.epoch) as client:
        proposed = client.propose_tree(
            tree, manifest_hash=keccak_hex(data), manifest_uri=uri, pool=int(manifest.pool)
        )
    return proposed.header


def _roles(registry: Registry) -> dict[str, tuple[str, set[str]]]:
    """Owner address -> (name, roles) from the registry."""
    out: dict[str, tuple[str, set[str]]] = {}
    for asset in registry.assets:
        for owner in asset.owners:
            _, roles = out.setdefault(owner.address, (owner.name or owner.address, set()))
            roles.add(asset.kind.replace("_", " "))
            if len(asset.owners) > 1:
                roles.add("co-owner")
    parents = {p.asset for a in registry.assets for p in a.parents}
    for asset in registry.assets:
        if asset.id in parents:
            for owner in asset.owners:
                out[owner.address][1].add("royalty recipient")
    return out


def tell_events(attribution: MultiStageResult, say: Callable[[str], None]) -> None:
    """One line per attributed event: its output, revenue and split by stage."""
    for item in attribution.events:
        say(
            f"event {item.event.id}: {item.event.text!r} earned {item.revenue} wei, by stage "
            + ", ".join(f"{s} {v}" for s, v in item.stage_amounts.items())
        )


def run_market_demo(
    chain: Chain,
    workdir: Path,
    *,
    say: Callable[[str], None] = print,
    progress: Progress = quiet_progress,
) -> MarketDemoResult:
    """Run the whole market on ``chain`` (which must have 5 funded development accounts).

    Args:
        chain: An in-process chain, a managed Anvil, or a node with funded accounts.
        workdir: Where the operator's, watchdog's, auditor's and relayer's states, the
            published documents and the report go (a run refuses one an earlier run used).
        say: Where the story is told, one line a step.
        progress: Reports the long steps (training, attribution, claims).

    Raises:
        InputError: ``chain`` has too few funded accounts, or ``workdir`` was used before.
    """
    if len(chain.dev_accounts) < 5:
        raise InputError(
            "chain: the demo needs 5 funded development accounts (in-process or anvil)"
        )
    workdir = Path(workdir)
    used = [workdir / name for name in (*_ROLES, "report.html")]
    if any(path.exists() for path in used):
        raise InputError(f"workdir: {workdir} holds an earlier run; the demo needs a fresh one")
    # Imported here: torch loads only when the demo runs.
    from offchain.scenario import (
        attribute_scenario,
        record_lines,
        reference_scenario,
        values_document,
    )

    scenario = reference_scenario()
    registry = scenario.registry()
    if registry is None:  # the shipped scenario always has one; a clear error if not
        raise InputError("scenario: the reference market has no rights registry")

    # 1. Attribution.
    attribution, _ = attribute_scenario(scenario, progress=progress)
    tell_events(attribution, say)

    def inputs_for(epoch: int) -> MappingInputs:
        document = values_document(attribution, scenario, epoch=epoch)
        record = list(record_lines(attribution, scenario, epoch=epoch))
        values = parse_values(document, source=f"epoch {epoch}")
        return MappingInputs(values, registry, attribution=lambda: record)

    return settle_and_claim(
        chain, workdir, attribution, inputs_for, registry, say=say, progress=progress
    )


def settle_and_claim(
    chain: Chain,
    workdir: Path,
    attribution: MultiStageResult,
    inputs_for: Callable[[int], MappingInputs],
    registry: Registry,
    *,
    say: Callable[[str], None] = print,
    progress: Progress = quiet_progress,
) -> MarketDemoResult:
    """Steps 2-5 of the story (see the module) for any attribution, on ``chain``.

    Args:
        chain: A chain with 5 funded development accounts.
        workdir: Where the roles' states, the published documents and the report go.
        attribution: The attributed events (their ids, outputs, revenues and stages).
        inputs_for: The mapping inputs of an epoch (the values document at that epoch
            and ``registry``).
        registry: Who is paid for each asset; owners among :func:`contributor_accounts`
            claim with their own keys.
        say: Where the story is told, one line a step.
        progress: Reports the long steps (claims).

    Returns:
        What the demo did.
    """
    admin, operator, arbiter, watchdog, relayer = chain.dev_accounts[:5]
    gas: dict[str, int] = {}

    # 2. Deployment.
    client, record = deploy_settlement(
        Transactor(chain.w3, admin),
        config=CONFIG,
        operators=[operator.address],
        arbiters=[arbiter.address],
    )
    gas["deploy"] = int(chain.w3.eth.get_transaction_receipt(HexStr(record.tx_hash))["gasUsed"])
    say(
        f"deployed AmeSettlement at {client.address} on the {chain.name} chain "
        f"(id {chain.chain_id})"
    )
    operator_ws = _workspace(chain, client, workdir / "operator", operator, progress)
    watchdog_ws = _workspace(chain, client, workdir / "watchdog", watchdog, progress)
    auditor_ws = _workspace(chain, client, workdir / "auditor", None, progress)
    relayer_ws = _workspace(chain, client, workdir / "relayer", relayer, progress)
    operator_ws.state.add_deployment(record)

    # 3. A cheating operator, caught.
    bad = _propose_tampered(operator_ws, inputs_for(1))
    say(f"epoch {bad.epoch} proposed with a doubled leaf (root {bad.root[:10]}...)")
    caught = challenge_epoch(watchdog_ws, bad.epoch)
    if caught.action != "fraud" or caught.fault is None:
        raise AssertionError(f"the watchdog did not prove the fraud: {caught.action}")
    fraud = (caught.fault.kind.name, tuple(caught.fault.positions))
    say(
        f"the watchdog proved {fraud[0]} at leaves {list(fraud[1])}: epoch {bad.epoch} is "
        f"{client.status(bad.epoch)}; half the operator's bond went to the watchdog, half was burned"
    )
    refund_epoch(operator_ws, bad.epoch)

    # 4. An honest epoch: settled, audited, finalised.
    settled = settle_epoch(operator_ws, inputs_for(2))
    say(
        f"epoch {settled.epoch} settled: {settled.leaf_count} leaves, pool {settled.pool} wei, "
        f"root {settled.root[:10]}..."
    )
    clean = audit_epoch(auditor_ws, settled.epoch)
    say(
        f"independent audit of epoch {settled.epoch}: "
        + ("PASS" if not clean.mismatches else f"FAIL ({len(clean.mismatches)} mismatches)")
    )
    chain.increase_time(CONFIG.challenge_window)
    finalize_epoch(operator_ws, settled.epoch)
    say(
        f"epoch {settled.epoch} finalised after its challenge window: "
        f"{client.status(settled.epoch)}"
    )

    # 5. Claims: some contributors themselves, the rest by a relayer in one batch.
    published = load_published(auditor_ws, settled.epoch)
    keys: dict[str, LocalAccount] = {str(a.address): a for a in contributor_accounts()}
    self_claimers = [leaf for leaf in published.tree.leaves if leaf.account in keys][:SELF_CLAIMS]
    funder = Transactor(chain.w3, admin)
    for position, leaf in enumerate(published.tree.leaves):
        if leaf not in self_claimers:
            continue
        funder.transfer(leaf.account, GAS_MONEY)
        own = client.with_transactor(Transactor(chain.w3, keys[leaf.account]))
        gas["claim (self)"] = own.claim(published.header, published.tree, position).gas_used
    batch = claim_leaves(relayer_ws, accounts=None, epochs=[settled.epoch])
    say(
        f"{len(self_claimers)} contributors claimed themselves; a relayer paid the other "
        f"{len(batch.lines)} in {len(batch.tx_hashes)} transaction(s)"
    )
    final = audit_epoch(auditor_ws, settled.epoch)

    from ame.report import write_report

    report = write_report(operator_ws, [bad.epoch, settled.epoch], workdir / "report.html")
    gas["claimMany" if len(batch.lines) > 1 else "claim"] = sum(
        row.gas_used or 0 for row in relayer_ws.state.txs() if row.step == "claim"
    )
    for row in operator_ws.state.txs() + watchdog_ws.state.txs():
        if row.gas_used:
            gas.setdefault(row.step, row.gas_used)

    roles = _roles(registry)
    by_self = {leaf.account for leaf in self_claimers}
    lines = [
        ContributorLine(
            name=roles.get(leaf.account, (leaf.account, set()))[0],
            account=leaf.account,
            roles=tuple(sorted(roles.get(leaf.account, ("", set()))[1])),
            share=Fraction(leaf.amount, settled.pool),
            amount=leaf.amount,
            claimed=client.is_claimed(settled.epoch, leaf.index),
            claimed_by="self" if leaf.account in by_self else "relayer",
        )
        for leaf in published.tree.leaves
    ]
    lines.sort(key=lambda line: (-line.amount, line.account))
    events_out = [
        EventLine(item.event.id, item.event.text, item.revenue, dict(item.stage_amounts))
        for item in attribution.events
    ]
    return MarketDemoResult(
        settlement=client.address,
        chain=chain.name,
        events=events_out,
        fraud=fraud,
        honest_epoch=settled.epoch,
        pool=settled.pool,
        contributors=lines,
        audit_passed=not final.mismatches,
        gas=gas,
        report=report,
        workdir=workdir,
    )
