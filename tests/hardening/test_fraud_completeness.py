"""Issue #13: the fraud rules are complete, searched over faulty trees of every kind.

The property, as docs/settlement.md states it: *if no fault can be proven during the
window, the leaves that can ever be claimed pay at most the pool in total and each account
at most once.* The oracle here knows nothing of the rules: it reads a tree the way claims
do (a leaf is claimable when its index is below the leaf count, and the bitmap lets one
leaf per index be paid) and asks whether the claimable leaves could pay more than the pool
or pay an account at two indices. Whenever they could, :func:`find_faults` must find a
proof and the contract must accept every proof it lists, with the kind it names. No honest
tree, conversely, may yield a fault or any accepted proof, single or pair.

Trees start honest (``build_leaves``) and are then broken by a drawn list of edits: gaps,
overlapping ranges, duplicates at one index, reordered accounts or indices, extra leaves
past ``n``, sybil copies at free indices, boundary leaves (amounts of 0, the pool, 2^256 - 1,
the last index), a pool or leaf count off by some, and trees of one leaf. A seeded search
runs in ``make test``; a long one, marked ``soak``, in ``make soak``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from ame_chain import errors
from ame_chain.chains import InProcessChain
from ame_chain.errors import chain_errors
from ame_chain.leaves import EpochHeader, EpochTree, PayoutLeaf, build_leaves, find_faults
from tests.chain.conftest import CONFIG, Deployment
from tests.hardening.conftest import deploy_on

UINT256_MAX = 2**256 - 1
ZERO = "0x" + "00" * 20
#: Accounts in increasing order, as honest leaves need them.
ACCOUNTS = sorted(
    (to_checksum_address(f"0x{i:02x}" + "11" * 19) for i in range(1, 9)),
    key=lambda a: int(a, 16),
)
EDITS = (
    "gap",
    "overlap",
    "duplicate_index",
    "swap_accounts",
    "swap_indices",
    "past_n",
    "sybil",
    "boundary",
    "pool",
    "leaf_count",
)


@dataclasses.dataclass
class Case:
    """A tree as an operator might propose it: leaves, pool and leaf count."""

    leaves: list[PayoutLeaf]
    pool: int
    leaf_count: int
    edits: list[str]


@st.composite
def honest_cases(draw: st.DrawFn) -> Case:
    amounts = draw(st.lists(st.integers(1, 100), min_size=1, max_size=6))
    accounts = draw(st.permutations(ACCOUNTS))[: len(amounts)]
    leaves = build_leaves(dict(zip(accounts, amounts, strict=True)))
    return Case(leaves, sum(amounts), len(leaves), [])


def _edit(draw: st.DrawFn, case: Case, edit: str) -> None:
    leaves, n = case.leaves, len(case.leaves)
    pick = draw(st.integers(0, n - 1))
    leaf = leaves[pick]
    amount = st.sampled_from([0, 1, case.pool - 1, case.pool, case.pool + 1, 2**128, UINT256_MAX])
    if edit == "gap" and n > 1:
        del leaves[pick]
    elif edit == "overlap":
        leaves[pick] = dataclasses.replace(
            leaf, amount_before=draw(st.integers(0, max(leaf.amount_before, 1) + 5))
        )
    elif edit == "duplicate_index":
        leaves.append(
            dataclasses.replace(leaf, amount=draw(amount), account=draw(st.sampled_from(ACCOUNTS)))
        )
    elif edit == "swap_accounts" and n > 1:
        other = draw(st.integers(0, n - 1))
        a, b = leaves[pick], leaves[other]
        leaves[pick] = dataclasses.replace(a, account=b.account)
        leaves[other] = dataclasses.replace(b, account=a.account)
    elif edit == "swap_indices" and n > 1:
        other = draw(st.integers(0, n - 1))
        a, b = leaves[pick], leaves[other]
        leaves[pick] = dataclasses.replace(a, index=b.index)
        leaves[other] = dataclasses.replace(b, index=a.index)
    elif edit == "past_n":
        index = case.leaf_count + draw(st.sampled_from([0, 1, 7, UINT256_MAX - case.leaf_count]))
        leaves.append(PayoutLeaf(index, draw(st.sampled_from(ACCOUNTS)), draw(amount), 0))
    elif edit == "sybil":
        # A copy of a leaf (its account, or a fresh one) at a free index, often the last.
        used = {x.index for x in leaves}
        free = [i for i in range(case.leaf_count + 2) if i not in used] or [case.leaf_count]
        index = draw(st.sampled_from(free))
        account = draw(st.sampled_from([leaf.account, *ACCOUNTS]))
        before = draw(st.sampled_from([0, leaf.amount_before, case.pool - leaf.amount]))
        leaves.append(PayoutLeaf(index, account, leaf.amount, max(before, 0)))
        case.leaf_count = max(case.leaf_count, draw(st.sampled_from([index, index + 1])))
    elif edit == "boundary":
        leaves[pick] = dataclasses.replace(
            leaf,
            amount=draw(amount),
            amount_before=draw(
                st.sampled_from([0, leaf.amount_before, case.pool, UINT256_MAX, 2**128])
            ),
            account=draw(st.sampled_from([leaf.account, ZERO])),
        )
    elif edit == "pool":
        case.pool = max(1, case.pool + draw(st.integers(-3, 3)))
    elif edit == "leaf_count":
        case.leaf_count = max(1, case.leaf_count + draw(st.integers(-2, 2)))
    case.edits.append(edit)


@st.composite
def faulty_cases(draw: st.DrawFn) -> Case:
    case = draw(honest_cases())
    for edit in draw(st.lists(st.sampled_from(EDITS), min_size=1, max_size=4)):
        _edit(draw, case, edit)
    return case


def could_overpay(case: Case) -> bool:
    """Whether claims, one leaf per index below the leaf count, could pay past the pool or an account twice."""
    best: dict[int, int] = {}
    accounts: dict[str, set[int]] = {}
    for leaf in case.leaves:
        if leaf.index < case.leaf_count:
            best[leaf.index] = max(best.get(leaf.index, 0), leaf.amount)
            accounts.setdefault(leaf.account, set()).add(leaf.index)
    return sum(best.values()) > case.pool or any(len(i) > 1 for i in accounts.values())


# --------------------------------------------------------------------------- the chain


@dataclasses.dataclass
class Bench:
    d: Deployment
    next_epoch: int = 1

    def propose(self, case: Case) -> tuple[EpochHeader, EpochTree]:
        d, epoch = self.d, self.next_epoch
        self.next_epoch += 1
        tree = d.operator.epoch_tree(epoch, case.leaves)
        call = d.operator.contract.functions.propose(
            epoch, bytes.fromhex(tree.root[2:]), ZERO, case.pool, case.leaf_count, b"\0" * 32, ""
        )
        result = d.operator._send(call, value=case.pool + CONFIG.operator_bond)
        (event,) = d.operator.contract.events.EpochProposed().process_receipt(
            result.receipt, errors=DISCARD
        )
        return EpochHeader.from_event(event["args"]), tree

    def accepted(self, header: EpochHeader, tree: EpochTree, positions: tuple[int, ...]) -> Any:
        """The kind the contract returns for this proof, or None when it reverts ``SettlementNoFraud``."""
        f = self.d.admin.contract.functions
        leaves = tree.leaves
        if len(positions) == 1:
            (p,) = positions
            call = f.proveLeafFraud(header.as_tuple(), leaves[p].as_tuple(), tree.proof(p))
        else:
            p, q = positions
            call = f.provePairFraud(
                header.as_tuple(),
                leaves[p].as_tuple(),
                tree.proof(p),
                leaves[q].as_tuple(),
                tree.proof(q),
            )
        try:
            with chain_errors():
                return call.call({"from": self.d.actors.mallory.address})
        except errors.SettlementNoFraud:
            return None


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    chain = InProcessChain()
    try:
        yield Bench(deploy_on(chain))
    finally:
        chain.close()


def check_faulty(bench: Bench, case: Case) -> None:
    header, tree = bench.propose(case)
    faults = find_faults(header, case.leaves)
    if could_overpay(case):
        assert faults, f"claims could overpay but no fault was found: {case}"
    for fault in faults:
        kind = bench.accepted(header, tree, fault.positions)
        assert kind == fault.kind, f"{fault} refused or misnamed ({kind}) for {case}"


def check_honest(bench: Bench, case: Case) -> None:
    header, tree = bench.propose(case)
    assert not could_overpay(case)
    assert find_faults(header, case.leaves) == []
    n = len(case.leaves)
    for p in range(n):
        assert bench.accepted(header, tree, (p,)) is None
        for q in range(n):
            assert bench.accepted(header, tree, (p, q)) is None, (p, q, case)


SEARCH = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SEARCH
@given(case=faulty_cases())
def test_whenever_claims_could_overpay_find_faults_finds_a_proof_the_contract_accepts(
    bench: Bench, case: Case
) -> None:
    check_faulty(bench, case)


@settings(SEARCH, max_examples=20)
@given(case=honest_cases())
def test_no_honest_tree_yields_an_accepted_proof(bench: Bench, case: Case) -> None:
    check_honest(bench, case)


def test_the_missing_index_sybil_of_issue_13_is_caught_by_a_pair_proof(bench: Bench) -> None:
    # Leaves 0..2 honest, index 3 absent, index 4 the last, paying the whole pool again.
    a, b, c = build_leaves({ACCOUNTS[0]: 3, ACCOUNTS[1]: 5, ACCOUNTS[2]: 2})
    sybil = PayoutLeaf(4, ACCOUNTS[7], 10, 0)
    case = Case([a, b, c, sybil], 10, 5, ["sybil"])
    assert could_overpay(case)
    header, _ = bench.propose(case)
    assert [f for f in find_faults(header, case.leaves) if f.is_single] == []
    check_faulty(bench, case)
    # And the duplicate-account variant: the same account at two indices, ranges apart.
    twice = PayoutLeaf(4, ACCOUNTS[0], 0, 10)
    check_faulty(bench, Case([a, b, c, twice], 10, 5, ["sybil"]))


def test_overflowing_leaves_are_named_as_the_contract_names_them(bench: Bench) -> None:
    # Found by the soak search: two leaves at amountBefore = 2**256 - 1. The contract's
    # amountAfter saturates there, so the pair chains and is refused for its accounts
    # (ACCOUNTS_NOT_INCREASING); find_faults added exactly and called it BROKEN_CHAIN.
    top = 2**256 - 1
    leaves = [PayoutLeaf(0, ACCOUNTS[0], 1, top), PayoutLeaf(1, ACCOUNTS[0], 1, top)]
    check_faulty(bench, Case(leaves, 1, 1, ["gap", "boundary", "sybil"]))


@pytest.mark.soak
@pytest.mark.parametrize("shard", range(4))
def test_fraud_completeness_long(bench: Bench, shard: int) -> None:
    """The same search, 4 x 2,500 faulty trees and 4 x 250 honest ones, each shard seeded."""
    long = settings(SEARCH, max_examples=2_500, derandomize=False)

    @seed(shard)
    @long
    @given(case=faulty_cases())
    def faulty(case: Case) -> None:
        check_faulty(bench, case)

    @seed(shard)
    @settings(long, max_examples=250)
    @given(case=honest_cases())
    def honest(case: Case) -> None:
        check_honest(bench, case)

    faulty()
    honest()
