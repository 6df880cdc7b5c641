"""`ame demo`: the whole market, end to end, on the embedded chain."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tests.cli.conftest import Ame

# The reference market's whole demo runs once in the suite, as the README shows it:
# tests/bench/test_readme_demo.py. Its --json form is the HF demo's below.


def test_demo_replaces_a_directory_an_earlier_demo_made(tmp_path: Path) -> None:
    from ame.cli._demo import _MARKER, _fresh_workdir

    (tmp_path / _MARKER).write_text("made by `ame demo`")
    (tmp_path / "report.html").write_text("old")
    assert _fresh_workdir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_a_directory_it_did_not_make(ame: Ame, tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = ame("demo", "--workdir", tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith("InputError: --workdir:")
    assert "not made by `ame demo`" in result.output
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_demo_share_column_adds_up() -> None:
    """Shares are exact fractions of the pool (the table rounds them for display only)."""
    from ame.demos.market import ContributorLine

    line = ContributorLine("a", "0x" + "11" * 20, ("dataset",), Fraction(1, 3), 1, True, "self")
    assert line.share * 3 == 1


@pytest.mark.slow
@pytest.mark.torch
def test_hf_demo_attributes_a_real_model_and_pays_everyone(ame: Ame, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = ame(
        "demo", "--market", "hf", "--json", "--workdir", workdir, env={"HF_HUB_OFFLINE": "1"}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    assert data["audit"] == "pass"
    for event in data["events"]:
        assert sum(int(v) for v in event["stages"].values()) == int(event["revenue"])
    # Every use is commercial and nobody opted out: the whole revenue is paid.
    revenue = sum(int(e["revenue"]) for e in data["events"])
    lines = data["contributors"]
    assert sum(int(line["amount"]) for line in lines) == int(data["pool"]) == revenue
    assert all(line["claimed"] for line in lines)
    assert {"model_developer", "bob", "frank", "quinn"} <= {line["name"] for line in lines}
    # What an operator has, written beside the states: the files `ame attribute` reads.
    for name in ("market/pipeline.yaml", "market/events.jsonl", "market/registry.yaml"):
        assert (workdir / name).is_file()
    values = json.loads((workdir / "values.json").read_text())
    assert values["format"] == "ame.values/1" and values["scenario"]["id"] == "hf-demo"
    # The data stage goes to the dataset each output comes from.
    source = {"e1": "capitals", "e2": "animals", "e4": "kitchen", "e5": "capitals"}
    for event in values["events"]:
        if event["id"] in source:
            paid = {a: int(v) for a, v in event["values"].items() if a.startswith("dataset:")}
            assert max(paid, key=paid.__getitem__) == f"dataset:{source[event['id']]}"
    assert Path(data["report"]).is_file()


def test_settlement_only_runs_no_market(ame: Ame) -> None:
    result = ame("demo", "--settlement-only", "--market", "hf")
    assert result.exit_code == 1
    assert result.output.startswith("InputError: --settlement-only runs no market")
