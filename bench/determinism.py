"""Benchmark: how far coalition worths drift between machine settings, and what does not.

An auditor recomputes an event's coalition worths (the utilities ``v(S)`` of the stage
game) on a machine of their own; the floats they get depend on the floating-point
kernels that run: how many threads split a reduction, whether torch's deterministic
algorithms are on, which SIMD code path ATen dispatches to (``ATEN_CPU_CAPABILITY``)
and which one MKL takes (``MKL_CBWR``; on an AMD CPU MKL takes another path than on an
Intel one, which is how the README's demo differed between machines). This script runs
the same pipeline once per configuration, **each configuration its own process** (the
environment variables are read when the libraries load), and compares every worth with
the baseline's (1 thread, deterministic algorithms off, default kernels):

- the reference pipeline on the demo's market (``--size demo``) or a small one
  (``--size small``), trained from scratch in every run: its counterfactual models
  (one per subset of the datasets) are part of its definition, so an auditor retrains
  them too;
- the tiny Hugging Face market of ``ame demo --market hf``: its models are published
  assets an auditor loads, never retrains, so the baseline trains and writes them and
  every other run reads them, indexes the training gradients (projected TracIn) and
  scores the events. ``--hf-retrain`` has every run train its own models instead, to
  show what retraining on another machine would do;
- every coalition multi-stage attribution evaluates, for every event (the published
  table of an attribution record), and the data stage's TracIn scores (HF);
- the events' outputs are the baseline's (an auditor scores the logged output, never a
  regeneration); whether a configuration's own greedy outputs match is reported too;
- after the utilities: each configuration also replays the baseline's worths and
  influence rows through multi-stage attribution and the ``ame.values/1`` document,
  and reports the document's SHA-256: the same utilities must give the same bytes.

Reported: per configuration, how many worths are bit-identical, the largest absolute
and relative drift, whether the trained weights are bit-identical, and whether the
replay's values document is; then the distribution of all drifts (absolute and
relative: median, 99th percentile, max) against
the tolerance the audit uses (:mod:`offchain.attribution.tolerance`): the retraining
one for the reference pipeline on the demo's market (its counterfactual models are
retrained, hundreds of steps), the scoring one otherwise. A table, then one JSON line.

Usage::

    .venv/bin/python bench/determinism.py                       # both pipelines, demo size
    .venv/bin/python bench/determinism.py --pipelines hf --configs baseline threads-2
    .venv/bin/python bench/determinism.py --size small          # seconds per configuration
    .venv/bin/python bench/determinism.py --render run1.txt run2.txt  # docs block from runs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from ame_core.canonical import canonical_json, sha256_hex  # noqa: E402
from bench._docblocks import replace_block  # noqa: E402
from bench._machine import describe, machine  # noqa: E402
from offchain.attribution.tolerance import (  # noqa: E402
    RETRAINED_UTILITY_TOLERANCE,
    UTILITY_TOLERANCE,
    Tolerance,
)

if TYPE_CHECKING:
    from offchain.attribution.multistage import Method


@dataclasses.dataclass(frozen=True)
class Config:
    """One way of running the pipeline: threads, deterministic algorithms, environment.

    Attributes:
        name: Short id, as the table shows it.
        threads: ``torch.set_num_threads`` (and ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``).
        deterministic: ``torch.use_deterministic_algorithms``.
        env: Extra environment of the process (kernel selection).
    """

    name: str
    threads: int = 1
    deterministic: bool = False
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("baseline"),
        Config("threads-2", threads=2),
        Config("deterministic", deterministic=True),
        Config("threads-2-deterministic", threads=2, deterministic=True),
        # ATen's vectorised kernels (softmax, reductions, elementwise) on another ISA.
        Config("aten-avx2", env={"ATEN_CPU_CAPABILITY": "avx2"}),
        Config("aten-default", env={"ATEN_CPU_CAPABILITY": "default"}),
        # MKL's GEMM on its CPU-independent path, and on its AVX2 path (an AVX2-only CPU).
        Config("mkl-compatible", env={"MKL_CBWR": "COMPATIBLE"}),
        Config("avx2-machine", env={"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}),
        # numpy's OpenBLAS (the TracIn aggregation and the subspace fit use numpy).
        Config("openblas-haswell", env={"OPENBLAS_CORETYPE": "Haswell"}),
    )
}
PIPELINES = ("reference", "hf")
SIZES = ("demo", "small")


def coalition_key(coalition: frozenset[str]) -> str:
    """A coalition as one string: its sorted ids joined by ``+`` (``""`` when empty)."""
    return "+".join(sorted(coalition))


# -- the worker: one configuration, one process ----------------------------------------


class _Recording:
    """A pipeline that records every worth and influence row attribution asks it for.

    It passes every call to ``pipe`` (an ``AttributionPipeline``) and keeps the answers:
    what an attribution record publishes.
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.worths: dict[str, dict[str, float]] = {}
        self.stages: dict[str, dict[str, list[str]]] = {}
        self.influence_rows: dict[str, dict[str, float]] = {}

    @property
    def seed(self) -> int:
        return int(self.pipe.seed)

    def assets(self, event: Any) -> Mapping[str, tuple[str, ...]]:
        stages: Mapping[str, tuple[str, ...]] = self.pipe.assets(event)
        self.stages[event.id] = {s: list(ids) for s, ids in stages.items()}
        return stages

    def asset_game(self, event: Any, *, free_disposal: bool = True) -> Any:
        game = self.pipe.asset_game(event, free_disposal=free_disposal)
        table = self.worths.setdefault(event.id, {})

        def worth(coalition: frozenset[str]) -> float:
            value = float(game(coalition))
            table[coalition_key(coalition)] = value
            return value

        return worth

    def influence(self, events: Sequence[Any], *, projection_dim: int | None = None) -> Any:
        scores = self.pipe.influence(events, projection_dim=projection_dim)
        for i, event in enumerate(events):
            self.influence_rows[event.id] = scores.row(i)
        return scores


