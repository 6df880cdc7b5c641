"""Read-only commands for contributors: what an address is owed (``owed``) and its proof (``proof``).

Neither needs a key nor an operator state: a node (``--rpc``) and the settlement address
(``--settlement``) are enough, from an empty directory.
"""

from __future__ import annotations

import click

from ame.cli._options import ADDRESS, with_session
from ame.cli._output import echo_json, pairs, table
from ame.cli._session import Session
from ame.workflow import OwedEpoch, format_duration, owed_epochs

__all__ = ["COMMANDS"]

_ADDRESS = click.argument("address", type=ADDRESS)


def _when(entry: OwedEpoch) -> str:
    if entry.state == "in challenge window":
        return f"in {format_duration(entry.claimable_from - entry.now)}"
    if entry.state in ("awaiting finalisation", "disputed"):
        return "once finalised"
    if entry.state == "claimable":
        return "now"
    return ""


@click.command()
@with_session(read_only=True)
@_ADDRESS
@click.option(
    "--epoch",
    "epochs",
    multiple=True,
    type=click.IntRange(min=0),
    help="Only these epochs (repeatable; default: every proposed one).",
)
def owed(session: Session, address: str, epochs: tuple[int, ...]) -> None:
    """What ADDRESS is owed in each epoch: amount, status, when it can be claimed, claimed or not.

    Needs no key: anyone can ask for any address. Each proof is checked against the
    on-chain root before it is shown (`ame proof` prints it).
    """
    account = address
    ws = session.workspace(signing=False)
    entries = owed_epochs(ws, account, epochs)
    shown = [e for e in entries if e.state != "not owed"]
    if session.as_json:
        echo_json(
            {
                "account": account,
                "settlement": ws.client.address,
                "chainId": ws.client.chain_id,
                "epochs": [e.to_json() for e in (entries if epochs else shown)],
            }
        )
        return
    names = sorted({name for e in shown for name in e.names})
    who = f"{account} ({', '.join(names)})" if names else account
    if not shown:
        where = f"epoch(s) {', '.join(map(str, epochs))}" if epochs else "any proposed epoch"
        click.echo(f"nothing owed to {who} in {where} of {ws.client.address}")
        return
    click.echo(f"owed to {who} by {ws.client.address}:")
    rows = [
        (
            e.epoch,
            e.units.format(e.amount) if e.leaf is not None else "",
            e.state,
            e.status,
            e.claimable_from_date,
            _when(e),
            "yes" if e.claimed else "no",
            "" if e.leaf is None else e.leaf.index,
        )
        for e in shown
    ]
    headers = [
        "epoch",
        "amount",
        "state",
        "status",
        "claimable from",
        "time left",
        "claimed",
        "leaf",
    ]
    click.echo(table(headers, rows))
    for entry in shown:
        click.echo(entry.message())
        for note in entry.notes:
            click.echo(f"epoch {entry.epoch}: {note}", err=True)


@click.command()
@with_session(read_only=True)
@_ADDRESS
@click.option("--epoch", type=click.IntRange(min=0), required=True, help="The epoch.")
def proof(session: Session, address: str, epoch: int) -> None:
    """ADDRESS's leaf in EPOCH with its Merkle proof and the epoch header: what `claim` takes.

    The proof is read from the published proofs file and checked against the on-chain
    root (else rebuilt from the manifest); exit 1 when ADDRESS has no leaf in EPOCH.
    """
    account = address
    ws = session.workspace(signing=False)
    (entry,) = owed_epochs(ws, account, [epoch])
    for note in entry.notes:
        click.echo(f"epoch {epoch}: {note}", err=True)
    if entry.leaf is None:
        click.echo(f"no proof: {entry.message()}", err=True)
        session.ctx.exit(1)
    if session.as_json:
        data = entry.to_json()
        data.update(settlement=ws.client.address, chainId=ws.client.chain_id)
        echo_json(data)
        return
    rows: list[tuple[str, object]] = [
        ("account", account),
        ("epoch", epoch),
        ("amount", f"{entry.units.format(entry.amount)} ({entry.amount} base units)"),
        ("state", entry.state),
        ("leaf index", entry.leaf.index),
        ("amountBefore", entry.leaf.amount_before),
        ("proof from", entry.proof_source),
        ("root", entry.header.root),
    ]
    rows += [(f"proof[{i}]", node) for i, node in enumerate(entry.proof)]
    click.echo(pairs(rows))
    click.echo(entry.message())


COMMANDS = [owed, proof]
