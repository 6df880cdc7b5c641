"""The settlement contract's AccessControl roles, by name and by their ``bytes32`` id.

A revert names a role by its id (``AccessControlUnauthorizedAccount(account, neededRole)``);
people know it by its name. Both directions live here, once, for the client and the error
decoder.
"""

from __future__ import annotations

from typing import Final

from eth_utils.crypto import keccak

__all__ = ["ROLES", "role_name"]

#: Role name -> its ``bytes32`` id as 0x-hex (``keccak256(name)``; the admin role is zero).
ROLES: Final[dict[str, str]] = {
    **{
        name: "0x" + keccak(text=name).hex()
        for name in ("OPERATOR_ROLE", "ARBITER_ROLE", "GUARDIAN_ROLE")
    },
    "DEFAULT_ADMIN_ROLE": "0x" + "00" * 32,
}
_NAMES: Final = {role_id: name for name, role_id in ROLES.items()}


def role_name(role: str | bytes) -> str | None:
    """The name of the role id ``role`` (0x-hex or 32 bytes); None for an unknown id."""
    text = "0x" + role.hex() if isinstance(role, bytes) else role.lower()
    return _NAMES.get(text)
