"""Malformed node answers, through the real ``ame`` command, against Anvil behind a faulty proxy.

Each case puts one fault between the command and a real Anvil (``_faulty_node.py``): a node
that is not there, drops the connection, answers HTTP 500 or HTML, refuses a method, says
another chain id, returns a malformed or empty result, or never answers (with
``AME_RPC_TIMEOUT=1``). As in ``test_malformed_inputs.py``: exit 1, an ``ErrorName:
message`` line naming the problem, no traceback, and the state directory unchanged. The
faults hit reads and the steps before a transaction is signed; faults after signing (a
refused broadcast, a receipt that never comes) are in ``test_faults.py``, where the
recorded intent is the point.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ame_chain.chains import AnvilChain, free_port
from tests.hardening._cli import key, run
from tests.hardening._faulty_node import Fault, FaultyNode
from tests.hardening.test_malformed_inputs import snapshot
from tests.workflow._helpers import ADMIN, OPERATOR, write_inputs

pytestmark = pytest.mark.anvil


@dataclass
class Node:
    anvil: AnvilChain
    state: Path
    inputs: dict[str, str]  # epoch 2's values and registry, for commands that read them


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """Anvil with a deployed contract and a finalised epoch, set up through the command."""
    anvil = AnvilChain()
    root = tmp_path_factory.mktemp("node")
    state = root / "state"
    try:
        operator = anvil.dev_accounts[OPERATOR].address
        deployed = run(anvil.url, state, "deploy", "--operator", operator, env=key(anvil, ADMIN))
        assert deployed.exit_code == 0, deployed.output
        values, registry, _ = write_inputs(root / "inputs", anvil, 1)
        settled = run(
            anvil.url,
            state,
            "settle",
            "--values",
            values,
            "--registry",
            registry,
            env=key(anvil, OPERATOR),
        )
        assert settled.exit_code == 0, settled.output
        anvil.increase_time(3 * 3600)
        finalized = run(anvil.url, state, "finalize", 1, env=key(anvil, ADMIN))
        assert finalized.exit_code == 0, finalized.output
        values2, registry2, _ = write_inputs(root / "inputs2", anvil, 2)
        yield Node(anvil, state, {"values": str(values2), "registry": str(registry2)})
    finally:
        anvil.close()


@dataclass(frozen=True)
class Case:
    id: str
    faults: dict[str, Fault]
    error: str
    says: str
    command: tuple[object, ...] = ("status",)
    signer: int | None = None
    url: Callable[[str], str] = field(default=lambda proxy: proxy)


WITHDRAW = ("withdraw",)
SETTLE = ("settle", "--values", "{values}", "--registry", "{registry}")

CASES = [
    Case("node-not-listening", {}, "ChainError", "cannot reach the node at", url=lambda _: f"http://127.0.0.1:{free_port()}"),
    Case("connection-dropped", {"eth_chainId": Fault("drop")}, "ChainError", "Connection aborted"),
    Case("http-500", {"*": Fault("http500")}, "ChainError", "500 Server Error"),
    Case("html-instead-of-json", {"*": Fault("garbage")}, "ChainError", "something that is not JSON-RPC"),
    Case("result-given-twice", {"eth_chainId": Fault("repeat")}, "ChainError", "not JSON-RPC: the body: not valid JSON: duplicate key 'result' at result"),
    Case("chain-id-refused", {"eth_chainId": Fault("error")}, "ChainError", "refused eth_chainId"),
    Case("chain-id-not-a-number", {"eth_chainId": Fault("rewrite", lambda r: "banana")}, "ChainError", "answered eth_chainId with 'banana', not a hex quantity"),
    Case("wrong-chain-id", {"eth_chainId": Fault("rewrite", lambda r: "0x1")}, "WorkflowError", "no settlement contract on chain 1"),
    Case("code-vanished", {"eth_getCode": Fault("rewrite", lambda r: "0x")}, "WorkflowError", "no contract at"),
    Case("code-not-hex", {"eth_getCode": Fault("rewrite", lambda r: 42)}, "ChainError", "answered eth_getCode with 42, not hex data"),
    Case("logs-not-a-list", {"eth_getLogs": Fault("rewrite", lambda r: "nope")}, "ChainError", "not a list of logs"),
    Case("logs-refused", {"eth_getLogs": Fault("error")}, "ChainError", "refused eth_getLogs"),
    Case("call-empty-for-the-contract-check", {"eth_call": Fault("rewrite", lambda r: "0x")}, "WorkflowError", "is not an AmeSettlement"),
    Case("call-empty-later", {"eth_call": Fault("rewrite", lambda r: "0x", after=1)}, "ChainError", "returned nothing usable"),
    Case("call-refused", {"eth_call": Fault("error")}, "ChainError", "eth_call is unavailable"),
    Case("call-odd-hex", {"eth_call": Fault("rewrite", lambda r: "0x123", after=1)}, "ChainError", "not hex data"),
    Case("logs-never-answered", {"eth_getLogs": Fault("hang", seconds=2)}, "ChainError", "did not answer eth_getLogs within 1s (5 tries)"),
    Case("nonce-not-a-number", {"eth_getTransactionCount": Fault("rewrite", lambda r: "zz")}, "ChainError", "answered eth_getTransactionCount with 'zz'", WITHDRAW, OPERATOR),
    Case("gas-estimate-refused", {"eth_estimateGas": Fault("error")}, "TransactionError", "eth_estimateGas is unavailable", WITHDRAW, OPERATOR),
    Case("balance-not-a-number-before-publishing", {"eth_getBalance": Fault("rewrite", lambda r: None)}, "ChainError", "answered eth_getBalance with null", SETTLE, OPERATOR),
    Case("receipt-list-refused-while-claiming", {"eth_getLogs": Fault("error", after=1)}, "ChainError", "refused eth_getLogs", ("claim", "--all"), 5),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_node_answer_exits_1_names_the_problem_and_writes_nothing(
    node: Node, tmp_path: Path, case: Case
) -> None:
    state = tmp_path / "state"
    shutil.copytree(node.state, state)
    before = snapshot(tmp_path)
    env = {"AME_RPC_TIMEOUT": "1", **(key(node.anvil, case.signer) if case.signer else {})}
    with FaultyNode(node.anvil.url, case.faults) as proxy:
        command = [str(part).format(**node.inputs) for part in case.command]
        result = run(case.url(proxy.url), state, *command, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert any(line.startswith(f"{case.error}: ") for line in result.stderr.splitlines()), (
        result.stderr
    )
    assert case.says in result.stderr, result.stderr
    assert snapshot(tmp_path) == before


def test_the_same_commands_succeed_through_a_proxy_without_faults(
    node: Node, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    shutil.copytree(node.state, state)
    with FaultyNode(node.anvil.url) as proxy:
        status = run(proxy.url, state, "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["epochs"][0]["status"] == "Finalized"
