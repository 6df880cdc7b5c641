"""Smoke test of ``bench/execution_cost.py``: the pipeline runs end to end, not the numbers.

``--smoke`` pays 10 and 100 contributors on a managed Anvil (a few seconds); the test checks
the table, the JSON line, the plot and the markdown section, and that the operator's cost
per epoch does not move with n. The sampling and marker helpers are checked directly.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "execution_cost.py"
TOKENS = ("eth", "erc20")
ROUNDS = ("first", "repeat")
METHODS = ("claim", "claim_many", "naive")


@pytest.fixture(scope="module")
def bench_module() -> ModuleType:
    # The script imports its sibling bench/gas.py as `gas`, as it does when run directly.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module("execution_cost")
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.mark.anvil
def test_smoke_run_prints_table_and_json_and_writes_plot_and_section(tmp_path: Path) -> None:
    plot, markdown = tmp_path / "img" / "cost.png", tmp_path / "evaluation.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--plot", str(plot), "--markdown", str(markdown)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["bench"] == "execution_cost"
    assert report["ns"] == [10, 100]
    assert report["smoke"] is True
    assert sorted(report["results"]) == ["10", "100"]
    for n_text, by_token in report["results"].items():
        n = int(n_text)
        for token in TOKENS:
            for round_ in ROUNDS:
                for method in METHODS:
                    cost = by_token[token][round_][method]
                    assert cost["per_contributor"] > 0
                    assert cost["per_contributor"] == round(cost["total"] / n)
                    assert cost["leaves_measured"] == n
                    assert cost["extrapolated"] is False
                    # AME costs include the operator's epoch; the naive loop has none.
                    assert (cost["operator"] > 0) == (method != "naive")
    for token in TOKENS:
        low, high = report["operator_range"][token]
        assert 0 < low <= high <= low * 1.005, f"{token} operator cost moves with n"
    # One table row per n, token and round, between the header and the closing rule.
    rows = [line for line in lines if re.match(r"\s*[0-9,]+ (eth|erc20) +(first|repeat) ", line)]
    assert len(rows) == 2 * len(TOKENS) * len(ROUNDS)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text()
    assert text.count("<!-- execution-cost:begin -->") == 1
    assert text.count("<!-- execution-cost:end -->") == 1
    assert "## Execution cost" in text
    assert "| 100 |" in text
    assert "](img/cost.png)" in text


def test_sample_positions_are_whole_aligned_blocks_chosen_by_seed(bench_module: ModuleType) -> None:
    block = bench_module.SAMPLE_BLOCK
    assert block % bench_module.BITMAP_WORD == 0
    assert block % bench_module.CLAIM_BATCH == 0
    assert bench_module.sample_positions(1_000, 2, 0) == list(range(1_000))
    positions = bench_module.sample_positions(100_000, 2, 7)
    assert positions == bench_module.sample_positions(100_000, 2, 7)
    assert len(positions) == 2 * block
    starts = positions[::block]
    assert all(start % block == 0 for start in starts)
    assert positions == [p for start in starts for p in range(start, start + block)]
    assert positions[-1] < 100_000


def test_replace_block_rewrites_only_its_own_section(
    bench_module: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "evaluation.md"
    begin, end = bench_module.BEGIN, bench_module.END
    bench_module.replace_block(path, f"{begin}\none\n{end}", append=True, new_file="Evaluation")
    path.write_text(path.read_text() + "\n## Reference judgments\n\nkept\n")
    bench_module.replace_block(path, f"{begin}\ntwo\n{end}", append=True, new_file="Evaluation")
    text = path.read_text()
    assert text.startswith("# Evaluation\n")
    assert "one" not in text
    assert text.count(begin) == 1
    assert "two" in text
    assert text.endswith("## Reference judgments\n\nkept\n")
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n")
    with pytest.raises(ValueError, match="no <!-- execution-cost:begin -->"):
        bench_module.replace_block(readme, f"{begin}\nx\n{end}")
