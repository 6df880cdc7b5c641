"""``ame audit --recompute-utilities``: the options of audit layer 2 and its drift table."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ame.cli._output import table
from ame.workflow import AuditReport, Recompute
from ame.workflow._recompute import DEFAULT_TIME_LIMIT, MAX_SAMPLE

__all__ = ["echo_recomputed", "recompute_options"]

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
_OPTIONS = [
    click.option(
        "--recompute-utilities",
        is_flag=True,
        help="Layer 2: rerun the pipeline on this machine and compare every published "
        "coalition worth within the documented tolerance (docs/audit.md).",
    ),
    click.option(
        "--sample",
        type=click.IntRange(1, MAX_SAMPLE),
        default=None,
        metavar="K",
        help="Rerun K events chosen by --seed (default: every event up to 100, else 100).",
    ),
    click.option(
        "--seed",
        "sample_seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Seed of the sample: the K events whose SHA-256(seed, id) are smallest.",
    ),
    click.option(
        "--scenario",
        type=_FILE,
        default=None,
        help="The ame.scenario/1 file of a reference-pipeline record (default: the "
        "embedded reference market, when the record names it).",
    ),
    click.option(
        "--pipeline",
        "pipeline_file",
        type=_FILE,
        default=None,
        help="The ame.pipeline/1 file of a Hugging Face record, pointing at your copies "
        "of its model, adapters and datasets.",
    ),
    click.option(
        "--events",
        "events_file",
        type=_FILE,
        default=None,
        help="The JSONL event log of a Hugging Face record (each output is checked "
        "against the record's hash).",
    ),
    click.option(
        "--threads",
        type=click.IntRange(1, 256),
        default=None,
        help="Torch threads of the rerun (default: the pipeline's own setting).",
    ),
    click.option(
        "--time-limit",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help=f"Stop rerunning after SECONDS, checked between events; the events not "
        f"reached are a failed check, never a pass (default: {DEFAULT_TIME_LIMIT:g}).",
    ),
]
_NAMES = (
    "sample",
    "sample_seed",
    "scenario",
    "pipeline_file",
    "events_file",
    "threads",
    "time_limit",
)
_FLAGS = {
    "sample": "--sample",
    "scenario": "--scenario",
    "pipeline_file": "--pipeline",
    "events_file": "--events",
    "threads": "--threads",
    "time_limit": "--time-limit",
}


def recompute_options(command: F) -> F:
    """Add the layer-2 options; the command receives them as one ``recompute`` argument.

    ``recompute`` is a :class:`~ame.workflow.Recompute`, or None without
    ``--recompute-utilities`` (whose companion options are then refused as bad usage).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, recompute_utilities: bool, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _NAMES}
        if not recompute_utilities:
            stray = [flag for name, flag in _FLAGS.items() if given[name] is not None]
            if stray or given["sample_seed"] != 0:
                used = stray or ["--seed"]
                raise click.UsageError(f"{', '.join(used)} go(es) with --recompute-utilities")
            return command(*args, recompute=None, **kwargs)
        # Imported here: the rerun loads torch, which only this option needs.
        from offchain.scenario import PipelineRerun

        rerunner = PipelineRerun(
            scenario=given["scenario"],
            pipeline=given["pipeline_file"],
            events=given["events_file"],
            threads=given["threads"],
        )
        limit = given["time_limit"]
        request = Recompute(
            rerunner,
            sample=given["sample"],
            seed=given["sample_seed"],
            time_limit=DEFAULT_TIME_LIMIT if limit is None else limit,
        )
        return command(*args, recompute=request, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def echo_recomputed(report: AuditReport) -> None:
    """Print layer 2's sample and drift distribution (in tolerance units) for ``report``."""
    done = report.recomputed
    if done is None:
        return
    click.echo(
        f"epoch {report.epoch}: utilities recomputed for {len(done.recomputed)} of "
        f"{len(done.sampled)} sampled events ({done.note})"
    )
    rows = []
    for drift in done.drift.values():
        data = drift.to_json()
        tolerance = f"{drift.tolerance.absolute:g} + {drift.tolerance.relative:g}|v|"
        quantiles = data["quantiles"]
        rows.append(
            (
                drift.kind,
                f"{tolerance} ({drift.regime})",
                data["count"],
                data["outside"],
                f"{quantiles['p50']:.3g}",
                f"{quantiles['p90']:.3g}",
                f"{quantiles['p99']:.3g}",
                f"{data['max']:.3g}",
            )
        )
    click.echo(table(["kind", "tolerance", "count", "outside", "p50", "p90", "p99", "max"], rows))
