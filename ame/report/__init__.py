"""The settlement report: one HTML file with the plots and tables of some epochs, for people.

Per epoch it shows the token and the epoch's dates (proposed, challenge window end,
finalised, claim before), the value flow from revenue through pipeline stages (when the
values document recorded them) and assets to accounts, each revenue event (revenue,
its output's hash from the attribution record and, given the event log, its text checked
against that hash, stage split, largest recipients, method, standard errors, notes), each contributor with the registry's names
(role, share, amount paid, claimed or not), the licence and opt-out decisions of the
manifest, the gas each step used, and the verdict of the same audit ``ame audit`` runs;
then how to claim (the claim page, the commands, the proofs files). Amounts are in the
token's units, dates in UTC; charts show the largest few and ``others`` at a bounded
size and the tables list everyone, so it reads the same at ten contributors or ten
thousand; a stage has one colour in every chart and report (:func:`stage_color`)::

    from ame.report import write_report

    path = write_report(ws, [1, 2], Path("report.html"))   # ws: a Workspace

Figures are PNG images (matplotlib, Agg canvas) embedded in the HTML as ``data:`` URIs,
so the file stands alone. Given the same chain, state and published documents the bytes
are the same. :func:`collect_report` and :func:`render_html` are the two halves, for
callers that want the numbers or the bytes; :mod:`ame.report._analysis` computes
the flow, shares and decisions from a manifest alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ame.report._analysis import (
    KIND_STAGES,
    ContributorLine,
    Decision,
    EventSummary,
    FlowLink,
    FlowNode,
    OutputCheck,
    StageLine,
    ValueFlow,
    contributor_lines,
    decisions,
    event_summaries,
    stage_lines,
    value_flow,
)
from ame.report._collect import EpochDates, EpochReport, GasLine, Report, collect_report
from ame.report._html import check_output, format_amount, render_html, write_html
from ame.report._outputs import read_event_outputs
from ame.report._plots import STAGE_COLORS, stage_color
from ame.workflow import Workspace

__all__ = [
    "KIND_STAGES",
    "STAGE_COLORS",
    "ContributorLine",
    "Decision",
    "EpochDates",
    "EpochReport",
    "EventSummary",
    "FlowLink",
    "FlowNode",
    "GasLine",
    "OutputCheck",
    "Report",
    "StageLine",
    "ValueFlow",
    "check_output",
    "collect_report",
    "contributor_lines",
    "decisions",
    "event_summaries",
    "format_amount",
    "read_event_outputs",
    "render_html",
    "stage_color",
    "stage_lines",
    "value_flow",
    "write_html",
    "write_report",
]


def write_report(
    ws: Workspace,
    epochs: Sequence[int] = (),
    path: Path | str = "report.html",
    *,
    stage_of: Mapping[str, str] | None = None,
    claim_page: str | None = None,
    outputs: Mapping[str, str] | None = None,
) -> Path:
    """Collect the report of ``epochs`` (default: every proposed epoch) and write it to ``path``.

    Args:
        ws: The workspace (chain, contract, operator state); no signing account needed.
        epochs: The epochs to report on.
        path: The HTML file to write (atomically; folders are created).
        stage_of: Asset id to pipeline stage for the flow's stage layer (default: by the
            asset's registry kind, :data:`KIND_STAGES`).
        claim_page: The claim page's URL, for the "how to claim" section.
        outputs: Event id to its output text, from the event log
            (:func:`read_event_outputs`), shown checked against the record's hashes.

    Returns:
        The path written.

    Raises:
        WorkflowError: An epoch was never proposed, or none was.
        InputError: The file cannot be written.
    """
    check_output(path)  # before the work, not after
    report = collect_report(ws, epochs, stage_of=stage_of, claim_page=claim_page, outputs=outputs)
    ws.progress.step("drawing the report")
    return write_html(render_html(report), Path(path))
