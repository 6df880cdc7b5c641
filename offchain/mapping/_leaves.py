"""Payout leaves: the one type that carries a payout from the manifest to the settlement tree.

Mapping ends with one leaf per paid account, sorted by address as a 160-bit number;
each leaf carries its position (``index``) and ``amount_before``, the sum of the
amounts of the leaves before it, which is what lets the contract check a single leaf
against the epoch's pool (``SettlementLeaf.sol``). The same :class:`PayoutLeaf` is a
manifest's ``leaves`` entry, the value the tree in :mod:`ame_chain.leaves` encodes, and
the struct a claim sends, so no layer converts between leaf types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from pydantic import ConfigDict, Field

from ame_core.addresses import checksum_hex
from ame_core.exceptions import InputError
from ame_core.validation import show_value
from offchain.mapping._types import Address, Amount, TokenAmount

__all__ = ["PayoutLeaf", "build_leaves", "chain_leaves"]


@dataclass(frozen=True, order=True, slots=True)
class PayoutLeaf:
    """One leaf: pay ``amount`` to ``account``; ``amount_before`` is the sum of earlier leaves.

    Built directly, a leaf holds whatever it is given: a challenger holds a published
    list whose leaves break the contract's rules exactly as published. Read from a
    manifest, each field is validated (``index`` a non-negative integer, ``account``
    EIP-55 checksummed and not zero, amounts exact integers).

    Attributes:
        index: Position in the epoch's leaf list, 0..n-1.
        account: Checksummed payout address.
        amount: Token units paid.
        amount_before: Sum of the amounts of all earlier leaves (``amountBefore``).
    """

    # How pydantic validates the leaves of a manifest document.
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid", populate_by_name=True)

    index: Annotated[int, Field(ge=0, strict=True)]
    account: Address
    amount: Amount
    amount_before: Annotated[Amount, Field(alias="amountBefore")]

    def as_tuple(self) -> tuple[int, ChecksumAddress, TokenAmount, TokenAmount]:
        """The leaf as the contract's ``Leaf`` struct."""
        return (self.index, self.account, self.amount, self.amount_before)

    def to_json(self) -> dict[str, Any]:
        """JSON form, as in a manifest: amounts as decimal strings (exact in every JSON reader)."""
        return {
            "index": self.index,
            "account": self.account,
            "amount": str(self.amount),
            "amountBefore": str(self.amount_before),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PayoutLeaf:
        """Inverse of :meth:`to_json` (the account may be given in any case)."""
        return cls(
            index=int(data["index"]),
            account=to_checksum_address(data["account"]),
            amount=TokenAmount(int(data["amount"])),
            amount_before=TokenAmount(int(data["amountBefore"])),
        )


def chain_leaves(payouts: Iterable[tuple[ChecksumAddress, int]]) -> list[PayoutLeaf]:
    """Leaves of payouts already checked and sorted by address: indices and running sums.

    Args:
        payouts: ``(account, amount)`` pairs, accounts checksummed, distinct, non-zero
            and increasing as 160-bit numbers, amounts positive.

    Returns:
        One leaf per pair, in the given order.
    """
    leaves: list[PayoutLeaf] = []
    before = 0
    for index, (account, amount) in enumerate(payouts):
        leaves.append(PayoutLeaf(index, account, TokenAmount(amount), TokenAmount(before)))
        before += amount
    return leaves


def build_leaves(payouts: Mapping[str, int] | Iterable[tuple[str, int]]) -> list[PayoutLeaf]:
    """Turn ``account -> amount`` payouts into the contract's leaf layout.

    Args:
        payouts: A mapping or ``(account, amount)`` pairs, in any order; accounts in
            any case.

    Returns:
        The leaves, sorted by account as 160-bit numbers.

    Raises:
        InputError: An address is invalid, zero or repeated, or an amount is not a
            positive integer.
    """
    items = list(payouts.items()) if isinstance(payouts, Mapping) else list(payouts)
    if not items:
        raise InputError("payouts: at least one payout is needed")
    by_account: dict[int, tuple[ChecksumAddress, int]] = {}
    for position, (account, amount) in enumerate(items):
        if not isinstance(account, str) or not is_address(account):
            raise InputError(
                f"payouts[{position}].account: {show_value(account)} is not an address"
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InputError(
                f"payouts[{position}].amount: {show_value(amount)} is not a positive integer"
            )
        key = int(account, 16)
        if key == 0:
            raise InputError(f"payouts[{position}].account: the zero address cannot be paid")
        if key in by_account:
            raise InputError(f"payouts[{position}].account: {account} appears more than once")
        by_account[key] = (checksum_hex(f"{key:040x}"), amount)
    return chain_leaves(by_account[key] for key in sorted(by_account))
