"""Keccak-256 for many short messages, with the least Python overhead we can get.

A Merkle tree of ``n`` leaves costs ``3n`` Keccak-256 calls (two per leaf, one per
internal node), each on at most 224 bytes, so the per-call overhead of the hashing
library, not the permutation, sets the build time. Two backends, picked once at import
and checked against a known answer:

- ``safe-pysha3`` (module ``sha3``), a C extension: about 0.9 µs per call; used when
  installed.
- pycryptodome's Keccak C library (a dependency of ``eth-hash``) called through
  ``ctypes`` with one reused state: about 1.7 µs per call, against about 5 µs for
  ``Crypto.Hash.keccak.new(...).digest()``, whose wrapper allocates a state and two
  buffers per call.

Messages are passed as one contiguous buffer of equal-sized messages, so the loops run
without per-message Python objects besides the digests. :func:`select` switches backend
(the benchmark and the tests use it).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

__all__ = ["BACKEND", "keccak256", "keccak256_each", "leaf_hash_each", "leaf_hash_list", "select"]

_EMPTY_DIGEST = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
# Keccak-256: 512-bit capacity, 24 rounds, the original 0x01 padding (not SHA-3's 0x06).
_CAPACITY_BYTES = 64
_ROUNDS = 24
_PADDING = 0x01


class _Digest(Protocol):
    def digest(self) -> bytes: ...


class _Backend(Protocol):
    name: str

    def hash(self, data: bytes) -> bytes: ...

    def hash_each(self, data: bytes, size: int) -> bytes: ...

    def double_hash_each(self, data: bytes, size: int) -> bytes: ...

    def double_hash_list(self, messages: Sequence[bytes]) -> bytes: ...


class _Pysha3Backend:
    """``safe-pysha3``: one C call builds, feeds and finishes the hash."""

    name = "safe-pysha3"

    def __init__(self, factory: Callable[[bytes], _Digest]) -> None:
        self._new = factory

    def hash(self, data: bytes) -> bytes:
        return self._new(data).digest()

    def hash_each(self, data: bytes, size: int) -> bytes:
        new = self._new
        return b"".join([new(data[i : i + size]).digest() for i in range(0, len(data), size)])

    def double_hash_each(self, data: bytes, size: int) -> bytes:
        new = self._new
        return b"".join(
            [new(new(data[i : i + size]).digest()).digest() for i in range(0, len(data), size)]
        )

    def double_hash_list(self, messages: Sequence[bytes]) -> bytes:
        new = self._new
        return b"".join([new(new(m).digest()).digest() for m in messages])


class _StateHolder:
    """Owner of one native Keccak state (its lifetime bounds the state's)."""

    def __init__(self, address: int) -> None:
        self.address = address


class _CryptodomeBackend:
    """pycryptodome's ``_keccak`` library through ``ctypes``.

    The library keeps its state in a heap object; we allocate one per thread and
    reset it between messages instead of allocating one per message. ``ctypes``
    releases the GIL around each call, so the state must not be shared by threads.
    """

    name = "pycryptodome"

    def __init__(self, lib: ctypes.CDLL) -> None:
        void_p, size_t, uint8 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8
        lib.keccak_init.argtypes = [ctypes.POINTER(void_p), size_t, uint8]
        lib.keccak_init.restype = ctypes.c_int
        lib.keccak_destroy.argtypes = [void_p]
        lib.keccak_destroy.restype = ctypes.c_int
        lib.keccak_reset.argtypes = [void_p]
        lib.keccak_reset.restype = ctypes.c_int
        lib.keccak_absorb.argtypes = [void_p, void_p, size_t]
        lib.keccak_absorb.restype = ctypes.c_int
        lib.keccak_digest.argtypes = [void_p, void_p, size_t, uint8]
        lib.keccak_digest.restype = ctypes.c_int
        self._lib = lib
        self._local = threading.local()

    def _state(self) -> int:
        holder: _StateHolder | None = getattr(self._local, "holder", None)
        if holder is None:
            handle = ctypes.c_void_p()
            if self._lib.keccak_init(ctypes.byref(handle), _CAPACITY_BYTES, _ROUNDS) != 0:
                raise MemoryError("pycryptodome could not allocate a Keccak state")
            if handle.value is None:
                raise MemoryError("pycryptodome returned no Keccak state")
            holder = _StateHolder(handle.value)
            # Freed when the thread ends and its thread-local storage goes away.
            weakref.finalize(holder, self._lib.keccak_destroy, handle.value)
            self._local.holder = holder
        return holder.address

    def hash(self, data: bytes) -> bytes:
        return self.hash_each(data, len(data)) if data else self._hash_empty()

    def _hash_empty(self) -> bytes:
        lib, state = self._lib, self._state()
        out = ctypes.create_string_buffer(32)
        lib.keccak_reset(state)
        lib.keccak_digest(state, out, 32, _PADDING)
        return out.raw

    def hash_each(self, data: bytes, size: int) -> bytes:
        count = len(data) // size
        out = ctypes.create_string_buffer(32 * count)
        source = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
        target = ctypes.addressof(out)
        lib, state = self._lib, self._state()
        reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
        for i in range(count):
            reset(state)
            absorb(state, source + i * size, size)
            digest(state, target + 32 * i, 32, _PADDING)
        return out.raw

    def double_hash_each(self, data: bytes, size: int) -> bytes:
        count = len(data) // size
        out = ctypes.create_string_buffer(32 * count)
        source = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
        target = ctypes.addressof(out)
        lib, state = self._lib, self._state()
        reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
        for i in range(count):
            at = target + 32 * i
            reset(state)
            absorb(state, source + i * size, size)
            digest(state, at, 32, _PADDING)
            reset(state)
            absorb(state, at, 32)
            digest(state, at, 32, _PADDING)
        return out.raw

    def double_hash_list(self, messages: Sequence[bytes]) -> bytes:
        return b"".join(
            [self.double_hash_each(m, len(m)) if m else self._double_empty() for m in messages]
        )

    def _double_empty(self) -> bytes:
        return self.hash(self._hash_empty())


def _load_cryptodome() -> _CryptodomeBackend | None:
    spec = importlib.util.find_spec("Crypto.Hash")
    if spec is None or spec.submodule_search_locations is None:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_keccak{suffix}"
            if path.is_file():
                try:
                    return _CryptodomeBackend(ctypes.CDLL(str(path)))
                except (OSError, AttributeError):
                    return None
    return None


def _load_pysha3() -> _Pysha3Backend | None:
    try:
        import sha3  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    factory = getattr(sha3, "keccak_256", None)
    return None if factory is None else _Pysha3Backend(factory)


class _WrapperBackend:
    """Last resort: ``eth_hash``'s Keccak, one wrapped call per message."""

    name = "eth-hash"

    def __init__(self) -> None:
        from eth_hash.auto import keccak

        self._keccak = keccak

    def hash(self, data: bytes) -> bytes:
        return self._keccak(data)

    def hash_each(self, data: bytes, size: int) -> bytes:
        k = self._keccak
        return b"".join([k(data[i : i + size]) for i in range(0, len(data), size)])

    def double_hash_each(self, data: bytes, size: int) -> bytes:
        k = self._keccak
        return b"".join([k(k(data[i : i + size])) for i in range(0, len(data), size)])

    def double_hash_list(self, messages: Sequence[bytes]) -> bytes:
        k = self._keccak
        return b"".join([k(k(m)) for m in messages])


def _pick() -> _Backend:
    for load in (_load_pysha3, _load_cryptodome):
        backend = load()
        # A known answer guards against a library whose ABI changed under us.
        if backend is not None and backend.hash(b"") == _EMPTY_DIGEST:
            return backend
    return _WrapperBackend()


_BACKEND: _Backend = _pick()

#: Name of the Keccak implementation in use (``safe-pysha3``, ``pycryptodome`` or ``eth-hash``).
BACKEND: str = _BACKEND.name


def select(name: str) -> None:
    """Use the backend called ``name`` from now on (for benchmarks and tests).

    Raises:
        ValueError: If that backend is unknown or not installed.
    """
    global _BACKEND, BACKEND
    loaders: dict[str, Callable[[], _Backend | None]] = {
        "safe-pysha3": _load_pysha3,
        "pycryptodome": _load_cryptodome,
        "eth-hash": _WrapperBackend,
    }
    if name not in loaders:
        raise ValueError(f"unknown Keccak backend {name!r}; known: {', '.join(loaders)}")
    backend = loaders[name]()
    if backend is None or backend.hash(b"") != _EMPTY_DIGEST:
        raise ValueError(f"Keccak backend {name!r} is not available here")
    _BACKEND, BACKEND = backend, backend.name


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of ``data`` (Ethereum's hash, not SHA3-256)."""
    return _BACKEND.hash(data)


def keccak256_each(data: bytes, size: int) -> bytes:
    """Keccak-256 of each ``size``-byte message of ``data``, digests concatenated.

    Args:
        data: Messages laid end to end; its length is a multiple of ``size``.
        size: Length of each message, at least 1.

    Returns:
        ``32 * len(data) // size`` bytes: the digests, in message order.
    """
    return _BACKEND.hash_each(data, size)


def leaf_hash_each(data: bytes, size: int) -> bytes:
    """``keccak256(keccak256(m))`` of each ``size``-byte message ``m`` of ``data``.

    The OpenZeppelin standard leaf hash, for fixed-size encodings laid end to end.
    """
    return _BACKEND.double_hash_each(data, size)


def leaf_hash_list(messages: Sequence[bytes]) -> bytes:
    """``keccak256(keccak256(m))`` of each message, digests concatenated."""
    return _BACKEND.double_hash_list(messages)
