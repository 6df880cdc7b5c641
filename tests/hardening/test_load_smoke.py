"""Smoke run of ``bench/load.py``: the whole pipeline at small n, and nothing lost.

The numbers are the benchmark's business; this checks that every phase runs, every claim
is paid once (the script's own checks count failures), the audit finds nothing, and the
table and the JSON line agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load.py"


@pytest.mark.anvil
def test_smoke_run_pays_every_claim_once_and_the_audit_passes() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["failures"] == 0
    single, batched = report["claims"]["single"], report["claims"]["batched"]
    assert (single["claims"], single["transactions"], single["failures"]) == (10, 10, 0)
    assert (batched["claims"], batched["transactions"], batched["failures"]) == (10, 2, 0)
    assert batched["gas_per_claim"] < single["gas_per_claim"]
    (audit,) = report["audits"]
    assert audit["audit"]["ok"] and audit["audit"]["leaves"] == 300
    assert "money" in audit["audit"]["checks"]
    table = "\n".join(lines[:-1])
    assert "claims, one claim each (baseline)" in table and "claimMany of 5" in table
    assert "audit (outsider, every check)" in table
