"""``ame attribute``: split a scenario's revenue over its contributions (``ame.values/1``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ame.cli._output import ClickProgress, echo_json, pairs, table
from ame_core.exceptions import InputError
from ame_core.files import atomic_write

if TYPE_CHECKING:
    from offchain.attribution.multistage import Method

__all__ = ["COMMANDS", "METHODS"]

# offchain.attribution.multistage.METHODS and pipeline.STAGES, without importing torch.
METHODS = ("shapley", "owen", "tracin", "tracin-projected")
_STAGES = ("data", "base_model", "adapter", "prompt")


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the ame.values/1 document.",
)
@click.option(
    "--epoch",
    type=click.IntRange(min=0),
    default=None,
    help="Epoch of the values (default: the scenario's `epoch`).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="shapley",
    show_default=True,
    help="How assets share their stage's value (stages always split by Shapley/Owen).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def attribute(scenario: Path, output: Path, epoch: int | None, method: str, as_json: bool) -> None:
    """Attribute SCENARIO's events (ame.scenario/1) and write their values (ame.values/1).

    Trains the scenario's pipeline, answers every event, splits each event's revenue
    over the stages (data, base model, adapter, prompt), then over each stage's assets,
    exactly to the unit. The output is what `ame map` and `ame settle --values` read.
    """
    if not output.parent.is_dir():
        raise InputError(f"{output}: cannot write: {output.parent} is not a directory")
    # Imported here: torch loads only for the commands that need it.
    from offchain.mapping import parse_values
    from offchain.scenario import attribute_scenario, load_scenario

    spec = load_scenario(scenario)
    result, document = attribute_scenario(
        spec, method=cast("Method", method), epoch=epoch, progress=ClickProgress()
    )

    # What `ame map` reads: a document it would refuse is never written.
    values = parse_values(document, source=str(output))
    try:
        atomic_write(output, (json.dumps(document, indent=2) + "\n").encode())
    except OSError as err:
        raise InputError(f"{output}: cannot write: {err}") from err

    stages = list(_STAGES)
    totals = result.totals()
    summary: dict[str, Any] = {
        "output": str(output),
        "epoch": values.epoch,
        "scenario": {"id": spec.id, "sha256": spec.digest()},
        "method": method,
        "valuesSha256": values.digest(),
        "events": [
            {
                "id": item.event.id,
                "output": item.event.text,
                "revenue": str(item.revenue),
                "stages": {s: str(v) for s, v in item.stage_amounts.items()},
                "values": {a: str(v) for a, v in item.amounts.items()},
                "notes": list(item.notes),
            }
            for item in result.events
        ],
        "totals": {a: str(v) for a, v in sorted(totals.items())},
    }
    if as_json:
        echo_json(summary)
        return
    rows = []
    for item in result.events:
        amounts = item.stage_amounts
        top = max(item.amounts, key=lambda a: (item.amounts[a], a), default="")
        rows.append(
            (
                item.event.id,
                item.event.text,
                item.revenue,
                *(amounts.get(s, "") for s in stages),
                top,
            )
        )
    click.echo(table(["event", "output", "revenue", *stages, "top asset"], rows))
    click.echo("")
    click.echo(table(["asset", "owner", "amount"], _asset_rows(totals, spec.owners())))
    click.echo("")
    click.echo(
        pairs(
            [
                ("values", output),
                ("epoch", values.epoch),
                ("scenario", f"{spec.id} {spec.digest()}"),
                ("sha256", values.digest()),
            ]
        )
    )


def _asset_rows(totals: dict[str, int], owners: dict[str, str]) -> list[tuple[str, str, int]]:
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [(asset, owners.get(asset, ""), amount) for asset, amount in ranked]


COMMANDS = [attribute]
