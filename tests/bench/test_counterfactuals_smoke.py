"""Smoke test of ``bench/counterfactuals.py``: the script runs end to end, not the numbers.

``--smoke`` runs AME on two small scenarios of each judgment suite with a tiny pipeline,
each option off and on; the test checks the table, the JSON line and the generated
block of the markdown file, then that ``--render`` rebuilds the same block without
running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "counterfactuals.py"
BEGIN, END = "<!-- counterfactuals:begin -->", "<!-- counterfactuals:end -->"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.torch
def test_smoke_run_prints_table_and_json_and_writes_the_block(tmp_path: Path) -> None:
    markdown = tmp_path / "attribution.md"
    markdown.write_text(f"# Attribution\n\n### Counterfactuals\n\n{BEGIN}\nold\n{END}\n\n## Next\n")
    done = _run("--smoke", "--jobs", "2", "--markdown", str(markdown))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["bench"] == "counterfactuals" and report["smoke"] is True
    assert list(report["configs"]) == ["off", "neutral", "reference"]
    assert list(report["suites"]) == ["judgments", "judgments_v2", "judgments_v3"]
    for suite in report["suites"].values():
        assert suite["scenarios"] == 2
        for row in suite["scores"].values():
            for config in report["configs"]:
                found = row[config]
                assert isinstance(found["pass"], bool) and -1.0 <= found["tau"] <= 1.0
                assert set(found["shares"]) == {"base_model", "prompt", "data"}
                assert 0.0 <= sum(found["shares"].values()) <= 1.0 + 1e-6
    assert set(report["summary"]["judgments"]) == {"off", "neutral", "reference"}
    assert lines[0] == "Counterfactual options on 3 judgment suites"
    assert lines[1].startswith("| suite | run | passed |")
    text = markdown.read_text()
    assert text.startswith("# Attribution\n") and text.endswith("\n\n## Next\n")
    assert text.count(BEGIN) == 1 and "old" not in text
    assert "| judgments_v3 | reference |" in text and "<summary>judgments_v2:" in text
    # --render rebuilds the same block from the JSON line, without running.
    saved = tmp_path / "line.json"
    saved.write_text(lines[-1] + "\n")
    again = tmp_path / "again.md"
    again.write_text(f"{BEGIN}\n{END}\n")
    rendered = _run("--render", str(saved), "--markdown", str(again))
    assert rendered.returncode == 0, rendered.stderr
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert again.read_text() == block + "\n"