@dataclasses.dataclass(frozen=True)
class _Logged:
    """An event as an attribution record names it: what the replay needs, no model."""

    id: str
    revenue: int
    prompt: str | None
    adapter: str | None
    text: str


class _Replay:
    """A pipeline whose worths and influence rows are read from a recorded table."""

    def __init__(self, recorded: Mapping[str, Any], seed: int) -> None:
        self._worths = recorded["worths"]
        self._stages = recorded["stages"]
        self._influence = recorded["influence"]
        self._seed = seed

    @property
    def seed(self) -> int:
        return self._seed

    def assets(self, event: _Logged) -> dict[str, tuple[str, ...]]:
        return {s: tuple(ids) for s, ids in self._stages[event.id].items()}

    def asset_game(self, event: _Logged, *, free_disposal: bool = True) -> Any:
        table = self._worths[event.id]
        return lambda coalition: float(table[coalition_key(coalition)])

    def influence(self, events: Sequence[_Logged], *, projection_dim: int | None = None) -> Any:
        from offchain.attribution.tda import GroupedScores

        groups = tuple(self._influence[events[0].id])
        values = np.array([[self._influence[e.id][g] for g in groups] for e in events])
        return GroupedScores(groups, values, np.ones(len(groups), dtype=np.int64), "sum")


def _values_digest(result: Any, epoch: int = 1) -> str:
    """SHA-256 of the canonical ``ame.values/1`` document of ``result``."""
    from offchain.attribution.values import EventTerms, values_document

    terms = {item.event.id: EventTerms(True, dt.date(2026, 1, 1)) for item in result.events}
    return sha256_hex(canonical_json(values_document(result, epoch=epoch, terms=terms)))


