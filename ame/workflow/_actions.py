"""The rest of an epoch's life: status, claims, finalisation, disputes, refunds, sweeps, credits.

Claims read each epoch's published manifest (checked against the chain), so a contributor
needs no operator state: only the chain, the contract and the manifest URIs in its events.
Every transaction is recorded in the state with its step name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ame.workflow._epochs import PublishedEpoch, find_header, load_published
from ame.workflow._owed import format_date
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import FetchError, WorkflowError
from ame_chain import errors
from ame_chain._addresses import checked_address
from ame_core.exceptions import InputError

__all__ = [
    "ClaimLine",
    "ClaimResult",
    "EpochSummary",
    "claim_leaves",
    "epoch_summaries",
    "finalize_epoch",
    "refund_epoch",
    "resolve_dispute",
    "sweep_epoch",
    "withdraw_credits",
]

log = logging.getLogger("ame.claim")


@dataclass(frozen=True)
class EpochSummary:
    """One epoch as the chain and the operator's state see it."""

    epoch: int
    status: str
    pool: int
    leaf_count: int
    claimed: int
    remaining: int
    open_disputes: int
    dispute_count: int
    challenge_end: int | None
    manifest_uri: str
    propose_tx: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON form; amounts as decimal strings, the window's end as Unix seconds and a date."""
        return {
            "epoch": self.epoch,
            "status": self.status,
            "pool": str(self.pool),
            "leafCount": self.leaf_count,
            "claimed": str(self.claimed),
            "remaining": str(self.remaining),
            "openDisputes": self.open_disputes,
            "disputeCount": self.dispute_count,
            "challengeEnd": self.challenge_end,
            "challengeEndDate": None
            if self.challenge_end is None
            else format_date(self.challenge_end),
            "manifestURI": self.manifest_uri,
            "proposeTx": self.propose_tx,
        }


def epoch_summaries(ws: Workspace, epochs: Sequence[int] = ()) -> list[EpochSummary]:
    """Every epoch proposed on-chain or recorded in the state (or only ``epochs``)."""
    onchain = ws.client.proposed_headers(ws.from_block)
    recorded = {
        row.key.epoch: row for row in ws.state.epochs(ws.client.chain_id, ws.client.address)
    }
    wanted = sorted(set(epochs) if epochs else set(onchain) | set(recorded))
    claimed: dict[int, int] = {}
    for event in ws.client.events("Claimed", ws.from_block):
        epoch = int(event["epoch"])
        claimed[epoch] = claimed.get(epoch, 0) + int(event["amount"])
    out = []
    for epoch in wanted:
        row = recorded.get(epoch)
        tx = ws.state.open_tx(ws.key(epoch), "propose")
        if epoch in onchain:
            header, uri = onchain[epoch]
            state = ws.client.epoch_state(epoch)
            if row is not None and row.status != state["status"]:
                ws.state.set_status(row.key, state["status"])
            out.append(
                EpochSummary(
                    epoch,
                    state["status"],
                    header.pool,
                    header.leaf_count,
                    claimed.get(epoch, 0),
                    state["remaining"],
                    state["openDisputes"],
                    state["disputeCount"],
                    header.challenge_end,
                    uri,
                    tx.tx_hash if tx else None,
                )
            )
        elif row is not None:
            pending = "sent, not mined" if tx is not None else "not proposed"
            out.append(
                EpochSummary(
                    epoch,
                    f"{row.status} ({pending})",
                    row.pool,
                    row.leaf_count,
                    0,
                    0,
                    0,
                    0,
                    None,
                    row.manifest_uri,
                    tx.tx_hash if tx else None,
                )
            )
        else:
            raise WorkflowError(f"epoch {epoch} was never proposed on {ws.client.address}")
    return out


@dataclass(frozen=True)
class ClaimLine:
    """One leaf paid (or to pay)."""

    epoch: int
    index: int
    account: str
    amount: int
    tx_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "epoch": self.epoch,
            "index": self.index,
            "account": self.account,
            "amount": str(self.amount),
            "tx": self.tx_hash,
        }


