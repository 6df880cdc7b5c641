"""Chains AME can settle on: the embedded in-process chain, a managed Anvil, or any RPC URL.

* :class:`InProcessChain` (the default) runs py-evm inside this process through eth-tester:
  nothing to start, ten funded development accounts, instant blocks, time travel.
* :class:`AnvilChain` starts ``anvil`` from ``node_modules`` on 127.0.0.1 and a free port,
  keeps its log, and stops it on :meth:`close` (and at interpreter exit).
* :class:`RpcChain` connects to any node URL, a testnet for instance; it has no funded
  development accounts, so signers come from a keystore or the environment
  (:mod:`ame_chain.keys`).

All three expose a :class:`web3.Web3` as ``w3`` and the chain id; transactions are always
signed locally (:mod:`ame_chain.tx`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.providers.rpc.utils import check_if_retry_on_failure
from web3.types import RPCEndpoint, RPCResponse

from ame_chain.exceptions import ChainError

__all__ = [
    "ANVIL_BINARY",
    "ANVIL_MNEMONIC",
    "AnvilChain",
    "Chain",
    "InProcessChain",
    "NodeProvider",
    "RpcChain",
    "anvil_dev_accounts",
    "connect",
]

ANVIL_BINARY = (
    Path(__file__).resolve().parent.parent
    / "node_modules"
    / "@foundry-rs"
    / "anvil-linux-amd64"
    / "bin"
    / "anvil"
)
#: Anvil's documented default mnemonic: its development accounts are public knowledge.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_dev_accounts(count: int = 10) -> list[LocalAccount]:
    """Anvil's funded development accounts (local use only: their keys are public)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(count)
    ]


_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
# What a well-formed answer to each method AME uses looks like.
_SHAPES: dict[str, tuple[str, Any]] = {
    **{
        m: ("a hex quantity", _QUANTITY)
        for m in (
            "eth_chainId",
            "eth_blockNumber",
            "eth_getBalance",
            "eth_getTransactionCount",
            "eth_estimateGas",
            "eth_gasPrice",
            "eth_maxPriorityFeePerGas",
        )
    },
    "eth_getCode": ("hex data", _DATA),
    "eth_call": ("hex data", _DATA),
    "eth_getStorageAt": ("hex data", _DATA),
    "eth_sendRawTransaction": ("a transaction hash", _HASH),
    "eth_getLogs": ("a list of logs", list),
    "eth_getBlockByNumber": ("a block or null", (dict, type(None))),
    "eth_getTransactionReceipt": ("a receipt or null", (dict, type(None))),
    "eth_getTransactionByHash": ("a transaction or null", (dict, type(None))),
}
# Methods whose error answers carry revert data that the callers decode.
_REVERTING = frozenset({"eth_call", "eth_estimateGas", "eth_sendRawTransaction"})


