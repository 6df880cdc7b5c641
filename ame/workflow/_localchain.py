"""The managed local chain: an Anvil node that outlives the command that started it.

``ame chain up`` starts Anvil from ``node_modules`` on 127.0.0.1 and a free port, in its own
session, and records its URL, port and process id in ``<state>/chain.json``; every later
command in the same state directory connects to it; ``ame chain down`` stops it (after
checking the process is still that Anvil) and removes the record. With a state file,
Anvil loads it at start and writes it back when stopped, so a chain survives restarts.

Its development accounts come from Anvil's published test mnemonic: public knowledge, for
local use only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

from ame.workflow.exceptions import ManagedChainError
from ame_chain.chains import ANVIL_BINARY, Chain, NodeProvider

__all__ = ["CHAIN_RECORD", "DevChain", "LocalChainInfo", "chain_down", "chain_up", "managed_chain"]

CHAIN_RECORD = "chain.json"
#: Anvil's documented default mnemonic: its accounts are public knowledge.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


@dataclass(frozen=True)
class LocalChainInfo:
    """Where the managed chain runs."""

    url: str
    port: int
    pid: int
    chain_id: int
    log: str
    state_file: str | None = None


class DevChain(Chain):
    """A development node at ``url`` whose accounts come from Anvil's test mnemonic."""

    name = "anvil"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        w3 = Web3(NodeProvider(url, timeout=timeout))
        Account.enable_unaudited_hdwallet_features()
        accounts = [
            Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(10)
        ]
        self.url = url
        super().__init__(w3, accounts)

    def increase_time(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answering(url: str) -> bool:
    with contextlib.suppress(Exception):
        return bool(Web3(HTTPProvider(url, request_kwargs={"timeout": 2})).is_connected())
    return False


def _is_our_anvil(info: LocalChainInfo) -> bool:
    # Never signal a process that is not the Anvil we started (the pid may have been reused).
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(cmdline)
        and Path(os.fsdecode(cmdline[0])).name == "anvil"
        and str(info.port).encode() in cmdline
    )


def _read(directory: Path) -> LocalChainInfo | None:
    path = directory / CHAIN_RECORD
    try:
        data = json.loads(path.read_text())
        return LocalChainInfo(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as err:
        raise ManagedChainError(f"{path}: not a chain record ({err}); delete it") from None


def chain_up(
    directory: Path,
    *,
    port: int | None = None,
    chain_id: int = 31337,
    state_file: Path | None = None,
    binary: Path = ANVIL_BINARY,
    timeout: float = 30.0,
) -> tuple[LocalChainInfo, bool]:
    """Start the managed chain for ``directory``, or find the one already running.

    Returns:
        The chain, and whether this call started it.

    Raises:
        ManagedChainError: Anvil is missing, exits, or does not answer in time.
    """
    existing = _read(directory)
    if existing is not None and _is_our_anvil(existing) and _answering(existing.url):
        return existing, False
    if not binary.is_file():
        raise ManagedChainError(f"anvil not found at {binary}: run `npm ci` (or `make setup`)")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    log = directory / f"anvil-{port}.log"
    argv = [
        str(binary),
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
    pid = os.posix_spawn(
        str(binary),
        argv,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    info = LocalChainInfo(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=pid,
        chain_id=chain_id,
        log=str(log),
        state_file=str(state_file.resolve()) if state_file is not None else None,
    )
    deadline = time.monotonic() + timeout
    while not _answering(info.url):
        if not _alive(pid) or time.monotonic() > deadline:
            _stop(info)
            raise ManagedChainError(f"anvil did not start on port {port}; see {log}")
        time.sleep(0.05)
    tmp = directory / f".{CHAIN_RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
    tmp.replace(directory / CHAIN_RECORD)
    return info, True


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


def _stop(info: LocalChainInfo, timeout: float = 15.0) -> None:
    if not _alive(info.pid) or not _is_our_anvil(info):
        return
    os.kill(info.pid, signal.SIGTERM)  # Anvil writes its --state file on SIGTERM
    deadline = time.monotonic() + timeout
    while _alive(info.pid):
        if time.monotonic() > deadline:
            os.kill(info.pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)


def chain_down(directory: Path) -> LocalChainInfo | None:
    """Stop the managed chain of ``directory`` and remove its record; None if there was none."""
    info = _read(directory)
    if info is None:
        return None
    _stop(info)
    (directory / CHAIN_RECORD).unlink(missing_ok=True)
    return info


def managed_chain(directory: Path) -> DevChain | None:
    """Connect to the managed chain of ``directory``; None when none was started.

    Raises:
        ManagedChainError: The recorded chain is no longer running.
    """
    info = _read(directory)
    if info is None:
        return None
    if not _is_our_anvil(info) or not _answering(info.url):
        raise ManagedChainError(
            f"the chain recorded in {directory / CHAIN_RECORD} ({info.url}, pid {info.pid}) is "
            "not running: run `ame chain down` then `ame chain up`"
        )
    return DevChain(info.url)
