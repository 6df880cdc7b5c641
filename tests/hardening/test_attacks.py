"""The attack catalogue of issue #7: each test tries one attack and shows it fails.

Attacks already tried in ``tests/chain/test_settlement.py`` (replays across epochs, chains
and contracts, token-hook and receiver reentrancy into ``claim``, hostile tokens, a silent
arbiter, ...) are not repeated; ``docs/hardening.md`` maps every attack of the issue to the
test that tries it. Every revert is asserted by its exact custom error, and every attack
ends with the money where it belongs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from ame_chain import errors
from ame_chain.chains import AnvilChain, Chain
from ame_chain.client import (
    BOND_BURN_ADDRESS,
    MAX_WINDOW,
    ProposedEpoch,
    SettlementClient,
    SettlementConfig,
    forfeited_bond_split,
)
from ame_chain.contracts import load_artifact
from ame_chain.exceptions import MerkleInputError
from ame_chain.leaves import EpochHeader, EpochTree, PayoutLeaf, build_leaves
from ame_chain.merkle import StandardMerkleTree
from tests.chain.conftest import CONFIG, Deployment, deploy_test_contract
from tests.hardening.conftest import deploy_on

ETHER = 10**18
ZERO = "0x" + "00" * 20


# --------------------------------------------------------------------------- helpers


def payouts(d: Deployment) -> dict[str, int]:
    a = d.actors
    return {
        a.alice.address: 3 * ETHER // 10,
        a.bob.address: 5 * ETHER // 10,
        a.carol.address: ETHER // 5,
    }


def balance(d: Deployment, account: str) -> int:
    return int(d.chain.w3.eth.get_balance(account))  # type: ignore[arg-type]


def propose_leaves(
    d: Deployment,
    epoch: int,
    leaves: list[PayoutLeaf],
    *,
    pool: int | None = None,
    leaf_count: int | None = None,
) -> tuple[EpochHeader, EpochTree]:
    """Propose ``leaves`` as they are (faults and all), as a dishonest operator would."""
    tree = d.operator.epoch_tree(epoch, leaves)
    pool = tree.pool if pool is None else pool
    call = d.operator.contract.functions.propose(
        epoch,
        bytes.fromhex(tree.root[2:]),
        ZERO,
        pool,
        len(leaves) if leaf_count is None else leaf_count,
        b"\0" * 32,
        "",
    )
    result = d.operator._send(call, value=pool + CONFIG.operator_bond)
    (event,) = d.operator.contract.events.EpochProposed().process_receipt(
        result.receipt, errors=DISCARD
    )
    return EpochHeader.from_event(event["args"]), tree


def broken_chain(d: Deployment) -> list[PayoutLeaf]:
    """Honest leaves with leaf 1's amountBefore off by one: provable fraud."""
    a, b, c = build_leaves(payouts(d))
    return [a, dataclasses.replace(b, amount_before=b.amount_before + 1), c]


def finalized(d: Deployment, epoch: int = 1) -> ProposedEpoch:
    proposed = d.operator.propose(epoch, payouts(d))
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    return proposed


def encoded(call: Any) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])


def decoded_name(data: bytes) -> str:
    return type(errors.decode_revert(data)).__name__


# --------------------------------------------------------------------------- someone else's leaf


