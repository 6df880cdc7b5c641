"""`ame audit`, `ame challenge` and `ame claim` against hostile epochs: a verdict, never a traceback.

Issue 13, breaks 2 and 3 through the command line: one hostile epoch does not stop the
audit of the others, a challenge of an epoch that cannot be audited opens a dispute that
says why, claims pass hostile epochs over, and the ``[fetch]`` settings are honoured.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ame.workflow import DurableSender, MappingInputs, StateStore, Workspace
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from tests.cli.conftest import Ame
from tests.workflow._helpers import ARBITER, CONFIG, OPERATOR, WATCHDOG, write_inputs
from tests.workflow._hostile import HostileServer, encode, honest_document, propose_hostile

UINT256 = 2**256


def deploy(ame: Ame, chain: InProcessChain) -> str:
    accounts = chain.dev_accounts
    result = ame(
        "deploy",
        "--dev-account",
        0,
        "--operator",
        accounts[OPERATOR].address,
        "--arbiter",
        accounts[ARBITER].address,
        "--challenge-window",
        CONFIG.challenge_window,
        "--json",
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["address"])


def settle(ame: Ame, chain: InProcessChain, tmp_path: Path) -> None:
    values, registry, _ = write_inputs(tmp_path / "in-1", chain, 1)
    result = ame("settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry)
    assert result.exit_code == 0, result.output


def hostile_epochs(
    chain: InProcessChain, address: str, tmp_path: Path, uris: dict[int, str] | None = None
) -> None:
    """Epoch 2: a leaf amount past uint256; 3: ``file:///dev/zero``; 4: a carried epoch past uint256.

    ``uris`` proposes further epochs whose manifest is at the given URI.
    """
    state = StateStore(tmp_path / "hostile-state")
    ws = Workspace(
        chain,
        SettlementClient(chain.w3, address),
        state,
        tmp_path / "hostile-published",
        sender=DurableSender(chain.w3, chain.dev_accounts[OPERATOR], state),
    )

    def inputs(epoch: int) -> MappingInputs:
        return MappingInputs.load(*write_inputs(tmp_path / f"in-{epoch}", chain, epoch)[:2])

    amount = honest_document(inputs(2))
    amount["leaves"][0]["amount"] = str(UINT256)
    propose_hostile(ws, 2, inputs(2), encode(amount))
    propose_hostile(ws, 3, inputs(3), b"{}", uri="file:///dev/zero")
    carried = honest_document(inputs(4))
    carried["inputs"]["carried"]["epoch"] = UINT256
    propose_hostile(ws, 4, inputs(4), encode(carried))
    for epoch, uri in (uris or {}).items():
        propose_hostile(ws, epoch, inputs(epoch), b"{}", uri=uri)
    state.close()


def test_audit_of_every_epoch_reports_each_one_when_some_are_hostile(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    # Before: the first hostile epoch raised (a traceback) and the rest went unaudited.
    address = deploy(ame, chain)
    settle(ame, chain, tmp_path)
    hostile_epochs(chain, address, tmp_path)
    audited = ame("audit", "--json")
    assert audited.exit_code == 3, audited.output
    report = json.loads(audited.stdout)
    epochs = {e["epoch"]: e for e in report["epochs"]}
    assert sorted(epochs) == [1, 2, 3, 4] and report["errors"] == []
    assert epochs[1]["ok"] is True
    fields = {n: {m["field"] for m in e["mismatches"]} for n, e in epochs.items()}
    assert "leaves[0].amount" in fields[2]
    assert epochs[3]["complete"] is False
    assert "not a regular file" in epochs[3]["mismatches"][0]["found"]
    assert "inputs.carried.epoch" in fields[4]
    text = ame("audit")
    assert text.exit_code == 3 and isinstance(text.exception, SystemExit)
    heads = [line for line in text.stdout.splitlines() if line.startswith("epoch ") and "(" in line]
    assert [line.split()[1] for line in heads] == ["1", "2", "3", "4"]
    assert heads[0].startswith("epoch 1 (Proposed): OK")
    assert "the audit could not complete" in heads[2]


def test_audit_reads_no_file_uri_from_the_chain_unless_local_documents_are_allowed(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    assert ame("audit", 1).exit_code == 0  # a chain the CLI was handed: local by default
    refused = ame("audit", 1, "--json", env={"AME_FETCH_ALLOW_LOCAL": "false"})
    assert refused.exit_code == 3
    (mismatch,) = json.loads(refused.stdout)["epochs"][0]["mismatches"]
    assert mismatch["field"] == "manifestURI"
    assert "local document named on-chain is not read" in mismatch["found"]


def test_challenge_of_an_epoch_that_cannot_be_audited_opens_a_dispute_saying_why(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    # Before: MemoryError (or MerkleInputError, MismatchedABI): no dispute, the window closed.
    address = deploy(ame, chain)
    hostile_epochs(chain, address, tmp_path)
    challenged = ame("challenge", 3, "--dev-account", WATCHDOG)
    assert challenged.exit_code == 0, challenged.output
    assert "dispute opened" in challenged.stdout
    assert "audit failed" in challenged.stdout and "not a regular file" in challenged.stdout
    as_json = json.loads(ame("challenge", 2, "--dev-account", WATCHDOG, "--json").stdout)
    assert as_json["action"] == "dispute" and as_json["disputeId"] == 0
    assert "leaves[0].amount" in {m["field"] for m in as_json["mismatches"]}
    status = json.loads(ame("status", "--json").stdout)
    assert {e["epoch"]: e["openDisputes"] for e in status["epochs"]} == {2: 1, 3: 1, 4: 0}


def test_slow_drip_manifest_is_cut_off_at_the_configured_deadline(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    address = deploy(ame, chain)
    with HostileServer("drip", interval=0.2) as server:
        hostile_epochs(chain, address, tmp_path, {5: server.url})
        started = time.monotonic()
        audited = ame("audit", 5, "--json", env={"AME_FETCH_DEADLINE": "2"})
        # A hang guard; the message below shows the deadline cut the read off.
        assert time.monotonic() - started < 60
    assert audited.exit_code == 3, audited.output
    (mismatch,) = json.loads(audited.stdout)["epochs"][0]["mismatches"]
    assert "the deadline passed before the document was read" in mismatch["found"]


def test_claim_without_an_epoch_passes_over_every_hostile_epoch(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    address = deploy(ame, chain)
    settle(ame, chain, tmp_path)
    hostile_epochs(chain, address, tmp_path)
    chain.increase_time(CONFIG.challenge_window)
    for epoch in (1, 2, 3, 4):
        assert ame("finalize", epoch, "--dev-account", WATCHDOG).exit_code == 0
    paid = ame("claim", "--all", "--dev-account", WATCHDOG, "--json")
    assert paid.exit_code == 0, paid.output
    data = json.loads(paid.stdout)
    assert {line["epoch"] for line in data["claims"]} == {1, 4}
    skipped = {s["epoch"]: s["reason"] for s in data["skipped"]}
    assert sorted(skipped) == [2, 3]  # epoch 4's leaves are honest: its contributors are paid
    assert "build no tree" in skipped[2] and "not a regular file" in skipped[3]


def test_fetch_settings_are_validated_with_their_source(ame: Ame) -> None:
    for variable, value, says in [
        ("AME_FETCH_DEADLINE", "soon", "$AME_FETCH_DEADLINE (fetch.deadline)"),
        ("AME_FETCH_MAX_BYTES", "0", "$AME_FETCH_MAX_BYTES (fetch.max_bytes)"),
        ("AME_FETCH_ALLOW_LOCAL", "perhaps", "$AME_FETCH_ALLOW_LOCAL (fetch.allow_local)"),
    ]:
        result = ame("status", env={variable: value})
        assert result.exit_code == 1
        assert result.stderr.startswith(f"ConfigError: {says}: "), result.stderr
