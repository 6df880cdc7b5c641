"""Exceptions of the chain layer, under the project-wide :class:`~ame_core.exceptions.AmeError`.

Tree::

    AmeError
    ├── MerkleError                         trees, proofs and dumps
    │   └── MerkleInputError (ValueError)  a value, index, proof or dump is malformed
    ├── CompilationError                    the contracts could not be compiled
    ├── ChainError                          a node could not be reached or answered wrongly
    │   └── TransactionError                a transaction failed without a decodable reason
    │       └── FundingError                the sender cannot pay the value and the gas
    └── SettlementError                     the settlement contract reverted
        └── one subclass per custom error of the contract, named after it
            (``SettlementAlreadyClaimed``, ``SettlementInvalidProof``, ...), made by
            :mod:`ame_chain.errors` from the ABI, carrying the error's arguments
"""

from __future__ import annotations

from ame_core.exceptions import AmeError, InputError

__all__ = [
    "ChainError",
    "CompilationError",
    "FundingError",
    "MerkleError",
    "MerkleInputError",
    "SettlementError",
    "TransactionError",
]


class MerkleError(AmeError):
    """A Merkle tree, proof or dump could not be built, loaded or verified."""


class MerkleInputError(MerkleError, InputError):
    """A value, index, proof or dump given to the Merkle tree is malformed."""


class CompilationError(AmeError):
    """The Solidity sources could not be compiled."""


class ChainError(AmeError):
    """A node could not be reached, or answered something unexpected."""


class TransactionError(ChainError):
    """A transaction failed without a reason the contract's ABI can decode."""


class FundingError(TransactionError):
    """The sending account cannot pay what a transaction carries plus its gas.

    Attributes:
        account: The sender.
        balance: Its balance, in wei.
        value: What the transaction carries, in wei (gas comes on top).
    """

    def __init__(self, message: str, *, account: str, balance: int, value: int) -> None:
        super().__init__(message)
        self.account = account
        self.balance = balance
        self.value = value


class SettlementError(AmeError):
    """The settlement contract reverted with one of its custom errors.

    Attributes:
        args_by_name: The error's arguments, by their ABI names.
        tx_hash: The hash of the failed transaction, when one was sent.
    """

    error_name: str = "SettlementError"

    def __init__(
        self,
        message: str,
        args_by_name: dict[str, object] | None = None,
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(message)
        self.args_by_name: dict[str, object] = dict(args_by_name or {})
        self.tx_hash = tx_hash
