"""Benchmark: exact KNN-Shapley of 5,000 training points over 500 test points.

Compares :func:`offchain.attribution.knn_shapley` (vectorised: one distance matrix, one
``argsort`` per row, the recursion as a reversed ``cumsum``) with

* pyDVL's ``KNNShapleyValuation`` (scikit-learn ``kneighbors`` plus a Python loop over
  every test point and every position), run in a subprocess from its own virtual
  environment so that pyDVL and scikit-learn never enter the project's;
* a plain numpy loop: the same recursion, one test point and one position at a time.

All three see the same seeded synthetic data (Gaussian class clusters), saved to a
temporary ``.npz``. Values must agree with pyDVL's to 1e-9; the target speed-up over
pyDVL is 20x. Prints a table, then one JSON line.

The pyDVL environment is created on first use at ``.bench-venv/`` in the repository
(override with ``--venv`` or ``AME_BENCH_VENV``) with ``pip install pydvl``; later runs
reuse it. If it cannot be installed, the script says so and still reports the speed-up
over the numpy loop.

Usage::

    .venv/bin/python bench/knn_shapley.py
    .venv/bin/python bench/knn_shapley.py --train 2000 --test 200 --no-pydvl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path
from typing import Any

import numpy as np

from offchain.attribution import knn_shapley

REPO = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 20.0
TOLERANCE = 1e-9

# Runs inside the pyDVL environment: loads the data, times KNNShapleyValuation.fit.
PYDVL_RUNNER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import pydvl
    from pydvl.valuation.dataset import Dataset
    from pydvl.valuation.methods.knn_shapley import KNNShapleyValuation
    from sklearn.neighbors import KNeighborsClassifier

    data = np.load(sys.argv[1])
    train = Dataset(data["x_train"], data["y_train"])
    test = Dataset(data["x_test"], data["y_test"])
    model = KNeighborsClassifier(n_neighbors=int(data["k"]))
    valuation = KNNShapleyValuation(model, test, progress=False)
    start = time.perf_counter()
    valuation.fit(train)
    seconds = time.perf_counter() - start
    result = valuation.result
    # Results may come back sorted; put them back in training-index order.
    values = np.empty(len(result.indices))
    values[np.asarray(result.indices)] = result.values
    np.savez(sys.argv[2], values=values, seconds=seconds, version=pydvl.__version__)
    """
)


