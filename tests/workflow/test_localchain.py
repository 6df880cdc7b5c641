"""The managed chain: started by the shared Anvil launcher, found again, stopped from its record."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from ame.cli import main
from ame.workflow import ManagedChainError, chain_down, chain_up, managed_chain
from ame_chain.chains import ANVIL_BINARY, ANVIL_ENV, AnvilChain, AnvilProcess

pytestmark = pytest.mark.anvil


def test_chain_up_runs_ame_anvil_finds_it_again_and_chain_down_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed = tmp_path / "bin" / "pinned-anvil"
    renamed.parent.mkdir()
    renamed.symlink_to(ANVIL_BINARY)
    monkeypatch.setenv(ANVIL_ENV, str(renamed))
    state = tmp_path / "state"
    info, started = chain_up(state)
    try:
        assert started and json.loads((state / "chain.json").read_text())["pid"] == info.pid
        assert chain_up(state) == (info, False)
        chain = managed_chain(state)
        assert chain is not None and chain.chain_id == 31337 and len(chain.dev_accounts) == 10
    finally:
        assert chain_down(state) == info
    assert not AnvilProcess(pid=info.pid, port=info.port, log_path=Path(info.log)).is_ours()
    assert managed_chain(state) is None


def test_chain_up_that_fails_is_a_managed_chain_error_quoting_anvil(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ManagedChainError, match=r"anvil exited at start-up: .*in use"):
            chain_up(tmp_path, port=port)
    assert not (tmp_path / "chain.json").exists()
    with pytest.raises(
        ManagedChainError, match=f"anvil not found at {re.escape(str(tmp_path / 'nope'))}"
    ):
        chain_up(tmp_path, binary=tmp_path / "nope")


def test_chain_up_on_a_port_another_node_answers_fails_and_says_so(tmp_path: Path) -> None:
    # Issue 15: the other node answered the start-up wait, so the one that died of
    # "Address already in use" was reported started.
    other = AnvilChain(log_dir=tmp_path / "other")
    try:
        with pytest.raises(ManagedChainError, match=r"anvil exited at start-up: .*in use"):
            chain_up(tmp_path / "state", port=other.port)
        assert not (tmp_path / "state" / "chain.json").exists()
        result = CliRunner().invoke(
            main, ["chain", "up", "--port", str(other.port), "--state-dir", str(tmp_path / "cli")]
        )
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("ManagedChainError: anvil exited at start-up: ")
        assert "in use" in result.stderr and "chain started" not in result.output
        assert other.w3.eth.chain_id == 31337  # the node that held the port is untouched
    finally:
        other.close()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"url": "http://127.0.0.1:1", "url": "http://127.0.0.1:2"}',
            "duplicate key 'url' at url",
        ),
        ('{"url": "http://127.0.0.1:1", "rpc": 1}', "(unknown field 'rpc')"),
        ('{"url": "http://127.0.0.1:1"}', "(missing field 'chain_id')"),
        ("[1]", "(not a JSON object)"),
    ],
)
def test_a_damaged_chain_record_is_named_with_its_problem_and_what_to_do(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "chain.json").write_text(text)
    with pytest.raises(ManagedChainError) as caught:
        managed_chain(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "chain.json") in message and problem in message
    assert message.endswith("delete it") and "__init__" not in message
