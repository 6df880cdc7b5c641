"""Commands for contributors, auditors and arbiters: status, claim, audit, challenge, dispute, resolve."""

from __future__ import annotations

from pathlib import Path

import click

from ame.cli._advice import Amounts
from ame.cli._main import EXIT_AUDIT_MISMATCH, EXIT_ERROR
from ame.cli._options import ADDRESS, input_options, units_option, with_session
from ame.cli._output import echo_json, pairs, table
from ame.cli._recompute import echo_recomputed, recompute_options
from ame.cli._session import Session
from ame.workflow import (
    AuditInputs,
    AuditReport,
    Recompute,
    Workspace,
    audit_epoch,
    challenge_epoch,
    claim_leaves,
    epoch_summaries,
    format_date,
    format_duration,
    open_dispute,
    owed_epochs,
    resolve_dispute,
)
from ame_chain.exceptions import FundingError
from ame_core.exceptions import AmeError

__all__ = ["COMMANDS"]

#: Owed, not claimable yet: what `claim` names instead of "nothing to claim".
_PENDING = ("in challenge window", "disputed", "awaiting finalisation")
_EPOCHS = click.argument("epochs", nargs=-1, type=click.IntRange(min=0))
_EPOCH = click.argument("epoch", type=click.IntRange(min=0))
_MANIFEST = click.option(
    "--manifest",
    "manifest_uri",
    default=None,
    metavar="URI",
    help="Read the manifest here instead of at the URI published on-chain.",
)


@click.command()
@with_session(read_only=True)
@_EPOCHS
@units_option
def status(session: Session, epochs: tuple[int, ...], units: str) -> None:
    """Show every epoch (or EPOCHS): status, pool, claims, disputes, transactions.

    The challenge window's end is shown as a UTC date with the time left by the chain's
    clock; under --json it stays Unix seconds (challengeEnd, with challengeEndDate and the
    chain's time, now, beside it).
    """
    ws = session.workspace(signing=False)
    show = Amounts(ws, units)
    summaries = epoch_summaries(ws, epochs)
    now = ws.chain.timestamp()
    if session.as_json:
        echo_json(
            {
                "settlement": ws.client.address,
                "now": now,
                "epochs": [s.to_json() for s in summaries],
            }
        )
        return
    if not summaries:
        click.echo(f"no epochs on {ws.client.address} yet")
        return
    rows = [
        (
            s.epoch,
            s.status,
            show.of(s.epoch, s.pool),
            s.leaf_count,
            show.of(s.epoch, s.claimed),
            show.of(s.epoch, s.remaining),
            f"{s.open_disputes}/{s.dispute_count}",
            _window_end(s.challenge_end, now),
            s.propose_tx,
        )
        for s in summaries
    ]
    headers = [
        "epoch",
        "status",
        "pool",
        "leaves",
        "claimed",
        "remaining",
        "disputes",
        "challenge end",
        "propose tx",
    ]
    click.echo(table(headers, rows))


def _window_end(end: int | None, now: int) -> str | None:
    """When a challenge window ends, for people: the UTC date and the time left, or ``ended``."""
    if end is None:
        return None
    left = f"in {format_duration(end - now)}" if end > now else "ended"
    return f"{format_date(end)} ({left})"