def _replay(recorded: Mapping[str, Any], method: dict[str, Any], seed: int) -> str:
    """The values document's SHA-256 from the recorded worths, through this process."""
    from offchain.attribution.multistage import MultiStageAttribution

    fields = [f.name for f in dataclasses.fields(_Logged)]
    events = [_Logged(**{name: e[name] for name in fields}) for e in recorded["events"]]
    estimator = MultiStageAttribution(_Replay(recorded, seed), seed=seed, **method)
    return _values_digest(estimator.fit(events).result)


def _reference_pipeline(size: str, threads: int) -> tuple[Any, list[Any], int, Method]:
    """The reference pipeline (fitted), its events, seed and within-stage method."""
    from offchain.attribution.reference.pipeline import ReferencePipeline
    from offchain.attribution.reference.settings import (
        CorpusSettings,
        PipelineSettings,
        TrainSettings,
    )
    from offchain.scenario import reference_scenario

    if size == "demo":
        scenario = reference_scenario()
        settings = scenario.settings().model_copy(update={"threads": threads})
        pipe = ReferencePipeline(
            settings,
            corpora=scenario.corpora(),
            base_model=scenario.base_model.id,
            owner=scenario.base_model.owner,
        ).fit()
        events = [
            pipe.run(
                scenario.request(e),
                prompt=e.prompt,
                adapter=e.adapter,
                revenue=e.revenue,
                event_id=e.id,
            )
            for e in scenario.events
        ]
        return pipe, events, scenario.seed, "shapley"
    # Small: fewer facts, a few dozen optimisation steps, and the data stage split by
    # exact TracIn rather than by retraining on its 32 subsets: seconds, not minutes.
    settings = PipelineSettings(
        corpus=CorpusSettings(n_countries=4, n_animals=4, n_irrelevant=8, n_adapter_facts=6),
        train=TrainSettings(pretrain_steps=40, adapter_epochs=5, n_checkpoints=2),
        threads=threads,
    )
    pipe = ReferencePipeline(settings).fit()
    return pipe, pipe.sample_events(3, seed=7), settings.seed, "tracin"


def _run_reference(
    size: str, threads: int, events_from: Mapping[str, Any] | None
) -> dict[str, Any]:
    import torch

    from offchain.attribution.multistage import MultiStageAttribution
    from offchain.attribution.reference.pipeline import Event

    pipe, own, seed, method = _reference_pipeline(size, threads)
    outputs = {e.id: list(e.output) for e in own}
    events = own
    if events_from is not None:  # score the baseline's outputs, as an auditor would
        events = [Event(**{**e, "output": tuple(e["output"])}) for e in events_from["events"]]
    recording = _Recording(pipe)
    result = MultiStageAttribution(recording, method=method, seed=seed).fit(events).result
    weights = b"".join(
        p.detach().contiguous().numpy().tobytes() for p in pipe.base.model.parameters()
    )
    return {
        "method": {"method": method},
        "seed": seed,
        "events": [{**dataclasses.asdict(e), "output": list(e.output)} for e in events],
        "own_outputs": outputs,
        "worths": recording.worths,
        "stages": recording.stages,
        "influence": recording.influence_rows,
        "values_sha256": _values_digest(result),
        "weights_sha256": sha256_hex(weights),
        "torch": torch.__version__,
    }