def test_proof_for_another_account_is_refused_and_a_real_leaf_pays_only_its_owner(
    deployment: Deployment,
) -> None:
    d = deployment
    proposed = finalized(d)
    header, tree = proposed.header, proposed.tree
    mallory = d.as_(d.actors.mallory)
    f = d.admin.contract.functions
    alice_at = next(
        i for i, leaf in enumerate(tree.leaves) if leaf.account == d.actors.alice.address
    )
    leaf = tree.leaves[alice_at]
    other_at = (alice_at + 1) % 3
    theirs = dataclasses.replace(leaf, account=d.actors.mallory.address)
    attempts = [
        f.claim(
            header.as_tuple(), theirs.as_tuple(), tree.proof(alice_at)
        ),  # her proof, my address
        f.claim(header.as_tuple(), leaf.as_tuple(), tree.proof(other_at)),  # someone else's proof
        f.claimMany([header.as_tuple()], [(0, theirs.as_tuple(), tree.proof(alice_at))]),
    ]
    for call in attempts:
        with pytest.raises(errors.SettlementInvalidProof) as info:
            mallory._send(call)
        assert info.value.args_by_name == {"epoch": 1, "index": leaf.index}
    assert not d.admin.is_claimed(1, leaf.index)
    # Mallory can only send Alice's own leaf, which pays Alice.
    alice_before, mallory_before = balance(d, leaf.account), balance(d, d.actors.mallory.address)
    paid = mallory.claim(header, tree, alice_at)
    assert balance(d, leaf.account) - alice_before == leaf.amount
    gas_cost = paid.gas_used * int(paid.receipt["effectiveGasPrice"])
    assert mallory_before - balance(d, d.actors.mallory.address) == gas_cost


def test_claim_many_cannot_pay_a_leaf_twice_in_one_batch(deployment: Deployment) -> None:
    d = deployment
    proposed = finalized(d)
    before = {leaf.account: balance(d, leaf.account) for leaf in proposed.tree.leaves}
    item = (proposed.header, proposed.tree, 1)
    with pytest.raises(errors.SettlementAlreadyClaimed) as info:
        d.as_(d.actors.mallory).claim_many([(proposed.header, proposed.tree, 0), item, item])
    assert info.value.args_by_name == {"epoch": 1, "index": 1}
    # The whole batch reverted: nothing paid, nothing marked.
    assert {leaf.account: balance(d, leaf.account) for leaf in proposed.tree.leaves} == before
    assert d.admin.epoch_state(1)["remaining"] == ETHER


def test_unchallenged_leaf_beyond_the_leaf_count_is_never_paid(deployment: Deployment) -> None:
    d = deployment
    a, b, c = build_leaves(payouts(d))
    extra = PayoutLeaf(3, d.actors.mallory.address, 1, ETHER)
    header, tree = propose_leaves(d, 1, [a, b, c, extra], pool=ETHER, leaf_count=3)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(header)  # nobody proved the fraud in time
    with pytest.raises(errors.SettlementLeafIndexOutOfRange) as info:
        d.as_(d.actors.mallory).claim(header, tree, 3)
    assert info.value.args_by_name == {"epoch": 1, "index": 3, "leafCount": 3}
    d.admin.claim_many([(header, tree, p) for p in range(3)])
    assert d.admin.epoch_state(1)["remaining"] == 0


# --------------------------------------------------------------------------- forged trees


def test_64_byte_leaf_cannot_pose_as_an_internal_node() -> None:
    # Leaves of two bytes32 encode to exactly 64 bytes: the preimage size of an internal node.
    values = [[keccak(bytes([i])), keccak(bytes([i, i]))] for i in range(4)]
    tree = StandardMerkleTree.of(values, ["bytes32", "bytes32"])
    nodes = [bytes.fromhex(n[2:]) for n in tree.dump()["tree"]]
    left, right = sorted((nodes[3], nodes[4]))  # the children of internal node 1
    forged = ["0x" + left.hex(), "0x" + right.hex()]
    proof_of_node_1 = ["0x" + nodes[2].hex()]
    # With a single hash the forgery works: the "leaf" hashes to node 1, whose proof is known.
    single_leaf = keccak(left + right)
    assert single_leaf == nodes[1]
    assert keccak(b"".join(sorted((single_leaf, nodes[2])))) == nodes[0]
    # The standard (double-hashed) leaf refuses it, as the contract's leaves do.
    assert not StandardMerkleTree.verify_proof(
        tree.root, ["bytes32", "bytes32"], forged, proof_of_node_1
    )
    assert not tree.verify(forged, proof_of_node_1)


def _multiproof_tree() -> StandardMerkleTree:
    values = [[f"0x{i + 1:040x}", 1000 * (i + 1)] for i in range(9)]
    return StandardMerkleTree.of(values, ["address", "uint256"])


