"""``bench/hf_speed.py`` with tiny sizes: the run completes, table and JSON line are sane.

The numbers at these sizes say nothing about the targets; the fields, their relations
(indexing apart from scoring, both pipelines measured) and the README block are checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.hf_speed import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "hf_speed.py"


@pytest.mark.torch
def test_a_tiny_run_measures_both_pipelines_and_writes_the_readme_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# AME\n")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--n-train", "200", "--events", "6", "--steps", "3", "--repeats", "2"),
            *("--dim", "8", "--params", "last-layer", "--readme", str(readme)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["bench"] == "hf_speed"
    assert (report["n_train"], report["events"], report["dim"]) == (200, 6, 8)
    assert report["score_ms"] > 0 and report["index_s"] >= 0 and report["events_per_s"] > 0
    assert report["log_s"] >= report["forward_s"] > 0
    assert report["met_ms"] == (report["score_ms"] <= report["target_ms"] == 20.0)
    assert report["batch"] == 6 and report["batch_ms"] > 0
    assert report["met_batch_ms"] == (report["batch_ms"] <= report["target_ms"])
    assert report["cpu"] and len(report["load"]) == 2
    assert report["score_cpu_ms"] > 0 and report["batch_cpu_ms"] > 0
    assert report["projection"] == "factored-vocab"  # the pipeline's default, its settings too
    assert (report["factor_dim"], report["vocab_factor_dim"], report["vocab_buckets"]) == (
        64,
        16,
        8192,
    )
    reference = report["reference"]
    assert reference["one_ms"] > 0 and reference["events_per_s"] > 0 and reference["n_train"] > 0
    assert reference["batch_ms"] > 0
    text = readme.read_text()
    assert BEGIN in text and END in text and "baseline: reference pipeline" in text
    assert "load average" in text and "at once" in text


@pytest.mark.torch
def test_a_synthetic_index_times_scoring_without_indexing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--n-train", "200", "--events", "4", "--steps", "2", "--repeats", "2"),
            *("--dim", "8", "--params", "last-layer", "--synthetic-index", "--no-reference"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["synthetic_index"] is True and report["index_s"] is None
    assert report["score_ms"] > 0 and report["batch_ms"] > 0 and report["reference"] is None
    assert "| not run |" in done.stdout and "(synthetic index)" in done.stdout