@dataclass(frozen=True)
class ClaimResult:
    """Leaves paid, the transactions that paid them (one per batch), and epochs passed over.

    Attributes:
        skipped: ``(epoch, reason)`` for each finalised epoch whose published manifest could
            not be read or did not match the chain, when no epochs were named: one bad epoch
            does not keep contributors from the others.
    """

    lines: list[ClaimLine]
    tx_hashes: list[str]
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Sum paid."""
        return sum(line.amount for line in self.lines)


def _claimed_indices(ws: Workspace, epoch: int) -> set[int]:
    return {int(e["index"]) for e in ws.client.events("Claimed", ws.from_block, epoch=epoch)}


def claim_leaves(
    ws: Workspace,
    *,
    accounts: Iterable[str] | None,
    epochs: Sequence[int] = (),
    batch_size: int = 100,
) -> ClaimResult:
    """Claim every unclaimed leaf of ``accounts`` (all accounts when None) in finalised epochs.

    One leaf is claimed with ``claim``; more with ``claimMany``, ``batch_size`` leaves a
    transaction. Leaves pay their own account whoever sends the claim.

    Args:
        accounts: Whose leaves; every leaf when None.
        epochs: Which epochs; every finalised epoch when empty (explicit ones must be finalised).
        batch_size: Leaves per transaction.

    Raises:
        WorkflowError: A named epoch is not finalised.
        InputError: An account is not an address, or the batch size is below 1.
    """
    if batch_size < 1:
        raise InputError(f"batch_size: {batch_size} is below 1")
    wanted: set[str] | None = None
    if accounts is not None:
        wanted = {checked_address(a, "accounts") for a in accounts}
    if epochs:
        chosen = list(epochs)
        for epoch in chosen:
            status = ws.client.status(find_header(ws, epoch)[0].epoch)
            if status != "Finalized":
                raise WorkflowError(
                    f"epoch {epoch} is {status}: leaves are claimable once Finalized"
                )
    else:
        chosen = [
            e
            for e in sorted(ws.client.proposed_headers(ws.from_block))
            if ws.client.status(e) == "Finalized"
        ]
    todo: list[tuple[PublishedEpoch, int]] = []
    skipped: list[tuple[int, str]] = []
    for epoch in chosen:
        try:
            published = load_published(ws, epoch)
        except (FetchError, InputError) as err:
            if epochs:  # named by the caller: the problem is the answer
                raise
            log.warning("epoch %d: passed over: %s", epoch, err)
            skipped.append((epoch, str(err)))
            continue
        done = _claimed_indices(ws, epoch)
        todo.extend(
            (published, position)
            for position, leaf in enumerate(published.tree.leaves)
            if leaf.index not in done and (wanted is None or leaf.account in wanted)
        )
    lines: list[ClaimLine] = []
    hashes: list[str] = []
    with ws.progress.bar("claiming", len(todo)) as advance:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            sent = _claim_batch(ws, batch)
            if sent is not None:
                paid, tx_hash = sent
                hashes.append(tx_hash)
                for published, position in paid:
                    leaf = published.tree.leaves[position]
                    lines.append(
                        ClaimLine(
                            published.header.epoch, leaf.index, leaf.account, leaf.amount, tx_hash
                        )
                    )
            advance(len(batch))
    return ClaimResult(lines, hashes, skipped)


#: How often a batch is sent again after another sender claimed some of its leaves.
CLAIM_ATTEMPTS = 3


def _claim_batch(
    ws: Workspace, batch: list[tuple[PublishedEpoch, int]]
) -> tuple[list[tuple[PublishedEpoch, int]], str] | None:
    """Send one batch; the leaves it paid and its tx hash, or None when all were paid already.

    ``Claimed`` logs tell which leaves were paid when they were read, but another relayer
    may claim some of them since (or a node may serve logs late), and one paid leaf makes
    the whole ``claimMany`` revert with ``SettlementAlreadyClaimed`` at estimation. So each
    batch is filtered by ``isClaimed`` just before it is sent, and filtered and sent again
    when that still happens in between.
    """
    attempt = 1
    while True:
        batch = [
            (p, pos)
            for p, pos in batch
            if not ws.client.is_claimed(p.header.epoch, p.tree.leaves[pos].index)
        ]
        if not batch:
            return None
        try:
            with ws.acting("claim") as client:
                if len(batch) == 1:
                    published, position = batch[0]
                    tx = client.claim(published.header, published.tree, position)
                else:
                    tx = client.claim_many([(p.header, p.tree, pos) for p, pos in batch])
        except errors.SettlementAlreadyClaimed as err:
            if attempt >= CLAIM_ATTEMPTS:
                raise
            attempt += 1
            log.info("claimed meanwhile by another sender (%s); filtering again", err)
            continue
        return batch, tx.tx_hash


def finalize_epoch(ws: Workspace, epoch: int) -> str:
    """Finalise ``epoch`` (after its challenge window, with no open dispute); returns the tx hash."""
    header, _ = find_header(ws, epoch)
    with ws.acting("finalize", epoch) as client:
        return client.finalize(header).tx_hash


def refund_epoch(ws: Workspace, epoch: int) -> str:
    """Send a voided epoch's pool back to its operator; returns the tx hash."""
    header, _ = find_header(ws, epoch)
    with ws.acting("refund", epoch) as client:
        return client.refund(header).tx_hash


def sweep_epoch(ws: Workspace, epoch: int) -> tuple[str, int]:
    """Send what is left of an expired epoch to the sweep recipient; returns the tx hash and amount."""
    header, _ = find_header(ws, epoch)
    left = ws.client.epoch_state(epoch)["remaining"]
    with ws.acting("sweep", epoch) as client:
        return client.sweep(header).tx_hash, left


def resolve_dispute(
    ws: Workspace, epoch: int, dispute_id: int, verdict: Literal["uphold", "reject", "dismiss"]
) -> tuple[str, str]:
    """Close a dispute: the arbiter upholds or rejects it; anyone dismisses one past its deadline.

    Returns:
        The tx hash and the dispute's status afterwards.
    """
    header, _ = find_header(ws, epoch)
    with ws.acting(verdict, epoch) as client:
        if verdict == "dismiss":
            tx = client.dismiss_dispute(header, dispute_id)
        else:
            tx = client.resolve_dispute(header, dispute_id, upheld=verdict == "uphold")
    return tx.tx_hash, str(ws.client.dispute_of(epoch, dispute_id)["status"])


def withdraw_credits(ws: Workspace, to: str | None = None) -> tuple[str, int]:
    """Withdraw the signing account's ETH credit (bonds, refused payouts); returns tx hash and amount."""
    account = ws.signer().address
    credit = ws.client.credit_of(account)
    with ws.acting("withdraw") as client:
        return client.withdraw_credits(to).tx_hash, credit