def _weights_digest(models: Path) -> str:
    """SHA-256 over the weight files under ``models`` (not their configs' metadata)."""
    digest = hashlib.sha256()
    for path in sorted(models.rglob("*.safetensors")):
        digest.update(path.relative_to(models).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _run_hf(market_dir: Path) -> dict[str, Any]:
    import torch

    from ame.demos.hf_market import write_hf_market
    from offchain.attribution.hf import load_events, load_pipeline_config
    from offchain.attribution.hf.config import build_pipeline
    from offchain.attribution.multistage import MultiStageAttribution

    # The models are published assets: an auditor loads the operator's weights, never
    # retrains them. The first run trains and writes them, the others read them.
    pipeline_file = market_dir / "pipeline.yaml"
    retrained = not pipeline_file.exists()
    if retrained:
        write_hf_market(market_dir)
    config = load_pipeline_config(pipeline_file)
    events = load_events(market_dir / "events.jsonl")
    cache = market_dir / "cache"
    if cache.exists():  # each run indexes the training gradients itself
        shutil.rmtree(cache)
    pipe = build_pipeline(config)
    settings = config.attribution
    method: dict[str, Any] = {
        "method": settings.method,
        "projection_dim": settings.projection_dim,
    }
    recording = _Recording(pipe)
    result = MultiStageAttribution(recording, seed=settings.seed, **method).fit(events).result
    return {
        "method": method,
        "seed": settings.seed,
        "events": [
            {
                "id": e.id,
                "revenue": e.revenue,
                "prompt": e.prompt,
                "adapter": e.adapter,
                "text": e.text,
            }
            for e in events
        ],
        "own_outputs": {},
        "trained_here": retrained,
        "worths": recording.worths,
        "stages": recording.stages,
        "influence": recording.influence_rows,
        "values_sha256": _values_digest(result),
        "weights_sha256": _weights_digest(market_dir / "models"),
        "torch": torch.__version__,
    }


def worker(
    pipeline: str,
    size: str,
    config: Config,
    events_from: Mapping[str, Any] | None,
    replay: Mapping[str, Any] | None,
    market: Path,
) -> dict[str, Any]:
    """Run ``pipeline`` in this process under ``config``: its worths and digests.

    Args:
        pipeline: ``"reference"`` or ``"hf"``.
        size: ``"demo"`` or ``"small"`` (the reference pipeline only).
        config: Threads and deterministic algorithms to set here (its environment was
            set by whoever started this process).
        events_from: A baseline run whose events (outputs) are scored instead of this
            run's own greedy outputs.
        replay: A baseline run whose worths are replayed through attribution here.
        market: The HF market's directory: written (trained) when empty, else read.

    Returns:
        The run, JSON-ready: ``worths`` (event id -> coalition key -> worth),
        ``influence``, ``values_sha256``, ``weights_sha256``, ``replay_sha256``,
        ``capability`` (ATen's), ``seconds``.
    """
    import torch

    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(config.deterministic)
    start = time.perf_counter()
    if pipeline == "reference":
        out = _run_reference(size, config.threads, events_from)
    else:
        out = _run_hf(market)
    seconds = time.perf_counter() - start
    source = replay if replay is not None else out
    return {
        **out,
        "pipeline": pipeline,
        "size": size,
        "config": config.name,
        "capability": torch.backends.cpu.get_cpu_capability(),
        "replay_sha256": _replay(source, source["method"], int(source["seed"])),
        "seconds": round(seconds, 2),
    }


# -- the driver: one process per configuration ----------------------------------------


def run_config(
    pipeline: str,
    size: str,
    config: Config,
    workdir: Path,
    baseline: Path | None = None,
    timeout: float = 3600,
    retrain: bool = False,
) -> dict[str, Any]:
    """Run :func:`worker` in a fresh process with ``config``'s environment.

    Args:
        pipeline: ``"reference"`` or ``"hf"``.
        size: ``"demo"`` or ``"small"``.
        config: The configuration.
        workdir: Where the run's JSON is written (``<pipeline>-<config>.json``).
        baseline: The baseline's JSON: its events are scored and its worths replayed.
        timeout: Seconds before the process is given up.
        retrain: The HF market's models trained by this run, not read from the baseline's.

    Returns:
        The worker's result.

    Raises:
        RuntimeError: If the process fails (its stderr's tail in the message).
    """
    out = workdir / f"{pipeline}-{config.name}.json"
    env = {
        **os.environ,
        # Threads that sleep rather than spin while they wait: on a shared machine two
        # spinning threads slow a run tenfold. The results do not depend on it.
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(config.threads),
        "MKL_NUM_THREADS": str(config.threads),
        **config.env,
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        config.name,
        *("--pipelines", pipeline, "--size", size, "--out", str(out)),
        *("--market", str(workdir / ("hf-market-" + config.name if retrain else "hf-market"))),
    ]
    if baseline is not None:
        argv += ["--baseline", str(baseline)]
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{pipeline}/{config.name} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def tolerance_for(pipeline: str, size: str, retrain: bool = False) -> Tolerance:
    """The audit's tolerance for ``pipeline``'s worths: retraining or scoring."""
    retrained = (pipeline == "reference" and size == "demo") or (pipeline == "hf" and retrain)
    return RETRAINED_UTILITY_TOLERANCE if retrained else UTILITY_TOLERANCE


def drift(
    baseline: Mapping[str, Any],
    other: Mapping[str, Any],
    tolerance: Tolerance = UTILITY_TOLERANCE,
) -> dict[str, Any]:
    """Every worth and influence score of ``other`` against ``baseline``'s.

    Returns:
        ``abs`` and ``rel`` (lists over the values both runs have; ``rel`` over values
        with ``|baseline| >= 1e-9``), ``identical`` and ``compared`` counts, ``missing``
        (values one run evaluated and the other did not), ``outside`` (values outside
        ``tolerance``), for worths and influence scores apart.
    """
    out: dict[str, Any] = {}
    for part in ("worths", "influence"):
        ab: list[float] = []
        rel: list[float] = []
        identical = missing = outside = 0
        for event, table in baseline[part].items():
            theirs = other[part].get(event, {})
            missing += len(set(table) ^ set(theirs))
            for key, ref in table.items():
                if key not in theirs:
                    continue
                value = float(theirs[key])
                identical += value == ref
                ab.append(abs(value - ref))
                if abs(ref) >= 1e-9:
                    rel.append(abs(value - ref) / abs(ref))
                if part == "worths" and not tolerance.allows(value, ref):
                    outside += 1
        out[part] = {
            "abs": ab,
            "rel": rel,
            "identical": identical,
            "compared": len(ab),
            "missing": missing,
            "outside": outside,
        }
    return out


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "p99": 0.0, "max": 0.0}
    array = np.asarray(values)
    return {
        "median": float(np.median(array)),
        "p99": float(np.quantile(array, 0.99)),
        "max": float(array.max()),
    }


