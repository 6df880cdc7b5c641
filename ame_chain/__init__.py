"""AME's chain layer: contract artifacts, Merkle trees, chains, and the settlement client.

Submodules: :mod:`ame_chain.merkle` (OpenZeppelin-compatible trees), :mod:`ame_chain.leaves`
(payout leaves, epoch trees, fraud rules), :mod:`ame_chain.chains` (in-process, Anvil, RPC),
:mod:`ame_chain.tx` (signing and sending), :mod:`ame_chain.client` (the settlement client),
:mod:`ame_chain.errors` (reverts as exceptions), :mod:`ame_chain.contracts` (the committed
ABI and bytecode, which ``contracts/compile.py`` produces).
"""

from ame_chain.exceptions import (
    ChainError,
    CompilationError,
    FundingError,
    MerkleError,
    MerkleInputError,
    SettlementError,
    TransactionError,
)

__all__ = [
    "ChainError",
    "CompilationError",
    "FundingError",
    "MerkleError",
    "MerkleInputError",
    "SettlementError",
    "TransactionError",
]