def make_data(
    n_train: int, n_test: int, n_features: int, n_classes: int, seed: int
) -> dict[str, np.ndarray]:
    """Overlapping Gaussian clusters, one per class, so that values are non-trivial."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(n_classes, n_features))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, n_classes, n)
        return centres[labels] + rng.normal(size=(n, n_features)), labels

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def loop_baseline(data: dict[str, np.ndarray], k: int) -> np.ndarray:
    """The recursion of Jia et al. (2019), one test point and one position at a time."""
    x_train, y_train = data["x_train"], data["y_train"]
    n = len(x_train)
    values = np.zeros(n)
    for x, label in zip(data["x_test"], data["y_test"], strict=True):
        order = np.argsort(((x_train - x) ** 2).sum(axis=1), kind="stable")
        correct = y_train[order] == label
        value = float(correct[n - 1]) / max(k, n)
        values[order[n - 1]] += value
        for j in range(n - 2, -1, -1):
            value += (float(correct[j]) - float(correct[j + 1])) / max(k, j + 1)
            values[order[j]] += value
    return values / len(data["x_test"])


def ensure_pydvl(venv_dir: Path) -> tuple[Path | None, str]:
    """Return the pyDVL environment's python, creating it if needed, or why not."""
    python = venv_dir / "bin" / "python"
    check = [str(python), "-c", "import pydvl, sklearn"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "reused"
    try:
        print(f"creating {venv_dir} and installing pydvl (first run only) ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "pydvl"],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return None, f"pip install pydvl failed: {detail.strip().splitlines()[-1:]}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return None, "pydvl installed but cannot be imported"
    return python, "created"


def run_pydvl(python: Path, data_file: Path, workdir: Path) -> dict[str, Any]:
    runner = workdir / "run_pydvl.py"
    runner.write_text(PYDVL_RUNNER)
    output = workdir / "pydvl_values.npz"
    # pyDVL's dependencies warn about their own deprecations at import; not ours to show.
    quiet = [str(python), "-W", "ignore::FutureWarning", "-W", "ignore::DeprecationWarning"]
    subprocess.run([*quiet, str(runner), str(data_file), str(output)], check=True)
    result = np.load(output)
    return {
        "values": result["values"],
        "seconds": float(result["seconds"]),
        "version": str(result["version"]),
    }


def best_time(function: Any, repeats: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="best-of for our timing")
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path(os.environ.get("AME_BENCH_VENV", REPO / ".bench-venv")),
        help="virtual environment for pyDVL",
    )
    parser.add_argument("--no-pydvl", action="store_true", help="skip pyDVL")
    args = parser.parse_args()

    data = make_data(args.train, args.test, args.features, args.classes, args.seed)
    ours_s, ours = best_time(
        lambda: (
            knn_shapley(
                data["x_train"], data["y_train"], data["x_test"], data["y_test"], args.k
            ).value_array
        ),
        args.repeats,
    )
    loop_s, loop = best_time(lambda: loop_baseline(data, args.k), 1)

    pydvl: dict[str, Any] | None = None
    pydvl_note = "skipped (--no-pydvl)"
    if not args.no_pydvl:
        python, pydvl_note = ensure_pydvl(args.venv)
        if python is not None:
            with tempfile.TemporaryDirectory() as tmp:
                data_file = Path(tmp) / "data.npz"
                np.savez(
                    data_file,
                    k=args.k,
                    x_train=data["x_train"],
                    y_train=data["y_train"],
                    x_test=data["x_test"],
                    y_test=data["y_test"],
                )
                pydvl = run_pydvl(python, data_file, Path(tmp))

    rows = [("ours (vectorised numpy)", ours_s, 0.0), ("numpy loop", loop_s, _diff(ours, loop))]
    if pydvl is not None:
        rows.append((f"pyDVL {pydvl['version']}", pydvl["seconds"], _diff(ours, pydvl["values"])))
    print(
        f"\nKNN-Shapley, {args.train} train x {args.test} test, {args.features} features, "
        f"{args.classes} classes, K={args.k}, seed {args.seed}"
    )
    print(f"{'implementation':<26}{'seconds':>10}{'ours is x faster':>18}{'max |diff|':>14}")
    for name, seconds, diff in rows:
        print(f"{name:<26}{seconds:>10.3f}{seconds / ours_s:>18.1f}{diff:>14.2e}")
    if pydvl is None:
        print(f"pyDVL NOT RUN: {pydvl_note}; speed-up reported against the numpy loop only")

    report: dict[str, Any] = {
        "bench": "knn_shapley",
        "n_train": args.train,
        "n_test": args.test,
        "n_features": args.features,
        "k": args.k,
        "seed": args.seed,
        "ours_s": round(ours_s, 4),
        "loop_s": round(loop_s, 4),
        "speedup_vs_loop": round(loop_s / ours_s, 1),
        "max_abs_diff_vs_loop": _diff(ours, loop),
        "pydvl": pydvl_note if pydvl is None else pydvl["version"],
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if pydvl is not None:
        speedup = pydvl["seconds"] / ours_s
        diff = _diff(ours, pydvl["values"])
        report |= {
            "pydvl_s": round(pydvl["seconds"], 4),
            "speedup_vs_pydvl": round(speedup, 1),
            "max_abs_diff_vs_pydvl": diff,
            "target_speedup": TARGET_SPEEDUP,
            "identical_within": TOLERANCE,
            "target_met": bool(speedup >= TARGET_SPEEDUP and diff <= TOLERANCE),
        }
    print(json.dumps(report))
    if pydvl is not None and _diff(ours, pydvl["values"]) > TOLERANCE:
        sys.exit(f"values differ from pyDVL by more than {TOLERANCE}")


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


if __name__ == "__main__":
    main()
