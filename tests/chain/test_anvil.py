"""The one Anvil launcher: where the binary comes from, start-up failures, stopping, accounts."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ame_chain.chains import (
    ANVIL_BINARY,
    ANVIL_ENV,
    ANVIL_MNEMONIC,
    AnvilChain,
    AnvilProcess,
    DevChain,
    anvil_binary,
    anvil_dev_accounts,
)
from ame_chain.exceptions import ChainError


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound by this process (not listening: a probe is refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_anvil_binary_is_the_argument_then_ame_anvil_then_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ANVIL_ENV, raising=False)
    assert anvil_binary() == ANVIL_BINARY
    monkeypatch.setenv(ANVIL_ENV, str(tmp_path / "from-env"))
    assert anvil_binary() == tmp_path / "from-env"
    assert anvil_binary(tmp_path / "given") == tmp_path / "given"


def test_missing_anvil_names_the_path_and_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ChainError, match=f"anvil not found at {re.escape(str(tmp_path / 'nope'))}: .*{ANVIL_ENV}"
    ):
        AnvilProcess.start(log_dir=tmp_path, binary=tmp_path / "nope")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(scratch))
        with pytest.raises(ChainError, match="anvil not found"):
            AnvilChain(binary=tmp_path / "nope")
    # No log was written, so the temporary directory it made is not left behind.
    assert list(scratch.iterdir()) == []


def test_dev_accounts_from_any_index_continue_the_first_ten() -> None:
    ten = anvil_dev_accounts()
    assert ten[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # Anvil's account 0
    assert [a.address for a in anvil_dev_accounts(3, first=8)[:2]] == [a.address for a in ten[8:]]
    Account.enable_unaudited_hdwallet_features()
    for index, account in enumerate(anvil_dev_accounts(2, first=10), start=10):
        path = f"m/44'/60'/0'/0/{index}"
        assert account.key == Account.from_mnemonic(ANVIL_MNEMONIC, account_path=path).key


@pytest.mark.anvil
def test_anvil_that_exits_at_start_up_is_reported_with_its_own_log_line(
    tmp_path: Path, taken_port: int
) -> None:
    with pytest.raises(ChainError, match=r"anvil exited at start-up: .*Address already in use"):
        AnvilProcess.start(log_dir=tmp_path, port=taken_port)


@pytest.mark.anvil
def test_anvil_chain_has_the_dev_chain_accounts_and_close_stops_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under another name, as AME_ANVIL may give it: the process is still recognised and stopped.
    renamed = tmp_path / "bin" / "my-node"
    renamed.parent.mkdir()
    renamed.symlink_to(ANVIL_BINARY)
    monkeypatch.setenv(ANVIL_ENV, str(renamed))
    chain = AnvilChain(log_dir=tmp_path / "logs")
    try:
        node = chain.node
        assert node.is_running() and chain.log_path.parent == tmp_path / "logs"
        dev = DevChain(chain.url)
        assert [a.address for a in dev.dev_accounts] == [a.address for a in chain.dev_accounts]
        assert dev.w3.eth.get_balance(dev.dev_accounts[9].address) > 0
    finally:
        chain.close()
    assert not node.is_ours() and not node.is_running()
    chain.close()  # twice is harmless


@pytest.mark.anvil
def test_anvil_chain_removes_the_temporary_log_directory_it_made_and_keeps_a_given_one(
    tmp_path: Path,
) -> None:
    made = AnvilChain()
    log_dir = made.log_path.parent
    assert log_dir.is_dir() and log_dir.name.startswith("ame-anvil-")
    made.close()
    assert not log_dir.exists()  # one leaked directory per chain piled up in /tmp before
    given = AnvilChain(log_dir=tmp_path)
    given.close()
    assert given.log_path.is_file()


@pytest.mark.anvil
def test_stop_leaves_a_process_that_reused_the_recorded_id_alone(tmp_path: Path) -> None:
    node = AnvilProcess.start(log_dir=tmp_path)
    node.stop()
    other = subprocess.Popen(["sleep", "30"])
    try:
        impostor = AnvilProcess(pid=other.pid, port=node.port, log_path=node.log_path)
        assert not impostor.is_ours()
        impostor.stop()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
