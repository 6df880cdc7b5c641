"""Gather what a report shows from the chain, the operator's state and the published documents.

Per epoch: the on-chain header and status, the manifest (the state's copy when it is the
committed one, else the published one), the registry and values published beside it
(asset kinds for roles and stages; the values' optional per-event ``stages``), the
``Claimed`` events, the gas of every transaction of the epoch, and the verdict of the
same audit ``ame audit`` runs (:func:`~ame.workflow.audit_epoch`).

Gas comes from the receipts the state recorded (``gasUsed`` of every transaction the
workflow sent, with its step name); transactions others sent for the epoch (claims by
contributors, fraud proofs, disputes) are found from the contract's events and their
receipts read from the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from ame.report._analysis import (
    ContributorLine,
    Decision,
    StageLine,
    ValueFlow,
    contributor_lines,
    decisions,
    stage_lines,
    value_flow,
)
from ame.workflow import AuditReport, FetchPolicy, Workspace, audit_epoch, fetch, keccak_hex
from ame.workflow._publish import sibling_uri
from ame.workflow.exceptions import WorkflowError
from ame_chain.errors import chain_errors
from ame_chain.leaves import EpochHeader
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError
from offchain.mapping import Manifest, Totals, parse_manifest, parse_registry

__all__ = ["EpochReport", "GasLine", "Report", "collect_report"]

#: Contract events that name an epoch, and the step of the transaction that emitted them.
_EVENT_STEPS: Mapping[str, str] = {
    "EpochProposed": "propose",
    "FraudProven": "prove-fraud",
    "DisputeOpened": "dispute",
    "DisputeClosed": "resolve",
    "EpochFinalized": "finalize",
    "Claimed": "claim",
    "Refunded": "refund",
    "Swept": "sweep",
}


@dataclass(frozen=True)
class GasLine:
    """One transaction of an epoch and the gas it used.

    Attributes:
        step: The workflow step (``propose``, ``finalize``, ``claim``, ``prove-fraud`` ...).
        tx_hash: Its hash.
        block: The block it was mined in.
        gas_used: ``gasUsed`` of its receipt.
        status: ``mined`` or ``failed`` (reverted; the gas was still spent).
        source: ``state`` (sent by this workflow, receipt recorded) or ``chain`` (found
            from the contract's events).
    """

    step: str
    tx_hash: str
    block: int
    gas_used: int
    status: str
    source: Literal["state", "chain"]


@dataclass
class EpochReport:
    """Everything the report shows about one epoch.

    Attributes:
        epoch: The epoch number.
        status: Its on-chain status (``Proposed``, ``Finalized``, ``Voided`` ...).
        header: Its on-chain header.
        manifest_uri: Where its manifest is published.
        manifest: The manifest, when it could be read and parsed.
        flow: Revenue traced to accounts and escrow (through stages when recorded).
        stages: Stage values against the revenue routed per stage (empty without stages).
        contributors: Every account, largest earnings first.
        decisions: Every withheld line and unattributed event.
        gas: Every transaction of the epoch, in block order.
        claimed: Units claimed on-chain.
        audit: The verdict of :func:`~ame.workflow.audit_epoch`.
        notes: What could not be shown, and why.
    """

    epoch: int
    status: str
    header: EpochHeader
    manifest_uri: str
    audit: AuditReport
    manifest: Manifest | None = None
    flow: ValueFlow | None = None
    stages: list[StageLine] = field(default_factory=list)
    contributors: list[ContributorLine] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    gas: list[GasLine] = field(default_factory=list)
    claimed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def totals(self) -> Totals | None:
        """The manifest's totals, when it was read."""
        return self.manifest.totals if self.manifest is not None else None


@dataclass(frozen=True)
class Report:
    """A report over some epochs of one settlement contract.

    Attributes:
        chain_id: The chain.
        settlement: The contract's address.
        block: The chain's latest block when the report was collected.
        epochs: One section per epoch, by epoch number.
    """

    chain_id: int
    settlement: str
    block: int
    epochs: tuple[EpochReport, ...]


def collect_report(
    ws: Workspace, epochs: Sequence[int] = (), *, stage_of: Mapping[str, str] | None = None
) -> Report:
    """Gather the report of ``epochs`` (default: every epoch proposed on the contract).

    Args:
        ws: The workspace (no signing account needed).
        epochs: The epochs to report on.
        stage_of: Asset id to pipeline stage, for the flow's stage layer; by default the
            stage follows the asset's registry kind (:data:`~ame.report.KIND_STAGES`).

    Raises:
        WorkflowError: An epoch was never proposed, or no epoch was proposed at all.
    """
    proposed = ws.client.proposed_headers(ws.from_block)
    chosen = sorted(set(epochs)) if epochs else sorted(proposed)
    if not chosen:
        raise WorkflowError(f"no epoch was proposed on {ws.client.address} yet: nothing to report")
    for epoch in chosen:
        if epoch not in proposed:
            raise WorkflowError(f"epoch {epoch} was never proposed on {ws.client.address}")
    with chain_errors():
        block = int(ws.chain.w3.eth.block_number)
    sections = []
    for epoch in chosen:
        header, uri = proposed[epoch]
        ws.progress.step(f"epoch {epoch}: auditing")
        audit = audit_epoch(ws, epoch)
        section = EpochReport(epoch, audit.status, header, uri, audit)
        _read_manifest(ws, section, stage_of or {})
        _gas(ws, section)
        sections.append(section)
    return Report(ws.client.chain_id, ws.client.address, block, tuple(sections))


def _read_manifest(ws: Workspace, section: EpochReport, stage_of: Mapping[str, str]) -> None:
    header, uri = section.header, section.manifest_uri
    row = ws.state.epoch(ws.key(section.epoch))
    try:
        if row and row.manifest_hash == header.manifest_hash:
            data = row.manifest
        else:
            data = fetch(uri, policy=ws.fetch_policy)
        if keccak_hex(data) != header.manifest_hash:
            section.notes.append(
                f"the manifest at {uri} is not the one the epoch committed to (see the audit); "
                "the figures below are from the published document"
            )
        manifest = parse_manifest(data, source=uri)
    except AmeError as err:
        section.notes.append(f"the manifest cannot be shown: {err}")
        return
    section.manifest = manifest
    kinds = _kinds(section, uri, ws.fetch_policy)
    stages = _stages(section, uri, ws.fetch_policy)
    claims = ws.client.events("Claimed", ws.from_block, epoch=section.epoch)
    claimed = [int(e["index"]) for e in claims]
    section.claimed = sum(int(e["amount"]) for e in claims)
    section.flow = value_flow(manifest, kinds, staged=bool(stages), stage_of=stage_of)
    if stages:
        revenue = {str(e.id): int(e.revenue) for e in manifest.events}
        section.stages = stage_lines(section.flow, stages, revenue)
    section.contributors = contributor_lines(manifest, kinds, claimed)
    section.decisions = decisions(manifest)


def _document(section: EpochReport, uri: str, name: str, policy: FetchPolicy) -> Any:
    where = sibling_uri(uri, f"{name}.json")
    try:
        return parse_json(fetch(where, policy=policy), source=where)
    except AmeError as err:
        section.notes.append(f"{name} not shown: {where} cannot be read ({err})")
        return None


def _kinds(section: EpochReport, uri: str, policy: FetchPolicy) -> dict[str, str]:
    document = _document(section, uri, "registry", policy)
    if document is None:
        return {}
    try:
        registry = parse_registry(document, source=sibling_uri(uri, "registry.json"))
    except AmeError as err:
        section.notes.append(f"asset kinds and roles not shown: {err}")
        return {}
    return {asset.id: asset.kind for asset in registry.assets}


def _stages(section: EpochReport, uri: str, policy: FetchPolicy) -> dict[str, dict[str, Fraction]]:
    # Read from the raw document: ``stages`` is optional and the report only draws it.
    document = _document(section, uri, "values", policy)
    events = document.get("events") if isinstance(document, dict) else None
    out: dict[str, dict[str, Fraction]] = {}
    for i, event in enumerate(events if isinstance(events, list) else []):
        if not isinstance(event, dict) or event.get("stages") is None:
            continue
        raw = event["stages"]
        try:
            if not isinstance(raw, dict):
                raise ValueError(f"a mapping of stage id to value, got {type(raw).__name__}")
            parsed = {str(k): Fraction(str(v)) for k, v in raw.items() if not isinstance(v, bool)}
            if len(parsed) != len(raw) or any(v < 0 for v in parsed.values()):
                raise ValueError("values must be non-negative numbers")
        except (ValueError, ZeroDivisionError) as err:
            section.notes.append(f"stages not shown: values events[{i}].stages: {err}")
            return {}
        out[str(event.get("id"))] = parsed
    return out


def _hex(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return "0x" + text.removeprefix("0x").lower()


def _gas(ws: Workspace, section: EpochReport) -> None:
    onchain: dict[str, str] = {}
    contract = ws.client.contract
    for name, step in _EVENT_STEPS.items():
        with chain_errors():  # the transaction hashes: more than client.events gives
            logs = getattr(contract.events, name)().get_logs(
                argument_filters={"epoch": section.epoch}, from_block=ws.from_block
            )
        for log in logs:
            onchain.setdefault(_hex(log["transactionHash"]), step)
    lines: dict[str, GasLine] = {}
    chain_id, address = ws.client.chain_id, ws.client.address
    recorded = ws.state.txs((chain_id, address, section.epoch)) + [
        tx for tx in ws.state.txs((chain_id, address, None)) if tx.tx_hash.lower() in onchain
    ]
    pending = 0
    for tx in recorded:
        if tx.status in ("mined", "failed") and tx.gas_used is not None and tx.block is not None:
            lines[tx.tx_hash.lower()] = GasLine(
                tx.step, tx.tx_hash.lower(), tx.block, tx.gas_used, tx.status, "state"
            )
        elif tx.status == "signed":
            pending += 1
    for tx_hash, step in sorted(onchain.items()):
        if tx_hash in lines:
            continue
        with chain_errors():
            receipt = ws.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        status = "mined" if receipt["status"] == 1 else "failed"
        lines[tx_hash] = GasLine(
            step, tx_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), status, "chain"
        )
    section.gas = sorted(lines.values(), key=lambda g: (g.block, g.step, g.tx_hash))
    if pending:
        section.notes.append(f"{pending} transaction(s) signed but not yet mined (no gas yet)")
