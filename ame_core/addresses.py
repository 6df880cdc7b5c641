"""EIP-55 checksums, computed without a Python loop over the digits.

EIP-55 writes an address's hex letter in upper case when the matching nibble of
``keccak256(lowercase hex digits)`` is 8 or more. ``eth_utils.to_checksum_address``
walks the 40 digits in Python and hashes through pycryptodome, about 15 µs an address;
a settlement of a million accounts checksums each several times (registry, manifest,
proofs file), and a cache smaller than the number of accounts only thrashes. Here the
digest comes from ``safe-pysha3`` and the case of all 40 digits is set at once with
integer masks over their ASCII bytes: about 1.5 µs, so no cache is needed.
"""

from __future__ import annotations

from typing import Final

from eth_typing import ChecksumAddress, HexAddress, HexStr
from sha3 import keccak_256  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = ["checksum_hex"]

# A hex digit of the digest maps to 0x20 (the ASCII case bit) when its nibble is >= 8.
_HIGH_NIBBLE: Final = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)
# A lowercase address digit maps to 0x20 when it is a letter (only letters change case).
_LETTER: Final = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\x20" * 6)


def checksum_hex(lower_hex: str) -> ChecksumAddress:
    """The EIP-55 checksummed form of 40 lowercase hex digits.

    Args:
        lower_hex: The address's 40 hex digits, lowercase, without ``0x``; the caller
            has checked the form (this is the inner step of an address parser).

    Returns:
        ``0x`` and the digits in their checksummed case.
    """
    digits = lower_hex.encode("ascii")
    nibbles = keccak_256(digits).hexdigest().encode("ascii")[:40]
    case = int.from_bytes(nibbles.translate(_HIGH_NIBBLE), "big") & int.from_bytes(
        digits.translate(_LETTER), "big"
    )
    mixed = (int.from_bytes(digits, "big") ^ case).to_bytes(40, "big").decode("ascii")
    return ChecksumAddress(HexAddress(HexStr("0x" + mixed)))
