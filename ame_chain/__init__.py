"""AME's chain layer: compile, deploy, Merkle trees, chains, and the settlement client.

Submodules: :mod:`ame_chain.merkle` (OpenZeppelin-compatible trees), :mod:`ame_chain.leaves`
(payout leaves, epoch trees, fraud rules), :mod:`ame_chain.chains` (in-process, Anvil, RPC),
:mod:`ame_chain.tx` (signing and sending), :mod:`ame_chain.client` (the settlement client),
:mod:`ame_chain.errors` (reverts as exceptions), :mod:`ame_chain.compile` (artifacts).
"""

from ame_chain.exceptions import (
    ChainError,
    CompilationError,
    MerkleError,
    MerkleInputError,
    SettlementError,
    TransactionError,
)

__all__ = [
    "ChainError",
    "CompilationError",
    "MerkleError",
    "MerkleInputError",
    "SettlementError",
    "TransactionError",
]
