"""Exceptions shared by every AME package.

Every error AME raises on purpose derives from :class:`AmeError`; the CLI catches that
base alone, so anything else reaching it is a bug. Where callers expect a builtin, the
subclass also inherits it (``InputError`` is a ``ValueError``).

Tree::

    AmeError
    ├── InputError (ValueError)          bad user input: files, fields, arguments
    ├── AttributionError                 valuation could not be computed
    ├── MappingError                     rights and payouts could not be mapped
    │   └── RegistryError (InputError)   the rights registry is malformed
    └── (ame_chain.exceptions)
        ├── MerkleError                  tree construction, proofs, dumps
        ├── CompilationError             contracts could not be compiled
        ├── ChainError                   talking to a node failed
        └── SettlementError              a settlement transaction reverted
"""

from __future__ import annotations

__all__ = [
    "AmeError",
    "AttributionError",
    "InputError",
    "MappingError",
    "RegistryError",
]


class AmeError(Exception):
    """Base of every error AME raises on purpose."""


class InputError(AmeError, ValueError):
    """Input given by a user (a file, a field, an argument) is invalid.

    The message names where the value came from and why it was refused.
    """


class AttributionError(AmeError):
    """An attribution could not be computed."""


class MappingError(AmeError):
    """Asset values could not be mapped to payouts."""


class RegistryError(MappingError, InputError):
    """The rights registry is malformed (the message names the asset and field)."""
