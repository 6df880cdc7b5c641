"""``bench/tda.py`` with tiny sizes: the run completes and its JSON line states the machine.

The numbers at these sizes say nothing about the targets; the fields, the default
projection dimension the README's figures come from, and the machine line are checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench._machine import cpu_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "tda.py"


@pytest.mark.torch
def test_a_tiny_run_reports_agreement_speed_and_the_machine(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# AME\n\n<!-- tda:begin -->\nold\n<!-- tda:end -->\n\nafter\n")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--n-train", "300", "--subset", "60", "--steps", "3", "--repeats", "2"),
            *("--events", "2", "--basis-size", "40", "--dims", "8", "16", "40"),
            *("--sweep", "subspace", "--readme", str(readme)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert cpu_model() in done.stdout.splitlines()[0]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["bench"] == "tda" and report["machine"]["cpu"] == cpu_model()
    assert report["machine"]["load"] >= 0 and report["load_at_end"] >= 0
    # The default: 320 directions of a 4,096-example sample (the README's figures).
    projected = report["projected"]
    assert (projected["k"], projected["projection"]) == (320, "subspace")
    # A subspace needs fewer directions than its sample has examples: 40 and 320 of 40 are
    # left out of the sweep (the full run still fits 320, past the sample's rank).
    assert set(report["sweep"]) == {"subspace/8", "subspace/16"}
    assert report["met_spearman"] == (projected["spearman"] >= report["target_spearman"])
    assert projected["score_cpu_ms"] > 0 and report["date"]
    # Trained on one thread, scored on both cores: the block names both counts.
    assert (report["train_threads"], report["threads"]) == (1, 2)
    # The README block: both targets with their verdicts, the sweep, the rerun command and
    # the machine; the text around it kept.
    text = readme.read_text()
    assert text.startswith("# AME\n\n<!-- tda:begin -->\n") and text.endswith("\n\nafter\n")
    block = text.split("<!-- tda:begin -->\n")[1].split("<!-- tda:end -->")[0]
    assert "old" not in block and cpu_model() in block and "`python bench/tda.py " in block
    assert "--readme" not in block
    assert "trained on 1 thread, scored on 2" in block
    assert f"| {projected['spearman']:.3f} ({projected['spearman_min']:.3f}) |" in block
    assert "| 8 |" in block and "| 16 |" in block
