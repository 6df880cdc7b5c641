"""Gather what a report shows from the chain, the operator's state and the published documents.

Per epoch: the on-chain header and status, the manifest (the state's copy when it is the
committed one, else the published one), the registry and values published beside it
(asset kinds for roles and stages; the values' optional per-event ``stages``), each
event's output hash from the attribution record the manifest commits to (and, given the
event log, its text checked against it: :mod:`ame.report._outputs`), the ``Claimed`` events, the gas of every transaction of the epoch, and the verdict of the
same audit ``ame audit`` runs (:func:`~ame.workflow.audit_epoch`).

Amounts are shown in the token's units (``ame owed``'s :class:`~ame.workflow.TokenUnits`:
ETH, or the ERC-20's ``symbol()`` and ``decimals()`` read through ``IERC20Metadata``),
accounts beside their names in the registry published with the manifest (when it is the
registry the manifest was mapped from), and the epoch's life as dates: proposed and
finalised (the timestamps of the blocks of its ``EpochProposed`` and ``EpochFinalized``
events), the end of its challenge window (``challengeEnd``) and when what is left may be
swept (the contract's ``expiryOf``, once finalised).

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

from eth_utils.address import to_checksum_address

from ame.report._analysis import (
    KIND_STAGES,
    ContributorLine,
    Decision,
    EventSummary,
    StageLine,
    ValueFlow,
    contributor_lines,
    decisions,
    event_summaries,
    stage_lines,
    value_flow,
)
from ame.report._outputs import attach_outputs, read_record_outputs
from ame.workflow import (
    AuditReport,
    FetchPolicy,
    TokenUnits,
    Workspace,
    audit_epoch,
    fetch,
    keccak_hex,
    token_units,
)
from ame.workflow._publish import sibling_uri
from ame.workflow.exceptions import WorkflowError
from ame_chain.errors import chain_errors
from ame_chain.leaves import EpochHeader
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError
from offchain.mapping import (
    Manifest,
    Registry,
    Totals,
    Values,
    parse_manifest,
    parse_registry,
    parse_values,
)

__all__ = ["EpochDates", "EpochReport", "GasLine", "Report", "collect_report"]

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


@dataclass(frozen=True)
class EpochDates:
    """When things happened, or will, in an epoch's life (Unix seconds, UTC).

    Attributes:
        proposed: The block time of its ``EpochProposed`` event.
        window_end: When its challenge window ends (``challengeEnd``): claims open once it
            is finalised after this.
        finalized: The block time of its ``EpochFinalized`` event; None until finalised.
        expiry: When what is left may be swept (``expiryOf``, read once finalised; it moves
            while the contract is paused); None before.
    """

    proposed: int | None
    window_end: int
    finalized: int | None = None
    expiry: int | None = None


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
        units: How the epoch's token is shown (symbol and decimals).
        dates: Proposal, window end, finalisation and expiry.
        events: One summary per revenue event, in the manifest's order.
        proofs_uri: Where the epoch's proofs file is published (None when the manifest
            names none).
        stage_of: Asset id to its pipeline stage (for the stages' colours).
        notes: What could not be shown, and why.
    """

    epoch: int
    status: str
    header: EpochHeader
    manifest_uri: str
    audit: AuditReport
    units: TokenUnits
    dates: EpochDates
    manifest: Manifest | None = None
    flow: ValueFlow | None = None
    stages: list[StageLine] = field(default_factory=list)
    contributors: list[ContributorLine] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    gas: list[GasLine] = field(default_factory=list)
    claimed: int = 0
    events: list[EventSummary] = field(default_factory=list)
    proofs_uri: str | None = None
    stage_of: dict[str, str] = field(default_factory=dict)
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
        time: The latest block's timestamp ("now" for the chain; None when unknown).
        claim_page: Where contributors claim in a browser (the "how to claim" link).
    """

    chain_id: int
    settlement: str
    block: int
    epochs: tuple[EpochReport, ...]
    time: int | None = None
    claim_page: str | None = None


def collect_report(
    ws: Workspace,
    epochs: Sequence[int] = (),
    *,
    stage_of: Mapping[str, str] | None = None,
    claim_page: str | None = None,
    outputs: Mapping[str, str] | None = None,
) -> Report:
    """Gather the report of ``epochs`` (default: every epoch proposed on the contract).

    Args:
        ws: The workspace (no signing account needed).
        epochs: The epochs to report on.
        stage_of: Asset id to pipeline stage, for the flow's stage layer; by default the
            stage follows the asset's registry kind (:data:`~ame.report.KIND_STAGES`).
        claim_page: The claim page's URL, linked from the "how to claim" section.
        outputs: Event id to its output text, from the event log the epochs were
            attributed from (:func:`~ame.report.read_event_outputs`); each text is shown
            checked against the attribution record's hash of it.

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
        latest = ws.chain.w3.eth.get_block("latest")
    units: dict[str, TokenUnits] = {}
    sections = []
    for epoch in chosen:
        header, uri = proposed[epoch]
        ws.progress.step(f"epoch {epoch}: auditing")
        audit = audit_epoch(ws, epoch)
        if header.token not in units:
            units[header.token] = token_units(ws, header)
        dates = EpochDates(None, header.challenge_end)
        section = EpochReport(epoch, audit.status, header, uri, audit, units[header.token], dates)
        _read_manifest(ws, section, stage_of or {}, outputs)
        blocks = _gas(ws, section)
        section.dates = _dates(ws, section, blocks)
        sections.append(section)
    return Report(
        ws.client.chain_id,
        ws.client.address,
        int(latest["number"]),
        tuple(sections),
        time=int(latest["timestamp"]),
        claim_page=claim_page,
    )