def _rejects(tree: StandardMerkleTree, forged: dict[str, Any]) -> bool:
    """Whether both multiproof verifiers refuse ``forged`` (raising or returning False)."""
    for verify in (
        tree.verify_multi_proof,
        lambda m: StandardMerkleTree.verify_multi_proof_against(tree.root, tree.leaf_encoding, m),
    ):
        try:
            if verify(forged):
                return False
        except MerkleInputError:
            pass
    return True


def test_multiproof_with_unused_elements_is_refused() -> None:
    tree = _multiproof_tree()
    real = dict(tree.get_multi_proof([1, 4, 6]))
    assert tree.verify_multi_proof(real)
    fake = [f"0x{0xBAD:040x}", 10**24]
    unused_node = "0x" + keccak(b"unused").hex()
    forgeries = {
        "an unused proof node appended": {**real, "proof": [*real["proof"], unused_node]},
        "an unused fake leaf appended": {**real, "leaves": [*real["leaves"], fake]},
        "a fake leaf with the real one's hash moved into the proof": {
            **real,
            "leaves": [fake, *real["leaves"][1:]],
            "proof": [tree.leaf_hash(real["leaves"][0]), *real["proof"]],
        },
        "a fake leaf and the root as an unused proof node": {
            "leaves": [fake],
            "proof": [tree.root],
            "proofFlags": [],
        },
        "an extra flag": {**real, "proofFlags": [*real["proofFlags"], True]},
    }
    for name, forged in forgeries.items():
        assert _rejects(tree, forged), name
    # (The root alone proves the empty set of leaves, as in OpenZeppelin: no leaf at all.)
    # Nor can the contract be fooled this way: it takes one proof per leaf, never a multiproof.
    abi = load_artifact("AmeSettlement").abi
    inputs = [i["name"] for item in abi if item["type"] == "function" for i in item["inputs"]]
    assert not any("flag" in name.lower() for name in inputs)


@settings(max_examples=60)
@given(
    picks=st.sets(st.integers(0, 8), min_size=1, max_size=5),
    mutation=st.sampled_from(["append_node", "drop_node", "flip_flag", "fake_leaf", "swap_leaves"]),
    where=st.integers(0, 20),
)
def test_mutated_multiproofs_never_verify(picks: set[int], mutation: str, where: int) -> None:
    tree = _multiproof_tree()
    real = dict(tree.get_multi_proof(sorted(picks)))
    leaves, proof, flags = list(real["leaves"]), list(real["proof"]), list(real["proofFlags"])
    if mutation == "append_node":
        proof.insert(where % (len(proof) + 1), "0x" + keccak(bytes([where])).hex())
    elif mutation == "drop_node" and proof:
        proof.pop(where % len(proof))
    elif mutation == "flip_flag" and flags:
        flags[where % len(flags)] = not flags[where % len(flags)]
    elif mutation == "fake_leaf":
        leaves[where % len(leaves)] = [f"0x{0xBAD + where:040x}", 7]
    elif mutation == "swap_leaves" and len(leaves) > 1 and leaves[0] != leaves[-1]:
        leaves[0], leaves[-1] = leaves[-1], leaves[0]
    else:
        return  # the mutation does not apply to this multiproof
    forged = {"leaves": leaves, "proof": proof, "proofFlags": flags}
    assert _rejects(tree, forged), (mutation, real, forged)


# --------------------------------------------------------------------------- front-running


def test_front_run_claim_still_pays_the_leaf_account(deployment: Deployment) -> None:
    d = deployment
    proposed = finalized(d)
    position = next(
        i for i, leaf in enumerate(proposed.tree.leaves) if leaf.account == d.actors.alice.address
    )
    leaf = proposed.tree.leaves[position]
    alice = d.as_(d.actors.alice)
    victim_call = alice.contract.functions.claim(
        proposed.header.as_tuple(), leaf.as_tuple(), proposed.tree.proof(position)
    )
    before = balance(d, leaf.account)
    # Mallory copies Alice's pending calldata and gets it mined first.
    d.as_(d.actors.mallory)._send(victim_call)
    with pytest.raises(errors.SettlementAlreadyClaimed):
        alice._send(victim_call)  # refused at estimation: Alice spends nothing
    assert balance(d, leaf.account) - before == leaf.amount


