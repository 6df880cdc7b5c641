"""The root of every error AME raises on purpose.

Every error AME raises on purpose derives from :class:`AmeError`; the CLI catches that
base alone, so anything else reaching it is a bug. Where callers expect a builtin, the
subclass also inherits it (``InputError`` is a ``ValueError``). Each layer adds its own
subclasses in its own ``exceptions`` module.

Tree::

    AmeError
    ├── InputError (ValueError)          bad user input: files, fields, arguments
    ├── (offchain.exceptions)
    │   ├── AttributionError             valuation could not be computed
    │   └── MappingError                 rights and payouts could not be mapped
    │       └── RegistryError (InputError)
    ├── (ame_chain.exceptions)
    │   ├── MerkleError                  tree construction, proofs, dumps
    │   ├── CompilationError             contracts could not be compiled
    │   ├── ChainError                   talking to a node failed
    │   └── SettlementError              a settlement transaction reverted
    └── (ame.workflow.exceptions)
        └── WorkflowError                an operator step cannot proceed
"""

from __future__ import annotations

__all__ = ["AmeError", "InputError"]


class AmeError(Exception):
    """Base of every error AME raises on purpose."""


class InputError(AmeError, ValueError):
    """Input given by a user (a file, a field, an argument) is invalid.

    The message names where the value came from and why it was refused.
    """
