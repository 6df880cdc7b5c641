"""EIP-55 checksums, computed without a Python loop over the digits.

EIP-55 writes an address's hex letter in upper case when the matching nibble of
``keccak256(lowercase hex digits)`` is 8 or more. ``eth_utils.to_checksum_address``
walks the 40 digits in Python and hashes through pycryptodome, about 15 µs an address;
a settlement of a million accounts checksums each several times (registry, manifest,
proofs file), and a cache smaller than the number of accounts only thrashes. Here the
digest comes from ``safe-pysha3`` and the case of all 40 digits is set at once with
integer masks over their ASCII bytes: about 1.5 µs, so no cache is needed.
:func:`all_checksummed` checks a whole document's addresses in numpy passes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from eth_typing import ChecksumAddress, HexAddress, HexStr
from sha3 import keccak_256  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = ["all_checksummed", "checksum_hex"]

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


_ZERO: Final = ord("0")
# Addresses checked per numpy pass: its temporaries (some 40 bytes an address each) stay
# in cache and a million addresses never need them all at once.
_ADDRESS_BATCH: Final = 1 << 13


def all_checksummed(raws: Sequence[object]) -> bool:
    """Whether an address parser (``offchain.mapping``'s ``parse_address``) accepts every one of ``raws``, checked in batches.

    For a document of a million addresses: the form, the case and the checksum are
    checked in a few numpy passes over the addresses laid end to end, the only per-address
    Python step the Keccak call. It says whether, not why: a caller that gets ``False``
    parses the addresses one by one for the message.

    Args:
        raws: The values read from a file.

    Returns:
        True if each is a ``str`` that is an EIP-55 checksummed, non-zero, 0x-prefixed
        20-byte hex address.
    """
    return all(
        _batch_checksummed(raws[i : i + _ADDRESS_BATCH])
        for i in range(0, len(raws), _ADDRESS_BATCH)
    )


def _batch_checksummed(raws: Sequence[object]) -> bool:
    if not all(type(raw) is str and len(raw) == 42 for raw in raws):
        return False
    text = "".join(raws)  # type: ignore[arg-type]  # all str, checked above
    if not text.isascii():
        return False
    count = len(raws)
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(count, 42)
    if not ((chars[:, 0] == _ZERO) & (chars[:, 1] == ord("x"))).all():
        return False
    digits = chars[:, 2:]
    upper = (digits >= ord("A")) & (digits <= ord("F"))
    letter = upper | ((digits >= ord("a")) & (digits <= ord("f")))
    if not (letter | ((digits >= _ZERO) & (digits <= ord("9")))).all():
        return False
    if (digits == _ZERO).all(axis=1).any():  # the zero address
        return False
    lower = (digits | (upper.astype(np.uint8) << 5)).tobytes()
    new = keccak_256
    digests = b"".join([new(lower[i : i + 40]).digest() for i in range(0, len(lower), 40)])
    hashed = np.frombuffer(digests, dtype=np.uint8).reshape(count, 32)[:, :20]
    # EIP-55: digit i is upper case when nibble i of the digest is 8 or more (high nibble first).
    high = np.empty((count, 40), dtype=bool)
    high[:, 0::2] = hashed >= 0x80
    high[:, 1::2] = (hashed & 0x0F) >= 0x08
    return bool((upper == (high & letter)).all())
