"""The settlement contract's life cycle, end to end through the Python client.

Runs on the in-process chain and on Anvil (see ``conftest.py``). Every revert is asserted
by its exact custom error.
"""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD

from ame_chain import errors
from ame_chain.client import BOND_BURN_ADDRESS, forfeited_bond_split
from ame_chain.contracts import load_artifact
from ame_chain.leaves import EpochHeader, EpochTree, FraudKind, PayoutLeaf, build_leaves
from ame_core.exceptions import InputError
from tests.chain.conftest import CONFIG, Deployment, deploy_test_contract

ETHER = 10**18


def payouts_for(d: Deployment) -> dict[str, int]:
    a = d.actors
    return {
        a.alice.address: 3 * ETHER // 10,
        a.bob.address: 5 * ETHER // 10,
        a.carol.address: 2 * ETHER // 10,
    }


def balance(d: Deployment, account: str) -> int:
    return int(d.chain.w3.eth.get_balance(account))


def propose_and_finalize(d: Deployment, epoch: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
    proposed = d.operator.propose(epoch, payouts_for(d), **kwargs)  # type: ignore[arg-type]
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    return proposed


# --------------------------------------------------------------------------- proposals


def test_propose_escrows_pool_and_bond(deployment: Deployment) -> None:
    d = deployment
    before = balance(d, d.admin.address)
    proposed = d.operator.propose(1, payouts_for(d), manifest_uri="ipfs://manifest")
    header = proposed.header
    assert header.pool == ETHER
    assert header.leaf_count == 3
    assert header.root == proposed.tree.root
    assert header.operator == d.actors.operator.address
    assert header.bond == CONFIG.operator_bond
    assert balance(d, d.admin.address) - before == ETHER + CONFIG.operator_bond
    assert d.admin.status(1) == "Proposed"
    assert d.admin.proposed_headers()[1] == (header, "ipfs://manifest")


def test_propose_fails_if_epoch_exists(deployment: Deployment) -> None:
    d = deployment
    d.operator.propose(1, payouts_for(d))
    with pytest.raises(errors.SettlementEpochExists) as info:
        d.operator.propose(1, payouts_for(d))
    assert info.value.args_by_name == {"epoch": 1}


def test_propose_fails_without_operator_role(deployment: Deployment) -> None:
    d = deployment
    with pytest.raises(errors.AccessControlUnauthorizedAccount):
        d.as_(d.actors.mallory).propose(1, payouts_for(d))


def test_propose_fails_with_wrong_value(deployment: Deployment) -> None:
    d = deployment
    tree = d.operator.epoch_tree(1, build_leaves(payouts_for(d)))
    call = d.operator.contract.functions.propose(
        1, bytes.fromhex(tree.root[2:]), "0x" + "00" * 20, ETHER, 3, b"\0" * 32, ""
    )
    with pytest.raises(errors.SettlementWrongValue) as info:
        d.operator.transactor.send(call, value=ETHER)  # type: ignore[union-attr]
    assert info.value.args_by_name == {"expected": ETHER + CONFIG.operator_bond, "received": ETHER}


@pytest.mark.parametrize(("pool", "leaves"), [(0, 3), (2**128, 3), (ETHER, 0)])
def test_propose_fails_with_empty_or_oversized_epoch(
    deployment: Deployment, pool: int, leaves: int
) -> None:
    d = deployment
    # An ERC-20 pool (any token address: the checks come before funding), so only the bond is sent.
    token = d.actors.alice.address
    call = d.operator.contract.functions.propose(1, b"\1" * 32, token, pool, leaves, b"\0" * 32, "")
    expected = errors.SettlementInvalidLeafCount if leaves == 0 else errors.SettlementInvalidPool
    with pytest.raises(expected):
        d.operator.transactor.send(call, value=CONFIG.operator_bond)  # type: ignore[union-attr]


def test_propose_fails_while_paused(deployment: Deployment) -> None:
    d = deployment
    d.guardian._send(d.guardian.contract.functions.pause())
    with pytest.raises(errors.EnforcedPause):
        d.operator.propose(1, payouts_for(d))


# --------------------------------------------------------------------------- finalisation and claims


def test_finalize_fails_during_challenge_window(deployment: Deployment) -> None:
    d = deployment
    header = d.operator.propose(1, payouts_for(d)).header
    with pytest.raises(errors.SettlementChallengeWindowOpen):
        d.admin.finalize(header)


def test_claims_pay_each_leaf_once_to_its_account(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    assert d.admin.status(1) == "Finalized"
    assert d.admin.credit_of(d.actors.operator.address) == CONFIG.operator_bond
    for position, leaf in enumerate(proposed.tree.leaves):
        before = balance(d, leaf.account)
        # Mallory sends the claim (front-running it, say): the money still goes to the leaf's account.
        d.as_(d.actors.mallory).claim(proposed.header, proposed.tree, position)
        assert balance(d, leaf.account) - before == leaf.amount
        assert d.admin.is_claimed(1, leaf.index)
    assert d.admin.epoch_state(1)["remaining"] == 0
    with pytest.raises(errors.SettlementAlreadyClaimed) as info:
        d.admin.claim(proposed.header, proposed.tree, 0)
    assert info.value.args_by_name == {"epoch": 1, "index": 0}


def test_claim_fails_before_finalization(deployment: Deployment) -> None:
    d = deployment
    proposed = d.operator.propose(1, payouts_for(d))
    with pytest.raises(errors.SettlementWrongStatus) as info:
        d.admin.claim(proposed.header, proposed.tree, 0)
    assert info.value.args_by_name == {"epoch": 1, "status": 0}


def test_claim_fails_with_forged_amount_or_proof(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    header, tree = proposed.header, proposed.tree
    leaf = tree.leaves[0]
    f = d.admin.contract.functions
    forged = dataclasses.replace(leaf, amount=leaf.amount + 1)
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(f.claim(header.as_tuple(), forged.as_tuple(), tree.proof(0)))
    # Someone else's account with a real proof: refused.
    stolen = dataclasses.replace(leaf, account=d.actors.mallory.address)
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(f.claim(header.as_tuple(), stolen.as_tuple(), tree.proof(0)))
    proof = tree.proof(0)
    for bad in (proof[:-1], [*proof, proof[0]], ["0x" + "ab" * 32, *proof[1:]], []):
        with pytest.raises(errors.SettlementInvalidProof):
            d.admin._send(f.claim(header.as_tuple(), leaf.as_tuple(), bad))


def test_claim_fails_with_forged_header(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    forged = dataclasses.replace(proposed.header, pool=proposed.header.pool * 2)
    with pytest.raises(errors.SettlementHeaderMismatch):
        d.admin.claim(forged, proposed.tree, 0)
    unknown = dataclasses.replace(proposed.header, epoch=99)
    with pytest.raises(errors.SettlementUnknownEpoch):
        d.admin.claim(unknown, proposed.tree, 0)


def test_leaf_from_another_epoch_cannot_be_replayed(deployment: Deployment) -> None:
    d = deployment
    first = propose_and_finalize(d, epoch=1)
    second = propose_and_finalize(d, epoch=2)
    f = d.admin.contract.functions
    leaf = first.tree.leaves[0]
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(f.claim(second.header.as_tuple(), leaf.as_tuple(), first.tree.proof(0)))


def test_leaf_for_another_contract_cannot_be_replayed(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    # A second deployment with the same epoch number and the same payouts.
    other, _ = type(d.admin).deploy(d.actors.tx(d.actors.admin), config=CONFIG)
    other.grant_role("OPERATOR_ROLE", d.actors.operator.address)
    other_proposed = other.with_transactor(d.actors.tx(d.actors.operator)).propose(
        1, payouts_for(d)
    )
    d.chain.increase_time(CONFIG.challenge_window)
    other.finalize(other_proposed.header)
    assert other_proposed.tree.root != proposed.tree.root
    f = other.contract.functions
    with pytest.raises(errors.SettlementInvalidProof):
        other._send(
            f.claim(
                other_proposed.header.as_tuple(),
                proposed.tree.leaves[0].as_tuple(),
                proposed.tree.proof(0),
            )
        )


def test_claim_many_pays_across_accounts_and_epochs(deployment: Deployment) -> None:
    d = deployment
    first = propose_and_finalize(d, epoch=1)
    second = propose_and_finalize(d, epoch=2)
    items = [(first.header, first.tree, p) for p in range(3)] + [
        (second.header, second.tree, p) for p in (0, 2)
    ]
    before = {leaf.account: balance(d, leaf.account) for leaf in first.tree.leaves}
    d.as_(d.actors.mallory).claim_many(items)
    for leaf in first.tree.leaves:
        extra = second.tree.leaves[leaf.index].amount if leaf.index in (0, 2) else 0
        assert balance(d, leaf.account) - before[leaf.account] == leaf.amount + extra
    assert d.admin.epoch_state(1)["remaining"] == 0
    assert d.admin.epoch_state(2)["remaining"] == second.tree.leaves[1].amount
    with pytest.raises(errors.SettlementAlreadyClaimed):
        d.admin.claim_many([(second.header, second.tree, 0)])


def test_claim_many_fails_on_repeated_or_unordered_epochs(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    h = proposed.header.as_tuple()
    leaf, proof = proposed.tree.leaves[0].as_tuple(), proposed.tree.proof(0)
    f = d.admin.contract.functions
    with pytest.raises(errors.SettlementBatchHeadersUnordered) as info:
        d.admin._send(f.claimMany([h, h], [(0, leaf, proof)]))
    assert info.value.args_by_name == {"position": 1}
    with pytest.raises(errors.SettlementBatchHeaderOutOfRange):
        d.admin._send(f.claimMany([h], [(1, leaf, proof)]))


def test_claims_fail_while_paused_and_resume_after(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    d.guardian._send(d.guardian.contract.functions.pause())
    with pytest.raises(errors.EnforcedPause):
        d.admin.claim(proposed.header, proposed.tree, 0)
    with pytest.raises(errors.AccessControlUnauthorizedAccount):
        d.as_(d.actors.mallory)._send(d.admin.contract.functions.unpause())
    d.guardian._send(d.guardian.contract.functions.unpause())
    d.admin.claim(proposed.header, proposed.tree, 0)


# --------------------------------------------------------------------------- ERC-20 pools


def test_erc20_epoch_is_funded_by_transfer_and_claimed(deployment: Deployment) -> None:
    d = deployment
    token_address = deploy_test_contract(d.chain, d.actors.admin, "MockERC20", "Test", "TST")
    token = d.chain.w3.eth.contract(address=token_address, abi=load_artifact("MockERC20").abi)
    d.admin._send(token.functions.mint(d.actors.operator.address, 10 * ETHER))
    proposed = propose_and_finalize(d, token=token_address)
    assert token.functions.balanceOf(d.admin.address).call() == ETHER
    d.as_(d.actors.mallory).claim_many([(proposed.header, proposed.tree, p) for p in range(3)])
    for leaf in proposed.tree.leaves:
        assert token.functions.balanceOf(leaf.account).call() == leaf.amount
    assert token.functions.balanceOf(d.admin.address).call() == 0


def test_fee_on_transfer_token_is_refused_at_proposal(deployment: Deployment) -> None:
    d = deployment
    token_address = deploy_test_contract(d.chain, d.actors.admin, "FeeOnTransferToken")
    token = d.chain.w3.eth.contract(
        address=token_address, abi=load_artifact("FeeOnTransferToken").abi
    )
    d.admin._send(token.functions.mint(d.actors.operator.address, 10 * ETHER))
    with pytest.raises(errors.SettlementFundingMismatch) as info:
        d.operator.propose(1, payouts_for(d), token=token_address)
    assert info.value.args_by_name["expected"] == ETHER
    assert info.value.args_by_name["received"] == ETHER - ETHER // 100


def test_false_returning_token_cannot_fund_or_pay(deployment: Deployment) -> None:
    d = deployment
    token_address = deploy_test_contract(d.chain, d.actors.admin, "FalseReturningToken")
    token = d.chain.w3.eth.contract(
        address=token_address, abi=load_artifact("FalseReturningToken").abi
    )
    d.admin._send(token.functions.mint(d.actors.operator.address, 10 * ETHER))
    d.admin._send(token.functions.setRefuseTransfers(True))
    with pytest.raises(errors.SafeERC20FailedOperation):
        d.operator.propose(1, payouts_for(d), token=token_address)
    d.admin._send(token.functions.setRefuseTransfers(False))
    proposed = propose_and_finalize(d, epoch=2, token=token_address)
    d.admin._send(token.functions.setRefuseTransfers(True))
    with pytest.raises(errors.SafeERC20FailedOperation):
        d.admin.claim(proposed.header, proposed.tree, 0)
    assert not d.admin.is_claimed(2, 0)  # the whole claim rolled back


# --------------------------------------------------------------------------- fraud proofs


def faulty_epoch(  # type: ignore[no-untyped-def]
    d: Deployment, leaves: list[PayoutLeaf], pool: int | None = None, leaf_count: int | None = None
):
    """Propose ``leaves`` as they are (faults and all), with ``pool`` and ``leaf_count`` (from the leaves by default)."""
    epoch = 1
    tree = d.operator.epoch_tree(epoch, leaves)
    pool = tree.pool if pool is None else pool
    leaf_count = len(leaves) if leaf_count is None else leaf_count
    bond = CONFIG.operator_bond
    result = d.operator._send(
        d.operator.contract.functions.propose(
            epoch, bytes.fromhex(tree.root[2:]), "0x" + "00" * 20, pool, leaf_count, b"\0" * 32, ""
        ),
        value=pool + bond,
    )
    (event,) = d.operator.contract.events.EpochProposed().process_receipt(
        result.receipt, errors=DISCARD
    )
    return EpochHeader.from_event(event["args"]), tree


def honest_leaves(d: Deployment) -> list[PayoutLeaf]:
    return build_leaves(payouts_for(d))


def _faulty_cases(
    d: Deployment,
) -> dict[FraudKind, tuple[list[PayoutLeaf], int | None, int | None]]:
    honest = honest_leaves(d)
    a, b, c = honest
    return {
        FraudKind.INDEX_OUT_OF_RANGE: ([a, b, c, PayoutLeaf(3, c.account, 1, ETHER)], ETHER, 3),
        FraudKind.FIRST_LEAF_NOT_AT_ZERO: (
            [dataclasses.replace(a, amount_before=1), b, c],
            None,
            None,
        ),
        FraudKind.LEAF_EXCEEDS_POOL: (
            [a, dataclasses.replace(b, amount=2 * ETHER), c],
            ETHER,
            None,
        ),
        FraudKind.LAST_LEAF_POOL_MISMATCH: (honest, ETHER + 5, None),
        FraudKind.ZERO_ACCOUNT: (
            [dataclasses.replace(a, account="0x" + "00" * 20), b, c],
            None,
            None,
        ),
        FraudKind.BROKEN_CHAIN: (
            [a, dataclasses.replace(b, amount_before=b.amount_before + 1), c],
            None,
            None,
        ),
        FraudKind.ACCOUNTS_NOT_INCREASING: (
            [a, dataclasses.replace(b, account=a.account), c],
            None,
            None,
        ),
        FraudKind.DUPLICATE_INDEX: ([a, b, dataclasses.replace(c, amount=1), c], None, None),
        # Issue #13's missing index: 0..2 honest, 3 absent, 4 the whole pool again to a sybil.
        FraudKind.AMOUNT_RANGES_OVERLAP: (
            [a, b, c, PayoutLeaf(4, to_checksum_address("0x" + "ff" * 20), ETHER, 0)],
            ETHER,
            5,
        ),
    }


@pytest.mark.parametrize("kind", list(FraudKind), ids=[k.name for k in FraudKind])
def test_fraud_proof_voids_faulty_epoch_and_pays_bond(
    deployment: Deployment, kind: FraudKind
) -> None:
    d = deployment
    leaves, pool, leaf_count = _faulty_cases(d)[kind]
    header, tree = faulty_epoch(d, leaves, pool, leaf_count)
    faults = d.admin.find_faults(header, tree)
    chosen = next(f for f in faults if f.kind == kind)
    prover = d.as_(d.actors.mallory)
    _fault, result = prover.prove_fraud(header, tree, chosen)
    (event,) = d.admin.contract.events.FraudProven().process_receipt(result.receipt, errors=DISCARD)
    assert event["args"]["kind"] == kind
    assert d.admin.status(1) == "Voided"
    # Half the bond to the prover, half burned (an operator proving itself first still loses).
    reward, burned = forfeited_bond_split(CONFIG.operator_bond)
    assert d.admin.credit_of(d.actors.mallory.address) == reward
    assert d.admin.credit_of(BOND_BURN_ADDRESS) == burned
    # The pool goes back to the operator, once.
    before = balance(d, d.actors.operator.address)
    d.admin.refund(header)
    assert balance(d, d.actors.operator.address) - before == header.pool
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin.refund(header)


def test_fraud_proof_is_refused_for_honest_leaves(deployment: Deployment) -> None:
    d = deployment
    leaves = honest_leaves(d)
    header, tree = faulty_epoch(d, leaves)
    assert d.admin.find_faults(header, tree) == []
    f = d.admin.contract.functions
    for p in range(3):
        with pytest.raises(errors.SettlementNoFraud):
            d.admin._send(f.proveLeafFraud(header.as_tuple(), leaves[p].as_tuple(), tree.proof(p)))
    for p, q in ((0, 1), (1, 2), (0, 2), (1, 1)):
        with pytest.raises(errors.SettlementNoFraud):
            d.admin._send(
                f.provePairFraud(
                    header.as_tuple(),
                    leaves[p].as_tuple(),
                    tree.proof(p),
                    leaves[q].as_tuple(),
                    tree.proof(q),
                )
            )


def test_voided_epoch_cannot_be_finalized_claimed_or_reproposed(deployment: Deployment) -> None:
    d = deployment
    leaves, pool, _ = _faulty_cases(d)[FraudKind.BROKEN_CHAIN]
    header, tree = faulty_epoch(d, leaves, pool)
    d.admin.prove_fraud(header, tree)
    d.chain.increase_time(CONFIG.challenge_window)
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin.finalize(header)
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin.claim(header, tree, 0)
    with pytest.raises(errors.SettlementEpochExists):
        d.operator.propose(1, payouts_for(d))


def test_fraud_proof_fails_after_finalization(deployment: Deployment) -> None:
    d = deployment
    leaves, pool, _ = _faulty_cases(d)[FraudKind.BROKEN_CHAIN]
    header, tree = faulty_epoch(d, leaves, pool)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(header)
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin.prove_fraud(header, tree)


def test_pool_cap_holds_for_unchallenged_faulty_epoch(deployment: Deployment) -> None:
    d = deployment
    # Nobody challenged this over-allocating tree in time: claims still stop at the pool.
    a, b, c = honest_leaves(d)
    leaves = [a, b, dataclasses.replace(c, amount=c.amount + ETHER)]
    header, tree = faulty_epoch(d, leaves, pool=ETHER)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(header)
    d.admin.claim(header, tree, 0)
    d.admin.claim(header, tree, 1)
    with pytest.raises(errors.SettlementPoolExceeded) as info:
        d.admin.claim(header, tree, 2)
    assert info.value.args_by_name["remaining"] == c.amount


# --------------------------------------------------------------------------- disputes


def test_upheld_dispute_voids_epoch_and_pays_challenger(deployment: Deployment) -> None:
    d = deployment
    header = d.operator.propose(1, payouts_for(d)).header
    challenger = d.as_(d.actors.mallory)
    dispute_id, _ = challenger.open_dispute(header, b"\x01" * 32, "ipfs://evidence")
    d.chain.increase_time(CONFIG.challenge_window)
    with pytest.raises(errors.SettlementOpenDisputes):
        d.admin.finalize(header)
    with pytest.raises(errors.AccessControlUnauthorizedAccount):
        challenger.resolve_dispute(header, dispute_id, upheld=True)
    d.arbiter.resolve_dispute(header, dispute_id, upheld=True)
    assert d.admin.status(1) == "Voided"
    reward, burned = forfeited_bond_split(CONFIG.operator_bond)
    assert d.admin.credit_of(d.actors.mallory.address) == CONFIG.dispute_bond + reward
    assert d.admin.credit_of(BOND_BURN_ADDRESS) == burned
    before = balance(d, d.actors.bob.address)
    challenger.withdraw_credits(d.actors.bob.address)
    assert balance(d, d.actors.bob.address) - before == CONFIG.dispute_bond + reward
    with pytest.raises(errors.SettlementNoCredit):
        challenger.withdraw_credits()


def test_rejected_dispute_forfeits_bond_to_operator_and_allows_finalization(
    deployment: Deployment,
) -> None:
    d = deployment
    header = d.operator.propose(1, payouts_for(d)).header
    dispute_id, _ = d.as_(d.actors.mallory).open_dispute(header, b"\x01" * 32, "")
    d.arbiter.resolve_dispute(header, dispute_id, upheld=False)
    with pytest.raises(errors.SettlementDisputeNotOpen):
        d.arbiter.resolve_dispute(header, dispute_id, upheld=True)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(header)
    assert (
        d.admin.credit_of(d.actors.operator.address) == CONFIG.dispute_bond + CONFIG.operator_bond
    )


def test_silent_arbiter_cannot_lock_funds(deployment: Deployment) -> None:
    d = deployment
    header = d.operator.propose(1, payouts_for(d)).header
    dispute_id, _ = d.as_(d.actors.mallory).open_dispute(header, b"\x01" * 32, "")
    with pytest.raises(errors.SettlementDisputeNotDismissable):
        d.admin.dismiss_dispute(header, dispute_id)
    d.chain.increase_time(CONFIG.dispute_window)
    with pytest.raises(errors.SettlementDisputeDeadlinePassed):
        d.arbiter.resolve_dispute(header, dispute_id, upheld=True)
    d.admin.dismiss_dispute(header, dispute_id)  # anyone may: the documented default
    assert d.admin.credit_of(d.actors.mallory.address) == CONFIG.dispute_bond
    d.admin.finalize(header)
    assert d.admin.status(1) == "Finalized"


def test_dispute_fails_after_window_or_with_wrong_bond(deployment: Deployment) -> None:
    d = deployment
    header = d.operator.propose(1, payouts_for(d)).header
    f = d.admin.contract.functions
    with pytest.raises(errors.SettlementWrongValue):
        d.admin._send(f.openDispute(header.as_tuple(), b"\1" * 32, ""), value=1)
    d.chain.increase_time(CONFIG.challenge_window)
    with pytest.raises(errors.SettlementChallengeWindowClosed):
        d.admin.open_dispute(header, b"\x01" * 32, "")


# --------------------------------------------------------------------------- sweeps and receivers


def test_sweep_only_after_expiry_and_only_the_remainder(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    d.admin.claim(proposed.header, proposed.tree, 0)
    with pytest.raises(errors.SettlementNotExpired):
        d.admin.sweep(proposed.header)
    d.chain.increase_time(CONFIG.dispute_window + CONFIG.claim_period)
    before = balance(d, d.actors.admin.address)
    d.as_(d.actors.mallory).sweep(proposed.header)
    assert balance(d, d.actors.admin.address) - before == ETHER - proposed.tree.leaves[0].amount
    assert d.admin.status(1) == "Swept"
    with pytest.raises(errors.SettlementWrongStatus):
        d.admin.claim(proposed.header, proposed.tree, 1)


def test_reverting_receiver_is_credited_and_can_forward(deployment: Deployment) -> None:
    d = deployment
    receiver = deploy_test_contract(d.chain, d.actors.admin, "RevertingReceiver")
    payouts = {**payouts_for(d), receiver: ETHER}
    proposed = d.operator.propose(1, payouts)
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    position = next(i for i, leaf in enumerate(proposed.tree.leaves) if leaf.account == receiver)
    # A batch with the refusing account still pays everyone; its ETH waits as a credit.
    d.admin.claim_many([(proposed.header, proposed.tree, p) for p in range(4)])
    assert d.admin.credit_of(receiver) == ETHER
    wrapper = d.chain.w3.eth.contract(address=receiver, abi=load_artifact("RevertingReceiver").abi)
    withdraw = d.admin.contract.functions.withdrawCredits(
        d.actors.carol.address
    )._encode_transaction_data()
    before = balance(d, d.actors.carol.address)
    d.admin._send(wrapper.functions.execute(d.admin.address, withdraw))
    assert balance(d, d.actors.carol.address) - before == ETHER
    assert d.admin.is_claimed(1, proposed.tree.leaves[position].index)


def test_reentrant_receiver_cannot_claim_twice(deployment: Deployment) -> None:
    d = deployment
    receiver = deploy_test_contract(d.chain, d.actors.admin, "ReentrantReceiver")
    proposed = d.operator.propose(1, {**payouts_for(d), receiver: ETHER})
    d.chain.increase_time(CONFIG.challenge_window)
    d.admin.finalize(proposed.header)
    position = next(i for i, leaf in enumerate(proposed.tree.leaves) if leaf.account == receiver)
    leaf = proposed.tree.leaves[position]
    attacker = d.chain.w3.eth.contract(address=receiver, abi=load_artifact("ReentrantReceiver").abi)
    reenter = d.admin.contract.functions.claim(
        proposed.header.as_tuple(), leaf.as_tuple(), proposed.tree.proof(position)
    )._encode_transaction_data()
    d.admin._send(attacker.functions.arm(d.admin.address, reenter))
    d.admin.claim(proposed.header, proposed.tree, position)
    assert attacker.functions.attempted().call()
    assert not attacker.functions.reentrySucceeded().call()
    # The re-entry was refused and the leaf paid exactly once.
    assert balance(d, receiver) == ETHER
    assert d.admin.credit_of(receiver) == 0


# --------------------------------------------------------------------------- more attacks


def _token(d: Deployment, name: str, *args: object):  # type: ignore[no-untyped-def]
    address = deploy_test_contract(d.chain, d.actors.admin, name, *args)
    contract = d.chain.w3.eth.contract(address=address, abi=load_artifact(name).abi)
    d.admin._send(contract.functions.mint(d.actors.operator.address, 10 * ETHER))
    return contract


def test_reentrancy_through_token_hook_is_refused(deployment: Deployment) -> None:
    d = deployment
    token = _token(d, "HookToken")
    proposed = propose_and_finalize(d, token=token.address)
    leaf = proposed.tree.leaves[1]
    reenter = d.admin.contract.functions.claim(
        proposed.header.as_tuple(), leaf.as_tuple(), proposed.tree.proof(1)
    )._encode_transaction_data()
    d.admin._send(token.functions.setHook(d.admin.address, reenter))
    d.admin.claim(proposed.header, proposed.tree, 0)  # its transfer fires the hook
    assert not token.functions.hookSucceeded().call()
    reason = bytes(token.functions.hookReturn().call())
    assert errors.decode_revert(reason).__class__.__name__ == "ReentrancyGuardReentrantCall"
    assert not d.admin.is_claimed(1, leaf.index)
    d.admin.claim(proposed.header, proposed.tree, 1)  # still claimable, once
    assert token.functions.balanceOf(leaf.account).call() == leaf.amount


def test_blacklisted_account_blocks_only_itself_and_is_swept_at_expiry(
    deployment: Deployment,
) -> None:
    d = deployment
    token = _token(d, "BlacklistToken")
    proposed = propose_and_finalize(d, token=token.address)
    victim = proposed.tree.leaves[0]
    d.admin._send(token.functions.setBlacklisted(victim.account, True))
    with pytest.raises(errors.Blacklisted):
        d.admin.claim(proposed.header, proposed.tree, 0)
    d.admin.claim_many([(proposed.header, proposed.tree, p) for p in (1, 2)])
    d.chain.increase_time(CONFIG.dispute_window + CONFIG.claim_period)
    d.admin.sweep(proposed.header)
    assert token.functions.balanceOf(d.actors.admin.address).call() == victim.amount
    assert token.functions.balanceOf(d.admin.address).call() == 0


def test_leaf_for_another_chain_cannot_be_replayed(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    leaves = proposed.tree.leaves
    elsewhere = EpochTree(d.chain.chain_id + 1, d.admin.address, 1, leaves)
    assert elsewhere.root != proposed.tree.root
    f = d.admin.contract.functions
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(f.claim(proposed.header.as_tuple(), leaves[0].as_tuple(), elsewhere.proof(0)))


def test_internal_node_cannot_pose_as_a_leaf(deployment: Deployment) -> None:
    d = deployment
    proposed = propose_and_finalize(d)
    tree, header = proposed.tree, proposed.header
    f = d.admin.contract.functions
    # The contract hashes the leaf itself (double keccak of the 224-byte encoding), so a proof
    # shortened to start at an internal node proves nothing.
    with pytest.raises(errors.SettlementInvalidProof):
        d.admin._send(f.claim(header.as_tuple(), tree.leaves[0].as_tuple(), tree.proof(0)[1:]))
    expected = tree.tree.leaf_hash(tree.values(tree.leaves[0]))
    assert "0x" + bytes(f.leafHash(1, tree.leaves[0].as_tuple()).call()).hex() == expected


def test_find_faults_refuses_a_tree_that_is_not_the_epochs(deployment: Deployment) -> None:
    d = deployment
    leaves = honest_leaves(d)
    header, tree = faulty_epoch(d, leaves)
    with pytest.raises(InputError, match="expected chain"):
        d.admin.find_faults(header, d.admin.epoch_tree(2, leaves))
    altered = [*leaves[:2], dataclasses.replace(leaves[2], amount=1)]
    with pytest.raises(InputError, match="committed to"):
        d.admin.find_faults(header, d.admin.epoch_tree(1, altered))
    with pytest.raises(InputError, match="shows no fault"):
        d.admin.prove_fraud(header, tree)
