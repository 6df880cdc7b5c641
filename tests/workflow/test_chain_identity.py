"""The state and a chain that is not the one it recorded: nothing shown or sent as if it were.

Two properties from issue 15: after a development chain is restarted and the contract
deployed again at the same address, the old epochs are not shown as the new contract's;
and a transaction recorded in the state is never sent again signed by another account
than the one asked for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.deployment import DeploymentRecord, deploy_settlement
from ame.workflow import (
    DurableSender,
    MappingInputs,
    StateError,
    StateStore,
    Workspace,
    settle_epoch,
)
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from ame_chain.tx import Transactor
from tests.workflow._helpers import ADMIN, CONFIG, CRASH_POINTS, LOCAL_FETCH, write_inputs
from tests.workflow.test_settle import Crash, crash_at

#: Two accounts that both hold OPERATOR_ROLE: either may settle, each signs for itself.
OPERATORS = (8, 9)


def _deploy(chain: InProcessChain) -> tuple[SettlementClient, DeploymentRecord]:
    accounts = chain.dev_accounts
    return deploy_settlement(
        Transactor(chain.w3, accounts[ADMIN]),
        config=CONFIG,
        operators=[accounts[i].address for i in OPERATORS],
    )


def _workspace(
    chain: InProcessChain, client: SettlementClient, root: Path, signer: int, **kwargs: object
) -> Workspace:
    state = StateStore(root / "state")
    sender = DurableSender(chain.w3, chain.dev_accounts[signer], state, **kwargs)  # type: ignore[arg-type]
    return Workspace(
        chain, client, state, root / "published", sender=sender, fetch_policy=LOCAL_FETCH
    )


def _inputs(root: Path, chain: InProcessChain) -> MappingInputs:
    return MappingInputs.load(*write_inputs(root / "in", chain, 1))  # type: ignore[arg-type]


def _nonce(chain: InProcessChain, index: int) -> int:
    return int(chain.w3.eth.get_transaction_count(chain.dev_accounts[index].address))


@seed(15)
@settings(
    max_examples=24,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    signer=st.sampled_from(OPERATORS),
    asker=st.sampled_from(OPERATORS),
    point=st.sampled_from(CRASH_POINTS),
)
def test_a_recorded_transaction_is_never_sent_again_by_another_account(
    chain: InProcessChain, signer: int, asker: int, point: str
) -> None:
    client, _ = _deploy(chain)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        crashing = _workspace(chain, client, root, signer, on_step=crash_at("propose", point))
        with pytest.raises(Crash):
            settle_epoch(crashing, _inputs(root, chain))
        (pending,) = crashing.state.txs(crashing.key(1))
        crashing.state.close()
        nonces = {i: _nonce(chain, i) for i in OPERATORS}
        broadcast = point != "before-send"

        ws = _workspace(chain, client, root, asker)
        try:
            if asker != signer and not broadcast:
                with pytest.raises(StateError, match="never sent again under another account"):
                    settle_epoch(ws, _inputs(root, chain))
                # Nothing went out: not the recorded bytes, not a new transaction.
                assert {i: _nonce(chain, i) for i in OPERATORS} == nonces
                assert client.header_of(1) is None
                return
            result = settle_epoch(ws, _inputs(root, chain))
            assert result.propose_tx == pending.tx_hash
            assert len(client.events("EpochProposed")) == 1
            if asker != signer:  # adopted the mined transaction; sent nothing of its own
                assert _nonce(chain, asker) == nonces[asker]
        finally:
            ws.state.close()


def test_a_new_deployment_at_a_known_address_retires_the_old_contracts_records(
    tmp_path: Path,
) -> None:
    old, new = InProcessChain(), InProcessChain()
    # The admin's first transaction deploys on both chains: the same address. The new chain
    # has one block more first, as a restarted node would differ in its blocks.
    another = new.dev_accounts[1].address
    new.w3.eth.send_transaction({"from": another, "to": another})
    old_client, old_record = _deploy(old)
    state = StateStore(tmp_path / "state")
    state.add_deployment(old_record)
    crashing = _workspace(
        old, old_client, tmp_path, OPERATORS[0], on_step=crash_at("propose", "before-send")
    )
    with pytest.raises(Crash):
        settle_epoch(crashing, _inputs(tmp_path, old))
    crashing.state.close()
    assert len(state.epochs(old.chain_id, old_client.address)) == 1

    new_client, new_record = _deploy(new)
    assert new_client.address == old_client.address and new_record != old_record
    state.add_deployment(new_record)
    assert state.epochs(new.chain_id, new_client.address) == []
    assert state.txs() == []
    assert state.deployment(new.chain_id) == new_record
    state.add_deployment(new_record)  # the same record again: nothing more is retired
    assert state.deployment(new.chain_id) == new_record
    state.close()

    # The other operator settles on the new contract: its own transaction, none of the old.
    ws = _workspace(new, new_client, tmp_path, OPERATORS[1])
    result = settle_epoch(ws, _inputs(tmp_path, new))
    assert [t.sender for t in ws.state.txs(ws.key(1))] == [new.dev_accounts[OPERATORS[1]].address]
    assert result.propose_tx == ws.state.txs(ws.key(1))[0].tx_hash
    assert _nonce(new, OPERATORS[0]) == 0
    ws.state.close()
    old.close()
    new.close()


def test_check_chain_retires_what_another_genesis_recorded_and_only_that(
    chain: InProcessChain, tmp_path: Path
) -> None:
    client, record = _deploy(chain)
    genesis = record.genesis_hash
    assert genesis is not None
    state = StateStore(tmp_path / "state")
    state.add_deployment(record)
    other_chain = DeploymentRecord(**{**record.__dict__, "chain_id": 1})
    state.add_deployment(other_chain)
    ws = _workspace(chain, client, tmp_path, OPERATORS[0])
    settle_epoch(ws, _inputs(tmp_path, chain))
    ws.state.close()

    assert state.check_chain(chain.chain_id, genesis) == []  # the same chain: nothing moves
    assert state.check_chain(chain.chain_id, genesis.upper().replace("0X", "0x")) == []
    assert len(state.epochs(chain.chain_id, client.address)) == 1

    elsewhere = "0x" + "ab" * 32
    (line,) = state.check_chain(chain.chain_id, elsewhere)
    assert line.startswith(
        f"retired 1 deployments, 1 epochs, 1 txs of chain {chain.chain_id}, contract "
        f"{client.address}: "
    )
    assert f"has genesis {elsewhere}, not {genesis}" in line
    assert state.deployment(chain.chain_id) is None
    assert state.epochs(chain.chain_id, client.address) == []
    assert state.txs() == []
    assert state.deployment(1) == other_chain  # another chain id is another chain
    assert state.check_chain(chain.chain_id, elsewhere) == []
    # A record that names its own genesis is retired on a chain with another, even where
    # the state had not yet seen this chain id (a state older than the check).
    (line,) = state.check_chain(1, elsewhere)
    assert f"contract {record.address}" in line and state.deployment(1) is None
    state.close()
