"""Money conservation end to end, over seeded random runs of epochs through the operator workflow.

Each epoch maps random values and rights (a random minimum payout carries small balances
forward), then meets a random fate: settled honestly and finalised, proposed with a
doubled leaf and voided by a fraud proof, or settled and voided by an upheld dispute.
A relayer claims a random part of every finalised epoch; at the end every epoch expires,
what is left is swept, and every credit is withdrawn. Then, to the wei:

* every pool: ``claimed + swept + refunded == pool``, and the contract holds nothing;
* every mapped epoch: ``revenue + carried_in == pool + carried_out + escrowed``, and each
  epoch carries in exactly what the one before carried out, so over the run
  ``Σ revenue == Σ claimed + Σ swept + Σ refunded + Σ escrowed + the last carried_out``;
* every contributor holds exactly what the Claimed events paid it (it never sends a
  transaction), and the sweep recipient gained exactly what was swept, less its gas;
* bonds: the operator got back one bond per finalised epoch; the watchdog one per voided
  epoch, plus its dispute bonds back.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from ame.workflow import (
    MappingInputs,
    Workspace,
    bind_proofs,
    challenge_epoch,
    claim_leaves,
    finalize_epoch,
    keccak_hex,
    open_dispute,
    refund_epoch,
    resolve_dispute,
    settle_epoch,
    sweep_epoch,
    withdraw_credits,
)
from ame_chain.chains import InProcessChain
from ame_chain.client import BOND_BURN_ADDRESS, forfeited_bond_split
from ame_chain.leaves import ZERO_ADDRESS
from offchain.mapping import Manifest, parse_carried, parse_policy, parse_registry, parse_values
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import (
    ADMIN,
    ARBITER,
    CONFIG,
    OPERATOR,
    WATCHDOG,
    deploy,
    double_leaf,
    propose_published,
    workspace,
)

RELAYER = 8
CONTRIBUTORS = [address(7000 + i) for i in range(10)]
FATES = ["honest"] * 3 + ["fraud", "upheld"]


@dataclass
class Run:
    """What the run did, from the workflow's side, to compare with the chain."""

    pools: dict[int, int] = field(default_factory=dict)
    fates: dict[int, str] = field(default_factory=dict)
    mapped: list[tuple[int, dict[str, int]]] = field(default_factory=list)  # epoch, totals


def epoch_inputs(rng: random.Random, epoch: int) -> MappingInputs:
    """Random values and rights: 3-8 assets, 1-2 owners each, 1-3 events, a random minimum payout."""
    assets = []
    for i in range(rng.randint(3, 8)):
        owners = rng.sample(CONTRIBUTORS, rng.randint(1, 2))
        shares = ["1"] if len(owners) == 1 else ["1/3", "2/3"]
        assets.append(asset_doc(f"a{i}", owners=list(zip(owners, shares, strict=True))))
    events = [
        event_doc(
            f"e{j}",
            rng.randint(10**12, 10**17),
            {a["id"]: rng.randint(0, 9) for a in assets},
            commercial=rng.random() < 0.9,
        )
        for j in range(rng.randint(1, 3))
    ]
    policy = {"format": "ame.policy/1", "min_payout": str(rng.choice([1, 10**13, 10**15]))}
    return MappingInputs(
        parse_values(values_doc(events, epoch=epoch)),
        parse_registry(registry_doc(assets)),
        parse_policy(policy),
    )


@dataclass
class World:
    chain: InProcessChain
    operator: Workspace
    watchdog: Workspace
    arbiter: Workspace
    relayer: Workspace
    admin: Workspace


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    chain = InProcessChain()
    client = deploy(chain)
    a = chain.dev_accounts
    spaces = [
        workspace(chain, client, tmp_path / name, a[index])
        for name, index in (
            ("operator", OPERATOR),
            ("watchdog", WATCHDOG),
            ("arbiter", ARBITER),
            ("relayer", RELAYER),
            ("admin", ADMIN),
        )
    ]
    # Watchdog, arbiter and relayer read what the operator published, as outsiders do.
    for ws in spaces[1:]:
        ws.publish_dir = spaces[0].publish_dir
    try:
        yield World(chain, *spaces)
    finally:
        for ws in spaces:
            ws.state.close()
        chain.close()


