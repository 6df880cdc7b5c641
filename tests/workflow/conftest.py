"""Workflow fixtures on the in-process chain: one chain per module, a fresh contract per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ame.workflow import Workspace
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from tests.workflow._helpers import OPERATOR, WATCHDOG, deploy, workspace


@pytest.fixture(scope="module")
def chain() -> Iterator[InProcessChain]:
    made = InProcessChain()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def client(chain: InProcessChain) -> SettlementClient:
    return deploy(chain)


@pytest.fixture
def operator_ws(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> Iterator[Workspace]:
    """The operator's workspace (state in tmp_path/state)."""
    ws = workspace(chain, client, tmp_path, chain.dev_accounts[OPERATOR])
    yield ws
    ws.state.close()


@pytest.fixture
def watchdog_ws(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> Iterator[Workspace]:
    """An outsider's workspace: its own empty state, reading what the operator published."""
    ws = workspace(chain, client, tmp_path / "watchdog", chain.dev_accounts[WATCHDOG])
    yield ws
    ws.state.close()
