"""``ame report``: the HTML report of some epochs, with plots (:mod:`ame.report`)."""

from __future__ import annotations

from pathlib import Path

import click

from ame.cli._options import with_session
from ame.cli._output import echo_json, table
from ame.cli._session import Session

__all__ = ["COMMANDS"]


@click.command()
@with_session(read_only=True)
@click.argument("epochs", nargs=-1, type=click.IntRange(min=0))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option(
    "--events",
    "events_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The event log (JSONL) the epochs were attributed from: each event's output text "
    "is shown, checked against the attribution record's hash of it.",
)
def report(
    session: Session, epochs: tuple[int, ...], output: Path, events_file: Path | None
) -> None:
    """Write an HTML report of EPOCHS (default: all): value flow, shares, decisions, gas, audit.

    The audit is the one `ame audit` runs; its verdict is in the report, and the exit
    status is 0 whenever the report was written (gate on `ame audit`). Its "how to claim"
    section links the claim page of [claim_page] url (or $AME_CLAIM_PAGE_URL). Each event
    shows the hash of its output from the attribution record; with --events LOG, the text
    too, marked when it does not match that hash.
    """
    from ame.report import (  # imports matplotlib: only here
        check_output,
        collect_report,
        read_event_outputs,
        render_html,
        write_html,
    )

    check_output(output)
    outputs = read_event_outputs(events_file) if events_file is not None else None
    ws = session.workspace(signing=False)
    collected = collect_report(
        ws, epochs, claim_page=session.config.claim_page.url, outputs=outputs
    )
    session.progress.step("drawing the report")
    path = write_html(render_html(collected), output)
    rows = [
        {
            "epoch": s.epoch,
            "status": s.status,
            "audit": "OK" if s.audit.ok else f"{len(s.audit.mismatches)} mismatch(es)",
            "gas": sum(g.gas_used for g in s.gas),
        }
        for s in collected.epochs
    ]
    if session.as_json:
        echo_json({"report": str(path), "epochs": rows})
        return
    click.echo(table(["epoch", "status", "audit", "gas"], [tuple(r.values()) for r in rows]))
    click.echo(f"report written to {path}")


COMMANDS = [report]
