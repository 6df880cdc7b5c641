"""The workflow called as a library, against a node that fails or answers garbage: an AmeError.

The ``ame`` command used to turn web3's exceptions into ours around each command, so a
program calling ``audit_epoch`` itself got web3's. They are translated where they arise
now (the client and the sender, through :mod:`ame_chain.errors`): whatever the node does,
a workflow function raises one of ours, from web3's. Anvil sits behind the faulty proxy
of ``tests/hardening/_faulty_node.py``; ``tests/hardening/test_node_answers.py`` runs the
same faults through the command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ame.workflow import (
    DurableSender,
    MappingInputs,
    StateStore,
    Workspace,
    audit_epoch,
    epoch_summaries,
    settle_epoch,
    withdraw_credits,
)
from ame_chain.chains import AnvilChain, RpcChain
from ame_chain.client import SettlementClient
from ame_chain.exceptions import ChainError, TransactionError
from ame_core.exceptions import AmeError
from tests.hardening._faulty_node import Fault, FaultyNode
from tests.workflow._helpers import LOCAL_FETCH, OPERATOR, deploy, workspace, write_inputs

pytestmark = pytest.mark.anvil


@dataclass
class Settled:
    anvil: AnvilChain
    settlement: str
    published: Path
    next_inputs: MappingInputs  # epoch 2's


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settled]:
    """Anvil with a contract and epoch 1 settled by the operator's workflow."""
    anvil = AnvilChain()
    root = tmp_path_factory.mktemp("settled")
    try:
        client = deploy(anvil)
        ws = workspace(anvil, client, root, anvil.dev_accounts[OPERATOR])
        settle_epoch(ws, MappingInputs.load(*write_inputs(root / "in", anvil, 1)))  # type: ignore[arg-type]
        ws.state.close()
        following = MappingInputs.load(*write_inputs(root / "in2", anvil, 2))  # type: ignore[arg-type]
        yield Settled(anvil, client.address, root / "published", following)
    finally:
        anvil.close()


@dataclass(frozen=True)
class Case:
    id: str
    faults: dict[str, Fault]
    call: Callable[[Workspace, Settled], Any]
    error: type[AmeError]
    says: str


def _audit(ws: Workspace, _: Settled) -> Any:
    return audit_epoch(ws, 1)


def _summaries(ws: Workspace, _: Settled) -> Any:
    return epoch_summaries(ws)


def _withdraw(ws: Workspace, _: Settled) -> Any:
    return withdraw_credits(ws)


def _settle_next(ws: Workspace, settled: Settled) -> Any:
    return settle_epoch(ws, settled.next_inputs)


CASES = [
    Case("audit-call-empty", {"eth_call": Fault("rewrite", lambda r: "0x")}, _audit, ChainError, "returned nothing usable"),
    Case("audit-call-empty-later", {"eth_call": Fault("rewrite", lambda r: "0x", after=2)}, _audit, ChainError, "returned nothing usable"),
    Case("audit-call-refused", {"eth_call": Fault("error")}, _audit, ChainError, "eth_call is unavailable"),
    Case("audit-call-odd-hex", {"eth_call": Fault("rewrite", lambda r: "0x123")}, _audit, ChainError, "not hex data"),
    Case("audit-logs-refused", {"eth_getLogs": Fault("error")}, _audit, ChainError, "refused eth_getLogs"),
    Case("audit-http-500", {"*": Fault("http500")}, _audit, ChainError, "500 Server Error"),
    Case("summaries-call-empty", {"eth_call": Fault("rewrite", lambda r: "0x")}, _summaries, ChainError, "returned nothing usable"),
    Case("summaries-call-refused", {"eth_call": Fault("error")}, _summaries, ChainError, "eth_call is unavailable"),
    Case("withdraw-estimate-refused", {"eth_estimateGas": Fault("error")}, _withdraw, TransactionError, "eth_estimateGas is unavailable"),
    Case("settle-balance-garbage", {"eth_getBalance": Fault("rewrite", lambda r: None)}, _settle_next, ChainError, "answered eth_getBalance with null"),
    Case("settle-nonce-garbage", {"eth_getTransactionCount": Fault("rewrite", lambda r: "zz")}, _settle_next, ChainError, "answered eth_getTransactionCount with 'zz'"),
    Case("settle-call-refused-after-checks", {"eth_call": Fault("error", after=3)}, _settle_next, ChainError, "eth_call is unavailable"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_workflow_called_as_a_library_raises_an_ame_error_from_a_failing_node(
    settled: Settled, tmp_path: Path, case: Case
) -> None:
    state = StateStore(tmp_path / "state")
    with FaultyNode(settled.anvil.url) as proxy:
        chain = RpcChain(proxy.url, timeout=5)
        try:
            client = SettlementClient(chain.w3, settled.settlement)
            sender = DurableSender(chain.w3, settled.anvil.dev_accounts[OPERATOR], state)
            ws = Workspace(
                chain, client, state, settled.published, sender=sender, fetch_policy=LOCAL_FETCH
            )
            proxy.faults.update(case.faults)
            with pytest.raises(AmeError) as info:
                case.call(ws, settled)
        finally:
            chain.close()
            state.close()
    assert isinstance(info.value, case.error), repr(info.value)
    assert case.says in str(info.value)