def test_front_run_fraud_proof_pays_the_bond_once_and_the_second_reverts(
    deployment: Deployment,
) -> None:
    d = deployment
    header, tree = propose_leaves(d, 1, broken_chain(d))
    first, second = d.as_(d.actors.mallory), d.as_(d.actors.carol)
    first.prove_fraud(header, tree)
    with pytest.raises(errors.SettlementWrongStatus) as info:
        second.prove_fraud(header, tree)
    assert info.value.args_by_name == {"epoch": 1, "status": 2}  # Voided
    reward, burned = forfeited_bond_split(CONFIG.operator_bond)
    assert d.admin.credit_of(d.actors.mallory.address) == reward
    assert d.admin.credit_of(d.actors.carol.address) == 0
    # Held: the refundable pool, the winner's credit and the burned half, nothing more.
    assert balance(d, d.admin.address) == ETHER + CONFIG.operator_bond
    d.admin.refund(header)
    first.withdraw_credits()
    assert balance(d, d.admin.address) == burned


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    made = AnvilChain()
    try:
        yield made
    finally:
        made.close()


def _race(chain: Chain, calls: list[tuple[LocalAccount, Any, int]]) -> list[dict[str, Any]]:
    """Mine ``(account, call, tip)`` transactions in one block; return their receipts in send order."""
    w3 = chain.w3
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])  # type: ignore[typeddict-item]
    raws = []
    for account, call, tip in calls:
        tx = call.build_transaction(
            {
                "from": account.address,
                "gas": 400_000,
                "nonce": w3.eth.get_transaction_count(account.address),
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": 4 * base + tip,
                "chainId": chain.chain_id,
            }
        )
        raws.append(account.sign_transaction(tx).raw_transaction)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        hashes = [w3.eth.send_raw_transaction(raw) for raw in raws]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    return [dict(w3.eth.get_transaction_receipt(h)) for h in hashes]


@pytest.mark.anvil
def test_front_run_in_one_block_the_claim_pays_its_account_and_the_copy_reverts(
    anvil: AnvilChain,
) -> None:
    d = deploy_on(anvil)
    proposed = finalized(d)
    position = next(
        i for i, leaf in enumerate(proposed.tree.leaves) if leaf.account == d.actors.alice.address
    )
    leaf = proposed.tree.leaves[position]
    call = d.admin.contract.functions.claim(
        proposed.header.as_tuple(), leaf.as_tuple(), proposed.tree.proof(position)
    )
    before = balance(d, leaf.account)
    victim, front = _race(anvil, [(d.actors.alice, call, 10**9), (d.actors.mallory, call, 10**10)])
    assert victim["blockNumber"] == front["blockNumber"]
    assert front["transactionIndex"] < victim["transactionIndex"]  # the higher tip went first
    assert (front["status"], victim["status"]) == (1, 0)
    with pytest.raises(errors.SettlementAlreadyClaimed):
        d.admin._send(call)
    alice_gas = victim["gasUsed"] * victim["effectiveGasPrice"]
    assert balance(d, leaf.account) - before == leaf.amount - alice_gas


@pytest.mark.anvil
def test_front_run_in_one_block_one_fraud_proof_wins_and_the_bond_is_paid_once(
    anvil: AnvilChain,
) -> None:
    d = deploy_on(anvil)
    header, tree = propose_leaves(d, 1, broken_chain(d))
    f = d.admin.contract.functions
    call = f.provePairFraud(
        header.as_tuple(),
        tree.leaves[0].as_tuple(),
        tree.proof(0),
        tree.leaves[1].as_tuple(),
        tree.proof(1),
    )
    carol, mallory = _race(anvil, [(d.actors.carol, call, 10**9), (d.actors.mallory, call, 10**10)])
    assert (mallory["status"], carol["status"]) == (1, 0)
    assert carol["gasUsed"] < 400_000  # a clean revert, not an out-of-gas
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin._send(call)
    assert (
        d.admin.credit_of(d.actors.mallory.address) == forfeited_bond_split(CONFIG.operator_bond)[0]
    )
    assert d.admin.credit_of(d.actors.carol.address) == 0
    assert balance(d, d.admin.address) == ETHER + CONFIG.operator_bond


