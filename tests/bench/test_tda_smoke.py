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
def test_a_tiny_run_reports_agreement_speed_and_the_machine() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--n-train", "300", "--subset", "60", "--steps", "3", "--repeats", "2"),
            *("--events", "2", "--basis-size", "40", "--dims", "8", "--sweep", "subspace"),
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
    # The default dimension: 512, where rho keeps its margin on another CPU's model.
    projected = report["projected"]
    assert (projected["k"], projected["projection"]) == (512, "subspace")
    assert set(report["sweep"]) == {"subspace/8"}
    assert report["met_spearman"] == (projected["spearman"] >= report["target_spearman"])
