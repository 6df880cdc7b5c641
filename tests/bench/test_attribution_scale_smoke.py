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
