"""Revert decoding and web3's exceptions translated into ours, in one place.

Every custom error declared in the committed ABIs (the settlement contract's own, and the
OpenZeppelin ones it can raise, such as ``AccessControlUnauthorizedAccount``) gets a
subclass of :class:`~ame_chain.exceptions.SettlementError` with the same name, so callers
write ``except errors.SettlementAlreadyClaimed``. The error's arguments are kept by name;
a role id is shown and kept by its name (``neededRole=OPERATOR_ROLE``).

What web3 (or eth-tester, under the in-process chain) raises when a call or transaction
fails becomes one of ours where it arises, re-raised ``from`` the original (web3's own
``ContractCustomError`` idea, with our exception tree): :func:`revert_error` for a
transaction that reverted, :func:`chain_error` (and the :func:`chain_errors` block) for a
read whose answer cannot be used. The sender (:mod:`ame_chain.tx`) and the client
(:mod:`ame_chain.client`) are the places that do it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3.exceptions import (
    BadFunctionCallOutput,
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TooManyRequests,
    Web3RPCError,
)

from ame_chain._roles import role_name
from ame_chain.contracts import load_artifact
from ame_chain.exceptions import ChainError, SettlementError, TransactionError

__all__ = [
    "chain_error",
    "chain_errors",
    "decode_revert",
    "error_class",
    "is_node_error",
    "revert_data",
    "revert_error",
]

_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")


def _abi_sources() -> list[str]:
    # Every committed contract: the settlement's own errors, OpenZeppelin's, and those of the
    # test tokens a revert can bubble up from.
    return sorted(p.stem for p in _ARTIFACTS.rglob("*.json") if p.stem != "build-info")


def _canonical_type(item: dict[str, Any]) -> str:
    typ: str = item["type"]
    if typ.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


@cache
def _error_table() -> dict[bytes, tuple[type[SettlementError], list[str], list[str]]]:
    table: dict[bytes, tuple[type[SettlementError], list[str], list[str]]] = {}
    for source in _abi_sources():
        for item in load_artifact(source).abi:
            if item["type"] != "error":
                continue
            types = [_canonical_type(i) for i in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
            table[selector] = (error_class(item["name"]), types, names)
    return table


@cache
def error_class(name: str) -> type[SettlementError]:
    """The exception class for the contract error ``name`` (created once, then reused)."""
    return type(name, (SettlementError,), {"error_name": name, "__module__": __name__})


def __getattr__(name: str) -> type[SettlementError]:
    # `errors.SettlementAlreadyClaimed` and friends, for every error the ABIs declare.
    if name[:1].isupper() and any(cls.__name__ == name for cls, _, _ in _error_table().values()):
        return error_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _display(value: Any, name: str = "") -> Any:
    # AccessControl names a role by its id; the message and the arguments give its name.
    if name.lower().endswith("role") and isinstance(value, bytes):
        named = role_name(value)
        if named is not None:
            return named
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        return to_checksum_address(value)
    return value


def decode_revert(
    data: bytes, tx_hash: str | None = None
) -> SettlementError | TransactionError | None:
    """The exception for revert ``data``, or None when nothing known matches.

    Custom errors become their named :class:`SettlementError` subclass; ``Error(string)``
    and ``Panic(uint256)`` (from tokens and other contracts) a :class:`TransactionError`.
    """
    if data[:4] in (_ERROR_STRING, _PANIC):
        try:
            (value,) = abi_decode(["string" if data[:4] == _ERROR_STRING else "uint256"], data[4:])
        except Exception:  # malformed payload
            return None
        kind = "reverted" if data[:4] == _ERROR_STRING else "panicked with code"
        return TransactionError(f"{kind} {value!r}" + (f" (tx {tx_hash})" if tx_hash else ""))
    entry = _error_table().get(data[:4])
    if entry is None:
        return None
    cls, types, names = entry
    try:
        values = abi_decode(types, data[4:])
    except Exception:  # malformed payload: not one of ours after all
        return None
    args = {n: _display(v, n) for n, v in zip(names, values, strict=True)}
    shown = ", ".join(f"{n}={v}" for n, v in args.items())
    return cls(f"{cls.__name__}({shown})", args, tx_hash)


# What web3 raises when a node's answer cannot be used though our request was well formed:
# an error answer (with or without revert data), an empty or undecodable call result, a
# transaction never mined, a lost or refused connection. Its other exceptions (a bad
# argument, a missing ABI entry) are our bugs and stay what they are.
_NODE_ERRORS: tuple[type[Exception], ...] = (
    Web3RPCError,
    ContractLogicError,
    BadFunctionCallOutput,
    BadResponseFormat,
    TimeExhausted,
    TooManyRequests,
    ProviderConnectionError,
    requests.RequestException,
)

_BYTES_REPR = re.compile(r"b(['\"]).*\1", re.S)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert payload carried by an exception from web3, a node or eth-tester."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return bytes.fromhex(data["data"].removeprefix("0x"))
    # eth-tester raises TransactionFailed("execution reverted: b'...'"): the payload's repr.
    match = _BYTES_REPR.search(str(exc))
    if match:
        try:
            value = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) else None
    return None


def revert_error(
    err: BaseException, tx_hash: str | None = None
) -> SettlementError | TransactionError:
    """Our exception for a transaction (or its gas estimate) that failed with ``err``.

    The contract's own error when ``err`` carries revert data the ABIs decode; otherwise a
    :class:`TransactionError` quoting ``err``. The caller raises it ``from err``.

    Args:
        err: What web3, the node or eth-tester raised.
        tx_hash: The transaction, when it was mined (kept on the exception).
    """
    data = revert_data(err)
    decoded = decode_revert(data, tx_hash) if data else None
    if decoded is not None:
        return decoded
    return TransactionError(f"transaction reverted: {err}")


def is_node_error(err: BaseException) -> bool:
    """Whether ``err`` is web3's, a transport's or eth-tester's account of a failed request.

    Those are translated; anything else (a ``TypeError`` of ours, say) is a bug and passes.
    eth-tester (the in-process chain) is recognised by its module, so that importing chain
    code does not import it.
    """
    return isinstance(err, _NODE_ERRORS) or type(err).__module__.split(".")[0] == "eth_tester"


def chain_error(err: BaseException) -> SettlementError | TransactionError | ChainError:
    """Our exception for a read (a view call, logs, a receipt) that failed with ``err``.

    A revert the ABIs decode becomes the contract's error (or a :class:`TransactionError`
    for ``Error(string)``/``Panic``); anything else a :class:`ChainError` saying what the
    node's answer was (an empty call result: often no contract, or another one, at the
    address). The caller raises it ``from err``.
    """
    data = revert_data(err)
    decoded = decode_revert(data) if data else None
    if decoded is not None:
        return decoded
    if isinstance(err, BadFunctionCallOutput):
        return ChainError(
            "a contract call returned nothing usable (is the address an AmeSettlement, and "
            f"the node synced?): {str(err)[:300]}"
        )
    return ChainError(f"the node's answer cannot be used: {type(err).__name__}: {str(err)[:300]}")


@contextmanager
def chain_errors() -> Iterator[None]:
    """Raise what web3 or the node raise inside the block as ours (:func:`chain_error`).

    Our own exceptions and bugs pass through unchanged.
    """
    try:
        yield
    except Exception as err:
        if not is_node_error(err):
            raise
        raise chain_error(err) from err