# --------------------------------------------------------------------------- griefing


GRIEF = 12


def test_many_disputes_cost_the_griefer_gas_and_delay_finality_at_most_one_dispute_window(
    deployment: Deployment,
) -> None:
    d = deployment
    proposed = d.operator.propose(1, payouts(d))
    header = proposed.header
    griefer = d.as_(d.actors.mallory)
    opened = [griefer.open_dispute(header, keccak(bytes([i])), "")[1] for i in range(GRIEF)]
    # Bounded cost: every dispute after the first costs the same gas (no list grows).
    later = {tx.gas_used for tx in opened[1:]}
    assert max(later) - min(later) <= 100, later
    d.chain.increase_time(CONFIG.challenge_window - 60)
    last_id, _ = griefer.open_dispute(header, b"\1" * 32, "")  # the last minute of the window
    d.chain.increase_time(120)
    with pytest.raises(errors.SettlementChallengeWindowClosed):
        griefer.open_dispute(header, b"\2" * 32, "")
    with pytest.raises(errors.SettlementOpenDisputes) as info:
        d.admin.finalize(header)
    assert info.value.args_by_name == {"epoch": 1, "openDisputes": GRIEF + 1}
    latest_deadline = d.admin.dispute_of(1, last_id)["deadline"]
    assert latest_deadline <= header.challenge_end + CONFIG.dispute_window
    # The arbiter stays silent: past the deadlines anyone dismisses, each at the same cost.
    d.chain.increase_time(latest_deadline - d.chain.timestamp())
    dismissed = [d.as_(d.actors.bob).dismiss_dispute(header, i) for i in range(GRIEF + 1)]
    # (The first also creates the griefer's credit slot; none costs more than it.)
    assert len({tx.gas_used for tx in dismissed[1:-1]}) == 1
    assert all(tx.gas_used <= dismissed[0].gas_used for tx in dismissed)
    d.admin.finalize(header)
    assert d.chain.timestamp() <= header.challenge_end + CONFIG.dispute_window + 5
    # The griefer's bonds came back; the pool is intact and claimable.
    assert d.admin.credit_of(d.actors.mallory.address) == (GRIEF + 1) * CONFIG.dispute_bond
    assert d.admin.epoch_state(1)["remaining"] == ETHER
    d.admin.claim_many([(header, proposed.tree, p) for p in range(3)])


def test_rejected_griefing_disputes_forfeit_every_bond_to_the_operator(
    deployment: Deployment,
) -> None:
    d = deployment
    header = d.operator.propose(1, payouts(d)).header
    griefer = d.as_(d.actors.mallory)
    ids = [griefer.open_dispute(header, keccak(bytes([i])), "")[0] for i in range(GRIEF)]
    for dispute_id in ids:
        d.arbiter.resolve_dispute(header, dispute_id, upheld=False)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(header)
    assert d.admin.credit_of(d.actors.operator.address) == (
        GRIEF * CONFIG.dispute_bond + CONFIG.operator_bond
    )
    assert d.admin.credit_of(d.actors.mallory.address) == 0


# --------------------------------------------------------------------------- pause and voided epochs


