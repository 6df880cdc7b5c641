"""Benchmark: attribution as batch work, events per second on each executor.

Prints a table, then one JSON line. For each market, the same event log (the market's
events repeated under new ids up to ``--events``) is attributed three ways, each against
the serial run of the same invocation:

- ``serial``: every batch in this process (:class:`SerialExecutor`);
- ``processes``: a pool of ``--workers`` local processes (:class:`ProcessExecutor`);
- ``dask``: a ``distributed.LocalCluster`` of ``--workers`` one-thread workers bound to
  127.0.0.1 (:class:`DaskExecutor`).

``cold`` is a run from nothing: each worker loads the pipeline (the reference market:
fits it, then retrains the models of every subset of the datasets the first events
need) before attributing. ``warm`` runs the log again on the same workers (this process;
the same cluster), pipelines loaded: the steady state. A local pool does not outlive
its run, so it has no warm row. The values document of every run must be byte-identical
to the serial one's (same SHA-256); the script exits 1 otherwise.

Markets: ``reference`` (the embedded scenario: 5 datasets, 3 adapters), ``small`` (2
datasets, no adapter, a small model: warm-up in seconds) and ``hf`` (the HF demo's tiny
GPT-2, LoRA adapter and three datasets, projected TracIn).

``--steady N`` measures instead the reference market's per-event cost in the steady
state, on one thread (per core): the pipeline fitted and every subset's model trained
(the warm-up, excluded), then ``MultiStageAttribution.fit`` timed on ``N`` events with
no score cached. ``distinct`` events each ask a request through a prompt and an adapter
no other one does (every coalition's forward pass is new: the worst case); ``log``
events are ``sample_events(N)``, whose outputs repeat as a market's would (a row
scored once is looked up after). With ``--baseline DIR`` the same timing runs on the
code of the tree ``DIR`` (e.g. a checkout of main) in a subprocess, on the same warmed
pipeline, and every event's record must be byte-identical to this tree's.

Targets (issue #16): a 2-worker LocalCluster >= 1.7x one worker on a 10,000-event log;
<= 5 ms per event per core in the steady state.

Usage::

    .venv/bin/python bench/attribution_scale.py
    .venv/bin/python bench/attribution_scale.py --markets reference,hf --events 200
    .venv/bin/python bench/attribution_scale.py --steady 400 --baseline ../main
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ame_core.documents import read_document
from bench._machine import describe, machine
from offchain.attribution.batch import (
    BatchExecutor,
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
)

_SMALL: dict[str, Any] = {
    "model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "max_len": 12},
    "train": {"pretrain_steps": 60, "n_checkpoints": 2},
}


def _repeat(events: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [{**events[i % len(events)], "id": f"ev{i:07d}"} for i in range(n)]


def _scenario_run(kind: str, n: int) -> Callable[[BatchExecutor, int], bytes]:
    from importlib import resources

    from offchain.scenario import ScenarioBatchSpec, parse_scenario, values_document

    text = resources.files("offchain.scenario").joinpath("data/reference.yaml").read_text()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reference.yaml"
        path.write_text(text)
        doc: dict[str, Any] = read_document(path)  # type: ignore[assignment]
    doc.pop("rights", None)
    for event in doc["events"]:
        event.pop("reference", None)
    if kind == "small":
        doc = {
            "format": "ame.scenario/1", "id": "small", "seed": 0, "pipeline": _SMALL,
            "datasets": [
                {"id": "geo", "owner": "alice", "generate": {"kind": "facts", "relation": "capital", "count": 4}},
                {"id": "walk", "owner": "erin", "generate": {"kind": "random_walk", "sentences": 4, "vocabulary": 5}},
            ],
            "prompts": [{"id": "plain", "author": "paula", "template": "the {request} is"}],
            "events": [
                {"id": "a", "fact": {"dataset": "geo", "index": i}, "revenue": "1000", "date": "2026-02-01",
                 **({"prompt": "plain"} if i % 2 else {})}
                for i in range(4)
            ],
        }  # fmt: skip
    doc["events"] = _repeat(doc["events"], n)
    scenario = parse_scenario(doc)
    spec = ScenarioBatchSpec(scenario)

    def run(executor: BatchExecutor, batch_size: int) -> bytes:
        from offchain.attribution.batch import attribute_in_batches

        result = attribute_in_batches(
            spec, scenario.events, executor=executor, batch_size=batch_size
        )
        return json.dumps(values_document(result, scenario), indent=2).encode()

    return run


def _hf_run(n: int, folder: Path) -> Callable[[BatchExecutor, int], bytes]:
    from ame.demos.hf_market import write_hf_market
    from offchain.attribution.hf import load_events
    from offchain.attribution.hf.config import attribute_events, load_pipeline_config

    market = write_hf_market(folder)
    lines = [json.loads(line) for line in market.events.read_text().splitlines()]
    market.events.write_text("".join(json.dumps(e) + "\n" for e in _repeat(lines, n)))
    config = load_pipeline_config(market.pipeline)
    events = load_events(market.events)

    def run(executor: BatchExecutor, batch_size: int) -> bytes:
        document = attribute_events(config, events, executor=executor, batch_size=batch_size)[1]
        return json.dumps(document, indent=2).encode()

    return run


def _timed(
    run: Callable[[BatchExecutor, int], bytes], executor: BatchExecutor, size: int
) -> tuple[float, str]:
    start = time.perf_counter()
    data = run(executor, size)
    return time.perf_counter() - start, hashlib.sha256(data).hexdigest()


# Times MultiStageAttribution.fit on a pickled warmed pipeline's event logs, on one
# thread; self-contained (public API only) so it runs on another tree's code too.
_STEADY = """
import hashlib, json, pickle, sys, time
import torch
torch.set_num_threads(1)
from offchain.attribution.multistage import MultiStageAttribution
pipe, logs = pickle.load(open(sys.argv[1], "rb"))
out = {}
for name, events in logs.items():
    fresh = pipe.with_options()  # the trained models, no score cached
    start = time.perf_counter()
    result = MultiStageAttribution(fresh).fit(events).result
    seconds = time.perf_counter() - start
    lines = b"".join(
        json.dumps(e.record.to_json(), sort_keys=True).encode() + b"\\n" for e in result.events
    )
    out[name] = {"events": len(events), "seconds": seconds,
                 "sha256": hashlib.sha256(lines).hexdigest()}