class NodeProvider(HTTPProvider):
    """An ``HTTPProvider`` whose every failure to get a usable answer is a :class:`ChainError`.

    web3 lets a timeout, a dropped connection, an error answer or a malformed result
    escape as exceptions of ``requests``, ``web3`` or a bare ``ValueError`` from its
    formatters; each would reach the user as a traceback. This provider names the node,
    the method and what went wrong instead. Error answers to ``eth_call``,
    ``eth_estimateGas`` and ``eth_sendRawTransaction`` pass through: they carry the
    contract's revert data, which :mod:`ame_chain.errors` decodes.

    Args:
        url: The node.
        timeout: Seconds to wait for each answer.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout})
        self.url = url
        self.timeout = timeout

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            response = super().make_request(method, params)
        except requests.Timeout:
            retry = self.exception_retry_configuration
            tries = (
                f" ({retry.retries} tries)"
                if retry is not None and check_if_retry_on_failure(method, retry.method_allowlist)
                else ""
            )
            raise ChainError(
                f"the node at {self.url} did not answer {method} within {self.timeout}s{tries}"
            ) from None
        except requests.RequestException as err:
            raise ChainError(f"cannot reach the node at {self.url} ({method}): {err}") from None
        except ValueError as err:  # the body is not JSON
            raise ChainError(
                f"the node at {self.url} answered {method} with something that is not JSON-RPC: "
                f"{str(err)[:200]}"
            ) from None
        if not isinstance(response, dict):
            raise ChainError(f"the node at {self.url} answered {method} with {response!r:.200}")
        if "error" in response:
            if method not in _REVERTING:
                raise ChainError(
                    f"the node at {self.url} refused {method}: {str(response['error'])[:300]}"
                )
            return response
        if method in _SHAPES and "result" in response:
            self._check_shape(method, response["result"])
        return response

    def _check_shape(self, method: str, result: object) -> None:
        what, shape = _SHAPES[method]
        ok = (
            isinstance(result, str) and shape.fullmatch(result) is not None
            if isinstance(shape, re.Pattern)
            else isinstance(result, shape)
        )
        if not ok:
            raise ChainError(
                f"the node at {self.url} answered {method} with {result!r:.120}, not {what}"
            )


class Chain:
    """A connected chain: ``w3``, its chain id and its funded development accounts (if any)."""

    name = "chain"

    def __init__(self, w3: Web3, dev_accounts: list[LocalAccount]) -> None:
        self.w3 = w3
        self.dev_accounts = dev_accounts
        self.chain_id: int = w3.eth.chain_id

    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block (development chains only)."""
        raise ChainError(f"{self.name} cannot move its clock: it is not a development chain")

    def timestamp(self) -> int:
        """The timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def close(self) -> None:
        """Release what the chain holds (processes, connections)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InProcessChain(Chain):
    """py-evm in this process, through eth-tester (the embedded default)."""

    name = "in-process"

    def __init__(self) -> None:
        from eth_tester import EthereumTester, PyEVMBackend

        self._backend = PyEVMBackend()
        self._tester = EthereumTester(self._backend)
        w3 = Web3(EthereumTesterProvider(self._tester))
        keys = [
            Account.from_key(self._backend.account_keys[i].to_bytes())
            for i in range(len(self._backend.account_keys))
        ]
        super().__init__(w3, keys)

    def increase_time(self, seconds: int) -> None:
        # From the pending block: after a revert it can be ahead of the latest one.
        pending = int(self._tester.get_block_by_number("pending")["timestamp"])
        self._tester.time_travel(max(pending, self.timestamp()) + seconds)
        self._tester.mine_blocks(1)

    def snapshot(self) -> int:
        """Remember the chain's state; :meth:`revert` returns to it."""
        snapshot_id: int = self._tester.take_snapshot()
        return snapshot_id

    def revert(self, snapshot_id: int) -> None:
        """Return to the state remembered by :meth:`snapshot` (which stays usable)."""
        self._tester.revert_to_snapshot(snapshot_id)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilChain(Chain):
    """A local Anvil node started from ``node_modules`` and stopped on :meth:`close`.

    Args:
        port: Port to bind on 127.0.0.1; a free one by default.
        chain_id: The chain id Anvil reports.
        log_dir: Where ``anvil-<port>.log`` is kept; a temporary directory by default.
        startup_timeout: Seconds to wait for the node to answer.
    """

    name = "anvil"

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = 31337,
        log_dir: Path | None = None,
        startup_timeout: float = 30.0,
        binary: Path = ANVIL_BINARY,
    ) -> None:
        if not binary.is_file():
            raise ChainError(f"anvil not found at {binary}: run `npm ci` (or `make setup`) first")
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="ame-anvil-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"anvil-{self.port}.log"
        self._log = self.log_path.open("wb")
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [
                str(binary),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--chain-id",
                str(chain_id),
                "--mnemonic",
                ANVIL_MNEMONIC,
                "--accounts",
                "10",
                "--hardfork",
                "prague",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        atexit.register(self.close)
        w3 = Web3(NodeProvider(self.url))
        deadline = time.monotonic() + startup_timeout
        while True:
            if self._process.poll() is not None:
                self.close()
                raise ChainError(f"anvil exited at start-up; see {self.log_path}")
            with contextlib.suppress(Exception):
                if w3.is_connected():
                    break
            if time.monotonic() > deadline:
                self.close()
                raise ChainError(
                    f"anvil did not answer within {startup_timeout}s; see {self.log_path}"
                )
            time.sleep(0.05)
        super().__init__(w3, anvil_dev_accounts(10))

    def increase_time(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def close(self) -> None:
        process, self._process = getattr(self, "_process", None), None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


class RpcChain(Chain):
    """Any node reachable over HTTP(S), a testnet for instance."""

    name = "rpc"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        w3 = Web3(NodeProvider(url, timeout=timeout))
        try:
            connected = w3.is_connected()
        except ChainError:
            raise
        except Exception as err:  # any transport failure means the same to the user
            raise ChainError(f"cannot reach the node at {url}: {err}") from err
        if not connected:
            raise ChainError(f"cannot reach the node at {url}")
        self.url = url
        super().__init__(w3, [])


def connect(kind: str = "in-process", *, url: str | None = None) -> Chain:
    """Connect to a chain by kind: ``in-process`` (default), ``anvil`` or ``rpc`` (needs ``url``).

    Raises:
        ChainError: Unknown kind, missing URL, or the node cannot be reached or started.
    """
    if kind == "in-process":
        return InProcessChain()
    if kind == "anvil":
        return AnvilChain()
    if kind == "rpc":
        if not url:
            raise ChainError("an rpc chain needs a URL (the url argument)")
        return RpcChain(url)
    raise ChainError(f"unknown chain kind {kind!r}: use in-process, anvil or rpc")


def env_rpc_url() -> str | None:
    """The RPC URL from ``AME_RPC_URL``, if set."""
    return os.environ.get("AME_RPC_URL") or None
