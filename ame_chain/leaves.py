"""Payout leaves, epoch trees and the fraud rules, exactly as the settlement contract sees them.

A payout list becomes leaves sorted by account (as 160-bit numbers, strictly increasing),
each carrying its ``index`` and ``amount_before``, the sum of the amounts before it. The
leaf type is mapping's own (:class:`offchain.mapping.PayoutLeaf`, built by
:func:`offchain.mapping.build_leaves`, re-exported here because the tree and the fraud
rules take it): a manifest's leaves go into the tree as they are. The tree is an
OpenZeppelin standard tree over :data:`LEAF_ENCODING`, whose values also bind the chain
id, the settlement contract and the epoch.

:func:`find_faults` applies the contract's fraud rules (``SettlementLeaf.sol``) to a
published leaf list, so a challenger knows which proof to submit, and an operator can
check its own epoch before proposing it.

The rules are complete for what claims can take. A leaf is faulty on its own when its
index is not below the leaf count, the first leaf does not start at zero, its amount
range ``[amount_before, amount_before + amount)`` leaves ``[0, pool]``, the last leaf
does not end at the pool, or its account is zero. Two leaves ``a``, ``b`` with
``a.index < b.index`` are a fault when they share an index with different contents,
when adjacent ones do not chain (``b.amount_before == a.amount_before + a.amount``),
when their ranges overlap (``b.amount_before < a.amount_before + a.amount``), or when
accounts do not strictly increase. With none of these, the claimable leaves (one per
index below the leaf count, the contract's bitmap) have disjoint ranges inside
``[0, pool]`` and distinct accounts: they pay at most the pool, each account once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ame_chain.merkle import StandardMerkleTree
from ame_core.exceptions import InputError
from offchain.mapping import PayoutLeaf, build_leaves

__all__ = [
    "LEAF_ENCODING",
    "EpochHeader",
    "EpochTree",
    "Fault",
    "FraudKind",
    "PayoutLeaf",
    "build_leaves",
    "find_faults",
]

#: ``IAmeSettlement.EpochHeader`` as one ABI tuple: the epoch's commitment is its keccak256.
HEADER_ENCODING = "(uint256,bytes32,address,uint256,uint256,uint256,address,uint256,bytes32)"
#: ``(chainId, settlement, epoch, index, account, amount, amountBefore)``.
LEAF_ENCODING = ["uint256", "address", "uint256", "uint256", "address", "uint256", "uint256"]
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class FraudKind(enum.IntEnum):
    """Mirror of ``IAmeSettlement.FraudKind`` (same order, same numbers)."""

    INDEX_OUT_OF_RANGE = 0
    FIRST_LEAF_NOT_AT_ZERO = 1
    LEAF_EXCEEDS_POOL = 2
    LAST_LEAF_POOL_MISMATCH = 3
    ZERO_ACCOUNT = 4
    BROKEN_CHAIN = 5
    ACCOUNTS_NOT_INCREASING = 6
    DUPLICATE_INDEX = 7
    AMOUNT_RANGES_OVERLAP = 8


@dataclass(frozen=True)
class EpochHeader:
    """Mirror of ``IAmeSettlement.EpochHeader``; its ABI hash is the epoch's on-chain commitment."""

    epoch: int
    root: str
    token: str
    pool: int
    leaf_count: int
    challenge_end: int
    operator: str
    bond: int
    manifest_hash: str

    def as_tuple(self) -> tuple[Any, ...]:
        """The header as the contract's struct."""
        return (
            self.epoch,
            bytes.fromhex(self.root.removeprefix("0x")),
            self.token,
            self.pool,
            self.leaf_count,
            self.challenge_end,
            self.operator,
            self.bond,
            bytes.fromhex(self.manifest_hash.removeprefix("0x")),
        )

    @classmethod
    def from_event(cls, args: Mapping[str, Any]) -> EpochHeader:
        """Build from the decoded arguments of an ``EpochProposed`` event."""
        return cls.from_abi(args)

    @classmethod
    def from_abi(cls, value: Mapping[str, Any] | Sequence[Any]) -> EpochHeader:
        """Build from a decoded struct (a call result) or a mapping with the struct's field names."""
        if isinstance(value, Mapping):
            fields = [
                value[k]
                for k in (
                    "epoch",
                    "root",
                    "token",
                    "pool",
                    "leafCount",
                    "challengeEnd",
                    "operator",
                    "bond",
                    "manifestHash",
                )
            ]
        else:
            fields = list(value)
        epoch, root, token, pool, leaf_count, challenge_end, operator, bond, manifest = fields
        return cls(
            epoch=int(epoch),
            root="0x" + bytes(root).hex(),
            token=to_checksum_address(token),
            pool=int(pool),
            leaf_count=int(leaf_count),
            challenge_end=int(challenge_end),
            operator=to_checksum_address(operator),
            bond=int(bond),
            manifest_hash="0x" + bytes(manifest).hex(),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form; amounts as decimal strings."""
        return {
            "epoch": self.epoch,
            "root": self.root,
            "token": self.token,
            "pool": str(self.pool),
            "leafCount": self.leaf_count,
            "challengeEnd": self.challenge_end,
            "operator": self.operator,
            "bond": str(self.bond),
            "manifestHash": self.manifest_hash,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EpochHeader:
        """Inverse of :meth:`to_json`."""
        return cls(
            epoch=int(data["epoch"]),
            root=str(data["root"]),
            token=to_checksum_address(data["token"]),
            pool=int(data["pool"]),
            leaf_count=int(data["leafCount"]),
            challenge_end=int(data["challengeEnd"]),
            operator=to_checksum_address(data["operator"]),
            bond=int(data["bond"]),
            manifest_hash=str(data["manifestHash"]),
        )

    def commitment(self) -> str:
        """``keccak256(abi.encode(header))``: what the contract stores for the epoch (0x-hex)."""
        return "0x" + keccak(abi_encode([HEADER_ENCODING], [self.as_tuple()])).hex()

    @property
    def is_eth(self) -> bool:
        """Whether the epoch pays in ETH."""
        return self.token == ZERO_ADDRESS


class EpochTree:
    """The Merkle tree of one epoch's leaves, bound to a chain, a contract and an epoch.

    Leaves are kept as given (a faulty list builds a faulty tree, which is what a
    challenger needs); ``proof(i)`` is the proof of ``leaves[i]``.
    """

    def __init__(
        self, chain_id: int, settlement: str, epoch: int, leaves: Sequence[PayoutLeaf]
    ) -> None:
        if not leaves:
            raise InputError("leaves: an epoch tree needs at least one leaf")
        self.chain_id = chain_id
        self.settlement = to_checksum_address(settlement)
        self.epoch = epoch
        self.leaves = list(leaves)
        self.tree = StandardMerkleTree.of(
            [self.values(leaf) for leaf in self.leaves], LEAF_ENCODING
        )

    def values(self, leaf: PayoutLeaf) -> list[Any]:
        """The leaf's values in :data:`LEAF_ENCODING` order."""
        return [
            self.chain_id,
            self.settlement,
            self.epoch,
            leaf.index,
            leaf.account,
            leaf.amount,
            leaf.amount_before,
        ]

    @property
    def root(self) -> str:
        """The 0x-hex root."""
        return str(self.tree.root)

    @cached_property
    def pool(self) -> int:
        """The sum of all leaf amounts.

        Computed once: writing a large epoch's proofs asks for it once per shard, and a
        sum over a million leaves per shard was most of that step's time.
        """
        return sum(leaf.amount for leaf in self.leaves)

    def proof(self, position: int) -> list[str]:
        """The proof of ``leaves[position]``."""
        return [str(node) for node in self.tree.get_proof(position)]


@dataclass(frozen=True)
class Fault:
    """A fault provable on-chain: its kind and the positions of the leaves that show it."""

    kind: FraudKind
    positions: tuple[int, ...]

    @property
    def is_single(self) -> bool:
        """Whether one leaf proves it (the cheaper proof)."""
        return len(self.positions) == 1


_UINT256_MAX = 2**256 - 1


def _amount_after(leaf: PayoutLeaf) -> int:
    """``amount_before + amount`` as the contract's ``amountAfter`` computes it.

    Saturating at the largest uint256: two leaves whose sums overflow are compared as the
    contract compares them, so a proof is named by the rule the contract applies.
    """
    return min(leaf.amount_before + leaf.amount, _UINT256_MAX)


def _single_fault(header: EpochHeader, leaf: PayoutLeaf) -> FraudKind | None:
    if leaf.index >= header.leaf_count:
        return FraudKind.INDEX_OUT_OF_RANGE
    if leaf.index == 0 and leaf.amount_before != 0:
        return FraudKind.FIRST_LEAF_NOT_AT_ZERO
    after = _amount_after(leaf)
    if after > header.pool:
        return FraudKind.LEAF_EXCEEDS_POOL
    if leaf.index == header.leaf_count - 1 and after != header.pool:
        return FraudKind.LAST_LEAF_POOL_MISMATCH
    if int(leaf.account, 16) == 0:
        return FraudKind.ZERO_ACCOUNT
    return None


def find_faults(header: EpochHeader, leaves: Sequence[PayoutLeaf]) -> list[Fault]:
    """Faults the contract accepts as fraud, single-leaf faults first; empty only if there is none.

    Every single-leaf fault, every duplicate index and every broken adjacent pair is
    listed. Overlapping ranges and out-of-order accounts between non-adjacent leaves are
    listed once per later leaf, against the earlier leaf that shows it (the one ending
    last, or with the greatest account): listing every such pair would be quadratic, and
    one accepted proof is all a challenger needs.

    Args:
        header: The epoch's header (its pool and leaf count).
        leaves: The full published leaf list of the epoch; positions refer to it.

    Returns:
        The faults, each with the positions of the leaves that prove it.
    """
    if _well_formed(header, leaves):
        return []
    return _all_faults(header, leaves)


def _well_formed(header: EpochHeader, leaves: Sequence[PayoutLeaf]) -> bool:
    """Whether ``leaves`` are the list the contract expects, so that no fault can be found.

    Leaf ``i`` at position ``i``, ``header.leaf_count`` of them, each starting where the one
    before ends (the first at 0), amounts not negative, accounts increasing from above zero,
    the last ending at ``header.pool``. An honest epoch's leaves are all this: one pass
    with no dictionary and no fault objects, against :func:`_all_faults`' several over a
    million leaves. Anything else, malformed accounts included, is for ``_all_faults``.
    """
    if len(leaves) != header.leaf_count:
        return False
    before = 0
    previous = 0
    try:
        for position, leaf in enumerate(leaves):
            if leaf.index != position or leaf.amount_before != before or leaf.amount < 0:
                return False
            account = int(leaf.account, 16)
            if account <= previous:
                return False
            previous = account
            before += leaf.amount
    except (TypeError, ValueError):
        return False
    return before == header.pool


def _all_faults(header: EpochHeader, leaves: Sequence[PayoutLeaf]) -> list[Fault]:
    """:func:`find_faults`, leaf by leaf and pair by pair."""
    faults = [
        Fault(kind, (position,))
        for position, leaf in enumerate(leaves)
        if (kind := _single_fault(header, leaf)) is not None
    ]
    by_index: dict[int, list[int]] = {}
    for position, leaf in enumerate(leaves):
        by_index.setdefault(leaf.index, []).append(position)
    # Over the indices seen so far: the leaf whose range ends last and the greatest account.
    last_end: tuple[int, int] | None = None  # (_amount_after, position)
    top_account: tuple[int, int] | None = None  # (account as a number, position)
    for index in sorted(by_index):
        positions = by_index[index]
        for other in positions[1:]:
            if leaves[other] != leaves[positions[0]]:
                faults.append(Fault(FraudKind.DUPLICATE_INDEX, (positions[0], other)))
        for second in positions:
            b = leaves[second]
            broken_chain = False
            for first in by_index.get(index - 1, []):
                a = leaves[first]
                if b.amount_before != _amount_after(a):
                    faults.append(Fault(FraudKind.BROKEN_CHAIN, (first, second)))
                    broken_chain = True
                elif int(b.account, 16) <= int(a.account, 16):
                    faults.append(Fault(FraudKind.ACCOUNTS_NOT_INCREASING, (first, second)))
            # The contract checks a broken chain first, so an adjacent pair's overlap is reported
            # as that; a non-adjacent witness is searched only when no adjacent one was found.
            if broken_chain:
                continue
            if last_end is not None and b.amount_before < last_end[0]:
                first = last_end[1]
                if leaves[first].index + 1 != index:
                    faults.append(Fault(FraudKind.AMOUNT_RANGES_OVERLAP, (first, second)))
                    continue
            if top_account is not None and int(b.account, 16) <= top_account[0]:
                first = top_account[1]
                if leaves[first].index + 1 != index:
                    faults.append(Fault(FraudKind.ACCOUNTS_NOT_INCREASING, (first, second)))
        for position in positions:
            leaf = leaves[position]
            end = (_amount_after(leaf), position)
            account = (int(leaf.account, 16), position)
            last_end = end if last_end is None or end[0] > last_end[0] else last_end
            top_account = (
                account if top_account is None or account[0] > top_account[0] else top_account
            )
    return faults