def _totals(manifest: Manifest) -> dict[str, int]:
    t = manifest.totals
    return {
        "revenue": t.revenue,
        "carried_in": t.carried_in,
        "pool": t.pool,
        "carried_out": t.carried_out,
        "escrowed": t.escrowed,
    }


def play(world: World, seed: int, epochs: int, tmp_path: Path) -> Run:
    rng = random.Random(seed)
    # Every fate at least once, the rest drawn. A dishonest epoch doubles its first leaf, so
    # the next one no longer chains: it needs two leaves (doubling the last of two would
    # shift the pool with it and leave nothing provable).
    schedule = ["fraud", "upheld"] + [rng.choice(FATES) for _ in range(epochs - 2)]
    rng.shuffle(schedule)
    run = Run()
    w = world
    # The carried ledger each epoch starts from, as the operator has it: the last epoch it
    # settled (what `settle` carries from its state), or by hand the manifest of an epoch in
    # which nobody reached the minimum payout (settle refuses to propose it; docs/cli.md).
    carried_from: bytes | None = None
    for epoch in range(1, epochs + 1):
        inputs = epoch_inputs(rng, epoch)
        if carried_from is not None:
            inputs = replace(inputs, carried=parse_carried(json.loads(carried_from)))
        manifest = inputs.manifest()
        if not manifest.leaves:  # nothing to propose: every balance is carried, by hand
            run.mapped.append((epoch, _totals(manifest)))
            carried_from = manifest.to_json_bytes()
            continue
        fate = schedule[epoch - 1] if len(manifest.leaves) >= 2 else "honest"
        if fate == "fraud":
            # A dishonest proposal bypasses settle and its state: the next epoch carries
            # from the last epoch the operator settled, as its state would.
            leaves = double_leaf(manifest, 0)
            doc = json.loads(manifest.to_json_bytes())
            doc["leaves"][0]["amount"] = str(leaves[0].amount)  # published as committed
            data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            header = propose_published(w.operator, epoch, inputs, data, leaves)
            challenged = challenge_epoch(w.watchdog, epoch)
            assert challenged.action == "fraud", challenged
            refund_epoch(w.operator, epoch)
            run.pools[epoch] = header.pool
        else:
            settled = settle_epoch(w.operator, inputs)
            # This one, recording the proofs file settle published beside it.
            tree = w.operator.client.epoch_tree(epoch, manifest.leaves)
            published, _ = bind_proofs(manifest, tree, ZERO_ADDRESS)
            assert settled.manifest_hash == keccak_hex(published.to_json_bytes())
            run.pools[epoch] = settled.pool
            run.mapped.append((epoch, _totals(manifest)))
            carried_from = manifest.to_json_bytes()
            if fate == "upheld":
                evidence = tmp_path / f"evidence-{epoch}.json"
                evidence.write_text('{"claim": "the values are wrong"}')
                dispute_id, _, _ = open_dispute(w.watchdog, epoch, evidence)
                resolve_dispute(w.arbiter, epoch, dispute_id, "uphold")
                refund_epoch(w.operator, epoch)
        run.fates[epoch] = fate
        w.chain.increase_time(CONFIG.challenge_window + 1)
        if fate == "honest":
            finalize_epoch(w.operator, epoch)
            leaves = manifest.leaves
            chosen = rng.sample(leaves, rng.randint(0, len(leaves)))
            if chosen:
                claim_leaves(w.relayer, accounts=[leaf.account for leaf in chosen], epochs=[epoch])
    # Every epoch expires; what is left goes to the sweep recipient; every credit comes out.
    w.chain.increase_time(CONFIG.dispute_window + CONFIG.claim_period + 1)
    for epoch, fate in run.fates.items():
        if fate == "honest" and w.admin.client.epoch_state(epoch)["remaining"]:
            sweep_epoch(w.admin, epoch)
    for ws in (w.operator, w.watchdog):
        if ws.client.credit_of(ws.signer().address):
            withdraw_credits(ws)
    return run


