"""settle_epoch: map, publish, tree, proposal; idempotent, and resumable after a crash at any step."""

from __future__ import annotations

import dataclasses
import json
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame.workflow import (
    EpochKey,
    MappingInputs,
    StateError,
    StateStore,
    WorkflowError,
    Workspace,
    audit_epoch,
    fetch,
    keccak_hex,
    settle_epoch,
)
from ame.workflow._publish import spool
from ame_chain import errors
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from ame_chain.contracts import load_artifact
from ame_chain.leaves import LEAF_ENCODING, EpochHeader
from ame_chain.tx import Transactor
from offchain.mapping import Manifest, load_manifest
from tests.chain.conftest import deploy_test_contract
from tests.workflow._helpers import (
    ADMIN,
    CONFIG,
    CRASH_POINTS,
    ETHER,
    OPERATOR,
    WATCHDOG,
    workspace,
    write_inputs,
)


class Crash(BaseException):
    """Stands for the process dying (a BaseException: nothing on the way catches it)."""


def crash_at(step: str, point: str):  # type: ignore[no-untyped-def]
    def hook(s: str, p: str) -> None:
        if (s, p) == (step, point):
            raise Crash(f"{s}:{p}")

    return hook


def inputs(
    tmp_path: Path, chain: InProcessChain, epoch: int = 1, **kwargs: object
) -> MappingInputs:
    return MappingInputs.load(*write_inputs(tmp_path / "in", chain, epoch, **kwargs))  # type: ignore[arg-type]


def proposals(ws: Workspace) -> list[int]:
    return [int(e["epoch"]) for e in ws.client.events("EpochProposed")]


def held(ws: Workspace) -> int:
    return int(ws.chain.w3.eth.get_balance(ws.client.address))


