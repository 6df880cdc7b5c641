"""Exceptions of the off-chain stages, under :class:`~ame_core.exceptions.AmeError`.

Tree::

    AmeError
    ├── InputError (ValueError)          (ame_core.exceptions)
    ├── AttributionError                 valuation could not be computed
    └── MappingError                     rights and payouts could not be mapped
        └── RegistryError (InputError)   the rights registry is malformed
"""

from __future__ import annotations

from ame_core.exceptions import AmeError, InputError

__all__ = ["AttributionError", "MappingError", "RegistryError"]


class AttributionError(AmeError):
    """An attribution could not be computed."""


class MappingError(AmeError):
    """Asset values could not be mapped to payouts."""


class RegistryError(MappingError, InputError):
    """The rights registry is malformed (the message names the asset and field)."""
