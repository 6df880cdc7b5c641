"""Smoke test of ``bench/judgments.py``: the pipeline runs end to end, not the numbers.

``--smoke`` scores every method on two small scenarios with a tiny pipeline, here in two
worker processes (well under a minute); the test checks the table, the JSON line, the plot
and both markdown blocks, then that ``--render`` rebuilds the same blocks from the JSON
line without running, and that a second suite's blocks go between their own markers.
``--outputs-only`` (the premise check) answers the second suite's smoke scenarios and
runs no method.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "judgments.py"
METHODS = ["uniform", "data_size", "loo", "shapley", "data_only", "ame"]
ABLATIONS = ["ame_unmapped", "shapley_mapped"]
BEGIN, END = "<!-- judgments:begin -->", "<!-- judgments:end -->"
BEGIN_V2, END_V2 = "<!-- judgments_v2:begin -->", "<!-- judgments_v2:end -->"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.torch
def test_smoke_run_prints_table_and_json_and_writes_plot_and_blocks(tmp_path: Path) -> None:
    plot, markdown, readme = (
        tmp_path / "img" / "j.png",
        tmp_path / "eval.md",
        tmp_path / "README.md",
    )
    readme.write_text(f"# AME\n\n### Reference judgments\n\n{BEGIN}\nold\n{END}\n\n## Next\n")
    paths = ["--plot", str(plot), "--markdown", str(markdown), "--readme", str(readme)]
    done = _run("--smoke", "--jobs", "2", *paths)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["bench"] == "judgments" and report["smoke"] is True
    assert report["scenarios"] == 2
    assert report["families"] == ["co_owned", "planted_facts"]
    assert list(report["methods"]) == METHODS + ABLATIONS
    assert {s["level"] for s in report["scores"].values()} == {"assets", "payees"}
    for summary in report["methods"].values():
        assert -1.0 <= summary["tau"] <= 1.0 and 0.0 <= summary["top1"] <= 1.0
        assert set(summary["families"]) == set(report["families"])
        assert set(summary["violations"]) == {"efficiency", "symmetry", "null_player"}
    assert set(report["well_posed"]) == {"scenarios", "methods"}
    for scored in report["scores"].values():
        assert list(scored["outputs"]) == list(scored["grounded"])
        assert scored["well_posed"] == all(scored["grounded"].values())
        for result in scored["methods"].values():
            assert sum(result["shares"].values()) + result["escrowed"] == pytest.approx(
                1.0, abs=1e-5
            )
    assert set(report["targets"]) >= {"first_on_mean_tau", "mean_tau_at_least_0.8"}
    assert lines[0].startswith("Reference judgments: 2 scenarios")
    assert any(line.startswith("AME ") for line in lines)
    assert plot.stat().st_size > 10_000
    text = markdown.read_text()
    assert text.startswith("# Evaluation") and "## Reference judgments" in text
    assert text.count(BEGIN) == 1 and "![Mean Kendall tau per family" in text
    assert "| **AME** |" in text
    updated = readme.read_text()
    assert "old" not in updated and updated.endswith("## Next\n") and "| **AME** |" in updated

    # --render rewrites the same blocks from the JSON line, without training anything.
    saved = tmp_path / "out.txt"
    saved.write_text(done.stdout)
    markdown.write_text(f"# Evaluation\n\nprose\n\n{BEGIN}\nstale\n{END}\n\nmore prose\n")
    again = _run("--render", str(saved), *paths)
    assert again.returncode == 0, again.stderr
    rendered = markdown.read_text()
    assert "stale" not in rendered and "more prose" in rendered
    assert (
        rendered[rendered.index(BEGIN) :]
        == text[text.index(BEGIN) :].rstrip("\n") + "\n\nmore prose\n"
    )
    assert json.loads(again.stdout.splitlines()[-1]) == report

    # A second suite's report writes its own blocks and leaves the first suite's alone.
    second = {**report, "suite": "judgments_v2"}
    saved.write_text(json.dumps(second) + "\n")
    before = markdown.read_text()
    readme.write_text(f"# AME\n\n{BEGIN}\nfirst\n{END}\n\n{BEGIN_V2}\nold\n{END_V2}\n")
    plot_v2 = tmp_path / "img" / "judgments_v2.png"
    paths_v2 = ["--plot", str(plot_v2), "--markdown", str(markdown), "--readme", str(readme)]
    third = _run("--render", str(saved), *paths_v2)
    assert third.returncode == 0, third.stderr
    both = markdown.read_text()
    assert both.startswith(before.rstrip("\n"))
    assert "## Reference judgments, second suite" in both and both.count(BEGIN_V2) == 1
    assert "--suite bench/judgments_v2" in both and "img/judgments_v2.png" in both
    assert plot_v2.stat().st_size > 10_000
    updated = readme.read_text()
    assert f"{BEGIN}\nfirst\n{END}" in updated and "\nold\n" not in updated
    assert "#reference-judgments-second-suite" in updated


@pytest.mark.torch
def test_outputs_only_prints_each_output_and_its_premise_and_runs_no_method() -> None:
    done = _run("--outputs-only", "--smoke", "--suite", "bench/judgments_v2", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["bench"] == "judgments-outputs" and report["suite"] == "judgments_v2"
    assert report["scenarios"] == len(report["scores"]) == 2
    assert "methods" not in report
    for scored in report["scores"].values():
        assert list(scored["outputs"]) == list(scored["grounded"]) == list(scored["found_in"])
        assert scored["well_posed"] == all(scored["grounded"].values())
        for event, where in scored["found_in"].items():
            assert scored["grounded"][event] == bool(where)
    assert lines[0].split() == ["scenario", "event", "grounded", "output", "found", "in"]
    assert lines[-2].endswith("no method was run")


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("judgments_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_a_default_utility_run_writes_the_docs_by_default() -> None:
    bench = _bench()
    assert bench.DEFAULT_UTILITY == "loglik-prefix"
    for utility, writes in (("loglik-prefix", True), ("loglik", False), ("loglik-floored", False)):
        args = argparse.Namespace(smoke=False, plot=None, markdown=None, readme=None)
        bench._default_paths(args, "judgments_v2", utility)
        assert (args.plot is not None, args.markdown is not None) == (writes, writes)
    assert bench.overrides(smoke=False, utility=None) is None
    assert bench.overrides(smoke=True, utility="loglik-floored") == {
        **bench.SMOKE_PIPELINE,
        "utility": "loglik-floored",
    }


@pytest.mark.torch
def test_a_utility_run_reports_its_utility_and_compare_writes_both_side_by_side(
    tmp_path: Path,
) -> None:
    done = _run("--smoke", "--utility", "loglik-floored", "--methods", "shapley", "ame")
    assert done.returncode == 0, done.stderr
    floored = json.loads(done.stdout.splitlines()[-1])
    assert floored["utility"] == "loglik-floored" and list(floored["methods"]) == ["shapley", "ame"]
    # --compare renders saved lines without training: a copy stands in for the other run.
    plain = {**floored, "utility": "loglik"}
    ame = floored["scores"]["planted-revenue-weighted"]["methods"]["ame"]
    plain["scores"] = {
        **floored["scores"],
        "planted-revenue-weighted": {
            **floored["scores"]["planted-revenue-weighted"],
            "methods": {"shapley": ame, "ame": {**ame, "tau": ame["tau"] - 0.5}},
        },
    }
    saved = []
    for name, report in (("floored", floored), ("plain", plain)):
        path = tmp_path / f"{name}.txt"
        path.write_text(f"table\n{json.dumps(report)}\n")
        saved.append(str(path))
    begin, end = "<!-- judgments-utilities:begin -->", "<!-- judgments-utilities:end -->"
    markdown = tmp_path / "eval.md"
    markdown.write_text(f"# Evaluation\n\n{begin}\nstale\n{end}\n\nprose\n")
    compared = _run("--compare", *saved, "--markdown", str(markdown))
    assert compared.returncode == 0, compared.stderr
    text = markdown.read_text()
    assert "stale" not in text and text.endswith(f"{end}\n\nprose\n")
    assert "Each cell reads `loglik` → `loglik-floored`." in text
    assert "- `python bench/judgments.py --utility loglik-floored --jobs 2`" in text
    s = floored["methods"]["ame"]
    assert f"| **AME** | {plain['methods']['ame']['tau']:+.2f} → {s['tau']:+.2f} |" in text
    assert "| AME per family | mean τ | top-1 | L1 to shares |" in text
    assert "Scenarios where AME's τ or top-1 differ under `loglik-floored` (1):" in text
    twice = _run("--compare", saved[0], saved[0], "--markdown", str(markdown))
    assert twice.returncode != 0 and "two reports of suite" in twice.stderr
