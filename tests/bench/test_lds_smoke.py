"""``bench/lds.py``: the linear datamodeling score itself, and a tiny run end to end.

The metric is tested by its properties over seeded random inputs (an oracle scores 1,
its negation -1, random scores about 0, positive rescaling changes nothing, bad shapes
are named); the script with tiny sizes prints a table and a JSON line whose fields are
checked, not its numbers (a few subsets of a model trained a few steps say nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.lds import BEGIN, END, lds

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "lds.py"

shapes = st.tuples(
    st.integers(2, 12), st.integers(5, 40), st.integers(4, 30), st.integers(0, 2**32 - 1)
)


def _oracle(n_test: int, n_train: int, n_subsets: int, seed: int) -> tuple[np.ndarray, ...]:
    """Scores whose subset sums are exactly minus the losses (a linear datamodel)."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_test, n_train))
    masks = rng.random((n_subsets, n_train)) < 0.5
    losses = -(masks @ scores.T)
    return scores, masks, losses


@settings(max_examples=50, deadline=None)
@given(shape=shapes)
def test_a_perfect_oracle_scores_one_and_its_negation_minus_one(
    shape: tuple[int, int, int, int],
) -> None:
    scores, masks, losses = _oracle(*shape)
    distinct = all(len(np.unique(losses[:, t])) == len(losses) for t in range(len(scores)))
    if not distinct:  # ties (equal subsets) make Spearman < 1 with no fault of the scores
        return
    assert lds(scores, masks, losses)["mean"] == pytest.approx(1.0)
    assert lds(-scores, masks, losses)["mean"] == pytest.approx(-1.0)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, scale=st.floats(1e-3, 1e3))
def test_positive_rescaling_and_a_per_output_shift_change_nothing(
    shape: tuple[int, int, int, int], scale: float
) -> None:
    scores, masks, losses = _oracle(*shape)
    noisy = losses + np.random.default_rng(shape[3]).standard_normal(losses.shape)
    base = lds(scores, masks, noisy)
    moved = lds(scores * scale, masks, noisy + np.arange(noisy.shape[1]))
    np.testing.assert_allclose(moved["per_test"], base["per_test"], atol=1e-9)
    assert base["ci"][0] <= base["mean"] <= base["ci"][1]


@pytest.mark.parametrize("seed", range(5))
def test_random_scores_score_about_zero(seed: int) -> None:
    scores, masks, losses = _oracle(200, 100, 60, seed)
    noise = np.random.default_rng(seed + 100).standard_normal(scores.shape)
    result = lds(noise, masks, losses)
    assert abs(result["mean"]) < 0.05
    assert result["ci"][0] < 0 < result["ci"][1]


def test_bad_shapes_are_named() -> None:
    scores, masks, losses = _oracle(3, 10, 5, 0)
    with pytest.raises(ValueError, match="shapes disagree"):
        lds(scores, masks[:, :-1], losses)
    with pytest.raises(ValueError, match="2-D"):
        lds(scores[0], masks, losses)


@pytest.mark.torch
def test_a_tiny_run_prints_a_table_a_json_line_and_the_readme_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# AME\n\n{BEGIN}\nold\n{END}\n\n## Next\n")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--n-train", "120", "--subjects", "40", "--tests", "3", "--subsets", "4"),
            *("--steps", "5", "--dims", "8", "--dattri-dim", "8", "--readme", str(readme)),
            *("--subspace-dims", "8", "--factor-dims", "4"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["bench"] == "lds"
    assert (report["n_train"], report["subsets"], report["tests"]) == (120, 4, 3)
    assert set(report["methods"]) == {
        "AME TracIn exact, all",
        "AME TracIn projected, all, subspace k=8",
        "AME TracIn exact, last-layer",
        "AME TracIn projected, last-layer, subspace k=8",
        "AME TracIn projected, all, factored r=4 k=8",
        "AME TracIn projected, last-layer, factored r=4 k=8",
        "AME TracIn projected, all, factored-vocab r=64 v=16 k=8",
        "AME TracIn projected, last-layer, factored-vocab r=64 v=16 k=8",
        "dattri TracIn (projected, normal, k=8)",
        "dattri TRAK (projected, normal, k=8)",
        "random scores (baseline)",
    }
    for method in report["methods"].values():
        assert -1.0 <= method["ci"][0] <= method["lds"] <= method["ci"][1] <= 1.0
        assert method["seconds"] >= 0
        assert -1.0 <= method["spearman_vs_exact"] <= 1.0
    assert report["best_ame"].startswith("AME") and report["best_dattri"].startswith("dattri")
    assert isinstance(report["met"], bool)
    margin = report["margin_over_dattri"]
    assert margin["ci"][0] <= margin["mean"] <= margin["ci"][1]
    assert "| attributor | LDS |" in done.stdout
    text = readme.read_text()
    assert "old" not in text and text.endswith("## Next\n")
    assert "| random scores (baseline) |" in text
