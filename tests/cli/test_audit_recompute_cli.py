"""`ame audit --recompute-utilities`: layer 2 through the command, its usage, output and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ame.workflow._recompute import sample_events
from ame_chain.chains import InProcessChain
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy
from tests.workflow._helpers import OPERATOR, contributors
from tests.workflow.test_audit_recompute import Market, _consistently_altered, _registry, market

__all__ = ["market"]  # the module fixture, shared with the workflow tests


def _settle(
    ame: Ame, chain: InProcessChain, folder: Path, market: Market, *, altered: bool
) -> None:
    deploy(ame, chain)
    folder.mkdir()
    lines, values = (
        _consistently_altered(market, 3 * 10**12) if altered else (market.record(), market.values)
    )
    registry = _registry(market, contributors(chain))
    (folder / "values.json").write_text(json.dumps(values))
    (folder / "registry.json").write_text(json.dumps(registry.canonical()))
    (folder / "record.jsonl").write_bytes(b"".join(lines))
    flags = ["--values", folder / "values.json", "--registry", folder / "registry.json"]
    settled = ame(
        "settle", "--dev-account", OPERATOR, *flags, "--attribution", folder / "record.jsonl"
    )
    assert settled.exit_code == 0, settled.output


@pytest.mark.torch
def test_an_honest_epoch_passes_layer_2_and_shows_its_drift(
    ame: Ame, chain: InProcessChain, tmp_path: Path, market: Market
) -> None:
    _settle(ame, chain, tmp_path / "in", market, altered=False)
    audited = ame("audit", 1, "--recompute-utilities", "--scenario", market.scenario)
    assert audited.exit_code == 0, audited.output
    assert "attribution, utilities, tree" in audited.stdout
    assert "utilities recomputed for 3 of 3 sampled events" in audited.stdout
    assert audited.stdout.splitlines()[3].split()[:2] == ["worths", "0.5"]
    # A time limit the rerun cannot keep fails the check: it never passes unverified.
    args = ("audit", 1, "--recompute-utilities", "--scenario", market.scenario)
    late = ame(*args, "--time-limit", "0.001", "--json")
    assert late.exit_code == 3, late.output
    (epoch,) = json.loads(late.stdout)["epochs"]
    # Checked between events: the first starts within the limit, the rest are not reached.
    assert re.search(r"the time limit of 0\.001 s passed after [01] of 3 events", late.stdout)
    assert epoch["ok"] is False and len(epoch["recomputed"]["recomputed"]) <= 1


@pytest.mark.torch
def test_a_consistently_altered_worth_exits_3_with_the_worth_named_in_json(
    ame: Ame, chain: InProcessChain, tmp_path: Path, market: Market
) -> None:
    _settle(ame, chain, tmp_path / "in", market, altered=True)
    assert ame("audit", 1).exit_code == 0  # layer 1 cannot see it
    # A seed whose sample of two holds the altered event (and one that does not pass).
    seed = next(s for s in range(100) if "e1" in sample_events(["e1", "e2", "e3"], 2, s))
    args = ("audit", 1, "--recompute-utilities", "--scenario", market.scenario, "--sample", 2)
    audited = ame(*args, "--seed", seed, "--json")
    assert audited.exit_code == 3, audited.output
    (epoch,) = json.loads(audited.stdout)["epochs"]
    recomputed = epoch["recomputed"]
    assert recomputed["sampled"] == sample_events(["e1", "e2", "e3"], 2, seed)
    assert recomputed["recomputed"] == recomputed["sampled"]
    assert [m["field"] for m in epoch["mismatches"]] == [
        "recompute.events[e1].worths[geo,walk,transformer,plain]"
    ]
    assert recomputed["drift"]["worths"]["outside"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--sample", 2), "--sample go(es) with --recompute-utilities"),
        (("--seed", 5), "--seed go(es) with --recompute-utilities"),
        (("--recompute-utilities", "--sample", 0), "--sample"),
        (("--time-limit", 60), "--time-limit go(es) with --recompute-utilities"),
        (("--recompute-utilities", "--time-limit", 0), "--time-limit"),
    ],
)
def test_layer_2_options_without_the_flag_or_out_of_range_are_bad_usage(
    ame: Ame, args: tuple[object, ...], message: str
) -> None:
    result = ame("audit", 1, *args)
    assert result.exit_code == 2 and message in result.output


def test_layer_2_of_several_epochs_is_bad_usage(ame: Ame, chain: InProcessChain) -> None:
    deploy(ame, chain)
    result = ame("audit", 1, 2, "--recompute-utilities")
    assert result.exit_code == 2 and "needs exactly one EPOCH" in result.output
