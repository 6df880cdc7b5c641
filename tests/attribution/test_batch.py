"""Attribution as batch work: the same bytes whatever runs the batches, resumable runs."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import batch
from offchain.attribution.batch import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    attribute_in_batches,
    checkpoint_key,
)
from offchain.attribution.multistage import EventAttribution, MultiStageResult, StageAttribution
from offchain.exceptions import AttributionError
from offchain.scenario import (
    EventSpec,
    Scenario,
    ScenarioBatchSpec,
    attribute_scenario,
    parse_scenario,
    values_document,
)

pytestmark = pytest.mark.torch


def _doc() -> dict[str, Any]:
    events = [
        {"id": f"e{i}", "fact": {"dataset": "geo", "index": i % 4}, "revenue": str(10**18 + i),
         "date": "2026-02-01", **({"prompt": "plain"} if i % 2 else {})}
        for i in range(6)
    ]  # fmt: skip
    return {
        "format": "ame.scenario/1",
        "id": "batch",
        "seed": 0,
        "pipeline": {
            "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
            "train": {"pretrain_steps": 60, "n_checkpoints": 2},
        },
        "datasets": [
            {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 4}},
            {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 4, "vocabulary": 5}},
        ],
        "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
        "events": events,
    }  # fmt: skip


def _bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(_doc())


@pytest.fixture(scope="module")
def spec(scenario: Scenario) -> ScenarioBatchSpec:
    return ScenarioBatchSpec(scenario)


@pytest.fixture(scope="module")
def reference(scenario: Scenario) -> tuple[MultiStageResult, bytes]:
    """The one-process run, before batches existed: what every executor must give."""
    result, document = attribute_scenario(scenario)
    return result, _bytes(document)


def _document(result: MultiStageResult, scenario: Scenario) -> bytes:
    return _bytes(values_document(result, scenario))


class _Counting:
    """A serial executor that records the batches it runs."""

    def __init__(self) -> None:
        self.firsts: list[int] = []
        self.computed: list[int] = []
        self.sizes: list[int] = []

    def run(
        self, fn: Callable[[Any, Any], Any], spec: Any, tasks: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        self.firsts += [t.first for t in tasks]
        self.computed += [t.first + i for t in tasks for i in range(len(t.inputs))]
        self.sizes += [len(t.inputs) for t in tasks]
        yield from SerialExecutor().run(fn, spec, tasks)

    def describe(self) -> str:
        return "a counting executor"


def test_serial_batches_of_1_2_and_all_give_the_bytes_of_the_one_process_run(
    scenario: Scenario, spec: ScenarioBatchSpec, reference: tuple[MultiStageResult, bytes]
) -> None:
    for size in (1, 2, len(scenario.events)):
        result = attribute_in_batches(
            spec, scenario.events, executor=SerialExecutor(), batch_size=size
        )
        assert _document(result, scenario) == reference[1]


def test_batch_workers_value_with_the_scenarios_valuation_settings() -> None:
    from offchain.scenario import reference_pipeline, scenario_estimator

    scenario = parse_scenario({**_doc(), "valuation": {"max_evaluations": 64, "rank_patience": 2}})
    result = attribute_in_batches(
        ScenarioBatchSpec(scenario), scenario.events[:1], executor=SerialExecutor()
    )
    # What the record's header names, as the one-process estimator would have it.
    expected = scenario_estimator(scenario, reference_pipeline(scenario)).settings()
    assert dict(result.settings) == expected
    assert (expected["max_evaluations"], expected["rank_patience"]) == (64, 2)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_batch_size_and_any_order_of_any_events_give_each_event_its_own_split(
    data: st.DataObject,
    scenario: Scenario,
    spec: ScenarioBatchSpec,
    reference: tuple[MultiStageResult, bytes],
) -> None:
    chosen: list[EventSpec] = data.draw(
        st.lists(st.sampled_from(scenario.events), min_size=1, unique_by=lambda e: e.id)
    )
    size = data.draw(st.integers(1, len(chosen) + 1))
    result = attribute_in_batches(spec, chosen, executor=SerialExecutor(), batch_size=size)
    full = reference[0]
    expected = MultiStageResult(
        tuple(full.event(e.id) for e in chosen), full.method, full.negative, full.seed
    )
    assert _document(result, scenario) == _document(expected, scenario)


def test_a_local_process_pool_gives_the_same_bytes(
    scenario: Scenario, spec: ScenarioBatchSpec, reference: tuple[MultiStageResult, bytes]
) -> None:
    result = attribute_in_batches(spec, scenario.events, executor=ProcessExecutor(2), batch_size=2)
    assert _document(result, scenario) == reference[1]


def test_a_two_worker_local_dask_cluster_gives_the_same_bytes(
    scenario: Scenario, spec: ScenarioBatchSpec, reference: tuple[MultiStageResult, bytes]
) -> None:
    distributed = pytest.importorskip("distributed")
    # The scheduler's HTTP server binds 8787 even without a dashboard: a free loopback
    # port instead, so two clusters (xdist workers) never collide.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        for size in (1, len(scenario.events)):
            result = attribute_in_batches(
                spec,
                scenario.events,
                executor=DaskExecutor(cluster.scheduler_address),
                batch_size=size,
            )
            assert _document(result, scenario) == reference[1]


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(kept=st.sets(st.integers(0, 5)), size=st.integers(1, 7))
def test_a_run_resumes_from_the_batches_its_checkpoint_holds_and_computes_only_the_rest(
    kept: set[int],
    size: int,
    scenario: Scenario,
    spec: ScenarioBatchSpec,
    reference: tuple[MultiStageResult, bytes],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        attribute_in_batches(
            spec, scenario.events, executor=SerialExecutor(), batch_size=1, checkpoint_dir=folder
        )
        files = sorted((Path(folder) / checkpoint_key(spec, scenario.events)).glob("batch-*"))
        assert len(files) == len(scenario.events)
        for index, file in enumerate(files):
            if index not in kept:
                file.unlink()  # as if the run had been killed before this batch finished
        counting = _Counting()
        result = attribute_in_batches(
            spec, scenario.events, executor=counting, batch_size=size, checkpoint_dir=folder
        )
    assert _document(result, scenario) == reference[1]
    missing = [i for i in range(len(scenario.events)) if i not in kept]
    assert sorted(counting.computed) == missing
    assert all(n <= size for n in counting.sizes)


def _damage_bytes(file: Path) -> None:
    file.write_bytes(b"\xff" + file.read_bytes()[1:])


def _damage_value(file: Path) -> None:
    document = json.loads(file.read_bytes())
    document["body"]["events"][0]["stages"][0]["amount"] += 1  # valid JSON, wrong digest
    file.write_text(json.dumps(document))


def _damage_key(file: Path) -> None:
    document = json.loads(file.read_bytes())
    document["key"] = "0" * 64
    file.write_text(json.dumps(document))


def _repeat_key(file: Path) -> None:
    # Another key first: a parser keeping the last of two would read the file as it was.
    file.write_bytes(b'{"key":"' + b"0" * 64 + b'",' + file.read_bytes()[1:])


def _truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[:50])


@pytest.mark.parametrize(
    "damage", [_damage_bytes, _damage_value, _damage_key, _repeat_key, _truncate]
)
def test_a_damaged_checkpoint_is_recomputed_never_trusted(
    tmp_path: Path,
    damage: Callable[[Path], None],
    scenario: Scenario,
    spec: ScenarioBatchSpec,
    reference: tuple[MultiStageResult, bytes],
) -> None:
    attribute_in_batches(
        spec, scenario.events, executor=SerialExecutor(), batch_size=2, checkpoint_dir=tmp_path
    )
    files = sorted((tmp_path / checkpoint_key(spec, scenario.events)).glob("batch-*.json"))
    damage(files[1])
    counting = _Counting()
    result = attribute_in_batches(
        spec, scenario.events, executor=counting, batch_size=2, checkpoint_dir=tmp_path
    )
    assert _document(result, scenario) == reference[1]
    assert counting.firsts == [2]


def test_the_checkpoint_key_names_the_inputs_the_method_and_their_order(
    scenario: Scenario, spec: ScenarioBatchSpec
) -> None:
    events = list(scenario.events)
    key = checkpoint_key(spec, events)
    assert checkpoint_key(spec, events[::-1]) != key
    assert checkpoint_key(spec, events[:-1]) != key
    assert checkpoint_key(ScenarioBatchSpec(scenario, "owen"), events) != key
    assert checkpoint_key(ScenarioBatchSpec(scenario), events) == key


def test_an_unreachable_scheduler_fails_clearly_within_its_timeout(
    spec: ScenarioBatchSpec, scenario: Scenario
) -> None:
    pytest.importorskip("distributed")
    start = time.monotonic()
    with pytest.raises(AttributionError, match=r"tcp://127\.0\.0\.1:9: no Dask scheduler"):
        attribute_in_batches(
            spec, scenario.events, executor=DaskExecutor("tcp://127.0.0.1:9", timeout=2)
        )
    assert time.monotonic() - start < 60  # a hang guard: the timeout is 2 s


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "tcp://nohost", "", 8786])
def test_a_malformed_scheduler_address_is_refused_naming_it(address: Any) -> None:
    with pytest.raises(InputError, match="scheduler: expected a Dask scheduler address"):
        DaskExecutor(address)


def test_without_dask_the_scheduler_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, spec: ScenarioBatchSpec, scenario: Scenario
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(InputError, match=r"pip install 'ame\[dask\]'"):
        attribute_in_batches(spec, scenario.events, executor=DaskExecutor("tcp://127.0.0.1:9"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size: must be a positive int, got 0"),
        ({"batch_size": True}, "batch_size: must be a positive int, got True"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(
    kwargs: dict[str, Any], message: str, spec: ScenarioBatchSpec, scenario: Scenario
) -> None:
    with pytest.raises(InputError, match=message):
        attribute_in_batches(spec, scenario.events, executor=_Counting(), **kwargs)
    with pytest.raises(InputError, match="events: need at least one event"):
        attribute_in_batches(spec, [], executor=_Counting())
    with pytest.raises(InputError, match="workers: must be a positive int, got 0"):
        ProcessExecutor(0)
    with pytest.raises(InputError, match="method: must be one of"):
        ScenarioBatchSpec(scenario, "banzhaf")  # type: ignore[arg-type]


def test_records_carry_every_field_of_an_attribution() -> None:
    # A field added to these classes must reach the records (batch._event_record).
    assert [f.name for f in dataclasses.fields(EventAttribution)] == [
        "event", "utility", "stages", "method", "n_evaluations", "record", "notes",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(StageAttribution)] == [
        "stage", "assets", "value", "amount", "method", "asset_values", "asset_stderr", "amounts",
    ]  # fmt: skip


def test_batch_exports() -> None:
    assert batch.__all__ == [
        "CHECKPOINT_FORMAT",
        "DEFAULT_BATCH_SIZE",
        "BatchAttributor",
        "BatchExecutor",
        "BatchSpec",
        "DaskExecutor",
        "ProcessExecutor",
        "SerialExecutor",
        "attribute_in_batches",
        "checkpoint_key",
    ]
