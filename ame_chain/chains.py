"""Chains AME can settle on: the embedded in-process chain, a managed Anvil, or any RPC URL.

* :class:`InProcessChain` (the default) runs py-evm inside this process through eth-tester:
  nothing to start, ten funded development accounts, instant blocks, time travel.
* :class:`AnvilChain` starts Anvil on 127.0.0.1 and a free port, keeps its log, and stops
  it on :meth:`close` (and at interpreter exit). :class:`DevChain` connects to an Anvil
  that runs elsewhere (the managed chain of :mod:`ame.workflow`, which outlives each
  command); both have Anvil's ten funded development accounts.
* :class:`RpcChain` connects to any node URL, a testnet for instance; it has no funded
  development accounts, so signers come from a keystore or the environment
  (:mod:`ame_chain.keys`).

All of them expose a :class:`web3.Web3` as ``w3`` and the chain id; transactions are
always signed locally (:mod:`ame_chain.tx`).

Every Anvil is started by :meth:`AnvilProcess.start`: on 127.0.0.1, with Anvil's public
test mnemonic (:data:`ANVIL_MNEMONIC`), waiting until it answers and quoting Anvil's own
last log line if it dies first. The executable is, in this order, the ``binary`` argument,
the ``AME_ANVIL`` environment variable, or the one ``npm ci`` put in the checkout's
``node_modules`` (:data:`ANVIL_BINARY`); an installed package has no ``node_modules``
beside it, so there ``AME_ANVIL`` names one.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import requests
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.providers.rpc.utils import check_if_retry_on_failure
from web3.types import RPCEndpoint, RPCResponse

from ame_chain.exceptions import ChainError
from ame_core.documents import parse_json
from ame_core.validation import show_value

__all__ = [
    "ANVIL_BINARY",
    "ANVIL_ENV",
    "ANVIL_MNEMONIC",
    "AnvilChain",
    "AnvilProcess",
    "Chain",
    "DevChain",
    "InProcessChain",
    "NodeProvider",
    "RpcChain",
    "anvil_binary",
    "anvil_dev_accounts",
    "connect",
    "connect_url",
    "free_port",
]

#: Where ``npm ci`` puts Anvil in a checkout (the ``@foundry-rs/anvil`` pinned in package.json).
ANVIL_BINARY = (
    Path(__file__).resolve().parent.parent
    / "node_modules"
    / "@foundry-rs"
    / "anvil-linux-amd64"
    / "bin"
    / "anvil"
)
#: The environment variable that names the Anvil executable to run instead of ANVIL_BINARY.
ANVIL_ENV = "AME_ANVIL"
#: Anvil's documented default mnemonic: its development accounts are public knowledge.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary(binary: Path | None = None) -> Path:
    """The Anvil executable to run.

    Args:
        binary: This executable, if given; otherwise the path in ``$AME_ANVIL`` if set,
            otherwise the checkout's :data:`ANVIL_BINARY`.

    Returns:
        The path (not checked: :meth:`AnvilProcess.start` says when it is missing).
    """
    if binary is not None:
        return binary
    named = os.environ.get(ANVIL_ENV)
    return Path(named) if named else ANVIL_BINARY


def anvil_dev_accounts(count: int = 10, *, first: int = 0) -> list[LocalAccount]:
    """Accounts ``first`` to ``first + count - 1`` of :data:`ANVIL_MNEMONIC`.

    Anvil funds the first ten. Local use only: their keys are public.

    Args:
        count: How many accounts.
        first: The index (``m/44'/60'/0'/0/<index>``) of the first one.

    Returns:
        The accounts, in index order.
    """
    return [Account.from_key(_dev_key(i)) for i in range(first, first + count)]


@functools.cache
def _dev_seed() -> bytes:
    # The mnemonic's PBKDF2 stretching costs ~30 ms: once per process, not once per account
    # (Account.from_mnemonic redoes it for each, ~0.3 s for every chain's ten accounts).
    return seed_from_mnemonic(ANVIL_MNEMONIC, "")


@functools.cache
def _dev_key(index: int) -> bytes:
    return key_from_seed(_dev_seed(), f"m/44'/60'/0'/0/{index}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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

    def decode_rpc_response(self, raw_response: bytes) -> RPCResponse:  # type: ignore[override]
        """The node's answer, parsed as every input is (a key given twice is refused).

        Raises:
            InputError: The body is not JSON or repeats a key (``make_request`` names the
                node and the method).
        """
        return cast(
            RPCResponse,
            parse_json(raw_response, source="the body", decimals=False, unique_keys=True),
        )

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
        except ValueError as err:  # the body is not JSON, or repeats a key
            raise ChainError(
                f"the node at {self.url} answered {method} with something that is not JSON-RPC: "
                f"{str(err)[:200]}"
            ) from None
        if not isinstance(response, dict):
            raise ChainError(
                f"the node at {self.url} answered {method} with {show_value(response)}"
            )
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
                f"the node at {self.url} answered {method} with {show_value(result)}, not {what}"
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


def _probe(url: str) -> Web3:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": 2}))


def _answering(node: Web3 | str) -> bool:
    with contextlib.suppress(Exception):
        return bool((_probe(node) if isinstance(node, str) else node).is_connected())
    return False


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # Reap it if it is our child and has exited, so a zombie does not count as alive.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _follows(argv: list[bytes], option: str, value: str) -> bool:
    return (option.encode(), value.encode()) in itertools.pairwise(argv)


@dataclass(frozen=True)
class AnvilProcess:
    """An Anvil node on 127.0.0.1, in its own session, started by :meth:`start`.

    A plain record (process id, port, log) rather than a process handle, so that another
    process can stop it too: ``ame chain up`` records it and ``ame chain down``, a later
    command, stops it.

    Attributes:
        pid: The process id.
        port: The port it listens on.
        log_path: The file Anvil's output is appended to.
    """

    pid: int
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        log_dir: Path,
        port: int | None = None,
        chain_id: int = 31337,
        state_file: Path | None = None,
        binary: Path | None = None,
        timeout: float = 30.0,
        block_time: int | None = None,
    ) -> AnvilProcess:
        """Start Anvil and wait until it answers.

        It runs the Prague rules with ten funded accounts of :data:`ANVIL_MNEMONIC`.

        Args:
            log_dir: Where ``anvil-<port>.log`` is appended to (a restart on the same port
                continues the same log).
            port: Port to bind on 127.0.0.1; a free one by default.
            chain_id: The chain id Anvil reports.
            state_file: Anvil loads the chain from this file at start and writes it back
                when stopped (``--state``).
            binary: The Anvil executable; see :func:`anvil_binary`.
            timeout: Seconds to wait for the node to answer.
            block_time: Mine a block every this many seconds (as a testnet does), instead
                of one per transaction.

        Returns:
            The running node.

        Raises:
            ChainError: The executable is missing or cannot run, Anvil exits at start-up
                (the message quotes its last log line), or it does not answer in time.
        """
        executable = anvil_binary(binary)
        if not executable.is_file():
            raise ChainError(
                f"anvil not found at {executable}: run `npm ci` (or `make setup`) in a "
                f"checkout, or set {ANVIL_ENV} to an anvil executable"
            )
        port = port or free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"anvil-{port}.log"
        # Where this run's output begins in a log that earlier runs on the port wrote to.
        offset = log_path.stat().st_size if log_path.exists() else 0
        argv = [
            str(executable),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--mnemonic",
            ANVIL_MNEMONIC,
            "--accounts",
            "10",
            "--hardfork",
            "prague",
        ]
        if state_file is not None:
            argv += ["--state", str(state_file.resolve())]
        if block_time is not None:
            argv += ["--block-time", str(block_time)]
        try:
            # posix_spawn rather than Popen: the node may outlive this call and this process
            # (a Popen dropped while its child runs warns). Its own session keeps a Ctrl-C in
            # the starting terminal from stopping it.
            pid = os.posix_spawn(
                str(executable),
                argv,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (
                        os.POSIX_SPAWN_OPEN,
                        1,
                        str(log_path),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o644,
                    ),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
            )
        except OSError as err:
            raise ChainError(f"cannot run anvil at {executable}: {err}") from None
        node = cls(pid=pid, port=port, log_path=log_path)
        try:
            node._wait_until_answering(timeout, offset)
        except BaseException:
            node.stop()
            raise
        return node

    def _wait_until_answering(self, timeout: float, offset: int) -> None:
        deadline = time.monotonic() + timeout
        probe = _probe(self.url)  # one client for the whole wait: polling starts no new ones
        # An answer on the port proves nothing by itself: another node may hold the port
        # while this one dies of "Address already in use". Anvil says in its log when it
        # has bound the port; only then does an answer come from it.
        listening = f"Listening on 127.0.0.1:{self.port}"
        while True:
            if not _alive(self.pid):
                raise ChainError(
                    f"anvil exited at start-up: {self._last_log_line(offset)}; see {self.log_path}"
                )
            if listening in self._log_since(offset) and _answering(probe):
                return
            if time.monotonic() > deadline:
                raise ChainError(
                    f"anvil did not answer on port {self.port} within {timeout}s; "
                    f"see {self.log_path}"
                )
            time.sleep(0.05)

    def _log_since(self, offset: int) -> str:
        """What this run wrote to the log (from ``offset``, where earlier runs' output ends)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _last_log_line(self, offset: int) -> str:
        lines = self._log_since(offset).splitlines()
        said = [line.strip() for line in lines if line.strip()]
        return said[-1] if said else "it wrote nothing"

    def is_ours(self) -> bool:
        """Whether the process is alive and still this Anvil.

        A recorded process id can be reused by another program once the node is gone; the
        command line (our port and mnemonic) tells them apart.
        """
        if not _alive(self.pid):
            return False
        try:
            argv = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return _follows(argv, "--port", str(self.port)) and _follows(
            argv, "--mnemonic", ANVIL_MNEMONIC
        )

    def is_running(self) -> bool:
        """Whether the process is still this Anvil and answers on its port."""
        return self.is_ours() and _answering(self.url)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the node: SIGTERM, then SIGKILL if it still runs after ``timeout`` seconds.

        SIGTERM lets Anvil write its ``--state`` file. Nothing happens when the process has
        already exited or its id now belongs to another program.
        """
        if not self.is_ours():
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(self.pid):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.05)


class DevChain(Chain):
    """A development node at ``url`` (Anvil) with the accounts of :data:`ANVIL_MNEMONIC`.

    Args:
        url: The node.
        timeout: Seconds to wait for each answer.
    """

    name = "anvil"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        super().__init__(Web3(NodeProvider(url, timeout=timeout)), anvil_dev_accounts(10))

    def increase_time(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


class AnvilChain(DevChain):
    """A local Anvil started here that lives as long as this object: stopped on :meth:`close`.

    Attributes:
        node: The Anvil process.
        port: Its port on 127.0.0.1.
        log_path: Its log.

    Args:
        port: Port to bind on 127.0.0.1; a free one by default.
        chain_id: The chain id Anvil reports.
        log_dir: Where ``anvil-<port>.log`` is kept; by default a temporary directory,
            removed on :meth:`close` (kept when Anvil fails to start after writing its log,
            which the error names).
        startup_timeout: Seconds to wait for the node to answer.
        binary: The Anvil executable; see :func:`anvil_binary`.

    Raises:
        ChainError: Anvil is missing, exits at start-up, or does not answer in time.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = 31337,
        log_dir: Path | None = None,
        startup_timeout: float = 30.0,
        binary: Path | None = None,
    ) -> None:
        directory = log_dir if log_dir is not None else Path(tempfile.mkdtemp(prefix="ame-anvil-"))
        self._owned_log_dir = None if log_dir is not None else directory
        try:
            node = AnvilProcess.start(
                log_dir=directory,
                port=port,
                chain_id=chain_id,
                binary=binary,
                timeout=startup_timeout,
            )
        except BaseException:
            if self._owned_log_dir is not None and not any(directory.iterdir()):
                directory.rmdir()  # no log to point at (Anvil never ran): nothing to keep
            raise
        self.node = node
        atexit.register(self.close)
        self.port = node.port
        self.log_path = node.log_path
        try:
            super().__init__(node.url)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        # Stopping is idempotent: a node already gone, or a reused process id, is left alone.
        self.node.stop()
        if self._owned_log_dir is not None:
            shutil.rmtree(self._owned_log_dir, ignore_errors=True)


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


def connect_url(url: str, *, timeout: float = 30.0) -> RpcChain | DevChain:
    """The node at ``url``: a :class:`DevChain` when it is an Anvil, else an :class:`RpcChain`.

    An Anvil (whatever its chain id) has the funded accounts of :data:`ANVIL_MNEMONIC` and
    moves its clock on request, so ``--dev-account`` and ``ame chain advance`` work there;
    it is told apart by ``web3_clientVersion`` (``anvil/v...``).

    Raises:
        ChainError: The node cannot be reached.
    """
    chain = RpcChain(url, timeout=timeout)
    try:
        version = chain.w3.client_version
    except Exception:  # a node that keeps its version to itself is no Anvil of ours
        return chain
    if isinstance(version, str) and version.lower().startswith("anvil/"):
        return DevChain(url, timeout=timeout)
    return chain


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
