"""``bench/attribution_scale.py`` with a tiny log: every executor runs, the bytes agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "attribution_scale.py"


@pytest.mark.torch
@pytest.mark.slow
def test_a_tiny_run_times_every_executor_and_finds_the_same_bytes() -> None:
    pytest.importorskip("distributed")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--markets", "small", "--events", "4", "--batch-size", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["identical"] is True
    assert [(r["executor"], r["phase"]) for r in report["rows"]] == [
        ("serial", "cold"), ("serial", "warm"), ("processes", "cold"),
        ("dask", "cold"), ("dask", "warm"),
    ]  # fmt: skip
    assert len({r["sha256"] for r in report["rows"]}) == 1
    assert "same bytes" in done.stdout


def _bench(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.torch
@pytest.mark.slow
def test_a_checkpointed_run_resumes_its_finished_runs_and_extrapolates_a_million(
    tmp_path: Path,
) -> None:
    pytest.importorskip("distributed")
    args = ["--markets", "small", "--events", "4", "--batch-size", "2", "--executors", "serial"]
    first = _bench(*args, "--checkpoint", tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.splitlines()[-1])
    # Every run kept its batches and its elapsed time, and the log of finished runs.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "runs.jsonl", "small-serial-cold", "small-serial-warm",
    ]  # fmt: skip
    assert float((tmp_path / "small-serial-warm" / "elapsed").read_text()) > 0
    (line,) = report["extrapolated"]
    assert line["executor"] == "serial" and line["from_events"] == 4
    assert line["seconds"] == pytest.approx(line["warm_up_s"] + line["ms_per_event"] * 1000, 1e-3)
    assert "1,000,000 events, small on serial: warm-up" in first.stdout
    # Rerun after an interruption: the finished runs are read, not run again.
    again = _bench(*args, "--checkpoint", tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["rows"] == report["rows"]
    assert "attributing" not in again.stderr
