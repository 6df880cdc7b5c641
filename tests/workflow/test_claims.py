"""`claim_leaves` beside a concurrent relayer: leaves paid meanwhile are passed over, never a revert."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ame.workflow import (
    MappingInputs,
    Workspace,
    claim_leaves,
    finalize_epoch,
    load_published,
    settle_epoch,
)
from ame_chain import errors
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from ame_chain.leaves import EpochHeader, EpochTree
from ame_chain.tx import Transactor
from tests.workflow._helpers import CONFIG, ETHER, write_inputs

RELAYER = 8


def finalized(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    values, registry, _ = write_inputs(tmp_path / "in", chain, 1)
    inputs = MappingInputs.load(values, registry)
    settle_epoch(operator_ws, inputs)
    chain.increase_time(CONFIG.challenge_window)
    finalize_epoch(watchdog_ws, 1)


def relay(chain: InProcessChain, client: SettlementClient, ws: Workspace, account: str) -> int:
    """Another relayer, with its own key and no state, claims ``account``'s leaf of epoch 1."""
    published = load_published(ws, 1)
    position = next(i for i, leaf in enumerate(published.tree.leaves) if leaf.account == account)
    other = client.with_transactor(Transactor(chain.w3, chain.dev_accounts[RELAYER]))
    other.claim(published.header, published.tree, position)
    return published.tree.leaves[position].index


def test_claim_all_passes_over_a_leaf_claimed_that_the_logs_do_not_show_yet(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    client: SettlementClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finalized(operator_ws, watchdog_ws, chain, tmp_path)
    taken = relay(chain, client, watchdog_ws, chain.dev_accounts[5].address)
    real = SettlementClient.events

    def stale(self: SettlementClient, name: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        # A node whose log index lags: the relayer's Claimed event is not served yet.
        return [] if name == "Claimed" else real(self, name, *args, **kwargs)

    monkeypatch.setattr(SettlementClient, "events", stale)
    paid = claim_leaves(watchdog_ws, accounts=None)
    assert taken not in [line.index for line in paid.lines]
    assert len(paid.lines) == 3 and len(paid.tx_hashes) == 1
    assert paid.total == 8 * ETHER // 10
    assert all(client.is_claimed(1, index) for index in range(4))


def test_claim_all_filters_and_sends_again_when_a_relayer_claims_just_before_it(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    client: SettlementClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finalized(operator_ws, watchdog_ws, chain, tmp_path)
    real = SettlementClient.claim_many
    raced: list[int] = []

    def racing(self: SettlementClient, items: Sequence[tuple[EpochHeader, EpochTree, int]]) -> Any:
        if not raced:  # the relayer's claim lands between our isClaimed check and our send
            raced.append(relay(chain, client, watchdog_ws, items[1][1].leaves[items[1][2]].account))
        return real(self, items)

    monkeypatch.setattr(SettlementClient, "claim_many", racing)
    paid = claim_leaves(watchdog_ws, accounts=None)
    assert len(raced) == 1 and raced[0] not in [line.index for line in paid.lines]
    assert len(paid.lines) == 3 and len(paid.tx_hashes) == 1
    assert all(client.is_claimed(1, index) for index in range(4))
    assert claim_leaves(watchdog_ws, accounts=None).lines == []


def test_claim_gives_up_with_the_contract_error_when_every_attempt_is_raced(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    client: SettlementClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finalized(operator_ws, watchdog_ws, chain, tmp_path)
    relay(chain, client, watchdog_ws, chain.dev_accounts[5].address)
    # A node that never shows the relayer's claim, in its logs or its state.
    with monkeypatch.context() as lying:
        lying.setattr(SettlementClient, "events", lambda self, *args, **kwargs: [])
        lying.setattr(SettlementClient, "is_claimed", lambda self, epoch, index: False)
        with pytest.raises(errors.SettlementAlreadyClaimed):
            claim_leaves(watchdog_ws, accounts=None)
    assert len(claim_leaves(watchdog_ws, accounts=None).lines) == 3
