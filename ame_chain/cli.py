"""The ``ame`` command.

Only this module catches :class:`~offchain.exceptions.AmeError`: it prints
``ErrorName: message`` and exits 1. Any traceback is a bug.

Exit codes: 0 success, 1 a user or chain error (named on stderr), 2 bad usage.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ame_chain.chains import connect
from offchain.exceptions import AmeError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def chain_options(func: F) -> F:
    """``--chain`` and ``--rpc``, shared by every command that talks to a chain."""
    func = click.option(
        "--rpc",
        "rpc_url",
        envvar="AME_RPC_URL",
        default=None,
        help="Node URL (implies --chain rpc).",
    )(func)
    func = click.option(
        "--chain",
        "chain_kind",
        type=click.Choice(["in-process", "anvil", "rpc"]),
        default="in-process",
        show_default=True,
        help="Embedded py-evm chain, a managed local Anvil, or a node at --rpc.",
    )(func)
    return func


def handle_errors(func: F) -> F:
    """Turn AmeError into ``ErrorName: message`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AmeError as err:
            click.echo(f"{type(err).__name__}: {err}", err=True)
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """AME: fair, verifiable revenue sharing for generative AI."""


@main.command()
@chain_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def demo(chain_kind: str, rpc_url: str | None, as_json: bool) -> None:
    """Deploy, catch a cheating operator with a fraud proof, and pay an honest epoch."""
    from ame_chain.demo import run_settlement_demo

    kind = "rpc" if rpc_url else chain_kind
    with connect(kind, url=rpc_url) as chain:
        say: Callable[[str], None] = (lambda _msg: None) if as_json else click.echo
        result = run_settlement_demo(chain, say=say)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "settlement": result.settlement,
                    "fraud": result.fraud_kind,
                    "gas": result.gas,
                    "payouts": [
                        {"account": a, "amount": str(v), "claimed": c} for a, v, c in result.payouts
                    ],
                },
                sort_keys=True,
            )
        )
        return
    click.echo("")
    click.echo(f"{'contributor':<44} {'amount (wei)':>22}  claimed")
    for account, amount, claimed in result.payouts:
        click.echo(f"{account:<44} {amount:>22}  {'yes' if claimed else 'no'}")
    click.echo("")
    click.echo("gas: " + ", ".join(f"{step} {used:,}" for step, used in result.gas.items()))
