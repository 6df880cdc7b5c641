"""The auditor always reaches a verdict: each way issue 13 found to stop it now ends in a mismatch.

Break 2 (a hostile manifest crashes the audit) and break 3 (a hostile URI exhausts or
stalls it), tried against the in-process chain as a hostile operator would: commit to the
bytes or the URI, then let a watchdog audit and challenge. Every attempt now gets a
report (never an exception) and a challenge opens a dispute whose evidence says ``audit
failed: <reason>``; a claim over every epoch passes the hostile ones over.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from ame.workflow import (
    AuditReport,
    FetchError,
    FetchPolicy,
    MappingInputs,
    Workspace,
    audit_epoch,
    challenge_epoch,
    claim_leaves,
    fetch,
    finalize_epoch,
    settle_epoch,
)
from ame_chain.chains import InProcessChain
from ame_core.exceptions import InputError
from tests.workflow._helpers import CONFIG, OPERATOR, write_inputs
from tests.workflow._hostile import HostileServer, encode, honest_document, propose_hostile

UINT256 = 2**256


def load(tmp_path: Path, chain: InProcessChain, epoch: int = 1) -> MappingInputs:
    return MappingInputs.load(*write_inputs(tmp_path / f"in-{epoch}", chain, epoch)[:2])


def failures(report: AuditReport) -> list[tuple[str, str]]:
    return [(m.field, m.found) for m in report.mismatches if m.found.startswith("audit failed: ")]


def with_policy(ws: Workspace, **changes: Any) -> Workspace:
    return dataclasses.replace(ws, fetch_policy=dataclasses.replace(ws.fetch_policy, **changes))


# -- break 2: a hostile manifest ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["amount", "amountBefore", "index"])
def test_leaf_field_past_uint256_is_a_mismatch_and_the_challenge_disputes(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    field: str,
) -> None:
    # Before: MerkleInputError escaped audit_epoch, no dispute was opened, the window closed.
    inputs = load(tmp_path, chain)
    document = honest_document(inputs)
    document["leaves"][0][field] = str(UINT256) if field != "index" else UINT256
    propose_hostile(operator_ws, 1, inputs, encode(document))
    report = audit_epoch(watchdog_ws, 1)
    assert ("leaves[0]." + field) in {m.field for m in report.mismatches}
    assert not report.tree_matches
    result = challenge_epoch(watchdog_ws, 1)
    assert result.action == "dispute" and result.status == "Proposed"
    assert watchdog_ws.client.epoch_state(1)["openDisputes"] == 1


def test_carried_epoch_past_uint256_is_a_mismatch_not_an_abi_error(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    # Before: web3's MismatchedABI out of header_of (a traceback in the CLI).
    inputs = load(tmp_path, chain)
    document = honest_document(inputs)
    document["inputs"]["carried"]["epoch"] = UINT256
    propose_hostile(operator_ws, 1, inputs, encode(document))
    report = audit_epoch(watchdog_ws, 1)
    (mismatch,) = [m for m in report.mismatches if m.field == "inputs.carried.epoch"]
    assert mismatch.expected == "an earlier epoch (0..0)" and mismatch.found == str(UINT256)
    assert challenge_epoch(watchdog_ws, 1).action == "dispute"


def test_carried_epoch_of_a_later_epoch_is_a_mismatch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    document = honest_document(inputs)
    document["inputs"]["carried"]["epoch"] = 1
    propose_hostile(operator_ws, 1, inputs, encode(document))
    assert "inputs.carried.epoch" in {m.field for m in audit_epoch(watchdog_ws, 1).mismatches}


@pytest.mark.parametrize("where", ["manifest", "values"])
def test_deeply_nested_document_is_an_audit_failure_not_a_crash(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    where: str,
) -> None:
    # Before: the inputs went through plain json.loads (a deep document crashes CPython).
    inputs = load(tmp_path, chain)
    deep = b"[" * 100_000 + b"]" * 100_000
    if where == "manifest":
        propose_hostile(operator_ws, 1, inputs, deep)
    else:
        propose_hostile(
            operator_ws, 1, inputs, inputs.manifest().to_json_bytes(), documents={"values": deep}
        )
    report = audit_epoch(watchdog_ws, 1)
    field = "manifest" if where == "manifest" else "inputs.values"
    assert any(f == field and "nested too deeply" in found for f, found in failures(report))
    result = challenge_epoch(watchdog_ws, 1)
    assert result.action == "dispute"
    assert result.to_json()["complete"] is False


# -- break 3: a hostile URI --------------------------------------------------------------------


def test_dev_zero_as_the_manifest_uri_is_refused_not_read(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    # Before: read to the end (MemoryError, no dispute).
    inputs = load(tmp_path, chain)
    propose_hostile(operator_ws, 1, inputs, b"{}", uri="file:///dev/zero")
    public = with_policy(watchdog_ws, allow_local=False)
    (failure,) = failures(audit_epoch(public, 1))
    assert failure[0] == "manifestURI" and "local document named on-chain is not read" in failure[1]
    # Even where local documents are allowed (development), only a regular file is read.
    (failure,) = failures(audit_epoch(watchdog_ws, 1))
    assert "file:///dev/zero: not a regular file" in failure[1]
    result = challenge_epoch(public, 1)
    assert result.action == "dispute"
    evidence = json.loads(fetch(str(result.evidence_uri), local=True))
    assert evidence["complete"] is False
    assert evidence["mismatches"][0]["found"].startswith("audit failed: file:///dev/zero")


def test_file_longer_than_the_limit_is_refused(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5000 + b"{}")
    propose_hostile(operator_ws, 1, inputs, big.read_bytes(), uri=big.as_uri())
    (failure,) = failures(audit_epoch(with_policy(watchdog_ws, max_bytes=4096), 1))
    assert "5002 bytes, more than the limit of 4096" in failure[1]


def test_slow_drip_server_is_cut_off_at_the_deadline_and_the_challenge_disputes(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    # Before: one byte a second kept every 30 s socket timeout from firing, for as long as
    # the server liked, past the challenge window.
    inputs = load(tmp_path, chain)
    with HostileServer("drip", interval=0.2) as server:
        propose_hostile(operator_ws, 1, inputs, b"{}", uri=server.url)
        ws = with_policy(watchdog_ws, deadline=1.5)
        started = time.monotonic()
        (failure,) = failures(audit_epoch(ws, 1))
        # A hang guard; the message below shows the deadline cut the read off.
        assert time.monotonic() - started < 60
        assert "the deadline passed before the document was read" in failure[1]
        result = challenge_epoch(ws, 1)
    assert result.action == "dispute" and result.dispute_id == 0


def test_challenge_reads_end_before_the_window_does(
    operator_ws: Workspace,
    watchdog_ws: Workspace,
    chain: InProcessChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ame.workflow._challenge as challenge

    budgets: list[float | None] = []

    def audit(*args: Any, deadline: float | None = None, **kwargs: Any) -> Any:
        budgets.append(deadline)
        return audit_epoch(*args, deadline=deadline, **kwargs)

    monkeypatch.setattr(challenge, "audit_epoch", audit)
    inputs = load(tmp_path, chain)
    with HostileServer("drip-headers", interval=0.2) as server:
        header = propose_hostile(operator_ws, 1, inputs, b"{}", uri=server.url)
        chain.increase_time(header.challenge_end - chain.timestamp() - 6)
        started = time.monotonic()
        # The policy's 120 s would outlast the window: the challenge keeps to what is left
        # (half of it, so the dispute is still sent in time), and the reads honour that.
        result = challenge_epoch(watchdog_ws, 1)
        # Far below the policy's 120 s whatever the machine's load (not a speed target).
        assert time.monotonic() - started < 60
    # At most half of the 6 s left when the challenge began (blocks move the clock on).
    assert len(budgets) == 1 and budgets[0] is not None and 1.0 <= budgets[0] <= 3.0
    assert result.action == "dispute"
    assert watchdog_ws.client.epoch_state(1)["openDisputes"] == 1


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("declared-huge", "1000000000000 bytes, more than the limit of 65536"),
        ("endless", "more than the limit of 65536 bytes"),
    ],
)
def test_http_document_longer_than_the_limit_is_refused(mode: Any, says: str) -> None:
    with HostileServer(mode) as server, pytest.raises(FetchError, match=says):
        fetch(server.url, policy=FetchPolicy(max_bytes=65536, deadline=10))


def test_redirect_to_a_local_file_is_refused() -> None:
    with (
        HostileServer("redirect", location="file:///etc/passwd") as server,
        pytest.raises(FetchError, match=r"only http\(s\) URLs with a host are fetched"),
    ):
        fetch(server.url, policy=FetchPolicy(allow_local=True))


def test_local_documents_need_the_development_allowance_or_the_callers_own_uri(
    tmp_path: Path,
) -> None:
    document = tmp_path / "doc.json"
    document.write_bytes(b"{}")
    for uri in (document.as_uri(), str(document)):
        with pytest.raises(FetchError, match="allow_local"):
            fetch(uri)
        assert fetch(uri, policy=FetchPolicy(allow_local=True)) == b"{}"
        assert fetch(uri, local=True) == b"{}"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"max_bytes": 0}, "max_bytes: 0 is below 1"),
        ({"max_bytes": 1.5}, "max_bytes: 1.5 is not a whole number"),
        ({"deadline": 0}, "deadline: 0 seconds is not positive"),
        ({"deadline": float("nan")}, "deadline: nan seconds is not positive"),
    ],
)
def test_fetch_policy_refuses_a_limit_that_reads_nothing(
    changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(InputError, match=says):
        FetchPolicy(**changes)


def test_claim_over_every_epoch_passes_over_hostile_ones(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain, 1))
    document = honest_document(load(tmp_path, chain, 2))
    document["leaves"][0]["amount"] = str(UINT256)
    propose_hostile(operator_ws, 2, load(tmp_path, chain, 2), encode(document))
    propose_hostile(operator_ws, 3, load(tmp_path, chain, 3), b"{}", uri="file:///dev/zero")
    chain.increase_time(CONFIG.challenge_window)
    for epoch in (1, 2, 3):
        finalize_epoch(watchdog_ws, epoch)
    paid = claim_leaves(watchdog_ws, accounts=None)
    assert {line.epoch for line in paid.lines} == {1}
    assert [epoch for epoch, _ in paid.skipped] == [2, 3]
    assert "build no tree" in paid.skipped[0][1] and "not a regular file" in paid.skipped[1][1]


def test_manifest_uri_that_is_not_utf8_still_gets_a_verdict(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    tree = operator_ws.client.epoch_tree(1, inputs.manifest().leaves)
    call, value = operator_ws.client.propose_call(tree, manifest_uri="ZZZZ")
    data = call._encode_transaction_data().replace("5a5a5a5a", "fffefdfc")
    operator = chain.dev_accounts[OPERATOR]
    chain.w3.eth.send_transaction(
        {"from": operator.address, "to": operator_ws.client.address, "data": data, "value": value}
    )
    found = watchdog_ws.client.header_of(1)
    assert found is not None and found[1] == "\\xff\\xfe\\xfd\\xfc"  # escaped, not raised
    assert watchdog_ws.client.proposed_headers()[1] == found
    report = audit_epoch(watchdog_ws, 1)
    assert failures(report)