print(json.dumps(out))
"""


def _steady(n: int, baseline: Path | None, folder: Path) -> list[dict[str, Any]]:
    """Per-event steady-state cost of the reference market, this tree and ``baseline``."""
    import pickle
    import subprocess

    from offchain.attribution.multistage import MultiStageAttribution
    from offchain.attribution.reference.pipeline import ReferencePipeline

    start = time.perf_counter()
    pipe = ReferencePipeline().fit()
    facts = [f for f in pipe.corpora.facts if f.dataset in pipe.datasets]
    combos = [
        (f.request, p, a)
        for f in facts
        for p in (None, *pipe.prompts)
        for a in (None, *pipe.adapters)
    ]
    distinct = [
        pipe.run(r, prompt=p, adapter=a, revenue=10**18, event_id=f"d{i:05d}")
        for i, (r, p, a) in enumerate(combos[:n])
    ]
    # The warm-up: every subset's model and adapters, trained by attributing a few events.
    MultiStageAttribution(pipe).fit([e for e in distinct if e.adapter is not None][:2])
    warm = time.perf_counter() - start
    logs = {"distinct": distinct, "log": pipe.sample_events(n, seed=7)}
    path = folder / "steady.pkl"
    path.write_bytes(pickle.dumps((pipe.with_options(), logs)))
    rows = []
    trees = [("this tree", Path(__file__).resolve().parent.parent)]
    if baseline is not None:
        trees.append((f"baseline {baseline}", baseline.resolve()))
    for label, tree in trees:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(
            [sys.executable, "-c", _STEADY, str(path)],
            env=env, cwd=tree, check=True, capture_output=True, text=True,
        )  # fmt: skip
        for name, row in json.loads(done.stdout.splitlines()[-1]).items():
            rows.append(
                {"tree": label, "log": name, "events": row["events"],
                 "seconds": round(row["seconds"], 3),
                 "ms_per_event": round(1000 * row["seconds"] / row["events"], 2),
                 "sha256": row["sha256"], "warm_up_s": round(warm, 1)}
            )  # fmt: skip
    return rows


def _print_steady(rows: list[dict[str, Any]], n: int) -> bool:
    ours = {r["log"]: r for r in rows if r["tree"] == "this tree"}
    ok = True
    print(f"reference market, steady state, one thread, {n} events per log; {describe()}")
    print(f"{'tree':<28} {'log':<9} {'events':>6} {'s':>8} {'ms/event':>9} {'x base':>7}  same")
    base = {r["log"]: r for r in rows if r["tree"] != "this tree"}
    for r in rows:
        ref = base.get(r["log"], r)
        r["speedup"] = round(ref["seconds"] / r["seconds"], 2)
        r["identical"] = r["sha256"] == ours[r["log"]]["sha256"]
        ok = ok and r["identical"]
        print(
            f"{r['tree']:<28} {r['log']:<9} {r['events']:>6} {r['seconds']:>8.2f} "
            f"{r['ms_per_event']:>9.2f} {r['speedup']:>7.2f}  {'yes' if r['identical'] else 'NO'}"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady", type=int, default=0, help="per-event steady state, N events")
    parser.add_argument("--baseline", type=Path, help="tree to compare --steady against")
    parser.add_argument("--markets", default="small,reference,hf")
    parser.add_argument("--events", type=int, default=200, help="events per log")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--executors", default="serial,processes,dask", help="which to time (serial always)"
    )
    args = parser.parse_args()
    if args.steady:
        with tempfile.TemporaryDirectory() as tmp:
            steady = _steady(args.steady, args.baseline, Path(tmp))
        same = _print_steady(steady, args.steady)
        print(json.dumps({"bench": "attribution_steady", "machine": machine(),
                          "rows": steady, "identical": same}, sort_keys=True))  # fmt: skip
        return 0 if same else 1
    import distributed

    rows: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for market in args.markets.split(","):
            run = (
                _hf_run(args.events, Path(tmp) / "hf")
                if market == "hf"
                else _scenario_run(market, args.events)
            )

            def record(
                executor_name: str, phase: str, seconds: float, digest: str, market: str = market
            ) -> None:
                rows.append(
                    {"market": market, "executor": executor_name, "phase": phase,
                     "seconds": round(seconds, 2), "events_per_s": round(args.events / seconds, 2),
                     "sha256": digest}
                )  # fmt: skip

            serial = SerialExecutor()
            record("serial", "cold", *_timed(run, serial, args.batch_size))
            record("serial", "warm", *_timed(run, serial, args.batch_size))
            if "processes" in args.executors.split(","):
                record(
                    "processes",
                    "cold",
                    *_timed(run, ProcessExecutor(args.workers), args.batch_size),
                )
            if "dask" not in args.executors.split(","):
                continue
            with distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            ) as cluster:  # fmt: skip
                dask = DaskExecutor(cluster.scheduler_address)
                record("dask", "cold", *_timed(run, dask, args.batch_size))
                record("dask", "warm", *_timed(run, dask, args.batch_size))
    for row in rows:
        base = next(
            r for r in rows
            if r["market"] == row["market"] and r["executor"] == "serial" and r["phase"] == row["phase"]
        )  # fmt: skip
        row["speedup"] = round(base["seconds"] / row["seconds"], 2)
        row["identical"] = row["sha256"] == base["sha256"]
        ok = ok and row["identical"]
    load = os.getloadavg()
    print(
        f"{args.events} events per log, batches of {args.batch_size}, {args.workers} workers; "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"load average {load[0]:.1f} at the end"
    )
    print(
        f"{'market':<10} {'executor':<10} {'phase':<5} {'s':>8} {'events/s':>9} {'x serial':>8}  same bytes"
    )
    for r in rows:
        print(
            f"{r['market']:<10} {r['executor']:<10} {r['phase']:<5} {r['seconds']:>8.2f} "
            f"{r['events_per_s']:>9.2f} {r['speedup']:>8.2f}  {'yes' if r['identical'] else 'NO'}"
        )
    report = {
        "bench": "attribution_scale",
        "events": args.events,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load": round(load[0], 1),
        "rows": rows,
        "identical": ok,
    }
    print(json.dumps(report, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
