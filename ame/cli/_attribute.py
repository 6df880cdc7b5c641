"""``ame attribute``: split a scenario's or a pipeline's events' revenue (``ame.values/1``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ame.cli._output import (
    ClickProgress,
    echo_json,
    hide_library_bars,
    json_option,
    pairs,
    table,
)
from ame.config import AttributionSection, load_config
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from ame_core.validation import error_reason

if TYPE_CHECKING:
    from offchain.attribution.batch import BatchExecutor
    from offchain.attribution.multistage import Method
    from offchain.scenario import Scenario

__all__ = ["COMMANDS", "METHODS"]

# offchain.attribution.multistage.METHODS and pipeline.STAGES, without importing torch.
METHODS = ("shapley", "owen", "tracin", "tracin-projected")
_STAGES = ("data", "base_model", "adapter", "prompt")


@click.command()
@click.argument(
    "scenario", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@click.option(
    "--pipeline",
    "pipeline_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="An ame.pipeline/1 file (a Hugging Face pipeline) instead of a scenario.",
)
@click.option(
    "--events",
    "events_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The JSONL event log the --pipeline attributes.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the ame.values/1 document.",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the ame.attribution/1 record the values are recomputed from "
    "(default: beside --output, NAME.attribution.jsonl); `ame settle --attribution` "
    "publishes it.",
)
@click.option(
    "--epoch",
    type=click.IntRange(min=0),
    default=None,
    help="Epoch of the values (default: the scenario's `epoch`; 0 with --pipeline).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="How assets share their stage's value (stages always split by Shapley/Owen); "
    "default: shapley, or the --pipeline file's attribution.method.",
)
@click.option(
    "--scheduler",
    default=None,
    help="A Dask scheduler, tcp://HOST:PORT, to run the batches on (default: $AME_SCHEDULER, "
    "[attribution] scheduler, else local processes; needs pip install 'ame[dask]').",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local processes (default: [attribution] workers, else one per CPU).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Events per batch (default: [attribution] batch_size, else 64).",
)
@click.option(
    "--checkpoint",
    "checkpoint_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep finished batches here; a run restarted with the same inputs resumes from "
    "them (default: [attribution] checkpoint_dir, else none kept).",
)
@click.option(
    "--max-evaluations",
    type=int,
    default=None,
    help="Budget of coalitions per sampled stage (a stage of more than ten datasets); "
    "overrides the scenario's valuation.max_evaluations.",
)
@click.option(
    "--target-stderr",
    type=float,
    default=None,
    help="Stop sampling a stage once every asset's standard error is at most this; "
    "overrides the scenario's valuation.target_stderr.",
)
@click.option(
    "--rank-patience",
    type=int,
    default=None,
    help="Stop sampling a stage once its assets' ranking has held this many rounds; "
    "overrides the scenario's valuation.rank_patience.",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $AME_CONFIG, else ./ame.toml if present).",
)
@json_option
def attribute(
    scenario: Path | None,
    pipeline_file: Path | None,
    events_file: Path | None,
    output: Path,
    record: Path | None,
    epoch: int | None,
    method: str | None,
    scheduler: str | None,
    workers: int | None,
    batch_size: int | None,
    checkpoint_dir: Path | None,
    max_evaluations: int | None,
    target_stderr: float | None,
    rank_patience: int | None,
    config: Path | None,
    as_json: bool,
) -> None:
    """Attribute SCENARIO's events (ame.scenario/1), or a --pipeline's --events, into ame.values/1.

    With SCENARIO: trains the scenario's pipeline and answers every event. With
    --pipeline FILE --events LOG: loads the Hugging Face pipeline the file describes
    and scores the logged outputs. Either way, splits each event's revenue over the
    stages (data, base model, adapter, prompt), then over each stage's assets, exactly
    to the unit. The output is what `ame map` and `ame settle --values` read; the
    record beside it (every coalition worth evaluated, rounded, and what the split was
    computed from) is what `ame settle --attribution` publishes and `ame audit` recomputes.

    Events go in batches to local processes, or to a Dask cluster with --scheduler;
    each worker loads the pipeline once. The values are the same bytes whatever runs
    them, and with --checkpoint an interrupted run resumes from its finished batches.

    A stage of more than ten datasets is valued by sampling, within --max-evaluations
    coalitions and the stopping rules --target-stderr and --rank-patience (each
    overrides the scenario's `valuation` section; the record names what was used).
    """
    sampling = {
        "max_evaluations": max_evaluations,
        "target_stderr": target_stderr,
        "rank_patience": rank_patience,
    }
    if (scenario is None) == (pipeline_file is None):
        raise InputError(
            "give a SCENARIO file or --pipeline FILE --events LOG, not both or neither"
        )
    if pipeline_file is not None and events_file is None:
        raise InputError("--pipeline needs --events LOG (the JSONL log of the events to attribute)")
    if scenario is not None and events_file is not None:
        raise InputError("--events goes with --pipeline; a scenario holds its own events")
    if not output.parent.is_dir():
        raise InputError(f"{output}: cannot write: {output.parent} is not a directory")
    record = record_path(output) if record is None else record
    if not record.parent.is_dir():
        raise InputError(f"{record}: cannot write: {record.parent} is not a directory")
    settings = load_config(
        config,
        overrides={
            ("attribution", "scheduler"): scheduler,
            ("attribution", "workers"): workers,
            ("attribution", "batch_size"): batch_size,
            ("attribution", "checkpoint_dir"): checkpoint_dir,
        },
        override_names={
            ("attribution", "scheduler"): "--scheduler",
            ("attribution", "workers"): "--workers",
            ("attribution", "batch_size"): "--batch-size",
            ("attribution", "checkpoint_dir"): "--checkpoint",
        },
    ).attribution
    given = [_SAMPLING_OPTIONS[name] for name, value in sampling.items() if value is not None]
    if pipeline_file is not None and given:
        raise click.UsageError(
            f"{given[0]} goes with a SCENARIO (its sampled stages); an ame.pipeline/1 file "
            "values its stages by its attribution.method"
        )
    if pipeline_file is not None and events_file is not None:
        _attribute_pipeline(
            pipeline_file, events_file, output, record, epoch, method, settings, as_json
        )
        return
    assert scenario is not None
    # Imported here: torch loads only for the commands that need it.
    from offchain.attribution.batch import attribute_in_batches
    from offchain.scenario import ScenarioBatchSpec, load_scenario, record_lines, values_document

    method = method or "shapley"
    spec = _with_sampling(load_scenario(scenario), **sampling)
    progress = ClickProgress()
    progress.step(
        f"training the pipeline of {spec.id!r} (datasets: {len(spec.datasets)}, adapters: "
        f"{len(spec.adapters)}, prompts: {len(spec.prompts)}) once in each worker"
    )
    result = attribute_in_batches(
        ScenarioBatchSpec(spec, cast("Method", method)),
        spec.events,
        executor=_executor(settings),
        batch_size=settings.batch_size,
        checkpoint_dir=settings.checkpoint_dir,
        progress=progress,
    )
    document = values_document(result, spec, epoch=epoch)
    values = _write(document, output, record, record_lines(result, spec, epoch=epoch))
    _report(
        result,
        values,
        (output, record),
        method,
        ("scenario", spec.id, spec.digest()),
        spec.owners(),
        as_json,
    )


# Each setting of a scenario's valuation section, by the option that overrides it.
_SAMPLING_OPTIONS = {
    "max_evaluations": "--max-evaluations",
    "target_stderr": "--target-stderr",
    "rank_patience": "--rank-patience",
}


def _with_sampling(spec: Scenario, **overrides: float | None) -> Scenario:
    """``spec`` with the sampling settings given (not None) in place of its own.

    Validated by the scenario's own rules (:class:`~offchain.scenario.ValuationSpec`),
    so a value the file could not hold is refused, named by its option.

    Raises:
        click.UsageError: A bad value is bad usage (exit 2), e.g. ``--target-stderr:
            must be greater than 0, got -1.0``.
    """
    from pydantic import ValidationError

    from offchain.scenario import ValuationSpec

    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return spec
    try:
        valuation = ValuationSpec.model_validate(
            {**spec.valuation.model_dump(exclude_none=True), **given}
        )
    except ValidationError as err:
        first = err.errors()[0]
        option = _SAMPLING_OPTIONS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise click.UsageError(f"{option}: {error_reason(first)}") from None
    return spec.model_copy(update={"valuation": valuation})


def _attribute_pipeline(
    config_file: Path,
    events_file: Path,
    output: Path,
    record: Path,
    epoch: int | None,
    method: str | None,
    settings: AttributionSection,
    as_json: bool,
) -> None:
    hide_library_bars()
    from offchain.attribution.hf import load_events
    from offchain.attribution.hf.config import (
        attribute_events,
        check_events,
        inputs_digest,
        load_pipeline_config,
        record_lines,
    )

    # Both files validated, and held together, before any model loads.
    config = load_pipeline_config(config_file)
    events = load_events(events_file)
    check_events(config, events, source=str(events_file))
    if method is not None:
        config = config.model_copy(
            update={"attribution": config.attribution.model_copy(update={"method": method})}
        )
    digest = inputs_digest(config_file, events_file)
    result, document = attribute_events(
        config,
        events,
        epoch=0 if epoch is None else epoch,
        inputs=(config.id, digest),
        progress=ClickProgress(quiet=as_json),
        executor=_executor(settings),
        batch_size=settings.batch_size,
        checkpoint_dir=settings.checkpoint_dir,
    )
    lines = record_lines(
        config, result, epoch=0 if epoch is None else epoch, inputs=(config.id, digest)
    )
    values = _write(document, output, record, lines)
    _report(
        result,
        values,
        (output, record),
        config.attribution.method,
        ("pipeline", config.id, digest),
        {},
        as_json,
    )


def record_path(output: Path) -> Path:
    """Where the record of the values at ``output`` goes by default: ``NAME.attribution.jsonl``."""
    return output.with_name(f"{output.stem}.attribution.jsonl")


def _executor(settings: AttributionSection) -> BatchExecutor:
    from offchain.attribution.batch import DaskExecutor, ProcessExecutor

    if settings.scheduler is not None:
        return DaskExecutor(settings.scheduler)
    return ProcessExecutor(settings.workers)


def _write(document: dict[str, Any], output: Path, record: Path, lines: Iterable[bytes]) -> Any:
    from offchain.mapping import parse_values

    # What `ame map` reads: a document it would refuse is never written.
    values = parse_values(document, source=str(output))
    # The record first: values are never left without the record that explains them.
    for path, data in ((record, lines), (output, (json.dumps(document, indent=2) + "\n").encode())):
        try:
            atomic_write(path, data)
        except OSError as err:
            raise InputError(f"{path}: cannot write: {err}") from err
    return values


def _report(
    result: Any,
    values: Any,
    files: tuple[Path, Path],
    method: str,
    inputs: tuple[str, str, str],
    owners: dict[str, str],
    as_json: bool,
) -> None:
    kind, inputs_id, digest = inputs
    output, record = files
    stages = list(_STAGES)
    totals = result.totals()
    summary: dict[str, Any] = {
        "output": str(output),
        "epoch": values.epoch,
        kind: {"id": inputs_id, "sha256": digest},
        "method": method,
        "valuesSha256": values.digest(),
        "record": str(record),
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
    click.echo(table(["asset", "owner", "amount"], _asset_rows(totals, owners)))
    click.echo("")
    click.echo(
        pairs(
            [
                ("values", output),
                ("record", record),
                ("epoch", values.epoch),
                (kind, f"{inputs_id} {digest}"),
                ("sha256", values.digest()),
            ]
        )
    )


def _asset_rows(totals: dict[str, int], owners: dict[str, str]) -> list[tuple[str, str, int]]:
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [(asset, owners.get(asset, ""), amount) for asset, amount in ranked]


COMMANDS = [attribute]
