"""The Hugging Face pipeline as batch work: the bytes of the one-process run, on any executor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ame.demos.hf_market import HFMarket, write_hf_market
from ame_core.exceptions import InputError
from offchain.attribution.batch import DaskExecutor, ProcessExecutor, SerialExecutor
from offchain.attribution.hf import load_events
from offchain.attribution.hf.config import (
    HFBatchSpec,
    attribute_events,
    build_pipeline,
    load_pipeline_config,
)

pytestmark = pytest.mark.torch


def _bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> HFMarket:
    return write_hf_market(tmp_path_factory.mktemp("hf-batch"))


@pytest.fixture(scope="module")
def reference(market: HFMarket) -> bytes:
    config = load_pipeline_config(market.pipeline)
    return _bytes(attribute_events(config, load_events(market.events))[1])


def _batched(market: HFMarket, **kwargs: Any) -> bytes:
    config = load_pipeline_config(market.pipeline)
    return _bytes(attribute_events(config, load_events(market.events), **kwargs)[1])


def test_serial_batches_of_1_and_2_give_the_bytes_of_the_one_process_run(
    market: HFMarket, reference: bytes
) -> None:
    for size in (1, 2):
        assert _batched(market, executor=SerialExecutor(), batch_size=size) == reference


def test_local_processes_and_a_local_dask_cluster_give_the_same_bytes(
    market: HFMarket, reference: bytes
) -> None:
    assert _batched(market, executor=ProcessExecutor(2), batch_size=3) == reference
    distributed = pytest.importorskip("distributed")
    # The scheduler's HTTP server binds 8787 even without a dashboard: a free loopback
    # port instead, so two clusters (xdist workers) never collide.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        assert _batched(market, executor=executor, batch_size=2) == reference


def test_a_checkpoint_resumes_and_events_survive_their_records(
    market: HFMarket, reference: bytes, tmp_path: Path
) -> None:
    kwargs: dict[str, Any] = {"executor": SerialExecutor(), "batch_size": 2}
    assert _batched(market, checkpoint_dir=tmp_path, **kwargs) == reference
    assert _batched(market, checkpoint_dir=tmp_path, **kwargs) == reference
    config = load_pipeline_config(market.pipeline)
    spec = HFBatchSpec.of(config)
    assert HFBatchSpec.of(config) == spec
    events = load_events(market.events)
    assert [spec.event_from_json(spec.event_json(e)) for e in events] == list(events)
    with pytest.raises(InputError, match=r"event\.date: expected an ISO date"):
        spec.event_from_json({**spec.event_json(events[0]), "date": "someday"})


def test_a_loaded_pipeline_is_not_shipped_to_workers(market: HFMarket) -> None:
    config = load_pipeline_config(market.pipeline)
    with pytest.raises(InputError, match="pipeline: a loaded pipeline is used in this process"):
        attribute_events(
            config,
            load_events(market.events),
            pipeline=build_pipeline(config),
            executor=SerialExecutor(),
        )