@click.command()
@with_session(account=True)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    type=ADDRESS,
    help="Whose leaves (repeatable; default: the signer's).",
)
@click.option("--all", "claim_all", is_flag=True, help="Every unclaimed leaf.")
@click.option(
    "--epoch",
    "epochs",
    multiple=True,
    type=click.IntRange(min=0),
    help="Only these epochs (repeatable; default: every finalised one).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Leaves per transaction.",
)
@units_option
def claim(
    session: Session,
    accounts: tuple[str, ...],
    claim_all: bool,
    epochs: tuple[int, ...],
    batch: int,
    units: str,
) -> None:
    """Claim unclaimed leaves: one with `claim`, many in one `claimMany` transaction.

    A leaf pays its own account whoever sends the claim, so anyone may claim for others.
    """
    if claim_all and accounts:
        raise click.UsageError("--all and --account exclude each other")
    given = list(accounts)  # checksummed by ADDRESS
    ws = session.workspace(signing=True)
    wanted = None if claim_all else (given or [ws.signer().address])
    try:
        result = claim_leaves(ws, accounts=wanted, epochs=epochs, batch_size=batch)
    except FundingError as err:
        raise FundingError(
            f"{err}; {_relay_hint(ws, wanted)}",
            account=err.account,
            balance=err.balance,
            value=err.value,
        ) from err
    for epoch, reason in result.skipped:
        click.echo(f"skipped epoch {epoch}: {reason}", err=True)
    if session.as_json:
        echo_json(
            {
                "claims": [line.to_json() for line in result.lines],
                "total": str(result.total),
                "txs": result.tx_hashes,
                "skipped": [{"epoch": e, "reason": r} for e, r in result.skipped],
            }
        )
        return
    if not result.lines:
        # Say what is owed but not claimable yet, and when, rather than only "nothing".
        pending = [
            entry
            for account in wanted or []
            for entry in owed_epochs(ws, account)
            if entry.state in _PENDING
        ]
        click.echo("nothing to claim now" if pending else "nothing to claim")
        for entry in pending:
            click.echo(entry.message())
        return
    show = Amounts(ws, units)
    rows = [
        (c.epoch, c.index, c.account, show.of(c.epoch, c.amount), c.tx_hash) for c in result.lines
    ]
    click.echo(table(["epoch", "leaf", "account", "amount", "tx"], rows))
    total = show.total([c.epoch for c in result.lines], result.total)
    click.echo(f"paid {total} in {len(result.tx_hashes)} transaction(s)")


def _relay_hint(ws: Workspace, wanted: list[str] | None) -> str:
    """What is owed now to the accounts a claim was for, and how to have it sent by another."""
    owed = [
        entry
        for account in wanted or []
        for entry in owed_epochs(ws, account)
        if entry.state == "claimable"
    ]
    amounts = "; ".join(
        f"{e.account} is owed {e.units.format(e.amount)} in epoch {e.epoch}" for e in owed
    )
    return (
        (amounts + ". " if amounts else "")
        + "A claim pays each leaf's own account whoever sends it: anyone with ETH for gas can "
        "relay it (`ame claim --account ADDRESS` signed by a funded account), or fund this one"
    )


@click.command()
@with_session(read_only=True)
@_EPOCHS
@input_options
@_MANIFEST
@recompute_options
def audit(
    session: Session,
    epochs: tuple[int, ...],
    values: Path | None,
    registry: Path | None,
    policy: Path | None,
    carried: Path | None,
    manifest_uri: str | None,
    recompute: Recompute | None,
) -> None:
    """Recompute and check EPOCHS (default: all) against the chain; exit 3 on any mismatch.

    Inputs are read beside the published manifest unless given (one epoch only). Each
    epoch is reported on its own: one that cannot be audited at all (its node answers
    wrongly) is reported as an error and the others still run; the exit code is then 1.

    With --recompute-utilities (one EPOCH), the pipeline is rerun on this machine from
    assets you load (hashed against the record first) and every published coalition worth
    of the sampled events compared within the documented tolerance; the drift is shown.
    """
    inputs = AuditInputs(values, registry, policy, carried)
    ws = session.workspace(signing=False)
    chosen = list(epochs) or sorted(ws.client.proposed_headers(ws.from_block))
    if (inputs != AuditInputs() or manifest_uri) and len(chosen) != 1:
        raise click.UsageError("input files and --manifest need exactly one EPOCH")
    if recompute is not None and len(chosen) != 1:
        raise click.UsageError("--recompute-utilities needs exactly one EPOCH")
    reports: list[AuditReport] = []
    errors: list[tuple[int, str]] = []
    for epoch in chosen:
        try:
            reports.append(
                audit_epoch(ws, epoch, inputs, manifest_uri=manifest_uri, recompute=recompute)
            )
        except AmeError as err:
            if len(chosen) == 1:
                raise
            errors.append((epoch, f"{type(err).__name__}: {err}"))
    ok = all(r.ok for r in reports) and not errors
    if session.as_json:
        echo_json(
            {
                "ok": ok,
                "epochs": [r.to_json() for r in reports],
                "errors": [{"epoch": e, "error": message} for e, message in errors],
            }
        )
    else:
        for report in reports:
            verdict = "OK" if report.ok else f"{len(report.mismatches)} mismatch(es)"
            if not report.complete:
                verdict += " (the audit could not complete: see 'audit failed' below)"
            click.echo(
                f"epoch {report.epoch} ({report.status}): {verdict}; checked {', '.join(report.checks)}"
            )
            echo_recomputed(report)
        for epoch, message in errors:
            click.echo(f"epoch {epoch}: not audited: {message}", err=True)
        rows = [
            (m.epoch, "" if m.leaf is None else m.leaf, m.field, m.expected, m.found)
            for r in reports
            for m in r.mismatches
        ]
        if rows:
            click.echo(table(["epoch", "leaf", "field", "expected", "found"], rows))
        if not reports and not errors:
            click.echo(f"no epochs on {ws.client.address} yet")
    if errors:
        session.ctx.exit(EXIT_ERROR)
    if not ok:
        session.ctx.exit(EXIT_AUDIT_MISMATCH)