def _dates(ws: Workspace, section: EpochReport, blocks: Mapping[str, int]) -> EpochDates:
    def time_of(step: str) -> int | None:
        if step not in blocks:
            return None
        with chain_errors():
            return int(ws.chain.w3.eth.get_block(blocks[step])["timestamp"])

    expiry = None
    if section.status in ("Finalized", "Swept"):
        expiry = ws.client.expiry_of(section.header)
    return EpochDates(
        proposed=time_of("propose"),
        window_end=section.header.challenge_end,
        finalized=time_of("finalize"),
        expiry=expiry,
    )


def _read_manifest(
    ws: Workspace,
    section: EpochReport,
    stage_of: Mapping[str, str],
    outputs: Mapping[str, str] | None = None,
) -> None:
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
    if manifest.proofs is not None:
        section.proofs_uri = sibling_uri(uri, manifest.proofs.uri)
    registry = _registry(section, uri, ws.fetch_policy)
    kinds: dict[str, str] = {a.id: a.kind for a in registry.assets} if registry else {}
    section.stage_of = {
        asset: stage_of.get(asset) or KIND_STAGES.get(kind, "unknown")
        for asset, kind in kinds.items()
    }
    values_document = _document(section, uri, "values", ws.fetch_policy)
    stages = _stages(section, values_document)
    claims = ws.client.events("Claimed", ws.from_block, epoch=section.epoch)
    claimed = [int(e["index"]) for e in claims]
    section.claimed = sum(int(e["amount"]) for e in claims)
    section.flow = value_flow(manifest, kinds, staged=bool(stages), stage_of=stage_of)
    if stages:
        revenue = {str(e.id): int(e.revenue) for e in manifest.events}
        section.stages = stage_lines(section.flow, stages, revenue)
    section.contributors = contributor_lines(
        manifest, kinds, claimed, _names(section, manifest, registry)
    )
    section.decisions = decisions(manifest)
    section.events = event_summaries(
        manifest,
        kinds,
        stage_of=stage_of,
        stages=stages,
        values=_values(section, values_document, uri),
    )
    digests: Mapping[str, str] = {}
    if manifest.attribution is not None:
        found = read_record_outputs(
            sibling_uri(uri, manifest.attribution.uri),
            manifest.attribution.sha256,
            policy=ws.fetch_policy,
        )
        digests = found.digests
        if found.note:
            section.notes.append(found.note)
    section.events = attach_outputs(section.events, digests, outputs)


def _document(section: EpochReport, uri: str, name: str, policy: FetchPolicy) -> Any:
    where = sibling_uri(uri, f"{name}.json")
    try:
        return parse_json(fetch(where, policy=policy), source=where, unique_keys=True)
    except AmeError as err:
        section.notes.append(f"{name} not shown: {where} cannot be read ({err})")
        return None


def _registry(section: EpochReport, uri: str, policy: FetchPolicy) -> Registry | None:
    document = _document(section, uri, "registry", policy)
    if document is None:
        return None
    try:
        return parse_registry(document, source=sibling_uri(uri, "registry.json"))
    except AmeError as err:
        section.notes.append(f"asset kinds, roles and names not shown: {err}")
        return None


def _names(
    section: EpochReport, manifest: Manifest, registry: Registry | None
) -> dict[str, list[str]]:
    """Account to its owner names, from the registry the manifest was mapped from only."""
    if registry is None:
        return {}
    if registry.digest() != manifest.inputs.registry.sha256:
        # Anyone can publish a registry beside the manifest; names are shown from the
        # one the epoch was mapped from, the others would put words in its mouth.
        section.notes.append(
            "names not shown: the published registry is not the one the manifest was mapped "
            f"from (sha256 {registry.digest()}, not {manifest.inputs.registry.sha256})"
        )
        return {}
    names: dict[str, list[str]] = {}
    for asset in registry.assets:
        for owner in asset.owners:
            if owner.name:
                names.setdefault(to_checksum_address(owner.address), []).append(owner.name)
    return names


def _values(section: EpochReport, document: Any, uri: str) -> Values | None:
    if document is None:
        return None
    try:
        return parse_values(document, source=sibling_uri(uri, "values.json"))
    except AmeError as err:
        section.notes.append(f"methods and standard errors not shown: {err}")
        return None


def _stages(section: EpochReport, document: Any) -> dict[str, dict[str, Fraction]]:
    # Read from the raw document: ``stages`` is optional and the report only draws it.
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


def _gas(ws: Workspace, section: EpochReport) -> dict[str, int]:
    """Fill ``section.gas``; return the first block of each step (``propose``, ``finalize``...)."""
    onchain: dict[str, str] = {}
    first: dict[str, int] = {}
    contract = ws.client.contract
    for name, step in _EVENT_STEPS.items():
        with chain_errors():  # the transaction hashes: more than client.events gives
            logs = getattr(contract.events, name)().get_logs(
                argument_filters={"epoch": section.epoch}, from_block=ws.from_block
            )
        for log in logs:
            onchain.setdefault(_hex(log["transactionHash"]), step)
            first[step] = min(first.get(step, int(log["blockNumber"])), int(log["blockNumber"]))
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
    return first
