"""Audit layer 1: the published attribution record explains the values, exactly, or is a mismatch."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ame.workflow import (
    MappingInputs,
    WorkflowError,
    Workspace,
    _record,
    audit_epoch,
    challenge_epoch,
    settle_epoch,
)
from ame.workflow._publish import epoch_folder
from ame_chain.chains import Chain, InProcessChain
from offchain.attribution.game import PipelineGame
from offchain.attribution.multistage import MultiStageAttribution, MultiStageResult
from offchain.attribution.record import iter_record_lines
from offchain.attribution.values import EventTerms, values_document
from offchain.mapping import Registry, parse_registry, parse_values
from tests.mapping._builders import asset_doc, registry_doc
from tests.workflow._helpers import ETHER, contributors

STAGES = {"data": ("a0", "a1", "a2"), "base_model": ("a3",)}
WEIGHTS = {"a0": 1.0, "a1": 2.0, "a2": 0.5, "a3": 3.25}


@dataclass(frozen=True)
class _Sale:
    id: str
    revenue: int
    prompt: str | None = None
    adapter: str | None = None
    text: str = "an output"


class _Market:
    """A pipeline whose asset game is a fixed table (with an interaction term)."""

    seed = 0

    def assets(self, event: _Sale) -> dict[str, tuple[str, ...]]:
        return STAGES

    def asset_game(self, event: _Sale, *, free_disposal: bool = True) -> PipelineGame:
        def worth(coalition: frozenset[str]) -> float:
            return sum(WEIGHTS[a] for a in coalition) + (0.7 if {"a0", "a3"} <= coalition else 0)

        return PipelineGame(list(WEIGHTS), worth, free_disposal=free_disposal)

    def influence(self, events: Any, *, projection_dim: int | None = None) -> Any:
        # Part of the protocol; the Shapley valuation these tests run never asks for it.
        raise AssertionError("influence asked of a market valued by Shapley only")


def _registry(chain: Chain) -> Registry:
    people = contributors(chain)
    return parse_registry(
        registry_doc([asset_doc(f"a{i}", owners=[(people[i], "1")]) for i in range(4)])
    )


def _attribution() -> MultiStageResult:
    events = [_Sale("e1", ETHER + 3), _Sale("e2", 7 * ETHER)]
    return MultiStageAttribution(_Market()).fit(events).result


def _inputs(
    chain: Chain,
    *,
    epoch: int = 1,
    values_edit: Callable[[dict[str, Any]], None] = lambda _: None,
    line_edit: Callable[[list[dict[str, Any]]], None] = lambda _: None,
) -> MappingInputs:
    registry = _registry(chain)
    result = _attribution()
    terms = {e.event.id: EventTerms(True, dt.date(2026, 1, 1)) for e in result.events}
    document = values_document(result, epoch=epoch, terms=terms)
    values_edit(document)
    hashes: dict[str, str] = {a.id: a.content_hash for a in registry.assets}
    lines = [
        json.loads(x)
        for x in iter_record_lines(result, epoch=epoch, assets=hashes, pipeline={"kind": "test"})
    ]
    line_edit(lines)
    data = [json.dumps(x).encode() + b"\n" for x in lines]
    return MappingInputs(parse_values(document), registry, attribution=lambda: data)


def write_attributed(directory: Path, chain: Chain, epoch: int = 1) -> tuple[Path, Path, Path]:
    """The honest market's values, registry and record of ``epoch`` as files, what
    `ame attribute` leaves (each event's output is the text "an output")."""
    inputs = _inputs(chain, epoch=epoch)
    assert inputs.attribution is not None
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "values.json", directory / "registry.json", directory / "record.jsonl"
    paths[0].write_bytes(inputs.documents()["values"])
    paths[1].write_bytes(inputs.documents()["registry"])
    paths[2].write_bytes(b"".join(inputs.attribution()))
    return paths


@pytest.fixture
def no_self_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dishonest operator skips settle's own check of the record before publishing it."""
    monkeypatch.setattr(_record, "check_record", lambda *args, **kwargs: [])


def _fields(report: Any) -> list[str]:
    return [m.field for m in report.mismatches]


def test_an_honest_epoch_passes_with_every_event_recomputed(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settled = settle_epoch(operator_ws, _inputs(chain))
    report = audit_epoch(watchdog_ws, settled.epoch)
    assert report.ok, report.mismatches
    assert "attribution" in report.checks
    folder = epoch_folder(chain.chain_id, operator_ws.client.address, 1)
    published = operator_ws.publish_dir.joinpath(*folder.parts) / "attribution.jsonl"
    assert published.read_bytes().count(b"\n") == 3  # a header and two events


def test_a_tampered_coalition_worth_is_a_mismatch_and_disputed(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, no_self_check: None
) -> None:
    def tamper(lines: list[dict[str, Any]]) -> None:
        worths = lines[1]["worths"]
        worths["9"] = str(int(worths["9"]) + 10**11)  # a0 with the base model: 0.1 more

    settle_epoch(operator_ws, _inputs(chain, line_edit=tamper))
    report = audit_epoch(watchdog_ws, 1)
    assert _fields(report) == ["attribution.events[e1].values"]
    assert "attribution.sha256" not in _fields(report)  # bound by the manifest: the operator's own
    result = challenge_epoch(watchdog_ws, 1)
    assert result.action == "dispute"
    assert [m.field for m in result.mismatches] == ["attribution.events[e1].values"]


def test_values_that_do_not_follow_from_their_tables_are_a_mismatch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, no_self_check: None
) -> None:
    def shift(document: dict[str, Any]) -> None:
        values = document["events"][1]["values"]
        values["a0"], values["a1"] = str(int(values["a0"]) + 1), str(int(values["a1"]) - 1)

    settle_epoch(operator_ws, _inputs(chain, values_edit=shift))
    report = audit_epoch(watchdog_ws, 1)
    # Mapping recomputes the manifest from these values without fault: only the record shows it.
    assert "recompute" in report.checks
    assert _fields(report) == ["attribution.events[e2].values"]
    (mismatch,) = report.mismatches
    assert "a0: " in mismatch.expected and mismatch.expected != mismatch.found


def test_asset_hashes_other_than_the_registrys_are_a_mismatch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, no_self_check: None
) -> None:
    def rehash(lines: list[dict[str, Any]]) -> None:
        lines[0]["assets"]["a2"] = "sha256:" + "00" * 32

    registry = _registry(chain)
    settle_epoch(operator_ws, _inputs(chain, line_edit=rehash))
    report = audit_epoch(watchdog_ws, 1)
    (mismatch,) = report.mismatches
    expected = next(a.content_hash for a in registry.assets if a.id == "a2")
    assert (mismatch.field, mismatch.expected, mismatch.found) == (
        "attribution.assets.a2",
        expected,
        "sha256:" + "00" * 32,
    )


