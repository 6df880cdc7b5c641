"""Canonical JSON: the one byte form of a document that hashes and digests are taken of.

Sorted keys, no spaces, UTF-8 (non-ASCII characters as themselves, not ``\\u`` escapes),
and no ``NaN`` or infinities (they are not JSON). The documents hashed this way carry no
floats where money is concerned (amounts and fractions are strings), so the same
document always encodes to the same bytes, on any machine.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["canonical_json", "sha256_hex"]


def canonical_json(document: object) -> bytes:
    """Encode ``document`` canonically.

    Args:
        document: Nested dicts (string keys), lists, strings, ints, floats, bools, ``None``.

    Returns:
        The UTF-8 bytes.

    Raises:
        ValueError: The document holds ``NaN`` or an infinity.
        TypeError: The document holds something JSON cannot encode.
    """
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (64 lowercase hex digits, no prefix)."""
    return hashlib.sha256(data).hexdigest()
