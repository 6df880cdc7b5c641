"""Keccak-256 for many short messages, with the least Python overhead we can get.

A Merkle tree of ``n`` leaves costs ``3n`` Keccak-256 calls (two per leaf, one per
internal node), each on at most 224 bytes, so the per-call overhead of the hashing
library, not the permutation, sets the build time. ``safe-pysha3`` (module ``sha3``, a
required dependency) builds, feeds and finishes a hash in one C call, about 0.9 µs;
``eth_hash``'s ``keccak`` adds a Python wrapper around whichever backend it finds.

Messages are passed as one contiguous buffer of equal-sized messages, so the loops run
without per-message Python objects besides the digests.
"""

from __future__ import annotations

from collections.abc import Sequence

from sha3 import keccak_256  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = ["keccak256", "keccak256_each", "leaf_hash_each", "leaf_hash_list"]


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of ``data`` (Ethereum's hash, not SHA3-256)."""
    digest: bytes = keccak_256(data).digest()
    return digest


def keccak256_each(data: bytes, size: int) -> bytes:
    """Keccak-256 of each ``size``-byte message of ``data``, digests concatenated.

    Args:
        data: Messages laid end to end; its length is a multiple of ``size``.
        size: Length of each message, at least 1.

    Returns:
        ``32 * len(data) // size`` bytes: the digests, in message order.
    """
    new = keccak_256
    return b"".join([new(data[i : i + size]).digest() for i in range(0, len(data), size)])


def leaf_hash_each(data: bytes, size: int) -> bytes:
    """``keccak256(keccak256(m))`` of each ``size``-byte message ``m`` of ``data``.

    The OpenZeppelin standard leaf hash, for fixed-size encodings laid end to end.
    """
    new = keccak_256
    return b"".join(
        [new(new(data[i : i + size]).digest()).digest() for i in range(0, len(data), size)]
    )


def leaf_hash_list(messages: Sequence[bytes]) -> bytes:
    """``keccak256(keccak256(m))`` of each message, digests concatenated."""
    new = keccak_256
    return b"".join([new(new(m).digest()).digest() for m in messages])
