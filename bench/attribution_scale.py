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
state, on one thread (per core; wall-clock and the process's CPU time, which a loaded
machine inflates less): the pipeline fitted and every subset's model trained
(the warm-up, excluded), then ``MultiStageAttribution.fit`` timed on ``N`` events with
no score cached. ``distinct`` events each ask a request through a prompt and an adapter
no other one does (every coalition's forward pass is new: the worst case); ``log``
events are ``sample_events(N)``, whose outputs repeat as a market's would (a row
scored once is looked up after). With ``--baseline DIR`` the same timing runs on the
code of the tree ``DIR`` (e.g. a checkout of main) in a subprocess, on the same warmed
pipeline, and every event's record must be byte-identical to this tree's.

``--checkpoint DIR`` makes a long run resumable: each run keeps its finished batches in
``DIR/<market>-<executor>-<phase>`` (with the time spent up to its last finished batch)
and each finished run is logged in ``DIR/runs.jsonl``; the same command rerun after an
interruption reads the finished runs and resumes the others from their batches (a
resumed run also pays its workers' warm-up again). Every executor timed cold and warm is
extrapolated to 1,000,000 events: its warm-up once (cold minus warm) plus a million
times the warm run's time per event.

Targets (issue #16): a 2-worker LocalCluster >= 1.7x one worker on a 10,000-event log;
<= 5 ms per event per core in the steady state; 1,000,000 events in <= 1 hour,
extrapolated from a measured 100,000-event run.

Usage::

    .venv/bin/python bench/attribution_scale.py
    .venv/bin/python bench/attribution_scale.py --markets reference,hf --events 200
    .venv/bin/python bench/attribution_scale.py --steady 400 --baseline ../main
    .venv/bin/python bench/attribution_scale.py --markets reference --events 100000 \\
        --batch-size 256 --executors serial,dask --checkpoint .bench/attr100k
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ame_core.documents import read_document
from ame_core.files import atomic_write
from ame_core.progress import Progress, quiet_progress
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


Run = Callable[[BatchExecutor, int, "Path | None", Progress], bytes]


def _scenario_run(kind: str, n: int) -> Run:
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

    def run(
        executor: BatchExecutor, batch_size: int, checkpoint: Path | None, progress: Progress
    ) -> bytes:
        from offchain.attribution.batch import attribute_in_batches

        result = attribute_in_batches(
            spec, scenario.events, executor=executor, batch_size=batch_size,
            checkpoint_dir=checkpoint, progress=progress,
        )  # fmt: skip
        return json.dumps(values_document(result, scenario), indent=2).encode()

    return run


def _hf_run(n: int, folder: Path) -> Run:
    from ame.demos.hf_market import write_hf_market
    from offchain.attribution.hf import load_events
    from offchain.attribution.hf.config import attribute_events, load_pipeline_config

    market = write_hf_market(folder)
    lines = [json.loads(line) for line in market.events.read_text().splitlines()]
    market.events.write_text("".join(json.dumps(e) + "\n" for e in _repeat(lines, n)))
    config = load_pipeline_config(market.pipeline)
    events = load_events(market.events)

    def run(
        executor: BatchExecutor, batch_size: int, checkpoint: Path | None, progress: Progress
    ) -> bytes:
        document = attribute_events(
            config, events, executor=executor, batch_size=batch_size,
            checkpoint_dir=checkpoint, progress=progress,
        )[1]  # fmt: skip
        return json.dumps(document, indent=2).encode()

    return run


class _Clock:
    """Progress that keeps a run's elapsed time in ``path`` after every finished batch,
    so a run interrupted and resumed from its checkpoint counts the time already spent
    (up to its last finished batch) and prints where it is."""

    def __init__(self, path: Path | None, label: str) -> None:
        self.path, self.label = path, label
        self.before = float(path.read_text()) if path is not None and path.exists() else 0.0
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start

    def step(self, message: str) -> None:
        print(f"[{self.label}] {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            seconds = self.elapsed()
            if self.path is not None:
                atomic_write(self.path, f"{seconds:.3f}")
            if n and done[0] < total:
                rate = done[0] / seconds if seconds else 0.0
                print(
                    f"[{self.label}] {done[0]}/{total} {label}, {seconds:.0f} s, "
                    f"{rate:.1f}/s, about {(total - done[0]) / rate if rate else 0:.0f} s left",
                    file=sys.stderr, flush=True,
                )  # fmt: skip

        yield advance


def _timed(
    run: Run, executor: BatchExecutor, size: int, folder: Path | None, label: str
) -> tuple[float, str]:
    """Seconds and SHA-256 of one run; with ``folder``, resumable (see ``--checkpoint``)."""
    checkpoint = None if folder is None else folder / label
    clock = _Clock(None if checkpoint is None else checkpoint / "elapsed", label)
    data = run(executor, size, checkpoint, clock)
    return clock.elapsed(), hashlib.sha256(data).hexdigest()


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
    start, cpu = time.perf_counter(), time.process_time()
    result = MultiStageAttribution(fresh).fit(events).result
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    lines = b"".join(
        json.dumps(e.record.to_json(), sort_keys=True).encode() + b"\\n" for e in result.events
    )
    out[name] = {"events": len(events), "seconds": seconds, "cpu_seconds": cpu,
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
                 "cpu_ms_per_event": round(1000 * row["cpu_seconds"] / row["events"], 2),
                 "sha256": row["sha256"], "warm_up_s": round(warm, 1)}
            )  # fmt: skip
    return rows


def _print_steady(rows: list[dict[str, Any]], n: int) -> bool:
    ours = {r["log"]: r for r in rows if r["tree"] == "this tree"}
    ok = True
    print(f"reference market, steady state, one thread, {n} events per log; {describe()}")
    print(
        f"{'tree':<28} {'log':<9} {'events':>6} {'s':>8} {'ms/event':>9} {'cpu ms':>7} "
        f"{'x base':>7}  same"
    )
    base = {r["log"]: r for r in rows if r["tree"] != "this tree"}
    for r in rows:
        ref = base.get(r["log"], r)
        r["speedup"] = round(ref["seconds"] / r["seconds"], 2)
        r["identical"] = r["sha256"] == ours[r["log"]]["sha256"]
        ok = ok and r["identical"]
        print(
            f"{r['tree']:<28} {r['log']:<9} {r['events']:>6} {r['seconds']:>8.2f} "
            f"{r['ms_per_event']:>9.2f} {r['cpu_ms_per_event']:>7.2f} {r['speedup']:>7.2f}  "
            f"{'yes' if r['identical'] else 'NO'}"
        )
    return ok


MILLION = 1_000_000


def _finished_runs(folder: Path | None) -> dict[str, dict[str, Any]]:
    """The runs an earlier invocation with the same ``--checkpoint`` finished, by label."""
    if folder is None or not (folder / "runs.jsonl").exists():
        return {}
    rows = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    return {f"{r['market']}-{r['executor']}-{r['phase']}": r for r in rows}


def _extrapolate(rows: Sequence[dict[str, Any]], events: int) -> list[dict[str, Any]]:
    """A million events on each executor timed cold and warm: its warm-up once (the cold
    run's excess over the warm one: loading, training every subset's model) plus a
    million times the warm run's time per event."""
    out = []
    for warm in rows:
        if warm["phase"] != "warm":
            continue
        cold = next(
            (r for r in rows if r["phase"] == "cold"
             and (r["market"], r["executor"]) == (warm["market"], warm["executor"])),
            None,
        )  # fmt: skip
        if cold is None:
            continue
        per_event = warm["seconds"] / events
        warm_up = max(cold["seconds"] - warm["seconds"], 0.0)
        out.append(
            {"market": warm["market"], "executor": warm["executor"],
             "warm_up_s": round(warm_up, 1), "ms_per_event": round(1000 * per_event, 3),
             "seconds": round(warm_up + MILLION * per_event, 1), "from_events": events}
        )  # fmt: skip
    return out


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
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="keep every run's finished batches and finished runs here: the same command "
        "rerun after an interruption resumes where it stopped",
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

    folder: Path | None = args.checkpoint
    finished = _finished_runs(folder)
    rows: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for market in args.markets.split(","):
            run = (
                _hf_run(args.events, Path(tmp) / "hf")
                if market == "hf"
                else _scenario_run(market, args.events)
            )

            def timed(
                executor_name: str,
                phase: str,
                executor: BatchExecutor,
                market: str = market,
                run: Run = run,
            ) -> None:
                label = f"{market}-{executor_name}-{phase}"
                row = finished.get(label)
                if row is None:
                    if phase == "warm" and label.replace("-warm", "-cold") in finished:
                        # Its cold run was done by an earlier invocation: warm these
                        # workers first on a short log, untimed.
                        short = max(2 * args.workers * args.batch_size, 8)
                        warm_up = (
                            _hf_run(short, Path(tmp) / "hf-warm")
                            if market == "hf"
                            else _scenario_run(market, short)
                        )
                        warm_up(executor, args.batch_size, None, quiet_progress)
                    seconds, digest = _timed(run, executor, args.batch_size, folder, label)
                    row = {"market": market, "executor": executor_name, "phase": phase,
                           "seconds": round(seconds, 2),
                           "events_per_s": round(args.events / seconds, 2), "sha256": digest}  # fmt: skip
                    if folder is not None:
                        with (folder / "runs.jsonl").open("a") as log:
                            log.write(json.dumps(row, sort_keys=True) + "\n")
                rows.append(row)

            serial = SerialExecutor()
            executors = args.executors.split(",")
            timed("serial", "cold", serial)
            timed("serial", "warm", serial)
            if "processes" in executors:
                timed("processes", "cold", ProcessExecutor(args.workers))
            if "dask" not in executors:
                continue
            with distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            ) as cluster:  # fmt: skip
                dask = DaskExecutor(cluster.scheduler_address)
                timed("dask", "cold", dask)
                timed("dask", "warm", dask)
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
    extrapolated = _extrapolate(rows, args.events)
    for line in extrapolated:
        print(
            f"{MILLION:,} events, {line['market']} on {line['executor']}: warm-up "
            f"{line['warm_up_s']:.0f} s + {MILLION:,} x {line['ms_per_event']:.2f} ms = "
            f"{line['seconds']:.0f} s ({line['seconds'] / 3600:.2f} h); target <= 1 h: "
            f"{'met' if line['seconds'] <= 3600 else 'missed'}"
        )
    report = {
        "bench": "attribution_scale",
        "extrapolated": extrapolated,
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