def test_a_record_that_does_not_hash_to_the_manifests_entry_is_a_mismatch(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    folder = epoch_folder(chain.chain_id, operator_ws.client.address, 1)
    published = operator_ws.publish_dir.joinpath(*folder.parts) / "attribution.jsonl"
    lines = published.read_bytes().splitlines(keepends=True)
    published.write_bytes(b"".join([*lines, lines[-1]]))  # an event line repeated
    report = audit_epoch(watchdog_ws, 1)
    assert _fields(report)[0] == "attribution.sha256"
    assert any("more event lines than the header's 2" in m.found for m in report.mismatches)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\xff\xfe not json\n", b'{"format": "ame.attribution/1"}\n', b"[" * 100_000],
)
def test_a_hostile_record_ends_in_a_verdict_never_a_raise(
    operator_ws: Workspace, watchdog_ws: Workspace, chain: InProcessChain, garbage: bytes
) -> None:
    settle_epoch(operator_ws, _inputs(chain))
    folder = epoch_folder(chain.chain_id, operator_ws.client.address, 1)
    (operator_ws.publish_dir.joinpath(*folder.parts) / "attribution.jsonl").write_bytes(garbage)
    report = audit_epoch(watchdog_ws, 1)
    assert _fields(report)[:2] == ["attribution.sha256", "attribution"]


def test_settle_refuses_to_publish_a_record_that_does_not_explain_its_values(
    operator_ws: Workspace, chain: InProcessChain
) -> None:
    def tamper(lines: list[dict[str, Any]]) -> None:
        lines[2]["revenue"] = "1"

    with pytest.raises(
        WorkflowError,
        match=r"attribution.events\[e2\].revenue: expected 7000000000000000000, found 1",
    ):
        settle_epoch(operator_ws, _inputs(chain, line_edit=tamper))
    assert operator_ws.state.epoch(operator_ws.key(1)) is None
    assert not list(operator_ws.publish_dir.rglob("attribution.jsonl"))