def measure(
    pipelines: Sequence[str],
    size: str,
    configs: Sequence[Config],
    workdir: Path,
    *,
    retrain: bool = False,
) -> dict[str, Any]:
    """Run every configuration of every pipeline and compare each with the baseline.

    The first configuration is the baseline; it runs first, and every other one scores
    its events and replays its worths. ``retrain``: see :func:`run_config`.

    Returns:
        The report, JSON-ready (see the module): per pipeline, per configuration and
        the pooled drift distribution.
    """
    report: dict[str, Any] = {"size": size, "pipelines": {}}
    for pipeline in pipelines:
        base_config, *others = configs
        tolerance = tolerance_for(pipeline, size, retrain)
        base = run_config(pipeline, size, base_config, workdir, retrain=retrain)
        base_path = workdir / f"{pipeline}-{base_config.name}.json"
        rows = []
        pooled: dict[str, list[float]] = {"abs": [], "rel": [], "infl_abs": [], "infl_rel": []}
        for config in [base_config, *others]:
            run = (
                base
                if config is base_config
                else run_config(
                    pipeline, size, config, workdir, baseline=base_path, retrain=retrain
                )
            )
            d = drift(base, run, tolerance)
            worths, influence = d["worths"], d["influence"]
            if config is not base_config:
                pooled["abs"] += worths["abs"]
                pooled["rel"] += worths["rel"]
                pooled["infl_abs"] += influence["abs"]
                pooled["infl_rel"] += influence["rel"]
            rows.append(
                {
                    "config": config.name,
                    "threads": config.threads,
                    "deterministic": config.deterministic,
                    "env": dict(config.env),
                    "capability": run["capability"],
                    "seconds": run["seconds"],
                    "worths": worths["compared"],
                    "identical": worths["identical"],
                    "missing": worths["missing"],
                    "outside": worths["outside"],
                    "max_abs": max(worths["abs"], default=0.0),
                    "max_rel": max(worths["rel"], default=0.0),
                    "influence": influence["compared"],
                    "influence_identical": influence["identical"],
                    "influence_max_rel": max(influence["rel"], default=0.0),
                    "weights_identical": run["weights_sha256"] == base["weights_sha256"],
                    "own_outputs_identical": run["own_outputs"] == base["own_outputs"],
                    "values_identical": run["values_sha256"] == base["values_sha256"],
                    "replay_identical": run["replay_sha256"] == base["replay_sha256"],
                }
            )
        report["pipelines"][pipeline] = {
            "tolerance": {"absolute": tolerance.absolute, "relative": tolerance.relative},
            "configs": rows,
            "worths_abs": _stats(pooled["abs"]),
            "worths_rel": _stats(pooled["rel"]),
            "influence_abs": _stats(pooled["infl_abs"]),
            "influence_rel": _stats(pooled["infl_rel"]),
            "compared": len(pooled["abs"]),
        }
    return report


