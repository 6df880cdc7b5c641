"""Off-chain stages of AME: attribution (who created the value) and mapping (who is paid)."""

from offchain.exceptions import AmeError, AttributionError, InputError, MappingError, RegistryError

__all__ = ["AmeError", "AttributionError", "InputError", "MappingError", "RegistryError"]
