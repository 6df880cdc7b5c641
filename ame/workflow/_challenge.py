"""Challenge a proposed epoch: prove on-chain what the leaves show, dispute what only recomputation shows.

:func:`challenge_epoch` audits the epoch (:func:`~ame.workflow.audit_epoch`). When the
published leaves build the committed root and break a fraud rule, it submits the cheapest
proof (a single-leaf one when there is one): the epoch is voided at once and the bond is
the prover's. Every other mismatch (a wrong amount, a missing account, a manifest that
does not hash to the commitment, inputs that do not recompute) needs the arbiter: it
publishes an ``ame.evidence/1`` document listing the mismatches and opens a dispute with
its keccak256 and URI.

A hostile operator cannot stop this by publishing what cannot be audited: a manifest
that cannot be fetched in time, parsed or recomputed is itself a finding (``audit
failed: <reason>``, :attr:`~ame.workflow.AuditReport.complete` False), and the dispute
carries it as evidence. The audit's reads end before the challenge window does, leaving
:data:`DISPUTE_MARGIN` seconds (or half of what is left, if less) to open the dispute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ame.workflow._audit import AuditInputs, Mismatch, audit_epoch
from ame.workflow._epochs import find_header
from ame.workflow._publish import epoch_folder, fetch, keccak_hex, publish
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import WorkflowError
from ame_chain.errors import chain_errors
from ame_chain.leaves import EpochHeader, Fault, find_faults

__all__ = ["EVIDENCE_FORMAT", "ChallengeResult", "challenge_epoch", "open_dispute"]

EVIDENCE_FORMAT = "ame.evidence/1"
#: Seconds of the challenge window kept for opening the dispute after the audit's reads.
DISPUTE_MARGIN: Final = 60.0


@dataclass(frozen=True)
class ChallengeResult:
    """What a challenge did: ``fraud`` (proved on-chain), ``dispute`` (opened), or ``none``.

    ``complete`` is False when the audit could not complete (its mismatches then include
    ``audit failed: <reason>`` findings, the dispute's evidence).
    """

    epoch: int
    action: Literal["fraud", "dispute", "none"]
    mismatches: list[Mismatch] = field(default_factory=list)
    fault: Fault | None = None
    tx_hash: str | None = None
    dispute_id: int | None = None
    evidence_uri: str | None = None
    status: str = ""
    complete: bool = True

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "epoch": self.epoch,
            "action": self.action,
            "fault": None
            if self.fault is None
            else {"kind": self.fault.kind.name, "positions": list(self.fault.positions)},
            "tx": self.tx_hash,
            "disputeId": self.dispute_id,
            "evidenceURI": self.evidence_uri,
            "status": self.status,
            "complete": self.complete,
            "mismatches": [m.to_json() for m in self.mismatches],
        }


def challenge_epoch(
    ws: Workspace,
    epoch: int,
    inputs: AuditInputs | None = None,
    *,
    manifest_uri: str | None = None,
) -> ChallengeResult:
    """Audit ``epoch`` and challenge it: a fraud proof when one exists, else a dispute.

    An audit that cannot complete (a manifest that cannot be fetched before the window
    closes, or parsed, or recomputed) opens a dispute whose evidence says ``audit failed:
    <reason>``.

    An audit that finds nothing needs no signing account: only a challenge signs.

    Raises:
        WorkflowError: The epoch is not ``Proposed`` (nothing can be challenged), or the
            audit found something and no signing account was given (the message says
            what the audit found).
        SettlementError: The contract refused (e.g. the challenge window closed).
    """
    header, _ = find_header(ws, epoch)
    status = ws.client.status(header.epoch)
    if status != "Proposed":
        raise WorkflowError(f"epoch {epoch} is {status}: only a Proposed epoch can be challenged")
    deadline = _audit_budget(ws, header)
    report = audit_epoch(ws, epoch, inputs, manifest_uri=manifest_uri, deadline=deadline)
    if report.ok:
        return ChallengeResult(epoch, "none", status=status)
    if ws.sender is None:
        raise WorkflowError(
            f"epoch {epoch}: the audit found {len(report.mismatches)} mismatch(es) "
            f"(`ame audit {epoch}` lists them); challenging signs a transaction: {ws.no_signer}"
        )
    if report.tree_matches:
        faults = find_faults(report.header, report.leaves)
        if faults:
            tree = ws.client.epoch_tree(epoch, report.leaves)
            ws.progress.step(f"proving {faults[0].kind.name} at leaves {list(faults[0].positions)}")
            with ws.acting("prove-fraud", epoch) as client:
                fault, tx = client.prove_fraud(report.header, tree, faults[0])
            return ChallengeResult(
                epoch, "fraud", report.mismatches, fault, tx.tx_hash, status=ws.client.status(epoch)
            )
    evidence = {
        "format": EVIDENCE_FORMAT,
        "chainId": ws.client.chain_id,
        "settlement": ws.client.address,
        "epoch": epoch,
        "manifestHash": report.header.manifest_hash,
        "manifestURI": report.manifest_uri,
        "complete": report.complete,
        "mismatches": [m.to_json() for m in report.mismatches],
    }
    data = json.dumps(evidence, sort_keys=True, indent=1).encode() + b"\n"
    dispute_id, tx_hash, uri = _dispute(ws, epoch, data)
    return ChallengeResult(
        epoch,
        "dispute",
        report.mismatches,
        tx_hash=tx_hash,
        dispute_id=dispute_id,
        evidence_uri=uri,
        status=ws.client.status(epoch),
        complete=report.complete,
    )


def _audit_budget(ws: Workspace, header: EpochHeader) -> float:
    """Seconds the audit's reads may take so that the dispute is still sent within the window."""
    with chain_errors():
        left = header.challenge_end - ws.chain.timestamp()
    keep = min(DISPUTE_MARGIN, left / 2)
    return max(1.0, min(ws.fetch_policy.deadline, left - keep))


def open_dispute(
    ws: Workspace, epoch: int, evidence: Path | str, *, uri: str | None = None
) -> tuple[int, str, str]:
    """Open a dispute on ``epoch`` with an evidence file (published unless ``uri`` says where it is).

    Returns:
        The dispute id, the transaction hash and the evidence URI.
    """
    data = fetch(str(evidence), policy=ws.fetch_policy, local=True)
    if uri is not None:
        header, _ = find_header(ws, epoch)
        ws.progress.step(f"opening a dispute on epoch {epoch} with evidence {uri}")
        return (*_send_dispute(ws, epoch, header, keccak_hex(data), uri), uri)
    return _dispute(ws, epoch, data)


def _dispute(ws: Workspace, epoch: int, data: bytes) -> tuple[int, str, str]:
    header, _ = find_header(ws, epoch)
    digest = keccak_hex(data)
    folder = epoch_folder(ws.client.chain_id, ws.client.address, epoch)
    uri = publish(ws.publish_dir, ws.base_uri, folder / f"evidence-{digest[2:18]}.json", data)
    ws.progress.step(f"opening a dispute on epoch {epoch} with evidence {uri}")
    return (*_send_dispute(ws, epoch, header, digest, uri), uri)


def _send_dispute(
    ws: Workspace, epoch: int, header: EpochHeader, digest: str, uri: str
) -> tuple[int, str]:
    with ws.acting("dispute", epoch) as client:
        dispute_id, tx = client.open_dispute(header, digest, uri)
    return dispute_id, tx.tx_hash