def _table(report: Mapping[str, Any]) -> str:
    lines = []
    header = (
        f"{'pipeline':<10}{'configuration':<26}{'ISA':>8}{'worths':>8}{'same':>6}"
        f"{'max abs':>10}{'max rel':>10}{'out':>5}{'weights':>9}{'values':>8}{'replay':>8}"
        f"{'s':>7}"
    )
    lines += [header, "-" * len(header)]
    for pipeline, part in report["pipelines"].items():
        for row in part["configs"]:
            lines.append(
                f"{pipeline:<10}{row['config']:<26}{row['capability']:>8}{row['worths']:>8}"
                f"{row['identical']:>6}{row['max_abs']:>10.1e}{row['max_rel']:>10.1e}"
                f"{row['outside']:>5}{'same' if row['weights_identical'] else 'differ':>9}"
                f"{'same' if row['values_identical'] else 'differ':>8}"
                f"{'same' if row['replay_identical'] else 'DIFFER':>8}{row['seconds']:>7.1f}"
            )
    lines.append("")
    for pipeline, part in report["pipelines"].items():
        a, r = part["worths_abs"], part["worths_rel"]
        lines.append(
            f"{pipeline}: {part['compared']} worths compared with the baseline's; absolute drift "
            f"median {a['median']:.1e}, p99 {a['p99']:.1e}, max {a['max']:.1e} nats; relative "
            f"median {r['median']:.1e}, p99 {r['p99']:.1e}, max {r['max']:.1e}"
        )
        tol = part["tolerance"]
        lines.append(
            f"{pipeline}: the audit's tolerance |a - b| <= {tol['absolute']:g} + "
            f"{tol['relative']:g} * |b| (offchain.attribution.tolerance)"
        )
    return "\n".join(lines)


BEGIN, END = "<!-- determinism:begin -->", "<!-- determinism:end -->"


def _replayed(identical: bool | None) -> str:
    return "not checked" if identical is None else "same" if identical else "DIFFER"


