"""Counterfactual options of the reference pipeline on the three judgment suites.

Runs AME (what ``ame attribute`` computes, then the rights mapping) on every scenario
of ``bench/judgments/``, ``bench/judgments_v2/`` and ``bench/judgments_v3/`` three
times: as the scenarios are (``off``), with a boilerplate *neutral template* standing in
for a prompt left out of a coalition (``neutral``: ``the {request} is``, the sentence
frame of every planted fact), and with a commodity *reference model* as the empty
pipeline (``reference``: the smoothed unigram of the pretraining sentences). Per
judgment it reports whether AME passes it (Kendall tau >= 0.8 and top-1 >= 0.9 against
the reference, the targets of issue #6 applied to one scenario) and the key shares of
the revenue, before mapping: the base model's, the prompt stage's and the data stage's.
Each option changes only the ``pipeline`` block of the scenario
(``PipelineSettings.neutral_template``, ``PipelineSettings.reference_model``);
everything is exact and seeded, so a rerun gives the same numbers.

Prints a table, then one JSON line; writes the generated block of ``docs/attribution.md``
between ``<!-- counterfactuals:begin -->`` / ``<!-- counterfactuals:end -->``.

Usage: ``python bench/counterfactuals.py [--jobs 2] [--smoke] [--markdown FILE]``
(``--smoke``: two small scenarios of each suite with a tiny pipeline, under two minutes;
it checks the script, not the numbers, and writes no file unless ``--markdown`` is
given). ``--render LINE.json`` rewrites the block from a saved JSON line without running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The repository root is put on the path first, hence E402.
from bench._docblocks import fill, replace_block  # noqa: E402
from bench.evaluation import JudgmentScenario, load_suite  # noqa: E402
from bench.judgments import SMOKE_NAMES, SMOKE_PIPELINE, TARGET_TAU, TARGET_TOP1, _map  # noqa: E402

#: The suites, in order.
SUITES = ("judgments", "judgments_v2", "judgments_v3")
#: The boilerplate neutral template of the ``neutral`` run.
NEUTRAL = "the {request} is"
#: Each run's overrides of the scenarios' ``pipeline`` block.
CONFIGS: Mapping[str, Mapping[str, Any]] = {
    "off": {},
    "neutral": {"neutral_template": NEUTRAL},
    "reference": {"reference_model": {"kind": "unigram"}},
}
#: The stage shares reported.
STAGES = ("base_model", "prompt", "data")
MARKERS = ("<!-- counterfactuals:begin -->", "<!-- counterfactuals:end -->")
COMMAND = "python bench/counterfactuals.py --jobs 2"


def evaluate(item: JudgmentScenario, smoke: bool) -> dict[str, dict[str, Any]]:
    """AME on one scenario under every configuration: pass/fail, scores, stage shares.

    The scenario's pipeline is trained once; each configuration reuses its models
    (:meth:`ReferencePipeline.with_options`: the options never change how a model is
    trained), so the runs differ only by the option.

    Args:
        item: The suite scenario.
        smoke: Train the tiny smoke pipeline instead of the scenario's.

    Returns:
        Per configuration of :data:`CONFIGS`: ``pass``, ``tau``, ``top1``, ``l1``,
        ``shares`` (stage -> share of the revenue, before mapping), ``grounded`` (every
        output grounded in the training text) and ``seconds``.
    """
    import torch

    from bench.evaluation.judgments import grounded, score, with_pipeline
    from bench.evaluation.methods import ScenarioRun, run_method

    torch.set_num_threads(1)
    base = with_pipeline(item.scenario, SMOKE_PIPELINE) if smoke else item.scenario
    trained = None
    out = {}
    for config, options in CONFIGS.items():
        start = time.perf_counter()
        scenario = with_pipeline(base, options) if options else base
        run = ScenarioRun(scenario)
        run.fit(None if trained is None else trained.with_options(**options))
        trained = trained or run.pipeline
        result = run_method(run, "ame")
        scored = score(item, result)
        stage_of = {
            (e.id, a): stage
            for e in run.events
            for stage, ids in run.pipeline.assets(e).items()
            for a in ids
        }
        paid = dict.fromkeys(STAGES, 0)
        revenue = 0
        for split in result.splits:
            revenue += split.revenue
            for asset, amount in split.amounts.items():
                stage = stage_of[split.event, asset]
                if stage in paid:
                    paid[stage] += amount
        out[config] = {
            "pass": scored.tau >= TARGET_TAU and scored.top1 >= TARGET_TOP1,
            "tau": round(scored.tau, 4),
            "top1": round(scored.top1, 4),
            "l1": round(scored.l1, 4),
            "shares": {s: round(paid[s] / revenue, 4) if revenue else 0.0 for s in STAGES},
            "grounded": all(grounded(run.pipeline, e) for e in run.events),
            "seconds": round(time.perf_counter() - start, 2),
        }
    return out


def run(
    suites: Sequence[tuple[str, Sequence[JudgmentScenario]]],
    *,
    jobs: int = 1,
    smoke: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Every configuration on every scenario of every suite; the report of the JSON line."""
    start = time.perf_counter()
    report: dict[str, Any] = {
        "bench": "counterfactuals",
        "smoke": smoke,
        "configs": {k: dict(v) for k, v in CONFIGS.items()},
        "suites": {},
    }
    for name, suite in suites:
        scores: dict[str, dict[str, Any]] = {}
        for item, found in zip(suite, _map(evaluate, suite, (smoke,), jobs), strict=True):
            scores[item.id] = {"family": item.family, **found}
            if progress:
                took = sum(f["seconds"] for f in found.values())
                print(f"[{name}] {item.id}: {took:.1f} s", file=sys.stderr)
        report["suites"][name] = {"scenarios": len(suite), "scores": scores}
    report["summary"] = summary(report)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def summary(report: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per suite and configuration: judgments passed, mean tau, top-1, L1 and shares."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, suite in report["suites"].items():
        rows = list(suite["scores"].values())
        out[name] = {}
        for config in report["configs"]:
            found = [r[config] for r in rows]
            n = len(found)
            out[name][config] = {
                "passed": sum(f["pass"] for f in found),
                "grounded": sum(f["grounded"] for f in found),
                **{k: round(sum(f[k] for f in found) / n, 4) for k in ("tau", "top1", "l1")},
                **{s: round(sum(f["shares"][s] for f in found) / n, 4) for s in STAGES},
            }
    return out


def _cells(values: Sequence[str]) -> str:
    """``a → b → c``, or ``a`` when all agree."""
    return values[0] if len(set(values)) == 1 else " → ".join(values)


def summary_table(report: Mapping[str, Any]) -> str:
    """The summary as a markdown table: one row per suite and configuration."""
    lines = [
        "| suite | run | passed | grounded | mean τ | top-1 | L1 | base model | prompt | data |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, configs in report["summary"].items():
        n = report["suites"][name]["scenarios"]
        for config, s in configs.items():
            lines.append(
                f"| {name} | {config} | {s['passed']}/{n} | {s['grounded']}/{n} | "
                f"{s['tau']:+.2f} | {s['top1']:.0%} | {s['l1']:.2f} | "
                + " | ".join(f"{s[stage]:.2f}" for stage in STAGES)
                + " |"
            )
    return "\n".join(lines)


def judgment_table(report: Mapping[str, Any], name: str) -> str:
    """Per judgment of a suite: pass/fail and the stage shares, off → neutral → reference."""
    configs = list(report["configs"])
    lines = [
        "| judgment | pass | τ | base model | prompt | data |",
        "|---|---|---|---|---|---|",
    ]
    for sid, row in report["suites"][name]["scores"].items():
        cells = [
            _cells(["✓" if row[c]["pass"] else "✗" for c in configs]),
            _cells([f"{row[c]['tau']:+.2f}" for c in configs]),
            *(_cells([f"{row[c]['shares'][s]:.2f}" for c in configs]) for s in STAGES),
        ]
        lines.append(f"| `{row['family']}/{sid}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_block(report: Mapping[str, Any]) -> str:
    """The generated block of docs/attribution.md, markers included."""
    begin, end = MARKERS
    out = [
        begin,
        "",
        fill(
            f"Generated by `{COMMAND}` ({report['seconds']:.0f} s on this machine). Runs: "
            "`off` (the scenarios as written), `neutral` (`pipeline.neutral_template: "
            f'"{NEUTRAL}"`), `reference` (`pipeline.reference_model: {{kind: unigram}}`). '
            f"A judgment passes when AME's Kendall τ ≥ {TARGET_TAU} and top-1 ≥ "
            f"{TARGET_TOP1:.0%} against its reference; grounded: every output continues "
            "its request as the scenario writes it (a prompt-less event's bare request, "
            "whatever the neutral template) as the training text does, the premise the "
            "judge wrote the reference on. Shares "
            "are of the revenue, per stage, before the rights mapping, averaged over the "
            "suite's scenarios.",
            88,
        ),
        "",
        summary_table(report),
    ]
    for name in report["suites"]:
        out += [
            "",
            "<details>",
            f"<summary>{name}: every judgment, off → neutral → reference</summary>",
            "",
            judgment_table(report, name),
            "",
            "</details>",
        ]
    out += ["", end]
    return "\n".join(out)


def print_table(report: Mapping[str, Any]) -> None:
    """The summary, for the terminal."""
    print(f"Counterfactual options on {len(report['suites'])} judgment suites")
    print(summary_table(report))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="scenarios run in parallel")
    parser.add_argument(
        "--smoke", action="store_true", help="two small scenarios per suite, tiny pipeline"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="markdown whose block is rewritten (default: docs/attribution.md)",
    )
    parser.add_argument("--render", type=Path, help="rewrite the block from a saved JSON line")
    args = parser.parse_args(argv)
    if args.render is not None:
        report = json.loads(args.render.read_text().splitlines()[-1])
    else:
        suites = [
            (
                name,
                load_suite(ROOT / "bench" / name, names=SMOKE_NAMES[name] if args.smoke else None),
            )
            for name in SUITES
        ]
        report = run(suites, jobs=args.jobs, smoke=args.smoke)
    print_table(report)
    print(json.dumps(report))
    markdown = args.markdown or (None if args.smoke else ROOT / "docs" / "attribution.md")
    if markdown is not None:
        replace_block(markdown, markdown_block(report), append=True, heading=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
