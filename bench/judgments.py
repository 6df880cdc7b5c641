"""Reference judgments: how closely each revenue-sharing method agrees with people.

Runs every method of :mod:`bench.evaluation` (uniform split, split by data size,
leave-one-out, flat Shapley, data-only Shapley, AME, and two ablations) on every
scenario of the suite in ``bench/judgments/`` (41 markets in 9 families, each with a
reference judgment written before any method ran) and scores their payouts against
the references: Kendall tau, Spearman rho, top-1 agreement, L1 distance to the
reference shares, axiom violations; per scenario, per family, mean and worst family.
Each scenario's pipeline is trained once and shared by all methods; everything is
exact and seeded, so a rerun gives the same numbers.

Prints a table, then one JSON line; writes ``docs/img/<suite>.png``, the generated
part of the suite's section of ``docs/evaluation.md`` and the README's table, each
between ``<!-- <suite>:begin -->`` / ``<!-- <suite>:end -->`` markers, where ``<suite>``
is the suite folder's name: ``judgments`` for the first suite, ``judgments_v2`` for the
second (``--suite bench/judgments_v2``), so neither overwrites the other.

Usage: ``python bench/judgments.py [--suite DIR] [--utility U] [--smoke] [--jobs 2]``
(``--smoke``: two small scenarios with a tiny pipeline, under a minute; it checks the
pipeline, not the numbers, and writes no file unless paths are given).
``--utility`` scores every scenario under that pipeline utility (``loglik-prefix``, the
default, ``loglik`` or ``loglik-floored``, see ``offchain/attribution/reference/pipeline.py``)
instead of the scenario's own; every method reads the same asset game, so it changes them all alike. A run under
a utility other than the default writes no file unless paths are given: its JSON line,
saved, goes to ``--compare``, which writes the utilities' comparison block
(``<!-- judgments-utilities:begin -->``) from the saved lines of both suites.
``--outputs-only`` is the premise check a judge runs while writing references: it
trains each scenario's pipeline, prints every event's output and whether it is grounded
in the training text, and runs no method.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The repository root is put on the path first, hence E402.
from bench._docblocks import add_output_options, fill, replace_block  # noqa: E402
from bench._machine import machine  # noqa: E402
from bench.evaluation import (  # noqa: E402
    ABLATIONS,
    METHODS,
    JudgmentScenario,
    ScenarioEvaluation,
    ScenarioScore,
    check_premise,
    evaluate_scenario,
    load_suite,
    summarise,
)
from offchain.scenario import UTILITIES  # noqa: E402

#: The pipeline's default utility (what the frozen suites' scenarios, which set none, use).
DEFAULT_UTILITY = UTILITIES[0]

SUITE = ROOT / "bench" / "judgments"
#: The smoke run per suite: two small scenarios (one mapped through a registry, with payees).
SMOKE_NAMES = {
    "judgments": ("planted_facts/revenue_weighted", "co_owned/adapter_split"),
    "judgments_v2": ("planted_facts/one_of_three", "co_owned/adapter_split"),
    "judgments_v3": ("planted_facts/two_word_values", "co_owned/adapter_three_owners"),
}
#: Title of each suite's section in docs/evaluation.md (its anchor is linked from the README).
TITLES = {
    "judgments": "Reference judgments",
    "judgments_v2": "Reference judgments, second suite",
    "judgments_v3": "Reference judgments, held-out third suite",
}
#: How each suite's README paragraph opens.
LEADS = {
    "judgments": "Agreement with reference judgments written before any method ran",
    "judgments_v2": (
        "Second suite, written blind after the first one's outputs proved mostly "
        "ungrounded: agreement with reference judgments written before any method ran"
    ),
    "judgments_v3": (
        "Held-out third suite, written blind after the utility was chosen on the first "
        "two: agreement with reference judgments written before any method ran"
    ),
}
#: A pipeline that trains in a fraction of a second: the numbers mean nothing.
SMOKE_PIPELINE: dict[str, Any] = {
    "train": {"pretrain_steps": 20, "n_checkpoints": 2, "adapter_epochs": 3},
}
#: Targets of issue #6.
TARGET_TAU, TARGET_TOP1 = 0.8, 0.9
LABELS = {
    "uniform": "uniform",
    "data_size": "data size",
    "loo": "leave-one-out",
    "shapley": "flat Shapley",
    "data_only": "data-only Shapley",
    "ame": "**AME**",
    "ame_unmapped": "AME, no rights mapping",
    "shapley_mapped": "flat Shapley + rights mapping",
}


def markers(suite: str) -> tuple[str, str]:
    """The markers around a suite's generated blocks, e.g. ``<!-- judgments:begin -->``."""
    return f"<!-- {suite}:begin -->", f"<!-- {suite}:end -->"


