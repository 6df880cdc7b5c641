"""Off-chain stages of AME: attribution (who created the value), mapping (who is paid),
and the scenario format that describes a whole market to both."""

from offchain.exceptions import AttributionError, MappingError, RegistryError

__all__ = ["AttributionError", "MappingError", "RegistryError"]
