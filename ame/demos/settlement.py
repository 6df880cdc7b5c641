"""The settlement demo: deploy, catch a cheating operator with a fraud proof, pay an honest epoch.

This is the execution layer's part of ``ame demo``; the full market (attribution, rights
mapping, audit, report) builds on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from ame_chain.chains import Chain
from ame_chain.client import SettlementClient, SettlementConfig
from ame_chain.leaves import build_leaves
from ame_chain.tx import Transactor
from ame_core.exceptions import InputError
from offchain.mapping import TokenAmount

__all__ = ["DEMO_CONFIG", "DemoResult", "run_settlement_demo"]

ETHER = 10**18

#: The demos' deployment: windows short enough that a demo's time jumps stay small.
DEMO_CONFIG = SettlementConfig(challenge_window=3600, dispute_window=86400, claim_period=30 * 86400)


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: the contract, gas per step, the fraud caught, and who was paid."""

    settlement: str
    gas: dict[str, int]
    fraud_kind: str
    payouts: list[tuple[str, int, bool]]


def run_settlement_demo(chain: Chain, say: Callable[[str], None] = print) -> DemoResult:
    """Run the settlement story on ``chain`` (which must have funded development accounts)."""
    if len(chain.dev_accounts) < 8:
        raise InputError(
            "chain: the demo needs 8 funded development accounts (in-process or anvil)"
        )
    admin, operator, arbiter, prover, *contributors = chain.dev_accounts[:8]
    gas: dict[str, int] = {}
    config = DEMO_CONFIG
    client, deployed = SettlementClient.deploy(Transactor(chain.w3, admin), config=config)
    gas["deploy"] = deployed.gas_used
    client.grant_role("OPERATOR_ROLE", operator.address)
    client.grant_role("ARBITER_ROLE", arbiter.address)
    as_operator = client.with_transactor(Transactor(chain.w3, operator))
    say(
        f"deployed AmeSettlement at {client.address} on the {chain.name} chain (id {chain.chain_id})"
    )

    payouts: dict[str, int] = {c.address: (i + 1) * ETHER // 10 for i, c in enumerate(contributors)}

    # A cheating operator: the published leaves quietly double one contributor's amount.
    honest = build_leaves(payouts)
    tampered = [
        *honest[:2],
        dataclasses.replace(honest[2], amount=TokenAmount(honest[2].amount * 2)),
        *honest[3:],
    ]
    # Proposed with the honest pool: the tampered leaves are what a fraud proof exposes.
    bad = as_operator.propose(1, tampered, pool=sum(payouts.values()))
    bad_header = bad.header
    say(f"epoch 1 proposed with a tampered leaf (root {bad_header.root[:10]}...)")
    watchdog = client.with_transactor(Transactor(chain.w3, prover))
    fault, proved = watchdog.prove_fraud(bad_header, bad.tree)
    gas["prove fraud"] = proved.gas_used
    say(
        f"fraud proven by an outsider: {fault.kind.name} at leaves {list(fault.positions)}; epoch 1 is {client.status(1)}"
    )
    client.refund(bad_header)

    # An honest epoch: proposed, unchallenged, finalised, then claimed (three alone, the rest in one batch).
    proposed = as_operator.propose(2, payouts, manifest_uri="demo://epoch-2")
    gas["propose"] = proposed.tx.gas_used
    chain.increase_time(config.challenge_window)
    gas["finalize"] = client.finalize(proposed.header).gas_used
    say(f"epoch 2 proposed and finalised after its challenge window: {client.status(2)}")
    leaves = proposed.tree.leaves
    for position in range(3):
        gas["claim"] = watchdog.claim(proposed.header, proposed.tree, position).gas_used
    batch = [(proposed.header, proposed.tree, p) for p in range(3, len(leaves))]
    gas[f"claimMany ({len(batch)})"] = watchdog.claim_many(batch).gas_used
    paid: list[tuple[str, int, bool]] = [
        (leaf.account, leaf.amount, client.is_claimed(2, leaf.index)) for leaf in leaves
    ]
    return DemoResult(client.address, gas, fault.kind.name, paid)