def test_settle_publishes_the_manifest_and_commits_to_its_keccak_and_tree(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    result = settle_epoch(operator_ws, inputs(tmp_path, chain))
    data = fetch(result.manifest_uri, local=True)
    manifest = load_manifest(Path(result.manifest_uri.removeprefix("file://")))
    tree = operator_ws.client.epoch_tree(1, manifest.leaves)
    assert result.manifest_hash == keccak_hex(data) == result.header.manifest_hash
    assert result.header.root == tree.root == result.root
    assert (
        result.header.pool
        == manifest.totals.pool
        == sum(leaf.amount for leaf in tree.leaves)
        == ETHER
    )
    assert result.header.leaf_count == 4
    assert operator_ws.client.status(1) == "Proposed"
    assert held(operator_ws) == ETHER + CONFIG.operator_bond
    assert operator_ws.client.proposed_headers()[1] == (result.header, result.manifest_uri)
    for name in ("values", "registry", "policy", "carried"):
        assert fetch(result.manifest_uri.replace("manifest.json", f"{name}.json"), local=True)
    row = operator_ws.state.epoch(operator_ws.key(1))
    assert row is not None and row.header == result.header and row.manifest == data
    assert row.tree["format"] == "standard-v1"
    # Only what names the tree: its nodes are rebuilt from the manifest's leaves.
    assert row.tree == {
        "format": "standard-v1",
        "leafEncoding": list(LEAF_ENCODING),
        "root": result.root,
    }
    (tx,) = operator_ws.state.txs(operator_ws.key(1))
    assert (tx.step, tx.status, tx.tx_hash) == ("propose", "mined", result.propose_tx)


def test_settle_twice_proposes_once(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    first = settle_epoch(operator_ws, inputs(tmp_path, chain))
    again = settle_epoch(operator_ws, inputs(tmp_path, chain))
    assert again.header == first.header
    assert again.propose_tx == first.propose_tx
    assert proposals(operator_ws) == [1]
    assert held(operator_ws) == ETHER + CONFIG.operator_bond


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_settle_resumes_after_a_crash_with_one_proposal_and_one_funding(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path, point: str
) -> None:
    operator = chain.dev_accounts[OPERATOR]
    crashing = workspace(chain, client, tmp_path, operator, on_step=crash_at("propose", point))
    with pytest.raises(Crash):
        settle_epoch(crashing, inputs(tmp_path, chain))
    (pending,) = crashing.state.txs(crashing.key(1))
    assert pending.status == "signed"
    assert proposals(crashing) == ([] if point == "before-send" else [1])
    crashing.state.close()

    ws = workspace(chain, client, tmp_path, operator)
    result = settle_epoch(ws, inputs(tmp_path, chain))
    assert result.propose_tx == pending.tx_hash
    assert result.resumed == [f"propose {pending.tx_hash} mined"]
    assert proposals(ws) == [1]
    assert held(ws) == ETHER + CONFIG.operator_bond
    assert [t.status for t in ws.state.txs(ws.key(1))] == ["mined"]
    ws.state.close()


def test_settle_sends_anew_when_the_recorded_transaction_lost_its_nonce(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    operator = chain.dev_accounts[OPERATOR]
    crashing = workspace(
        chain, client, tmp_path, operator, on_step=crash_at("propose", "before-send")
    )
    with pytest.raises(Crash):
        settle_epoch(crashing, inputs(tmp_path, chain))
    crashing.state.close()
    # Another program uses the operator's account meanwhile: the recorded nonce is spent.
    chain.w3.eth.send_transaction({"from": operator.address, "to": operator.address, "value": 1})

    ws = workspace(chain, client, tmp_path, operator)
    result = settle_epoch(ws, inputs(tmp_path, chain))
    assert [t.status for t in ws.state.txs(ws.key(1))] == ["dropped", "mined"]
    assert result.propose_tx == ws.state.txs(ws.key(1))[1].tx_hash
    assert proposals(ws) == [1]
    ws.state.close()


def test_settle_adopts_a_matching_proposal_found_on_chain_without_state(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    operator = chain.dev_accounts[OPERATOR]
    first = workspace(chain, client, tmp_path / "lost", operator)
    settled = settle_epoch(first, inputs(tmp_path, chain))
    first.state.close()
    (tmp_path / "lost" / "state" / "ame.db").unlink()
    ws = workspace(chain, client, tmp_path / "lost", operator)
    again = settle_epoch(ws, inputs(tmp_path, chain))
    assert again.header == settled.header
    assert again.resumed == ["proposal found on-chain"]
    assert proposals(ws) == [1]
    ws.state.close()


def test_settle_refuses_other_inputs_for_a_proposed_epoch(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settled = settle_epoch(operator_ws, inputs(tmp_path, chain))
    published = fetch(settled.manifest_uri, local=True)
    other = inputs(tmp_path / "other", chain, revenue=2 * ETHER)
    with pytest.raises(StateError, match=r"epoch 1: transaction 0x[0-9a-f]{64} was already signed"):
        settle_epoch(operator_ws, other)
    # Refused before anything is written: what the proposal committed to stays published.
    assert fetch(settled.manifest_uri, local=True) == published
    assert fetch(settled.manifest_uri.replace("manifest", "values"), local=True) == first_values(
        tmp_path
    )


def first_values(tmp_path: Path) -> bytes:
    # The values published with the first settlement (revenue 1 ETH), in canonical form.
    return MappingInputs.load(
        tmp_path / "in" / "values-1.json", tmp_path / "in" / "registry.json"
    ).documents()["values"]


def test_settle_refuses_an_epoch_proposed_on_chain_with_another_manifest(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    operator = chain.dev_accounts[OPERATOR]
    elsewhere = workspace(chain, client, tmp_path / "a", operator)
    settle_epoch(elsewhere, inputs(tmp_path, chain))
    elsewhere.state.close()
    (tmp_path / "a" / "state" / "ame.db").unlink()  # the state is lost, the chain remembers
    ws = workspace(chain, client, tmp_path / "a", operator)
    with pytest.raises(StateError, match="epoch 1 is already proposed on-chain with root 0x"):
        settle_epoch(ws, inputs(tmp_path / "other", chain, revenue=2 * ETHER))
    assert audit_epoch(ws, 1).ok  # nothing published for epoch 1 was overwritten
    ws.state.close()


def test_settle_carries_balances_from_the_previous_epoch_in_the_state(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    # 1 ETH split 1:2:3:4 with a minimum payout above 0.25 ETH: 0.3 and 0.4 are paid,
    # 0.1 and 0.2 are carried into epoch 2.
    policy = {"min_payout": str(ETHER // 4 + 1)}
    first = MappingInputs.load(*write_inputs(tmp_path / "1", chain, 1, policy=policy))  # type: ignore[arg-type]
    settled = settle_epoch(operator_ws, first)
    assert settled.leaf_count == 2
    second = MappingInputs.load(*write_inputs(tmp_path / "2", chain, 2, policy=policy))  # type: ignore[arg-type]
    result = settle_epoch(operator_ws, second)
    assert result.carried_from == 1
    manifest = json.loads(fetch(result.manifest_uri, local=True))
    assert manifest["inputs"]["carried"]["epoch"] == 1
    assert manifest["totals"]["carried_in"] == str(ETHER // 10 + 2 * ETHER // 10)


def test_settle_refuses_an_epoch_that_pays_nobody(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    low = inputs(tmp_path, chain, policy={"min_payout": str(2 * ETHER)})
    with pytest.raises(WorkflowError, match="epoch 1: no account reaches the minimum payout"):
        settle_epoch(operator_ws, low)
    assert proposals(operator_ws) == []


def test_settle_without_the_operator_role_reverts_with_the_contract_error(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    ws = workspace(chain, client, tmp_path, chain.dev_accounts[WATCHDOG])
    with pytest.raises(errors.AccessControlUnauthorizedAccount):
        settle_epoch(ws, inputs(tmp_path, chain))
    ws.state.close()


def test_settle_without_an_account_says_how_to_give_one(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path
) -> None:
    ws = workspace(chain, client, tmp_path, None)
    with pytest.raises(WorkflowError, match="this step sends a transaction: give an account"):
        settle_epoch(ws, inputs(tmp_path, chain))
    ws.state.close()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_settle_in_an_erc20_resumes_the_approval_and_funds_once(
    chain: InProcessChain, client: SettlementClient, tmp_path: Path, point: str
) -> None:
    operator = chain.dev_accounts[OPERATOR]
    token = deploy_test_contract(chain, chain.dev_accounts[ADMIN], "MockERC20", "Pool", "POOL")
    mock = chain.w3.eth.contract(address=token, abi=load_artifact("MockERC20").abi)
    Transactor(chain.w3, operator).send(mock.functions.mint(operator.address, 5 * ETHER))
    crashing = workspace(chain, client, tmp_path, operator, on_step=crash_at("approve", point))
    with pytest.raises(Crash):
        settle_epoch(crashing, inputs(tmp_path, chain), token=token)
    crashing.state.close()
    ws = workspace(chain, client, tmp_path, operator)
    result = settle_epoch(ws, inputs(tmp_path, chain), token=token)
    assert result.header.token == token
    assert [t.step for t in ws.state.txs(ws.key(1))] == ["approve", "propose"]
    assert int(mock.functions.balanceOf(client.address).call()) == ETHER
    assert int(mock.functions.balanceOf(operator.address).call()) == 4 * ETHER
    assert proposals(ws) == [1]
    ws.state.close()


def test_header_commitment_matches_the_contract(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    header = settle_epoch(operator_ws, inputs(tmp_path, chain)).header
    assert header.commitment() == operator_ws.client.commitment_of(1)
    assert dataclasses.replace(header, pool=1).commitment() != header.commitment()
    assert operator_ws.client.header_of(2) is None
    found = operator_ws.client.header_of(1)
    assert found is not None and isinstance(found[0], EpochHeader) and found[0] == header


def test_settle_that_fails_while_writing_the_manifest_publishes_and_records_nothing(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The manifest is serialised once, into a spool: a failure half-way leaves no file
    # where others read, no state row and no proposal.
    streamed = Manifest.iter_json_bytes

    def fails_half_way(self: Manifest, **kwargs: Any) -> Iterator[bytes]:
        for count, chunk in enumerate(streamed(self, chunk_items=1)):
            if count == 3:
                raise Crash("manifest")
            yield chunk

    monkeypatch.setattr(Manifest, "iter_json_bytes", fails_half_way)
    with pytest.raises(Crash):
        settle_epoch(operator_ws, inputs(tmp_path, chain))
    assert not [p for p in operator_ws.publish_dir.rglob("*") if p.is_file()]
    assert operator_ws.state.epoch(operator_ws.key(1)) is None
    assert proposals(operator_ws) == []
    monkeypatch.undo()
    result = settle_epoch(operator_ws, inputs(tmp_path, chain))
    assert (
        fetch(result.manifest_uri, local=True)
        == load_manifest(Path(result.manifest_uri.removeprefix("file://"))).to_json_bytes()
    )


@settings(max_examples=25, derandomize=True, deadline=None)
@given(size=st.sampled_from([0, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 << 20]))
def test_state_records_a_spooled_manifest_byte_for_byte_or_not_at_all(size: int) -> None:
    data = random.Random(size).randbytes(size)
    key = EpochKey(1, "0x" + "11" * 20, 1)
    fields: dict[str, Any] = {
        "manifest_hash": keccak_hex(data),
        "manifest_uri": "file:///m.json",
        "token": "0x" + "00" * 20,
        "root": "0x" + "22" * 32,
        "pool": 5,
        "leaf_count": 1,
        "tree": {"format": "standard-v1"},
    }
    with tempfile.TemporaryDirectory() as folder, StateStore(Path(folder)) as state:
        chunks = [data[i : i + 4096] for i in range(0, size, 4096)]
        with spool(chunks) as written:
            assert (written.size, written.keccak) == (size, keccak_hex(data))
            state.save_epoch(key, manifest=written, **fields)
        row = state.epoch(key)
        assert row is not None and row.manifest == data
        # A spool whose reading fails half-way leaves the row as it was.
        with spool([b"x" * (2 << 20)]) as other:

            def broken() -> Iterator[bytes]:
                yield b"x" * (1 << 20)
                raise OSError("disk gone")

            object.__setattr__(other, "chunks", broken)
            with pytest.raises(OSError, match="disk gone"):
                state.save_epoch(key, manifest=other, **fields)
        again = state.epoch(key)
        assert again is not None and again.manifest == data
