"""``ame demo``: the settlement story on a chain of its own (in-process by default)."""

from __future__ import annotations

from collections.abc import Callable

import click

from ame_chain.chains import connect
from ame_chain.cli._output import echo_json, table

__all__ = ["COMMANDS"]


@click.command()
@click.option(
    "--chain",
    "chain_kind",
    type=click.Choice(["in-process", "anvil", "rpc"]),
    default="in-process",
    show_default=True,
    help="Embedded py-evm chain, a fresh local Anvil, or a node at --rpc.",
)
@click.option(
    "--rpc", "rpc_url", envvar="AME_RPC_URL", default=None, help="Node URL (implies --chain rpc)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(chain_kind: str, rpc_url: str | None, as_json: bool) -> None:
    """Deploy, catch a cheating operator with a fraud proof, and pay an honest epoch."""
    from ame_chain.demo import run_settlement_demo

    kind = "rpc" if rpc_url else chain_kind
    with connect(kind, url=rpc_url) as chain:
        say: Callable[[str], None] = (lambda _msg: None) if as_json else click.echo
        result = run_settlement_demo(chain, say=say)
    if as_json:
        echo_json(
            {
                "settlement": result.settlement,
                "fraud": result.fraud_kind,
                "gas": result.gas,
                "payouts": [
                    {"account": a, "amount": str(v), "claimed": c} for a, v, c in result.payouts
                ],
            }
        )
        return
    click.echo("")
    rows = [(a, v, "yes" if c else "no") for a, v, c in result.payouts]
    click.echo(table(["contributor", "amount (wei)", "claimed"], rows))
    click.echo("")
    click.echo("gas: " + ", ".join(f"{step} {used:,}" for step, used in result.gas.items()))


COMMANDS = [demo]
