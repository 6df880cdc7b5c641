"""``ame chain up|down|advance``: the managed local chain that outlives each command."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ame.cli._options import with_session
from ame.cli._output import camel_keys, echo_json
from ame.cli._session import Session
from ame.workflow import chain_down, chain_up

__all__ = ["COMMANDS"]


@click.group()
def chain() -> None:
    """Start, stop or move the clock of the managed local chain (Anvil on 127.0.0.1)."""


@chain.command()
@with_session(chain=False)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: a free port.")
@click.option("--chain-id", type=click.IntRange(min=1), default=31337, show_default=True)
@click.option(
    "--persist",
    "state_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Load the chain from this file at start and write it back at `chain down`.",
)
@click.option(
    "--block-time",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Mine a block every SECONDS, as a testnet does (default: one per transaction).",
)
def up(
    session: Session,
    port: int | None,
    chain_id: int,
    state_file: Path | None,
    block_time: int | None,
) -> None:
    """Start Anvil in the background and record it in the state directory.

    A --port already in use fails (exit 1) with Anvil's own words.
    """
    info, started = chain_up(
        session.state_dir,
        port=port,
        chain_id=chain_id,
        state_file=state_file,
        block_time=block_time,
    )
    if session.as_json:
        echo_json({**camel_keys(asdict(info)), "started": started})
        return
    verb = "started" if started else "already running:"
    click.echo(
        f"chain {verb} {info.url} (pid {info.pid}, chain id {info.chain_id}); log {info.log}"
    )


@chain.command()
@with_session(chain=False)
def down(session: Session) -> None:
    """Stop the managed chain and remove its record."""
    info = chain_down(session.state_dir)
    if session.as_json:
        echo_json({"stopped": camel_keys(asdict(info)) if info else None})
    elif info is None:
        click.echo(f"no managed chain in {session.state_dir}")
    else:
        click.echo(f"stopped {info.url} (pid {info.pid})")


@chain.command()
@with_session()
@click.argument("seconds", type=click.IntRange(min=1))
def advance(session: Session, seconds: int) -> None:
    """Move a development chain's clock forward SECONDS and mine a block."""
    current = session.chain()
    current.increase_time(seconds)
    now = current.timestamp()
    if session.as_json:
        echo_json({"timestamp": now})
    else:
        click.echo(f"chain time is now {now}")


COMMANDS = [chain]
