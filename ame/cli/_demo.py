"""``ame demo``: the whole market on a chain of its own (in-process by default)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import click

from ame.cli._output import ClickProgress, echo_json, hide_library_bars, json_option, table
from ame_chain.chains import connect
from ame_chain.exceptions import ChainError
from ame_core.exceptions import InputError

__all__ = ["COMMANDS"]

# Written into every demo directory: only a directory holding it is ever replaced.
_MARKER = ".ame-demo"


def _fresh_workdir(path: Path) -> Path:
    """``path``, emptied if an earlier demo made it; refused if it holds anything else."""
    if path.exists():
        if not path.is_dir():
            raise InputError(f"--workdir: {path} is a file, not a directory")
        if any(path.iterdir()):
            if not (path / _MARKER).is_file():
                raise InputError(
                    f"--workdir: {path} is not empty and was not made by `ame demo`; "
                    "give a new or empty directory"
                )
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ether(wei: int) -> str:
    whole, part = divmod(wei, 10**18)
    return f"{whole}.{part:018d}".rstrip("0").rstrip(".")


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
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("ame-demo"),
    show_default=True,
    help="Where the states, published documents and report go (replaced if a demo made it).",
)
@click.option(
    "--market",
    type=click.Choice(["reference", "hf"]),
    default="reference",
    show_default=True,
    help="The reference pipeline's market, or a Hugging Face one (a tiny GPT-2 and a LoRA "
    "adapter trained here, attributed through an ame.pipeline/1 file).",
)
@click.option(
    "--settlement-only",
    is_flag=True,
    help="Only the on-chain story (fixed payouts, a fraud proof, claims): no training.",
)
@json_option
def demo(
    chain_kind: str,
    rpc_url: str | None,
    workdir: Path,
    market: str,
    settlement_only: bool,
    as_json: bool,
) -> None:
    """Train, attribute, map, settle, catch a cheat, pay everyone, audit, and report.

    Builds the reference market (five datasets, a base model, two adapters, two
    prompts), trains its pipeline, splits each event's revenue over stages and assets,
    maps the values to rights holders, deploys the settlement contract, has a watchdog
    prove a cheating operator's epoch faulty, finalises an honest one, lets every
    contributor claim (some themselves, the rest in one batch), audits it, and writes an
    HTML report. With --market hf, the market is a tiny GPT-2, a LoRA adapter and three
    datasets trained here in seconds, written with its ame.pipeline/1 file, event log and
    registry into the work directory, and attributed as `ame attribute --pipeline` does.
    """
    kind = "rpc" if rpc_url else chain_kind
    if kind == "rpc" and not rpc_url:
        raise ChainError("an rpc chain needs a URL (--rpc URL or AME_RPC_URL)")
    say: Callable[[str], None] = (lambda _msg: None) if as_json else click.echo
    if settlement_only:
        if market != "reference":
            raise InputError("--settlement-only runs no market: leave out --market")
        _settlement_story(kind, rpc_url, say, as_json)
        return
    from ame.demos.hf_market import run_hf_market_demo
    from ame.demos.market import run_market_demo

    run = run_hf_market_demo if market == "hf" else run_market_demo
    if market == "hf":
        hide_library_bars()

    directory = _fresh_workdir(workdir)
    (directory / _MARKER).write_text("made by `ame demo`; replaced by the next one\n")
    with connect(kind, url=rpc_url) as chain:
        result = run(chain, directory, say=say, progress=ClickProgress(quiet=as_json))
    if as_json:
        echo_json(
            {
                "settlement": result.settlement,
                "chain": result.chain,
                "events": [
                    {
                        "id": e.id,
                        "output": e.output,
                        "revenue": str(e.revenue),
                        "stages": {stage: str(v) for stage, v in e.stages.items()},
                    }
                    for e in result.events
                ],
                "fraud": {"kind": result.fraud[0], "leaves": list(result.fraud[1])},
                "epoch": result.honest_epoch,
                "pool": str(result.pool),
                "contributors": [
                    {
                        "name": line.name,
                        "account": line.account,
                        "roles": list(line.roles),
                        "share": f"{float(line.share):.6f}",
                        "amount": str(line.amount),
                        "claimed": line.claimed,
                        "claimedBy": line.claimed_by,
                    }
                    for line in result.contributors
                ],
                "audit": "pass" if result.audit_passed else "fail",
                "gas": result.gas,
                "report": str(result.report),
            }
        )
        return
    click.echo("")
    rows = [
        (
            line.name,
            ", ".join(line.roles),
            f"{100 * float(line.share):.2f}%",
            _ether(line.amount),
            f"yes ({line.claimed_by})" if line.claimed else "no",
        )
        for line in result.contributors
    ]
    click.echo(table(["contributor", "role", "share", "amount (ETH)", "claimed"], rows))
    click.echo("")
    click.echo(f"audit of epoch {result.honest_epoch}: {'PASS' if result.audit_passed else 'FAIL'}")
    click.echo("gas: " + ", ".join(f"{step} {used:,}" for step, used in result.gas.items()))
    click.echo(f"report: {result.report}")


def _settlement_story(
    kind: str, rpc_url: str | None, say: Callable[[str], None], as_json: bool
) -> None:
    from ame.demos.settlement import run_settlement_demo

    with connect(kind, url=rpc_url) as chain:
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
