"""Addresses given by users: checked (including a mixed-case checksum) before anything uses them."""

from __future__ import annotations

from eth_utils.address import is_address, is_checksum_address, to_checksum_address

from ame_core.exceptions import InputError
from ame_core.validation import show_value

__all__ = ["address_problem", "checked_address", "is_valid_address"]


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
    problem = address_problem(value)
    if problem is not None:
        raise InputError(f"{field}: {problem}")
    return str(to_checksum_address(str(value)))


def address_problem(value: object) -> str | None:
    """Why ``value`` is not an address (``'0x12' is not an address``), or None if it is one.

    The one wording of the problem, wherever an address is given: a file, the
    environment, ``ame.toml`` or the command line.
    """
    if is_valid_address(value):
        return None
    wrong_sum = isinstance(value, str) and is_address(value)
    return f"{show_value(value)} is not an address" + (" (wrong checksum)" if wrong_sum else "")