def test_pause_blocks_proposals_but_never_fraud_proofs_disputes_refunds_or_withdrawals(
    deployment: Deployment,
) -> None:
    d = deployment
    faulty, faulty_tree = propose_leaves(d, 1, broken_chain(d))
    disputed = d.operator.propose(2, payouts(d)).header
    d.guardian._send(d.guardian.contract.functions.pause())
    with pytest.raises(errors.EnforcedPause):
        d.operator.propose(3, payouts(d))
    # The way out stays open while paused.
    mallory = d.as_(d.actors.mallory)
    mallory.prove_fraud(faulty, faulty_tree)
    d.admin.refund(faulty)
    dispute_id, _ = mallory.open_dispute(disputed, b"\1" * 32, "")
    d.arbiter.resolve_dispute(disputed, dispute_id, upheld=False)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(disputed)
    mallory.withdraw_credits()
    d.as_(d.actors.operator).withdraw_credits()
    assert d.admin.credit_of(d.actors.mallory.address) == 0
    # Claims and proposals wait for the guardian.
    with pytest.raises(errors.EnforcedPause):
        d.admin.claim(disputed, d.operator.epoch_tree(2, build_leaves(payouts(d))), 0)
    d.guardian._send(d.guardian.contract.functions.unpause())
    d.operator.propose(3, payouts(d))


def test_voided_epoch_is_never_reproposed_and_its_leaves_do_not_replay_into_the_correction(
    deployment: Deployment,
) -> None:
    d = deployment
    header, tree = propose_leaves(d, 1, broken_chain(d))
    d.as_(d.actors.mallory).prove_fraud(header, tree)
    for attempt in ("voided", "refunded"):
        with pytest.raises(errors.SettlementEpochExists):
            d.operator.propose(1, payouts(d))
        if attempt == "voided":
            d.admin.refund(header)
    assert d.admin.status(1) == "Refunded"
    corrected = d.operator.propose(2, payouts(d))
    f = d.admin.contract.functions
    # The voided epoch's leaves and proofs do not fit the correction's root.
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(
            f.proveLeafFraud(corrected.header.as_tuple(), tree.leaves[1].as_tuple(), tree.proof(1))
        )
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(corrected.header)
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(
            f.claim(corrected.header.as_tuple(), tree.leaves[0].as_tuple(), tree.proof(0))
        )
    d.admin.claim_many([(corrected.header, corrected.tree, p) for p in range(3)])


def test_only_the_admin_sets_where_expired_funds_go(deployment: Deployment) -> None:
    d = deployment
    f = d.admin.contract.functions
    for who in (d.actors.operator, d.actors.mallory):
        with pytest.raises(errors.AccessControlUnauthorizedAccount):
            d.as_(who)._send(f.setSweepRecipient(who.address))
    proposed = finalized(d)
    with pytest.raises(errors.SettlementNotExpired):
        d.operator.sweep(proposed.header)


# --------------------------------------------------------------------------- reentrancy, more ways in


@pytest.mark.parametrize("target", ["claimMany", "sweep", "refund", "withdrawCredits"])
def test_token_hook_cannot_reenter_any_paying_function(deployment: Deployment, target: str) -> None:
    d = deployment
    address = deploy_test_contract(d.chain, d.actors.admin, "HookToken")
    token = d.chain.w3.eth.contract(address=address, abi=load_artifact("HookToken").abi)  # type: ignore[call-overload]
    d.admin._send(token.functions.mint(d.actors.operator.address, 10 * ETHER))
    proposed = d.operator.propose(1, payouts(d), token=address)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    header, tree = proposed.header.as_tuple(), proposed.tree
    f = d.admin.contract.functions
    reentry = {
        "claimMany": f.claimMany([header], [(0, tree.leaves[1].as_tuple(), tree.proof(1))]),
        "sweep": f.sweep(header),
        "refund": f.refund(header),
        "withdrawCredits": f.withdrawCredits(d.actors.mallory.address),
    }[target]
    d.admin._send(token.functions.setHook(d.admin.address, encoded(reentry)))
    d.admin.claim(proposed.header, tree, 0)  # its transfer fires the hook
    assert not token.functions.hookSucceeded().call()
    assert (
        decoded_name(bytes(token.functions.hookReturn().call())) == "ReentrancyGuardReentrantCall"
    )
    assert not d.admin.is_claimed(1, tree.leaves[1].index)
    assert token.functions.balanceOf(d.admin.address).call() == ETHER - tree.leaves[0].amount


