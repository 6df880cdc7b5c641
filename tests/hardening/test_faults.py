"""Faults between the operator and the node: a node restarted mid-batch, answers that never come,
a refused broadcast, a proposal reorged away. Each run ends with every leaf paid once, one
proposal and one funding: what a failed command recorded is reconciled with the chain by
the next run, and the contract's bitmap makes a retried claim harmless.

Anvil sits behind the faulty proxy of ``_faulty_node.py``; the node is restarted from its
``--state`` file, as ``ame chain up --persist`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ame.workflow import DevChain, StateStore, chain_down, chain_up
from ame_chain.contracts import load_artifact
from tests.hardening._cli import key, run
from tests.hardening._faulty_node import Fault, FaultyNode
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc
from tests.workflow._helpers import ADMIN, CONFIG, ETHER, OPERATOR, write_inputs

pytestmark = pytest.mark.anvil

RELAYER = 8
LEAVES = 24


@dataclass
class Node:
    """Anvil started from a state file, behind a proxy; ``restart`` stops and starts it again."""

    directory: Path
    state_file: Path
    proxy: FaultyNode
    port: int

    @property
    def chain(self) -> DevChain:
        return DevChain(self.proxy.upstream)

    def stop(self) -> None:
        chain_down(self.directory)  # SIGTERM: Anvil writes its state file

    def start(self) -> None:
        chain_up(self.directory, port=self.port, state_file=self.state_file)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    directory = tmp_path / "node"
    info, _ = chain_up(directory, state_file=tmp_path / "anvil-state.json")
    proxy = FaultyNode(info.url)
    try:
        yield Node(directory, tmp_path / "anvil-state.json", proxy, info.port)
    finally:
        proxy.close()
        chain_down(directory)


def deploy_and_settle(node: Node, state: Path, inputs: Path, leaves: int = LEAVES) -> str:
    """Deploy, settle epoch 1 with ``leaves`` payees, and let its window pass; the contract address."""
    chain = node.chain
    operator = chain.dev_accounts[OPERATOR].address
    deployed = run(
        node.proxy.url, state, "deploy", "--operator", operator, "--json", env=key(chain, ADMIN)
    )
    assert deployed.exit_code == 0, deployed.output
    inputs.mkdir(parents=True)
    registry = inputs / "registry.json"
    registry.write_text(
        json.dumps(
            registry_doc(
                [asset_doc(f"a{i}", owners=[(address(1000 + i), "1")]) for i in range(leaves)]
            )
        )
    )
    values = inputs / "values.json"
    values.write_text(
        json.dumps(values_doc([event_doc("e1", ETHER, {f"a{i}": i + 1 for i in range(leaves)})]))
    )
    settled = run(
        node.proxy.url,
        state,
        "settle",
        "--values",
        values,
        "--registry",
        registry,
        env=key(chain, OPERATOR),
    )
    assert settled.exit_code == 0, settled.output
    return str(json.loads(deployed.stdout)["address"])


def claimed_events(node: Node, settlement: str) -> list[dict[str, object]]:
    contract = node.chain.w3.eth.contract(
        address=settlement, abi=load_artifact("AmeSettlement").abi
    )  # type: ignore[call-overload]
    return [dict(e["args"]) for e in contract.events.Claimed().get_logs(from_block=0)]


def test_anvil_restarted_mid_batch_of_claims_pays_every_leaf_once(
    node: Node, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settlement = deploy_and_settle(node, state, tmp_path / "inputs")
    node.chain.increase_time(CONFIG.challenge_window + 1)
    chain = node.chain
    assert run(node.proxy.url, state, "finalize", 1, env=key(chain, ADMIN)).exit_code == 0
    # The third claim transaction reaches the node, which is then stopped before it answers.
    node.proxy.calls.clear()  # `after` counts from here

    def stop_once_mined(answer: bytes) -> None:
        # Anvil answers with the hash before the block is stored; stopped in between, it
        # could save the claim as paid with neither the block nor its Claimed log.
        tx_hash = json.loads(answer)["result"]
        node.chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        node.stop()

    node.proxy.faults["eth_sendRawTransaction"] = Fault(
        "forward-then-act", after=2, action=stop_once_mined
    )
    relayer = key(chain, RELAYER)
    first = run(node.proxy.url, state, "claim", "--all", "--batch", 5, env=relayer)
    assert first.exit_code == 1 and "Traceback" not in first.output
    assert first.stderr.startswith("ChainError: "), first.stderr
    node.proxy.faults.clear()
    node.start()
    paid_before = {int(e["index"]) for e in claimed_events(node, settlement)}  # type: ignore[call-overload]
    assert 10 <= len(paid_before) < LEAVES  # two batches answered, a third mined unanswered
    second = run(node.proxy.url, state, "claim", "--all", "--batch", 5, "--json", env=relayer)
    assert second.exit_code == 0, second.output
    retried = {line["index"] for line in json.loads(second.stdout)["claims"]}
    assert retried.isdisjoint(paid_before)  # nothing the chain had paid was sent again
    events = claimed_events(node, settlement)
    assert sorted(int(e["index"]) for e in events) == list(range(LEAVES))  # type: ignore[call-overload]
    contract = chain.w3.eth.contract(address=settlement, abi=load_artifact("AmeSettlement").abi)  # type: ignore[call-overload]
    assert contract.functions.epochState(1).call()[1] == 0
    for event in events:
        assert chain.w3.eth.get_balance(event["account"]) == event["amount"]  # type: ignore[arg-type]
    with StateStore(state) as store:
        statuses = [row.status for row in store.txs() if row.step == "claim"]
    # The unanswered transaction was recorded before it went out; the chain, not the record,
    # decided what the second run sent.
    assert statuses.count("mined") + statuses.count("dropped") == len(statuses)


def _proposals(node: Node, settlement: str, epoch: int) -> int:
    contract = node.chain.w3.eth.contract(
        address=settlement, abi=load_artifact("AmeSettlement").abi
    )  # type: ignore[call-overload]
    return len(
        contract.events.EpochProposed().get_logs(argument_filters={"epoch": epoch}, from_block=0)
    )


def test_receipt_that_never_comes_is_reconciled_by_the_next_run(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settlement = deploy_and_settle(node, state, tmp_path / "inputs", leaves=3)
    chain = node.chain
    values, registry, _ = write_inputs(tmp_path / "in2", chain, 2)
    held = chain.w3.eth.get_balance(settlement)  # type: ignore[arg-type]
    node.proxy.faults["eth_getTransactionReceipt"] = Fault("rewrite", rewrite=lambda r: None)
    args = ("settle", "--values", values, "--registry", registry)
    lost = run(
        node.proxy.url, state, *args, env={**key(chain, OPERATOR), "AME_RECEIPT_TIMEOUT": "2"}
    )
    assert lost.exit_code == 1
    assert "ChainError: no receipt for" in lost.stderr and "run the command again" in lost.stderr
    node.proxy.faults.clear()
    again = run(node.proxy.url, state, *args, "--json", env=key(chain, OPERATOR))
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert result["resumed"] == [f"propose {result['proposeTx']} mined"]
    assert _proposals(node, settlement, 2) == 1
    assert chain.w3.eth.get_balance(settlement) - held == ETHER + CONFIG.operator_bond  # type: ignore[arg-type]


def test_refused_broadcast_is_recorded_dropped_and_the_next_run_proposes_once(
    node: Node, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settlement = deploy_and_settle(node, state, tmp_path / "inputs", leaves=3)
    chain = node.chain
    values, registry, _ = write_inputs(tmp_path / "in2", chain, 2)
    node.proxy.faults["eth_sendRawTransaction"] = Fault("error")
    args = ("settle", "--values", values, "--registry", registry)
    refused = run(node.proxy.url, state, *args, env=key(chain, OPERATOR))
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1].startswith(
        "ChainError: the node refused the transaction"
    )
    with StateStore(state) as store:
        assert [row.status for row in store.txs() if row.step == "propose"][-1] == "dropped"
    node.proxy.faults.clear()
    again = run(node.proxy.url, state, *args, env=key(chain, OPERATOR))
    assert again.exit_code == 0, again.output
    assert _proposals(node, settlement, 2) == 1


def test_proposal_reorged_away_is_sent_again_with_the_same_bytes(
    node: Node, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settlement = deploy_and_settle(node, state, tmp_path / "inputs", leaves=3)
    chain = node.chain
    values, registry, _ = write_inputs(tmp_path / "in2", chain, 2)
    args = ("settle", "--values", values, "--registry", registry, "--json")
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    proposed = run(node.proxy.url, state, *args, env=key(chain, OPERATOR))
    assert proposed.exit_code == 0, proposed.output
    tx = json.loads(proposed.stdout)["proposeTx"]
    held = chain.w3.eth.get_balance(settlement)  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    assert _proposals(node, settlement, 2) == 0  # the state says mined; the chain lost it
    again = run(node.proxy.url, state, *args, env=key(chain, OPERATOR))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["proposeTx"] == tx
    assert _proposals(node, settlement, 2) == 1
    assert chain.w3.eth.get_balance(settlement) == held  # type: ignore[arg-type]
