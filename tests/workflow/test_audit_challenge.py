"""audit_epoch and challenge_epoch: honest epochs pass; each kind of dishonesty is named and acted on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ame.workflow import (
    EVIDENCE_FORMAT,
    AuditInputs,
    MappingInputs,
    Mismatch,
    WorkflowError,
    Workspace,
    audit_epoch,
    challenge_epoch,
    claim_leaves,
    fetch,
    finalize_epoch,
    keccak_hex,
    refund_epoch,
    resolve_dispute,
    settle_epoch,
)
from ame_chain.chains import InProcessChain
from ame_chain.client import forfeited_bond_split
from ame_chain.leaves import FraudKind, find_faults
from tests.workflow._helpers import (
    ARBITER,
    CONFIG,
    ETHER,
    double_leaf,
    propose_published,
    shift_one_unit,
    workspace,
    write_inputs,
)


def load(tmp_path: Path, chain: InProcessChain, epoch: int = 1, **kwargs: object) -> MappingInputs:
    return MappingInputs.load(*write_inputs(tmp_path / "in", chain, epoch, **kwargs))  # type: ignore[arg-type]


def fields(mismatches: list[Mismatch]) -> list[tuple[int | None, str]]:
    return [(m.leaf, m.field) for m in mismatches]


def test_audit_passes_an_honest_epoch_through_every_check(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain))
    report = audit_epoch(watchdog_ws, 1)
    assert report.ok, report.mismatches
    assert report.checks == [
        "header",
        "manifest",
        "inputs",
        "recompute",
        "tree",
        "proofs",
        "fraud rules",
        "proofs file",
        "money",
    ]
    assert report.tree_matches


def test_audit_names_each_leaf_whose_amount_does_not_recompute(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    honest = inputs.manifest()
    propose_published(operator_ws, 1, inputs, shift_one_unit(honest))
    report = audit_epoch(watchdog_ws, 1)
    want = [leaf.amount for leaf in honest.leaves]
    by_field = {(m.leaf, m.field): m for m in report.mismatches}
    assert by_field[(0, "amount")].expected == str(want[0])
    assert by_field[(0, "amount")].found == str(want[0] + 1)
    assert by_field[(1, "amount")].found == str(want[1] - 1)
    assert by_field[(1, "amountBefore")].expected == str(want[0])
    assert (None, "manifest") in by_field  # verify_manifest: the leaves do not follow the accounts
    assert report.tree_matches  # the tree itself is consistent: only recomputation shows it


def test_audit_reports_a_manifest_changed_after_proposal(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settled = settle_epoch(operator_ws, load(tmp_path, chain))
    path = Path(settled.manifest_uri.removeprefix("file://"))
    document = json.loads(path.read_bytes())
    document["leaves"][2]["amount"] = "1"
    path.write_bytes(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
    report = audit_epoch(watchdog_ws, 1)
    # The operator's own audit reads what is published too, not its copy in the state.
    assert audit_epoch(operator_ws, 1).mismatches == report.mismatches
    mismatch = {m.field: m for m in report.mismatches}
    assert mismatch["manifestHash"].expected == settled.manifest_hash
    assert mismatch["manifestHash"].found == keccak_hex(path.read_bytes())
    assert mismatch["root"].expected == settled.root
    assert (2, "amount") in fields(report.mismatches)


def test_audit_reports_a_fault_the_contract_would_accept_as_fraud(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    manifest = inputs.manifest()
    propose_published(operator_ws, 1, inputs, manifest, double_leaf(manifest, 1))
    report = audit_epoch(watchdog_ws, 1)
    assert (None, "root") in fields(report.mismatches)
    assert not report.tree_matches


def test_audit_without_published_inputs_says_which_are_missing(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settled = settle_epoch(operator_ws, load(tmp_path, chain))
    Path(settled.manifest_uri.removeprefix("file://")).with_name("values.json").unlink()
    report = audit_epoch(watchdog_ws, 1)
    (mismatch,) = report.mismatches
    assert mismatch.field == "inputs.values"
    assert "values.json" in mismatch.expected and "cannot read" in mismatch.found
    assert "recompute" not in report.checks


def test_audit_with_the_auditors_own_inputs_detects_other_values(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain))
    values, _, _ = write_inputs(tmp_path / "mine", chain, 1, revenue=2 * ETHER)
    report = audit_epoch(watchdog_ws, 1, AuditInputs(values=values))
    found = fields(report.mismatches)
    assert (None, "inputs.values.sha256") in found
    assert (None, "totals.pool") in found
    assert (0, "amount") in found


def test_audit_checks_claims_and_conservation_after_finalisation(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain))
    chain.increase_time(CONFIG.challenge_window)
    finalize_epoch(watchdog_ws, 1)
    bob = chain.dev_accounts[5].address  # contributor 1: asset a1, worth 2 of 10
    paid = claim_leaves(watchdog_ws, accounts=[bob])
    assert [(line.account, line.amount) for line in paid.lines] == [(bob, 2 * ETHER // 10)]
    assert watchdog_ws.client.is_claimed(1, paid.lines[0].index)
    report = audit_epoch(watchdog_ws, 1)
    assert report.ok, report.mismatches
    assert report.status == "Finalized"


def test_challenge_proves_fraud_when_the_leaves_break_a_rule(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    manifest = inputs.manifest()
    leaves = double_leaf(manifest, 1)
    # The dishonest operator publishes the leaves it committed to (so a proof exists).
    doc = json.loads(manifest.to_json_bytes())
    doc["leaves"][1]["amount"] = str(leaves[1].amount)
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    header = propose_published(operator_ws, 1, inputs, data, leaves)
    before = watchdog_ws.client.credit_of(watchdog_ws.signer().address)
    result = challenge_epoch(watchdog_ws, 1)
    assert result.action == "fraud"
    # The cheapest proof: the first single-leaf fault (doubling leaf 1 breaks the last leaf's total).
    assert result.fault == find_faults(header, leaves)[0]
    assert result.fault.is_single and result.fault.kind is FraudKind.LAST_LEAF_POOL_MISMATCH
    assert {m.field for m in result.mismatches} >= {
        "fraud:LAST_LEAF_POOL_MISMATCH",
        "fraud:BROKEN_CHAIN",
    }
    assert result.status == "Voided"
    assert (
        watchdog_ws.client.credit_of(watchdog_ws.signer().address) - before
        == forfeited_bond_split(CONFIG.operator_bond)[0]
    )
    refund_epoch(operator_ws, 1)
    assert operator_ws.client.status(1) == "Refunded"


def test_challenge_disputes_what_only_recomputation_shows_and_the_arbiter_upholds(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    inputs = load(tmp_path, chain)
    propose_published(operator_ws, 1, inputs, shift_one_unit(inputs.manifest()))
    result = challenge_epoch(watchdog_ws, 1)
    assert result.action == "dispute" and result.dispute_id == 0
    assert result.evidence_uri is not None
    evidence = json.loads(fetch(result.evidence_uri, local=True))
    assert evidence["format"] == EVIDENCE_FORMAT
    assert evidence["mismatches"] == [m.to_json() for m in result.mismatches]
    assert {"epoch": 1, "leaf": 0, "field": "amount"}.items() <= next(
        m for m in evidence["mismatches"] if m["leaf"] == 0
    ).items()
    (opened,) = watchdog_ws.client.events("DisputeOpened")
    assert "0x" + opened["evidenceHash"].hex() == keccak_hex(fetch(result.evidence_uri, local=True))
    assert opened["evidenceURI"] == result.evidence_uri
    arbiter = workspace(
        chain, watchdog_ws.client, tmp_path / "arbiter", chain.dev_accounts[ARBITER]
    )
    _, outcome = resolve_dispute(arbiter, 1, 0, "uphold")
    arbiter.state.close()
    assert outcome == "Upheld"
    assert watchdog_ws.client.status(1) == "Voided"


def test_challenge_finds_nothing_in_an_honest_epoch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain))
    result = challenge_epoch(watchdog_ws, 1)
    assert (result.action, result.tx_hash) == ("none", None)
    assert watchdog_ws.client.status(1) == "Proposed"


def test_challenge_refuses_an_epoch_past_its_window(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    settle_epoch(operator_ws, load(tmp_path, chain))
    chain.increase_time(CONFIG.challenge_window)
    finalize_epoch(watchdog_ws, 1)
    with pytest.raises(
        WorkflowError, match="epoch 1 is Finalized: only a Proposed epoch can be challenged"
    ):
        challenge_epoch(watchdog_ws, 1)


def test_audit_of_an_unknown_epoch_is_an_error(watchdog_ws: Workspace) -> None:
    with pytest.raises(WorkflowError, match=r"epoch 7 was never proposed on 0x[0-9a-fA-F]{40}"):
        audit_epoch(watchdog_ws, 7)


def test_audit_reports_carried_balances_dropped_between_epochs(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> None:
    policy = {"min_payout": str(ETHER // 4 + 1)}  # 0.1 and 0.2 ETH are carried from epoch 1
    first = MappingInputs.load(*write_inputs(tmp_path / "1", chain, 1, policy=policy))  # type: ignore[arg-type]
    settle_epoch(operator_ws, first)
    forgotten = tmp_path / "empty-ledger.json"
    forgotten.write_text('{"format": "ame.carried/1", "epoch": 1, "balances": {}}')
    values, registry, policy_path = write_inputs(tmp_path / "2", chain, 2, policy=policy)
    settle_epoch(operator_ws, MappingInputs.load(values, registry, policy_path, forgotten))
    report = audit_epoch(watchdog_ws, 2)
    (mismatch,) = report.mismatches
    assert mismatch.field == "inputs.carried.sha256"
    assert mismatch.expected.endswith("(epoch 1's carried ledger)")
    assert audit_epoch(watchdog_ws, 1).ok