def _title(suite: str) -> str:
    return TITLES.get(suite, f"Reference judgments ({suite})")


def _anchor(suite: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", _title(suite).lower()).replace(" ", "-")


def _command(suite: str, utility: str = DEFAULT_UTILITY) -> str:
    default = suite == SUITE.name
    command = "python bench/judgments.py" + ("" if default else f" --suite bench/{suite}")
    return command + ("" if utility == DEFAULT_UTILITY else f" --utility {utility}")


def overrides(*, smoke: bool, utility: str | None) -> dict[str, Any] | None:
    """The ``pipeline`` overrides of a run: tiny sizes for a smoke run, the utility."""
    block: dict[str, Any] = dict(SMOKE_PIPELINE) if smoke else {}
    if utility is not None:
        block["utility"] = utility
    return block or None


def _utility(suite: Sequence[JudgmentScenario], pipeline: dict[str, Any] | None) -> str:
    """The utility the run scores under: the override, else the scenarios' own."""
    found = {(pipeline or {}).get("utility", item.scenario.pipeline.utility) for item in suite}
    return found.pop() if len(found) == 1 else "mixed"


def _evaluate(
    item: JudgmentScenario, methods: Sequence[str], pipeline: dict[str, Any] | None
) -> ScenarioEvaluation:
    import torch

    torch.set_num_threads(1)
    return evaluate_scenario(item, methods, pipeline=pipeline)


def _premise(item: JudgmentScenario, pipeline: dict[str, Any] | None) -> ScenarioEvaluation:
    import torch

    torch.set_num_threads(1)
    return check_premise(item, pipeline=pipeline)


def _map(
    work: Callable[..., ScenarioEvaluation],
    suite: Sequence[JudgmentScenario],
    args: tuple[Any, ...],
    jobs: int,
) -> Iterator[ScenarioEvaluation]:
    """``work(item, *args)`` for every scenario, in suite order, in ``jobs`` processes."""
    if jobs <= 1:
        for item in suite:
            yield work(item, *args)
        return
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(work, item, *args) for item in suite]
        for future in futures:
            yield future.result()


def run(
    suite: Sequence[JudgmentScenario],
    methods: Sequence[str],
    *,
    pipeline: dict[str, Any] | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    name: str = SUITE.name,
) -> dict[str, Any]:
    """Score every method on every scenario; the report the JSON line prints.

    Scenarios run in ``jobs`` processes; the result does not depend on ``jobs``.
    ``name`` is the suite's folder name (it picks the markers of the written blocks).
    """
    start = time.perf_counter()
    found: list[ScenarioEvaluation] = []

    def done(i: int, item: JudgmentScenario) -> None:
        if progress:
            posed = "" if found[-1].well_posed else ", output not grounded"
            progress(f"[{i + 1}/{len(suite)}] {item.id}: {found[-1].seconds:.1f} s{posed}")

    for i, (item, evaluation) in enumerate(
        zip(suite, _map(_evaluate, suite, (methods, pipeline), jobs), strict=True)
    ):
        found.append(evaluation)
        done(i, item)
    scores = [s for e in found for s in e.scores]
    posed = {e.scenario for e in found if e.well_posed}
    summaries = summarise(scores)
    subset = summarise([s for s in scores if s.scenario in posed]) if posed else {}
    compared = [m for m in methods if m in METHODS]
    return {
        "bench": "judgments",
        "machine": machine(),
        "suite": name,
        "utility": _utility(suite, pipeline),
        "scenarios": len(suite),
        "families": sorted({item.family for item in suite}),
        "methods": {m: summaries[m].to_json() for m in methods},
        "well_posed": {
            "scenarios": sorted(posed),
            "methods": {m: subset[m].to_json() for m in methods if m in subset},
        },
        "scores": {
            e.scenario: {
                "family": e.family,
                "level": e.level,
                "seconds": round(e.seconds, 2),
                "outputs": dict(e.outputs),
                "grounded": dict(e.grounded),
                "well_posed": e.well_posed,
                "methods": {s.method: _score_json(s) for s in e.scores},
            }
            for e in found
        },
        "targets": _targets(summaries, compared),
        "seconds": round(time.perf_counter() - start, 1),
    }


