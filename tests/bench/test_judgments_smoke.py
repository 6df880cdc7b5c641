"""Smoke test of ``bench/judgments.py``: the pipeline runs end to end, not the numbers.

``--smoke`` scores every method on two small scenarios with a tiny pipeline, here in two
worker processes (well under a minute); the test checks the table, the JSON line, the plot
and both markdown blocks, then that ``--render`` rebuilds the same blocks from the JSON
line without running, and that a second suite's blocks go between their own markers.
``--outputs-only`` (the premise check) answers the second suite's smoke scenarios and
runs no method.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
