"""``bench/determinism.py``: worths drift within the audit's tolerance, the rest not at all.

The slow test runs the same pipelines (the small reference one, the tiny HF market) under
1 and 2 threads and deterministic algorithms on, each in its own process, and asserts
every coalition worth stays within :data:`UTILITY_TOLERANCE` of the baseline's, and that
everything after the worths (multi-stage attribution replayed from the baseline's worths,
the values document) is bit-identical in every process. The fast ones check the drift
accounting and the replay on seeded random tables.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from bench.determinism import CONFIGS, coalition_key, drift
from offchain.attribution.tolerance import UTILITY_TOLERANCE

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "determinism.py"
STAGES = {"data": ["d1", "d2"], "base_model": ["m"], "prompt": ["p"]}
PLAYERS = [a for ids in STAGES.values() for a in ids]
WORTHS = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False, allow_subnormal=False)


def _coalitions() -> list[frozenset[str]]:
    return [
        frozenset(c) for r in range(len(PLAYERS) + 1) for c in itertools.combinations(PLAYERS, r)
    ]


@st.composite
def recorded_runs(draw: st.DrawFn) -> dict[str, Any]:
    """A run as the worker records it: two events, a worth for every coalition."""
    events = [
        {"id": f"e{i}", "revenue": draw(st.integers(1, 10**21)), "prompt": "p", "adapter": None}
        | {"text": "x"}
        for i in range(2)
    ]
    worths = {
        e["id"]: {coalition_key(c): (draw(WORTHS) if c else 0.0) for c in _coalitions()}
        for e in events
    }
    return {
        "events": events,
        "stages": {e["id"]: STAGES for e in events},
        "worths": worths,
        "influence": {},
        "method": {"method": "shapley"},
        "seed": 0,
    }


def test_coalition_keys_are_sorted_and_distinct() -> None:
    keys = [coalition_key(c) for c in _coalitions()]
    assert len(set(keys)) == len(keys) and coalition_key(frozenset()) == ""
    assert coalition_key(frozenset({"m", "d1"})) == "d1+m"


@seed(17)
@settings(max_examples=50, deadline=None)
@given(run=recorded_runs(), scale=st.floats(0.0, 0.99), far=st.floats(1.5, 100.0))
def test_drift_counts_identical_worths_and_those_outside_the_tolerance(
    run: dict[str, Any], scale: float, far: float
) -> None:
    same = drift(run, json.loads(json.dumps(run)))["worths"]
    assert same["identical"] == same["compared"] == 2 * 2 ** len(PLAYERS)
    assert same["outside"] == same["missing"] == 0 and max(same["abs"]) == 0.0
    # Every worth moved by a fraction of its bound: inside; by more than the bound: outside.
    near = json.loads(json.dumps(run))
    for table in near["worths"].values():
        for key, value in table.items():
            table[key] = value + scale * UTILITY_TOLERANCE.bound(value)
    assert drift(run, near)["worths"]["outside"] == 0
    moved = json.loads(json.dumps(run))
    moved["worths"]["e1"]["d1+m"] += far * UTILITY_TOLERANCE.bound(run["worths"]["e1"]["d1+m"])
    del moved["worths"]["e0"]["p"]
    result = drift(run, moved)["worths"]
    assert (result["outside"], result["missing"]) == (1, 1)


@pytest.mark.torch
@seed(17)
@settings(max_examples=15, deadline=None)
@given(run=recorded_runs())
def test_replaying_a_table_gives_the_same_values_document_bytes(run: dict[str, Any]) -> None:
    from bench.determinism import _replay

    first = _replay(run, run["method"], run["seed"])
    assert _replay(json.loads(json.dumps(run)), run["method"], 0) == first


@pytest.mark.slow
@pytest.mark.torch
# Six processes that each train and score: a minute or two on a quiet machine, ten at a
# load average of 13 on two cores.
@pytest.mark.timeout(2400)
def test_threads_and_deterministic_algorithms_keep_worths_within_tolerance(
    tmp_path: Path,
) -> None:
    configs = ["baseline", "threads-2", "deterministic"]
    assert all(CONFIGS[c].env == {} for c in configs)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "small", "--configs", *configs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["bench"] == "determinism" and report["machine"]["cpu"]
    assert report["within_tolerance"] and report["replay_identical"]
    for name in ("reference", "hf"):
        part = report["pipelines"][name]
        rows = {row["config"]: row for row in part["configs"]}
        assert list(rows) == configs
        for row in rows.values():
            assert row["worths"] > 0 and row["missing"] == 0 and row["outside"] == 0
            assert row["replay_identical"]
            assert row["max_rel"] <= UTILITY_TOLERANCE.relative
        # Deterministic algorithms on one thread change no bit of this pipeline.
        assert rows["deterministic"]["identical"] == rows["deterministic"]["worths"]