def premise(
    suite: Sequence[JudgmentScenario],
    *,
    pipeline: dict[str, Any] | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    name: str = SUITE.name,
) -> dict[str, Any]:
    """Every event's output and its premise check, with no method run; the JSON report."""
    start = time.perf_counter()
    scores: dict[str, Any] = {}
    for i, (item, e) in enumerate(
        zip(suite, _map(_premise, suite, (pipeline,), jobs), strict=True)
    ):
        scores[e.scenario] = {
            "family": item.family,
            "outputs": dict(e.outputs),
            "grounded": dict(e.grounded),
            "found_in": {k: list(v) for k, v in e.found_in.items()},
            "well_posed": e.well_posed,
        }
        if progress:
            posed = "" if e.well_posed else ", output not grounded"
            progress(f"[{i + 1}/{len(suite)}] {item.id}: {e.seconds:.1f} s{posed}")
    return {
        "bench": "judgments-outputs",
        "suite": name,
        "scenarios": len(suite),
        "well_posed": sum(s["well_posed"] for s in scores.values()),
        "scores": scores,
        "seconds": round(time.perf_counter() - start, 1),
    }


def print_outputs(report: dict[str, Any]) -> None:
    """One line per event: scenario, event, output, grounded; then the count."""
    rows = [
        (
            f"{s['family']}/{sid}",
            event,
            text,
            "yes" if s["grounded"][event] else "NO",
            ", ".join(s["found_in"][event]),
        )
        for sid, s in report["scores"].items()
        for event, text in s["outputs"].items()
    ]
    width = max([len(r[0]) for r in rows] + [8])
    out = max([len(r[2]) for r in rows] + [6])
    print(f"{'scenario':<{width}} {'event':<6} {'grounded':<8} {'output':<{out}} found in")
    for sid, event, text, mark, where in rows:
        print(f"{sid:<{width}} {event:<6} {mark:<8} {text:<{out}} {where}")
    print(
        f"well-posed scenarios (every output grounded): {report['well_posed']} of "
        f"{report['scenarios']}; no method was run"
    )


def _score_json(s: ScenarioScore) -> dict[str, Any]:
    out = s.to_json()
    for key in ("scenario", "family", "method", "level"):
        del out[key]
    for key in ("tau", "rho", "top1", "l1", "escrowed"):
        out[key] = round(out[key], 4)
    return out


def _targets(summaries: dict[str, Any], compared: Sequence[str]) -> dict[str, Any]:
    if "ame" not in summaries:
        return {}
    ame = summaries["ame"]
    others = [summaries[m] for m in compared if m != "ame"]
    families = sorted(ame.families)
    behind = [
        f
        for f in families
        if any(o.families[f]["tau"] > ame.families[f]["tau"] + 1e-12 for o in others)
    ]
    return {
        "first_on_mean_tau": all(ame.tau >= o.tau for o in others),
        "first_in_every_family": not behind,
        "families_not_first": behind,
        "mean_tau_at_least_0.8": ame.tau >= TARGET_TAU,
        "top1_at_least_90_percent": ame.top1 >= TARGET_TOP1,
    }