def markdown_block(summaries: Sequence[Mapping[str, Any]]) -> str:
    """The docs block (markers included) of one or more runs' JSON lines.

    Each run states its command's options, the machine and its load; then one table row
    per pipeline and configuration, and the pooled drift of each pipeline.
    """
    lines = [BEGIN]
    rows = [
        "| pipeline | configuration | ISA | worths | bit-identical | max abs drift (nats) "
        "| max rel drift | outside tolerance | weights | replayed values |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    notes = []
    for summary in summaries:
        host = summary["machine"]
        retrain = summary.get("hf_retrain", False)
        size = summary["size"]
        lines.append(
            f"`python bench/determinism.py --size {size}"
            + (" --hf-retrain" if retrain else "")
            + f" --pipelines {' '.join(summary['pipelines'])}`"
            f" on {host['cpu']}, {host['cpus']} CPUs, load average {host['load']:.1f}."
        )
        for pipeline, part in summary["pipelines"].items():
            label = (
                f"{pipeline} ({'retrained' if retrain else 'published weights'})"
                if pipeline == "hf"
                else f"{pipeline} ({size})"
            )
            for row in part["configs"]:
                if row["config"] == "baseline":
                    continue
                env = " ".join(f"{k}={v}" for k, v in row["env"].items())
                rows.append(
                    f"| {label} | {row['config']}"
                    + (f" (`{env}`)" if env else "")
                    + f" | {row['capability']} | {row['worths']} | {row['identical']} "
                    f"| {row['max_abs']:.1e} | {row['max_rel']:.1e} | {row['outside']} "
                    f"| {'same' if row['weights_identical'] else 'differ'} "
                    f"| {_replayed(row['replay_identical'])} |"
                )
            a, r, tol = part["worths_abs"], part["worths_rel"], part["tolerance"]
            notes.append(
                f"{label}: {part['compared']} worths compared; absolute drift median "
                f"{a['median']:.1e}, 99th percentile {a['p99']:.1e}, max {a['max']:.1e} "
                f"nats; relative median {r['median']:.1e}, 99th percentile {r['p99']:.1e}, "
                f"max {r['max']:.1e}; tolerance {tol['absolute']:g} + {tol['relative']:g} |b|."
            )
    lines += ["", *rows, "", *(f"- {note}" for note in notes), END]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--size", choices=SIZES, default="demo")
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(CONFIGS),
        default=list(CONFIGS),
        help="configurations, the first the baseline",
    )
    parser.add_argument(
        "--hf-retrain", action="store_true", help="each run trains the HF market's models"
    )
    parser.add_argument("--workdir", type=Path, help="where each run's JSON goes (default: temp)")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=REPO / "docs" / "attribution.md",
        help="markdown whose determinism block --render rewrites (default: docs/attribution.md)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        help="rewrite the markdown block from the JSON lines of these saved runs, not running",
    )
    parser.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--market", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.render:
        summaries = [json.loads(p.read_text().splitlines()[-1]) for p in args.render]
        replace_block(args.markdown, markdown_block(summaries))
        print(f"rewrote the determinism block of {args.markdown} from {len(summaries)} runs")
        return 0
    if args.worker is not None:
        base = json.loads(args.baseline.read_text()) if args.baseline else None
        result = worker(args.pipelines[0], args.size, CONFIGS[args.worker], base, base, args.market)
        # Not sorted: the order of an event's stages is part of its attribution (it
        # orders the document and breaks the apportionment's ties).
        args.out.write_text(json.dumps(result))
        return 0

    load = machine()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        configs = [CONFIGS[c] for c in args.configs]
        report = measure(args.pipelines, args.size, configs, workdir, retrain=args.hf_retrain)
    print(
        f"AME determinism benchmark ({describe(load['load'])} at the start; size "
        f"{args.size}{', HF models retrained by every run' if args.hf_retrain else ''})\n"
    )
    print(_table(report))
    summary = {
        "bench": "determinism",
        "machine": load,
        "size": args.size,
        "hf_retrain": args.hf_retrain,
        "seconds": round(time.perf_counter() - start, 1),
        "pipelines": report["pipelines"],
        "within_tolerance": all(
            row["outside"] == 0 for part in report["pipelines"].values() for row in part["configs"]
        ),
        "replay_identical": all(
            row["replay_identical"]
            for part in report["pipelines"].values()
            for row in part["configs"]
        ),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