def test_receiver_cannot_reenter_claim_many_while_it_pays(deployment: Deployment) -> None:
    d = deployment
    receiver = deploy_test_contract(d.chain, d.actors.admin, "ReentrantReceiver")
    proposed = d.operator.propose(1, {**payouts(d), receiver: ETHER})
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    tree = proposed.tree
    mine = next(i for i, leaf in enumerate(tree.leaves) if leaf.account == receiver)
    others = [p for p in range(4) if p != mine]
    attacker = d.chain.w3.eth.contract(address=receiver, abi=load_artifact("ReentrantReceiver").abi)  # type: ignore[call-overload]
    # Re-enter with a second batch holding its own leaf again and one not yet paid.
    again = d.admin.contract.functions.claimMany(
        [proposed.header.as_tuple()],
        [(0, tree.leaves[p].as_tuple(), tree.proof(p)) for p in (mine, others[-1])],
    )
    d.admin._send(attacker.functions.arm(d.admin.address, encoded(again)))
    d.admin.claim_many([(proposed.header, tree, p) for p in [mine, *others[:-1]]])
    assert attacker.functions.attempted().call()
    assert not attacker.functions.reentrySucceeded().call()
    assert decoded_name(bytes(attacker.functions.reentryReturn().call())) == (
        "ReentrancyGuardReentrantCall"
    )
    assert balance(d, receiver) == ETHER and d.admin.credit_of(receiver) == 0
    assert not d.admin.is_claimed(1, tree.leaves[others[-1]].index)
    assert d.admin.epoch_state(1)["remaining"] == tree.leaves[others[-1]].amount


# --------------------------------------------------------------------------- issue #13: incentives, time, the ABI


def test_operator_proving_its_own_fraud_first_still_loses_half_its_bond(
    deployment: Deployment,
) -> None:
    d = deployment
    header, tree = propose_leaves(d, 1, broken_chain(d))
    # The operator sees a watcher's proof coming and proves its own fraud first.
    d.operator.prove_fraud(header, tree)
    with pytest.raises(errors.SettlementWrongStatus):
        d.as_(d.actors.mallory).prove_fraud(header, tree)
    reward, burned = forfeited_bond_split(CONFIG.operator_bond)
    assert burned >= CONFIG.operator_bond // 2 > 0
    assert d.admin.credit_of(d.actors.operator.address) == reward
    assert d.admin.credit_of(BOND_BURN_ADDRESS) == burned
    d.admin.refund(header)
    d.operator.withdraw_credits()
    # What it got back is the pool and half its bond: the other half is gone for good.
    assert balance(d, d.admin.address) == burned


def config_field(name: str) -> int:
    """``IAmeSettlement.ConfigField`` of a :class:`SettlementConfig` field: the same order."""
    return [f.name for f in dataclasses.fields(SettlementConfig)].index(name)


@pytest.mark.parametrize("field", ["operator_bond", "dispute_bond"])
def test_a_zero_bond_is_refused_at_deployment(chain: Chain, field: str) -> None:
    admin = deploy_on(chain).actors.tx(chain.dev_accounts[0])
    config = dataclasses.replace(CONFIG, **{field: 0})
    with pytest.raises(errors.SettlementInvalidConfig) as info:
        SettlementClient.deploy(admin, config=config)
    assert info.value.args_by_name == {"field": config_field(field), "value": 0}


@pytest.mark.parametrize("field", ["challenge_window", "dispute_window", "claim_period"])
def test_a_window_that_could_wrap_a_deadline_is_refused_at_deployment(
    chain: Chain, field: str
) -> None:
    admin = deploy_on(chain).actors.tx(chain.dev_accounts[0])
    for value in (0, MAX_WINDOW + 1, 2**64 - 1):
        with pytest.raises(errors.SettlementInvalidConfig) as info:
            SettlementClient.deploy(admin, config=dataclasses.replace(CONFIG, **{field: value}))
        assert info.value.args_by_name == {"field": config_field(field), "value": value}