# -- output ------------------------------------------------------------------------------


def _fill(text: str) -> str:
    return fill(text, width=88)


def _summary_lines(methods: dict[str, Any]) -> list[str]:
    header = (
        f"{'method':<30} {'tau':>6} {'rho':>6} {'top-1':>6} {'L1':>6} "
        f"{'worst family (tau)':>28} {'eff/sym/null':>13}"
    )
    lines = [header, "-" * len(header)]
    for m, s in methods.items():
        v = s["violations"]
        worst = f"{s['worst_family']} ({s['worst_tau']:+.2f})"
        lines.append(
            f"{LABELS[m].strip('*'):<30} {s['tau']:>+6.3f} {s['rho']:>+6.3f} {s['top1']:>6.1%} "
            f"{s['l1']:>6.3f} {worst:>28} "
            f"{v['efficiency']:>4}/{v['symmetry']}/{v['null_player']:<4}"
        )
    return lines


def print_table(report: dict[str, Any]) -> None:
    """Summary per method, mean tau per family, then the well-posed scenarios alone."""
    methods = report["methods"]
    print(
        f"Reference judgments: {report['scenarios']} scenarios, {len(report['families'])} families"
    )
    lines = _summary_lines(methods)
    print("\n".join(lines))
    print("-" * len(lines[0]))
    print(f"{'mean tau per family':<22}" + "".join(f"{m[:10]:>11}" for m in methods))
    for family in report["families"]:
        n = sum(1 for s in report["scores"].values() if s["family"] == family)
        row = "".join(f"{methods[m]['families'][family]['tau']:>+11.2f}" for m in methods)
        print(f"{family + f' ({n})':<22}{row}")
    posed = report["well_posed"]
    print(
        f"Well-posed scenarios (every output grounded in the training text): "
        f"{len(posed['scenarios'])} of {report['scenarios']}"
    )
    if posed["methods"]:
        print("\n".join(_summary_lines(posed["methods"])))
    if report["targets"]:
        print("targets: " + ", ".join(f"{k}={v}" for k, v in report["targets"].items()))


def _compared(report: dict[str, Any]) -> list[str]:
    return [m for m in report["methods"] if m in METHODS]