def check(world: World, run: Run, admin_before: int) -> None:
    client = world.admin.client
    w3 = world.chain.w3
    events = {
        name: client.events(name) for name in ("Claimed", "Swept", "Refunded", "CreditsWithdrawn")
    }
    claimed: dict[int, int] = defaultdict(int)
    paid_to: dict[str, int] = defaultdict(int)
    for e in events["Claimed"]:
        claimed[int(e["epoch"])] += int(e["amount"])
        paid_to[str(e["account"])] += int(e["amount"])
    swept = {int(e["epoch"]): int(e["amount"]) for e in events["Swept"]}
    refunded = {int(e["epoch"]): int(e["amount"]) for e in events["Refunded"]}
    # Every pool: claimed, swept or refunded, to the wei.
    for epoch, pool in run.pools.items():
        out = claimed[epoch] + swept.get(epoch, 0) + refunded.get(epoch, 0)
        assert out == pool, (epoch, run.fates[epoch], pool, out)
        assert (epoch in refunded) == (run.fates[epoch] != "honest")
    # All that stays is the burned half of every forfeited bond, which no one can withdraw.
    fates = list(run.fates.values())
    burned = (len(fates) - fates.count("honest")) * forfeited_bond_split(CONFIG.operator_bond)[1]
    assert w3.eth.get_balance(client.address) == client.credit_of(BOND_BURN_ADDRESS) == burned
    # Every mapped epoch balances, and carries in what the one before carried out.
    carried = 0
    for _epoch, t in run.mapped:
        assert t["revenue"] + t["carried_in"] == t["pool"] + t["carried_out"] + t["escrowed"]
        assert t["carried_in"] == carried
        carried = t["carried_out"]
    mapped = {epoch for epoch, _ in run.mapped}
    assert sum(t["revenue"] for _, t in run.mapped) == (
        sum(claimed[e] + swept.get(e, 0) + refunded.get(e, 0) for e in mapped)
        + sum(t["escrowed"] for _, t in run.mapped)
        + carried
    )
    # Contributors never send transactions: their balance is exactly what claims paid them.
    for account in CONTRIBUTORS:
        assert w3.eth.get_balance(account) == paid_to.get(account, 0)  # type: ignore[arg-type]
    # Bonds: one back to the operator per finalised epoch; the watchdog takes the bond of
    # every voided epoch, and its dispute bonds come back when upheld.
    withdrawn = {str(e["account"]): int(e["amount"]) for e in events["CreditsWithdrawn"]}
    fates = list(run.fates.values())
    operator = world.operator.signer().address
    watchdog = world.watchdog.signer().address
    assert withdrawn.get(operator, 0) == fates.count("honest") * CONFIG.operator_bond
    voided = fates.count("fraud") + fates.count("upheld")
    # Half of each forfeited bond goes to the watchdog, the other half is burned.
    reward, _burned = forfeited_bond_split(CONFIG.operator_bond)
    assert withdrawn.get(watchdog, 0) == (
        voided * reward + fates.count("upheld") * CONFIG.dispute_bond
    )
    # The sweep recipient (the admin) gained what was swept, less the gas of its sweeps.
    gas = sum(
        int(r["gasUsed"]) * int(r["effectiveGasPrice"])
        for r in (w3.eth.get_transaction_receipt(t.tx_hash) for t in world.admin.state.txs())  # type: ignore[arg-type]
    )
    admin = world.admin.signer().address
    assert w3.eth.get_balance(admin) - admin_before == sum(swept.values()) - gas  # type: ignore[arg-type]


def _play_and_check(world: World, seed: int, epochs: int, tmp_path: Path) -> Run:
    admin_before = int(world.chain.w3.eth.get_balance(world.admin.signer().address))  # type: ignore[arg-type]
    run = play(world, seed, epochs, tmp_path)
    check(world, run, admin_before)
    return run


def test_every_wei_of_every_pool_is_claimed_carried_refunded_or_swept(
    world: World, tmp_path: Path
) -> None:
    run = _play_and_check(world, seed=7, epochs=6, tmp_path=tmp_path)
    assert set(run.fates.values()) == {"honest", "fraud", "upheld"}  # every fate was met


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(20))
def test_money_is_conserved_over_many_random_epochs(
    world: World, tmp_path: Path, seed: int
) -> None:
    _play_and_check(world, seed=1000 + seed, epochs=25, tmp_path=tmp_path)
