"""`ame demo`: the whole market, end to end, on the embedded chain."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tests.cli.conftest import Ame


@pytest.mark.slow
@pytest.mark.torch
def test_demo_trains_attributes_catches_a_cheat_and_pays_everyone(ame: Ame, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = ame("demo", "--json", "--workdir", workdir)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    assert data["fraud"]["kind"] == "BROKEN_CHAIN"
    assert data["audit"] == "pass"
    for event in data["events"]:
        assert sum(int(v) for v in event["stages"].values()) == int(event["revenue"])
    lines = data["contributors"]
    assert all(line["claimed"] for line in lines)
    assert {line["claimedBy"] for line in lines} == {"self", "relayer"}
    assert sum(int(line["amount"]) for line in lines) == int(data["pool"])
    # Rights mapping shows: fauna's co-owners are both paid; the opted-out owner is not.
    names = {line["name"] for line in lines}
    assert {"bob", "heidi"} <= names and "erin" not in names
    # The pool is the revenue less what mapping withheld (opt-out, non-commercial licence).
    revenue = sum(int(e["revenue"]) for e in data["events"])
    assert 0 < int(data["pool"]) < revenue
    report = Path(data["report"])
    assert report.is_file() and report.parent == workdir
    assert "<img" in report.read_text()

    # A second run replaces the directory the first one made.
    again = ame("demo", "--settlement-only", "--json")
    assert again.exit_code == 0, again.output


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
