"""Revert decoding: custom errors from the contracts' ABIs become Python exceptions.

Every custom error declared in the committed ABIs (the settlement contract's own, and the
OpenZeppelin ones it can raise, such as ``AccessControlUnauthorizedAccount``) gets a
subclass of :class:`~ame_chain.exceptions.SettlementError` with the same name, so callers
write ``except errors.SettlementAlreadyClaimed``. The error's arguments are kept by name.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from ame_chain.contracts import load_artifact
from ame_chain.exceptions import SettlementError, TransactionError

__all__ = ["decode_revert", "error_class", "revert_data"]

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


def _display(value: Any) -> Any:
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
    args = {n: _display(v) for n, v in zip(names, values, strict=True)}
    shown = ", ".join(f"{n}={v}" for n, v in args.items())
    return cls(f"{cls.__name__}({shown})", args, tx_hash)


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
