"""The managed local chain: an Anvil node that outlives the command that started it.

``ame chain up`` starts Anvil (:meth:`ame_chain.chains.AnvilProcess.start`: 127.0.0.1, a
free port, its own session) and records its URL, port and process id in
``<state>/chain.json``; every later command in the same state directory connects to it;
``ame chain down`` stops it (after checking the process is still that Anvil) and removes
the record. With a state file, Anvil loads it at start and writes it back when stopped, so
a chain survives restarts.

Its development accounts come from Anvil's published test mnemonic: public knowledge, for
local use only.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from ame.workflow.exceptions import ManagedChainError
from ame_chain.chains import AnvilProcess, DevChain
from ame_chain.exceptions import ChainError
from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from ame_core.validation import show_value

__all__ = ["CHAIN_RECORD", "DevChain", "LocalChainInfo", "chain_down", "chain_up", "managed_chain"]

CHAIN_RECORD = "chain.json"


@dataclass(frozen=True)
class LocalChainInfo:
    """Where the managed chain runs."""

    url: str
    port: int
    pid: int
    chain_id: int
    log: str
    state_file: str | None = None


def _node(info: LocalChainInfo) -> AnvilProcess:
    return AnvilProcess(pid=info.pid, port=info.port, log_path=Path(info.log))


def _read(directory: Path) -> LocalChainInfo | None:
    path = directory / CHAIN_RECORD
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ManagedChainError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        data = parse_json(text, source=str(path), decimals=False, unique_keys=True)
    except InputError as err:  # not JSON, or a key repeated
        raise ManagedChainError(f"{err}; not a chain record: delete it") from None
    known = {f.name for f in fields(LocalChainInfo)}
    required = {
        f.name
        for f in fields(LocalChainInfo)
        if f.default is MISSING and f.default_factory is MISSING
    }
    # Named here, not left to the constructor's TypeError (Python's wording, not ours).
    if not isinstance(data, dict):
        problem = "not a JSON object"
    elif unknown := sorted(set(data) - known):
        problem = f"unknown field {show_value(unknown[0])}"
    elif missing := sorted(required - set(data)):
        problem = f"missing field {show_value(missing[0])}"
    else:
        return LocalChainInfo(**data)
    raise ManagedChainError(f"{path}: not a chain record ({problem}); delete it")


def chain_up(
    directory: Path,
    *,
    port: int | None = None,
    chain_id: int = 31337,
    state_file: Path | None = None,
    binary: Path | None = None,
    timeout: float = 30.0,
    block_time: int | None = None,
) -> tuple[LocalChainInfo, bool]:
    """Start the managed chain for ``directory``, or find the one already running.

    Args:
        directory: The state directory; the record and Anvil's log go there.
        port: Port to bind on 127.0.0.1; a free one by default.
        chain_id: The chain id Anvil reports.
        state_file: Anvil loads the chain from this file at start and writes it back when
            stopped.
        binary: The Anvil executable; by default ``$AME_ANVIL`` or the checkout's
            (:func:`ame_chain.chains.anvil_binary`).
        timeout: Seconds to wait for the node to answer.
        block_time: Mine a block every this many seconds (a testnet's pace) instead of one
            per transaction.

    Returns:
        The chain, and whether this call started it.

    Raises:
        ManagedChainError: Anvil is missing, exits, or does not answer in time.
    """
    existing = _read(directory)
    if existing is not None and _node(existing).is_running():
        return existing, False
    try:
        node = AnvilProcess.start(
            log_dir=directory,
            port=port,
            chain_id=chain_id,
            state_file=state_file,
            binary=binary,
            timeout=timeout,
            block_time=block_time,
        )
    except ChainError as err:
        raise ManagedChainError(str(err)) from err
    info = LocalChainInfo(
        url=node.url,
        port=node.port,
        pid=node.pid,
        chain_id=chain_id,
        log=str(node.log_path),
        state_file=str(state_file.resolve()) if state_file is not None else None,
    )
    atomic_write(directory / CHAIN_RECORD, json.dumps(asdict(info), indent=2) + "\n")
    return info, True


def chain_down(directory: Path) -> LocalChainInfo | None:
    """Stop the managed chain of ``directory`` and remove its record; None if there was none."""
    info = _read(directory)
    if info is None:
        return None
    _node(info).stop()
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
    if not _node(info).is_running():
        raise ManagedChainError(
            f"the chain recorded in {directory / CHAIN_RECORD} ({info.url}, pid {info.pid}) is "
            "not running: run `ame chain down` then `ame chain up`"
        )
    return DevChain(info.url)