def summary_table(summaries: dict[str, Any], methods: Sequence[str], *, short: bool) -> str:
    """The markdown table of methods (``short``: the README's columns)."""
    if short:
        lines = [
            "| method | mean τ | top-1 | L1 to shares | worst family (τ) |",
            "|---|---:|---:|---:|---|",
        ]
    else:
        lines = [
            "| method | mean τ | mean \u03c1 | top-1 | L1 to shares | worst family (τ) "
            "| violations: efficiency / symmetry / null |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
    for m in methods:
        s = summaries[m]
        cells = [LABELS[m], f"{s['tau']:+.2f}"]
        if not short:
            cells.append(f"{s['rho']:+.2f}")
        cells += [
            f"{s['top1']:.0%}",
            f"{s['l1']:.2f}",
            f"{s['worst_family']} ({s['worst_tau']:+.2f})",
        ]
        if not short:
            v = s["violations"]
            cells.append(f"{v['efficiency']} / {v['symmetry']} / {v['null_player']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_table(report: dict[str, Any], methods: Sequence[str]) -> str:
    """Mean tau per family and method; the best compared method in each family in bold."""
    lines = [
        "| family | " + " | ".join(LABELS[m] for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    compared = _compared(report)
    for family in report["families"]:
        n = sum(1 for s in report["scores"].values() if s["family"] == family)
        taus = {m: report["methods"][m]["families"][family]["tau"] for m in methods}
        best = max(taus[m] for m in compared) if compared else None
        cells = [
            f"**{taus[m]:+.2f}**" if m in compared and taus[m] == best else f"{taus[m]:+.2f}"
            for m in methods
        ]
        lines.append(f"| {family} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scenario_table(report: dict[str, Any], methods: Sequence[str]) -> str:
    """Tau of every method per scenario, AME's top-1 and L1, and the premise check."""
    lines = [
        "| scenario | level | "
        + " | ".join(f"τ {LABELS[m]}" for m in methods)
        + " | AME top-1 | AME L1 | outputs grounded |",
        "|---|---|" + "---:|" * (len(methods) + 2) + "---|",
    ]
    for sid, s in report["scores"].items():
        taus = " | ".join(f"{s['methods'][m]['tau']:+.2f}" for m in methods)
        ame = s["methods"].get("ame")
        tail = f"{ame['top1']:.2f} | {ame['l1']:.2f}" if ame else "- | -"
        grounded = sum(s["grounded"].values())
        premise = f"{grounded}/{len(s['grounded'])}" + ("" if s["well_posed"] else " ✗")
        lines.append(f"| {s['family']}/{sid} | {s['level']} | {taus} | {tail} | {premise} |")
    return "\n".join(lines)


def outputs_table(report: dict[str, Any]) -> str:
    """Every event's generated output and whether it is grounded."""
    lines = ["| scenario | event | output | grounded |", "|---|---|---|---|"]
    for sid, s in report["scores"].items():
        for event, text in s["outputs"].items():
            mark = "yes" if s["grounded"][event] else "no"
            lines.append(f"| {sid} | {event} | `{text}` | {mark} |")
    return "\n".join(lines)


def markdown_block(report: dict[str, Any], image: str) -> str:
    """The generated part of the suite's docs/evaluation.md section, markers included."""
    name = report.get("suite", SUITE.name)
    begin, end = markers(name)
    methods = list(report["methods"])
    compared = _compared(report)
    t = report["targets"]
    not_first = ", ".join(t.get("families_not_first", []))
    targets = (
        "Targets (issue #6), AME: first on mean τ: "
        f"{'yes' if t.get('first_on_mean_tau') else 'no'}; first in every family: "
        f"{'yes' if t.get('first_in_every_family') else 'no, behind in ' + not_first}; "
        f"mean τ ≥ {TARGET_TAU}: {'yes' if t.get('mean_tau_at_least_0.8') else 'no'}; "
        f"top-1 ≥ {TARGET_TOP1:.0%}: {'yes' if t.get('top1_at_least_90_percent') else 'no'}."
        if t
        else "AME was not run."
    )
    intro = (
        f"Measured by `{_command(name, report.get('utility', DEFAULT_UTILITY))}` on "
        f"{report['scenarios']} scenarios in "
        f"{len(report['families'])} families ({report['seconds']:.0f} s). Means over "
        "scenarios; the worst family is the one with the lowest mean τ; violations are "
        "counted per event."
    )
    posed = report["well_posed"]
    if len(posed["scenarios"]) == report["scenarios"]:
        subset = (
            f"All {report['scenarios']} scenarios are well-posed (every output grounded in "
            "the training text): the tables above are the well-posed ones."
        )
        subset_table = ""
    else:
        subset = (
            f"The {len(posed['scenarios'])} well-posed scenarios alone (every output "
            f"grounded in the training text): {', '.join(posed['scenarios'])}."
        )
        subset_table = (
            summary_table(posed["methods"], methods, short=False) if posed["methods"] else ""
        )
    return f"""{begin}
{_fill(intro)}

{summary_table(report["methods"], methods, short=False)}

{_fill(targets)}

Mean Kendall τ per family (best compared method in bold):

{family_table(report, methods)}

![Mean Kendall tau per family and method](img/{image})

{_fill(subset) + (f"{chr(10) * 2}{subset_table}" if subset_table else "")}

<details><summary>Per scenario</summary>

{scenario_table(report, compared)}

</details>

<details><summary>Outputs</summary>

{outputs_table(report)}

</details>
{end}"""


def readme_block(report: dict[str, Any]) -> str:
    """The README's short table, markers included."""
    name = report.get("suite", SUITE.name)
    begin, end = markers(name)
    text = (
        f"{LEADS.get(name, LEADS[SUITE.name])}, on "
        f"{report['scenarios']} scenarios in {len(report['families'])} families "
        f"(`{_command(name)}`; Kendall τ of the payouts against each reference "
        "ranking, top-1 agreement, L1 distance to the reference shares). Families, "
        "per-scenario results and where AME misses: "
        f"[docs/evaluation.md](docs/evaluation.md#{_anchor(name)})."
    )
    posed = report["well_posed"]
    ame = posed["methods"].get("ame")
    if ame is not None and len(posed["scenarios"]) < report["scenarios"]:
        text += (
            f" Only {len(posed['scenarios'])} scenarios are well-posed (every output grounded "
            "in the training text; the others ask facts the small pipeline does not "
            f"reproduce); on those AME's mean τ is {ame['tau']:+.2f}, top-1 "
            f"{ame['top1']:.0%}, L1 {ame['l1']:.2f}."
        )
    elif len(posed["scenarios"]) == report["scenarios"]:
        text += (
            f" All {report['scenarios']} scenarios are well-posed (every output grounded in "
            "the training text)."
        )
    host = report.get("machine")
    if host is not None:  # payouts come from float utilities: they depend on the CPU
        text += f" Run on {host['cpu']} ({host['cpus']} CPUs)."
    return f"""{begin}
{_fill(text)}

{summary_table(report["methods"], _compared(report), short=True)}
{end}"""


def _saved_report(path: Path) -> dict[str, Any]:
    """The last judgments JSON line in ``path`` (a saved run's output)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if report.get("bench") != "judgments":
        raise SystemExit(f"{path}: no judgments JSON line")
    return report


def _arrow(values: Sequence[str]) -> str:
    return " → ".join(values)


def utility_block(reports: Sequence[dict[str, Any]]) -> str:
    """Every method of each suite under each utility, side by side, markers included.

    Args:
        reports: Saved reports, each of one suite under one utility; each suite's
            reports must cover the same scenarios and methods.

    Raises:
        SystemExit: If two reports share suite and utility, or a suite's reports do
            not cover the same scenarios.
    """
    suites: dict[str, dict[str, dict[str, Any]]] = {}
    for report in reports:
        name, utility = report.get("suite", SUITE.name), report.get("utility", DEFAULT_UTILITY)
        if utility in suites.setdefault(name, {}):
            raise SystemExit(f"--compare: two reports of suite {name!r} under {utility!r}")
        suites[name][utility] = report
    order = [u for u in UTILITIES if any(u in runs for runs in suites.values())]
    begin, end = markers("judgments-utilities")
    out = [
        begin,
        "Generated by `python bench/judgments.py --compare <saved runs>` from the JSON lines",
        "of these runs:",
        "",
        *(
            f"- `{_command(n, u)} --jobs 2`"
            for n, runs in suites.items()
            for u in order
            if u in runs
        ),
        "",
        f"Each cell reads {_arrow([f'`{u}`' for u in order])}.",
    ]
    for name, runs in suites.items():
        present = [u for u in order if u in runs]
        first = runs[present[0]]
        if any(set(runs[u]["scores"]) != set(first["scores"]) for u in present):
            raise SystemExit(f"--compare: the runs of {name!r} cover different scenarios")
        methods = [m for m in first["methods"] if all(m in runs[u]["methods"] for u in present)]
        out += [
            "",
            f"{_title(name)} ({first['scenarios']} scenarios):",
            "",
            "| method | mean τ | top-1 | L1 to shares | violations: efficiency / symmetry / null |",
            "|---|---:|---:|---:|---:|",
        ]
        rows = [(LABELS[m], [runs[u]["methods"][m] for u in present]) for m in methods]
        posed = first["well_posed"]["scenarios"]
        if len(posed) < first["scenarios"] and all(
            "ame" in runs[u]["well_posed"]["methods"] for u in present
        ):
            rows.append(
                (
                    f"AME, {len(posed)} well-posed scenarios",
                    [runs[u]["well_posed"]["methods"]["ame"] for u in present],
                )
            )
        for label, found in rows:
            v = [s["violations"] for s in found]
            cells = [
                _arrow([f"{s['tau']:+.2f}" for s in found]),
                _arrow([f"{s['top1']:.0%}" for s in found]),
                _arrow([f"{s['l1']:.2f}" for s in found]),
                _arrow([f"{x['efficiency']} / {x['symmetry']} / {x['null_player']}" for x in v]),
            ]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        if "ame" not in methods:
            continue
        out += [
            "",
            "| AME per family | mean τ | top-1 | L1 to shares |",
            "|---|---:|---:|---:|",
        ]
        for family in first["families"]:
            n = sum(1 for s in first["scores"].values() if s["family"] == family)
            found = [runs[u]["methods"]["ame"]["families"][family] for u in present]
            cells = [
                _arrow([f"{f['tau']:+.2f}" for f in found]),
                _arrow([f"{f['top1']:.0%}" for f in found]),
                _arrow([f"{f['l1']:.2f}" for f in found]),
            ]
            out.append(f"| {family} ({n}) | " + " | ".join(cells) + " |")
        targets = []
        for u in present:
            t = runs[u]["targets"]
            behind = ", ".join(t.get("families_not_first", [])) or "none"
            targets.append(
                f"`{u}`: first on mean τ {'yes' if t['first_on_mean_tau'] else 'no'}, "
                f"behind in {behind}, mean τ ≥ {TARGET_TAU} "
                f"{'yes' if t['mean_tau_at_least_0.8'] else 'no'}, top-1 ≥ "
                f"{TARGET_TOP1:.0%} {'yes' if t['top1_at_least_90_percent'] else 'no'}"
            )
        out += ["", _fill("Targets (issue #6), AME: " + "; ".join(targets) + ".")]
        for u in present[1:]:
            base, other = runs[present[0]]["scores"], runs[u]["scores"]
            moved = {
                sid: (base[sid]["methods"]["ame"], other[sid]["methods"]["ame"])
                for sid in base
                if base[sid]["methods"]["ame"]["tau"] != other[sid]["methods"]["ame"]["tau"]
                or base[sid]["methods"]["ame"]["top1"] != other[sid]["methods"]["ame"]["top1"]
            }
            changes = "; ".join(
                f"`{base[sid]['family']}/{sid}` τ {a['tau']:+.2f} → {b['tau']:+.2f}, top-1 "
                f"{a['top1']:.2f} → {b['top1']:.2f}"
                for sid, (a, b) in moved.items()
            )
            out += [
                "",
                _fill(
                    f"Scenarios where AME's τ or top-1 differ under `{u}` ({len(moved)}): "
                    + (changes or "none")
                    + "."
                ),
            ]
    out.append(end)
    return "\n".join(out)


def plot(report: dict[str, Any], path: Path) -> None:
    """Mean Kendall tau per family, one bar per compared method, and the mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = _compared(report)
    posed = report["well_posed"]["methods"]
    # Every scenario well-posed: the subset's bar would repeat the mean.
    subset = len(report["well_posed"]["scenarios"]) < report["scenarios"]
    groups = [*report["families"], "mean", *(["mean, well-posed"] if subset else [])]
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(13, 4.8))
    for i, m in enumerate(methods):
        s = report["methods"][m]
        taus = [s["families"][f]["tau"] for f in report["families"]] + [s["tau"]]
        if subset:
            taus.append(posed[m]["tau"] if m in posed else float("nan"))
        xs = [g + (i - (len(methods) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(
            xs,
            taus,
            width,
            label=LABELS[m].strip("*"),
            color="black" if m == "ame" else None,
            zorder=3,
        )
    ax.axhline(TARGET_TAU, color="tab:red", linestyle="--", linewidth=1, label="target τ = 0.8")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(groups)), [g.replace("_", " ") for g in groups], rotation=20)
    ax.set_ylabel("mean Kendall τ vs reference")
    ax.set_ylim(-1.05, 1.05)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.legend(ncol=4, fontsize=8, loc="lower left")
    name = report.get("suite", SUITE.name)
    which = "" if name == SUITE.name else f"{_title(name).split(', ')[-1]}, "
    ax.set_title(f"Agreement with reference judgments ({which}{report['scenarios']} scenarios)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def write_outputs(report: dict[str, Any], args: argparse.Namespace) -> None:
    """The table, then the plot and markdown that were asked for, then the JSON line."""
    print_table(report)
    if args.plot:
        plot(report, args.plot)
    name = report.get("suite", SUITE.name)
    if args.markdown:
        image = args.plot.name if args.plot else f"{name}.png"
        replace_block(
            args.markdown,
            markdown_block(report, image),
            append=True,
            heading=_title(name),
            new_file="Evaluation",
        )
    if args.readme:
        replace_block(args.readme, readme_block(report))
    # Insertion order kept: methods and scenarios in run order, so --render rebuilds it all.
    print(json.dumps(report, ensure_ascii=False))


def _progress(line: str) -> None:
    print(f"# {line}", file=sys.stderr, flush=True)


def _default_paths(args: argparse.Namespace, name: str, utility: str) -> None:
    """Outside a smoke run, under the default utility, write the suite's plot, docs
    section and README block (which show the default)."""
    if not args.smoke and utility == DEFAULT_UTILITY:
        args.plot = args.plot or ROOT / "docs" / "img" / f"{name}.png"
        args.markdown = args.markdown or ROOT / "docs" / "evaluation.md"
        args.readme = args.readme or ROOT / "README.md"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="two small scenarios, tiny pipeline; writes nothing"
    )
    parser.add_argument("--suite", type=Path, default=SUITE, help="suite directory")
    parser.add_argument("--families", nargs="+", help="only these families")
    parser.add_argument("--names", nargs="+", help="only these <family>/<file stem>")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[*METHODS, *ABLATIONS],
        help="methods to run (default: all, ablations included)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="scenarios run in parallel")
    parser.add_argument(
        "--utility",
        choices=UTILITIES,
        help="score every scenario under this pipeline utility (default: the scenario's "
        f"own, {DEFAULT_UTILITY} unless it says otherwise); a run under another utility "
        "than the default writes no file unless paths are given",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        help="write the utilities' comparison block into --markdown (default "
        "docs/evaluation.md) from files holding JSON lines this script printed, without "
        "running",
    )
    parser.add_argument(
        "--outputs-only",
        action="store_true",
        help="premise check only: print each event's output and whether it is grounded; "
        "run no method, write nothing",
    )
    add_output_options(parser, plot="docs/img/<suite folder name>.png", markdown="block")
    args = parser.parse_args(argv)
    report: dict[str, Any]
    if args.compare:
        reports = [_saved_report(path) for path in args.compare]
        block = utility_block(reports)
        print(block)
        replace_block(args.markdown or ROOT / "docs" / "evaluation.md", block)
        return 0
    if args.render:
        report = _saved_report(args.render)
        _default_paths(
            args, report.get("suite", SUITE.name), report.get("utility", DEFAULT_UTILITY)
        )
        write_outputs(report, args)
        return 0
    name = args.suite.resolve().name
    smoke = SMOKE_NAMES.get(name)
    if args.smoke and not args.names and smoke is None:
        raise SystemExit(f"--smoke: no smoke scenarios for suite {name!r}; give --names")
    names = args.names or (list(smoke or ()) if args.smoke else None)
    suite = load_suite(args.suite, families=args.families, names=names)
    pipeline = overrides(smoke=args.smoke, utility=args.utility)
    if args.outputs_only:
        report = premise(suite, pipeline=pipeline, jobs=args.jobs, progress=_progress, name=name)
        report["smoke"] = args.smoke
        print_outputs(report)
        print(json.dumps(report, ensure_ascii=False))
        return 0
    _default_paths(args, name, _utility(suite, pipeline))
    methods = args.methods or [*METHODS, *ABLATIONS]
    report = run(suite, methods, pipeline=pipeline, jobs=args.jobs, progress=_progress, name=name)
    report["smoke"] = args.smoke
    write_outputs(report, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