def test_the_longest_windows_still_give_the_arbiter_a_deadline_it_can_meet(chain: Chain) -> None:
    d = deploy_on(chain)
    longest = dataclasses.replace(
        CONFIG, challenge_window=MAX_WINDOW, dispute_window=MAX_WINDOW, claim_period=MAX_WINDOW
    )
    admin, _ = SettlementClient.deploy(d.actors.tx(d.actors.admin), config=longest)
    admin.grant_role("OPERATOR_ROLE", d.actors.operator.address)
    admin.grant_role("ARBITER_ROLE", d.actors.arbiter.address)
    header = admin.with_transactor(d.actors.tx(d.actors.operator)).propose(1, payouts(d)).header
    dispute_id, tx = admin.with_transactor(d.actors.tx(d.actors.mallory)).open_dispute(
        header, b"\1" * 32, ""
    )
    opened = int(chain.w3.eth.get_block(tx.receipt["blockNumber"])["timestamp"])
    assert admin.dispute_of(1, dispute_id)["deadline"] == opened + MAX_WINDOW
    chain.increase_time(MAX_WINDOW - 10)
    admin.with_transactor(d.actors.tx(d.actors.arbiter)).resolve_dispute(
        header, dispute_id, upheld=False
    )
    assert admin.expiry_of(header) == header.challenge_end + 2 * MAX_WINDOW


def test_a_pause_moves_the_expiry_so_a_sweep_never_takes_what_owners_were_locked_out_of(
    deployment: Deployment,
) -> None:
    d = deployment
    proposed = finalized(d)
    header, tree = proposed.header, proposed.tree
    nominal = header.challenge_end + CONFIG.dispute_window + CONFIG.claim_period
    assert d.admin.expiry_of(header) == nominal
    d.admin.claim(header, tree, 0)
    # Paused for the last ten days of the claim period and five days past it.
    d.chain.increase_time(nominal - d.chain.w3.eth.get_block("latest")["timestamp"] - 10 * 86400)
    d.guardian._send(d.guardian.contract.functions.pause())
    d.chain.increase_time(15 * 86400)
    d.guardian._send(d.guardian.contract.functions.unpause())
    pause = d.guardian.contract.events.Paused().get_logs(from_block=0)[-1]
    unpause = d.guardian.contract.events.Unpaused().get_logs(from_block=0)[-1]
    paused_for = sum(
        int(d.chain.w3.eth.get_block(e["blockNumber"])["timestamp"]) * sign
        for e, sign in ((unpause, 1), (pause, -1))
    )
    assert d.admin.expiry_of(header) == nominal + paused_for
    # Past the nominal expiry, the sweep waits: the owners still have the days the pause took.
    with pytest.raises(errors.SettlementNotExpired) as info:
        d.admin.sweep(header)
    assert info.value.args_by_name["expiry"] == nominal + paused_for
    d.admin.claim(header, tree, 1)
    d.chain.increase_time(paused_for)
    d.admin.sweep(header)
    assert d.admin.status(1) == "Swept"


def test_production_code_uses_only_artifacts_the_package_ships() -> None:
    # Issue #13 break 7: ERC-20 calls loaded MockERC20, a test artifact no wheel carries.
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["ame_chain"]
    shipped = {
        p.stem
        for pattern in globs
        for p in (root / "ame_chain").glob(pattern)
        if p.suffix == ".json" and p.stem != "build-info"
    }
    assert {"AmeSettlement", "IERC20"} <= shipped
    assert not shipped & {p.stem for p in (root / "ame_chain" / "artifacts" / "test").glob("*")}
    used = {
        (str(path.relative_to(root)), name)
        for package in ("ame", "ame_chain", "ame_core", "offchain")
        for path in (root / package).rglob("*.py")
        for name in re.findall(r"load_artifact\(\s*\"(\w+)\"", path.read_text())
    }
    assert ("ame_chain/client.py", "IERC20") in used
    assert [(path, name) for path, name in used if name not in shipped] == []
    # The shipped ABI is the ERC-20 interface: the calls production makes, and no minting.
    abi = {item["name"] for item in load_artifact("IERC20").abi if item["type"] == "function"}
    assert abi == {"allowance", "approve", "balanceOf", "totalSupply", "transfer", "transferFrom"}