@click.command()
@with_session(account=True)
@_EPOCH
@input_options
@_MANIFEST
def challenge(
    session: Session,
    epoch: int,
    values: Path | None,
    registry: Path | None,
    policy: Path | None,
    carried: Path | None,
    manifest_uri: str | None,
) -> None:
    """Audit EPOCH and challenge it: prove a fault on-chain, else dispute with the evidence.

    A clean audit needs no account; an account is asked for only when there is a fault to
    prove or a dispute to open.
    """
    ws = session.workspace(signing=False)
    result = challenge_epoch(
        ws, epoch, AuditInputs(values, registry, policy, carried), manifest_uri=manifest_uri
    )
    if session.as_json:
        echo_json(result.to_json())
        return
    if result.action == "none":
        click.echo(f"epoch {epoch}: the audit found nothing wrong; nothing to challenge")
        return
    if result.action == "fraud" and result.fault is not None:
        rows: list[tuple[str, object]] = [
            ("fraud proven", result.fault.kind.name),
            ("leaves", list(result.fault.positions)),
        ]
    else:
        rows = [("dispute opened", result.dispute_id), ("evidence", result.evidence_uri)]
        rows += [
            ("audit failed", m.found.removeprefix("audit failed: "))
            for m in result.mismatches
            if m.found.startswith("audit failed: ")
        ]
    rows += [
        ("epoch", epoch),
        ("status", result.status),
        ("tx", result.tx_hash),
        ("mismatches", len(result.mismatches)),
    ]
    click.echo(pairs(rows))


@click.command()
@with_session(account=True)
@_EPOCH
@click.argument("evidence", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--uri", default=None, help="Where EVIDENCE is already published (default: publish it)."
)
def dispute(session: Session, epoch: int, evidence: Path, uri: str | None) -> None:
    """Open a dispute on EPOCH with an EVIDENCE file (its keccak256 goes on-chain) and the bond."""
    ws = session.workspace(signing=True)
    dispute_id, tx, where = open_dispute(ws, epoch, evidence, uri=uri)
    fields = {"epoch": epoch, "disputeId": dispute_id, "evidenceURI": where, "tx": tx}
    if session.as_json:
        echo_json(fields)
    else:
        click.echo(pairs(list(fields.items())))


@click.command()
@with_session(account=True)
@_EPOCH
@click.argument("dispute_id", type=click.IntRange(min=0))
@click.option("--uphold", "verdict", flag_value="uphold", help="Arbiter: void the epoch.")
@click.option(
    "--reject", "verdict", flag_value="reject", help="Arbiter: the bond goes to the operator."
)
@click.option(
    "--dismiss", "verdict", flag_value="dismiss", help="Anyone, past the deadline: bond back."
)
def resolve(session: Session, epoch: int, dispute_id: int, verdict: str | None) -> None:
    """Close DISPUTE_ID of EPOCH: --uphold or --reject (arbiter), or --dismiss (past its deadline)."""
    if verdict not in ("uphold", "reject", "dismiss"):
        raise click.UsageError("give one of --uphold, --reject or --dismiss")
    ws = session.workspace(signing=True)
    tx, outcome = resolve_dispute(ws, epoch, dispute_id, verdict)  # type: ignore[arg-type]
    fields = {
        "epoch": epoch,
        "disputeId": dispute_id,
        "dispute": outcome,
        "status": ws.client.status(epoch),
        "tx": tx,
    }
    if session.as_json:
        echo_json(fields)
    else:
        click.echo(pairs(list(fields.items())))


COMMANDS = [status, claim, audit, challenge, dispute, resolve]
