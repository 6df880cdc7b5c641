"""Addresses given by users: checked (including a mixed-case checksum) before anything uses them."""

from __future__ import annotations

from eth_utils.address import is_address, is_checksum_address, to_checksum_address

from ame_core.exceptions import InputError

__all__ = ["checked_address", "is_valid_address"]


def is_valid_address(value: object) -> bool:
    """Whether ``value`` is a 20-byte hex address whose mixed case, if any, is its checksum.

    eth-utils 5's ``is_address`` no longer checks the checksum of a mixed-case address
    (and ``to_checksum_address`` recomputes it), so a typo in a copied address would pass.
    """
    if not isinstance(value, str) or not is_address(value):
        return False
    digits = value.removeprefix("0x").removeprefix("0X")
    return digits in (digits.lower(), digits.upper()) or is_checksum_address(value)


def checked_address(value: object, field: str) -> str:
    """``value`` as a checksummed address (see :func:`is_valid_address`).

    Raises:
        InputError: ``value`` is not an address, naming ``field``.
    """
    if not is_valid_address(value):
        wrong_sum = isinstance(value, str) and is_address(value)
        raise InputError(
            f"{field}: {value!r} is not an address" + (" (wrong checksum)" if wrong_sum else "")
        )
    return str(to_checksum_address(str(value)))
