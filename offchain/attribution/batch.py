"""Attribution as batch work: events in batches on an executor, the same bits whatever runs them.

An event log is cut into batches of consecutive events; each batch is a task that an
executor runs: :class:`SerialExecutor` (this process), :class:`ProcessExecutor` (a
pool of local processes, the default) or :class:`DaskExecutor` (a Dask distributed
cluster, given its scheduler's address). A task receives a picklable
:class:`BatchSpec` (what the pipeline is and how it attributes: a scenario, an
``ame.pipeline/1`` configuration) and its batch of inputs; the worker process loads the
spec's pipeline once (:meth:`BatchSpec.load`, cached per process under the spec's
digest), attributes the batch with
:class:`~offchain.attribution.multistage.MultiStageAttribution`, and returns plain
records. The records are merged in event order into one
:class:`~offchain.attribution.multistage.MultiStageResult`.

Same bits whatever runs them. An event's split depends only on the spec and the event:
sampled valuations are seeded from ``(seed, event id, stage)``, never from a worker or a
position; every model a worker trains (the reference pipeline's subset retraining) is
seeded and trained with a fixed number of torch threads, so a worker that trains it
gets the bits another would; and the merge only reorders records, it adds nothing up.
The values document is therefore byte-identical whether the events ran in this
process, on local processes or on a cluster, in batches of 1 or all at once.

Warm-up. Work shared by every event (the reference pipeline's models retrained on every
subset of the datasets, the HF pipeline's training-gradient index) happens once per
worker process, lazily, the first time a batch needs it. Shipping it from the caller
instead was measured on the reference market (5 datasets, 3 adapters): the warmed
pipeline pickles to 52 MB and costs about 8 s to pickle and unpickle under load, but
the caller would then train all 2^m models one after another before any worker starts;
loading per worker lets the workers train at the same time and keeps the caller free
of torch (docs/attribution.md#attribution-on-a-cluster).

Resumability. Given ``checkpoint_dir``, every finished batch is written atomically to
``checkpoint_dir/<key>/`` as soon as it arrives, where ``<key>`` is the SHA-256 of the
spec's digest and every input: a run restarted with the same inputs reads the batches
already done and computes only the other events. A checkpoint file that does not
parse, has another key, or whose body does not match its recorded SHA-256 is ignored
and its events recomputed; nothing in it is trusted before those checks pass.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import hashlib
import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from ame_core.progress import Progress, quiet_progress
from offchain.attribution.multistage import EventAttribution, MultiStageResult, StageAttribution
from offchain.attribution.pipeline import PipelineEvent
from offchain.attribution.record import EventRecord
from offchain.exceptions import AttributionError

__all__ = [
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

#: Format tag of a checkpoint file (one finished batch).
CHECKPOINT_FORMAT: Final = "ame.batch-checkpoint/2"
# What every batch of one run must agree on: the result's valuation settings.
_META: Final = ("method", "negative", "seed", "precision", "settings")
#: Events per batch unless told: large enough that a task's overhead (pickling the
#: spec, a round trip to the scheduler) is small beside ~40 ms an event, small enough
#: that an interrupted run loses little.
DEFAULT_BATCH_SIZE: Final = 64

I = TypeVar("I")  # noqa: E741 - the input type of a spec, as in Protocol[I]
I_contra = TypeVar("I_contra", contravariant=True)
R = TypeVar("R")


@runtime_checkable
class BatchAttributor(Protocol[I_contra]):
    """A loaded pipeline that attributes batches of inputs (one per worker process)."""

    def attribute(
        self, inputs: Sequence[I_contra], progress: Progress = quiet_progress
    ) -> MultiStageResult:
        """The multi-stage split of each input's event, in input order.

        ``progress`` is the caller's when the batch runs in its process, else quiet.
        """
        ...


class BatchSpec(Protocol[I_contra]):
    """What a worker needs to attribute a batch: picklable, small, loaded once per process.

    Implementations: :class:`offchain.scenario.ScenarioBatchSpec` (the reference pipeline
    of a scenario) and :class:`offchain.attribution.hf.HFBatchSpec` (an
    ``ame.pipeline/1`` configuration).
    """

    def digest(self) -> str:
        """Hex SHA-256 of everything the values depend on except the inputs."""
        ...

    def load(self) -> BatchAttributor[I_contra]:
        """Build (and fit) the pipeline; called once per worker process."""
        ...

    def input_json(self, item: I_contra) -> Any:
        """One input as JSON data, to key checkpoints by the inputs."""
        ...

    def event_json(self, event: Any) -> Any:
        """An attributed event as JSON data (records and checkpoints carry it)."""
        ...

    def event_from_json(self, data: Any) -> PipelineEvent:
        """The event :meth:`event_json` wrote.

        Raises:
            InputError: If ``data`` is not such an event.
        """
        ...


@dataclass(frozen=True)
class _Task(Generic[I]):
    """One batch: its position in the log and its inputs."""

    first: int
    inputs: tuple[I, ...]


class BatchExecutor(Protocol):
    """Runs batch tasks, yielding each result as it finishes (any order)."""

    def run(
        self, fn: Callable[[Any, _Task[Any]], R], spec: Any, tasks: Sequence[_Task[Any]]
    ) -> Iterator[tuple[int, R]]:
        """Run ``fn(spec, task)`` for every task; yield ``(task index, result)``."""
        ...

    def describe(self) -> str:
        """Where the tasks run, for progress messages."""
        ...


class SerialExecutor:
    """Runs every batch in this process, one after another (the pipeline loads once)."""

    def run(
        self, fn: Callable[[Any, _Task[Any]], R], spec: Any, tasks: Sequence[_Task[Any]]
    ) -> Iterator[tuple[int, R]]:
        """Run the tasks in order in this process."""
        for index, task in enumerate(tasks):
            yield index, fn(spec, task)

    def describe(self) -> str:
        """``this process``."""
        return "this process"


class ProcessExecutor:
    """Runs batches on a pool of local processes (``spawn``: no state inherited).

    Each process loads the pipeline once, for its first batch. A single batch runs in
    this process, since a pool would only add a process start and a second load.

    Args:
        workers: Processes; default one per CPU (``os.cpu_count()``).

    Raises:
        InputError: If ``workers`` is not a positive int.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise InputError(f"workers: must be a positive int, got {workers!r}")
        self.workers = workers or os.cpu_count() or 1

    def run(
        self, fn: Callable[[Any, _Task[Any]], R], spec: Any, tasks: Sequence[_Task[Any]]
    ) -> Iterator[tuple[int, R]]:
        """Run the tasks on ``min(workers, len(tasks))`` processes."""
        if len(tasks) <= 1 or self.workers == 1:
            yield from SerialExecutor().run(fn, spec, tasks)
            return
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=context) as pool:
            futures = {pool.submit(fn, spec, task): i for i, task in enumerate(tasks)}
            try:
                for future in cf.as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()

    def describe(self) -> str:
        """``N local processes``."""
        return f"{self.workers} local processes"


class DaskExecutor:
    """Runs batches on a Dask distributed cluster (``pip install 'ame[dask]'``).

    The workers need this package importable (the same version as here): a task ships
    the spec and its inputs, never code. Each worker process loads the pipeline once.

    Args:
        address: The scheduler, e.g. ``tcp://10.0.0.5:8786``.
        timeout: Seconds to wait for the scheduler to answer.

    Raises:
        InputError: If ``address`` is not a ``scheme://host:port`` address, or
            ``timeout`` is not positive.
    """

    def __init__(self, address: str, *, timeout: float = 10.0) -> None:
        if (
            not isinstance(address, str)
            or "://" not in address
            or ":" not in address.split("://", 1)[1]
        ):
            raise InputError(
                f"scheduler: expected a Dask scheduler address like tcp://HOST:PORT, got {address!r}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise InputError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        self.address = address
        self.timeout = float(timeout)

    def run(
        self, fn: Callable[[Any, _Task[Any]], R], spec: Any, tasks: Sequence[_Task[Any]]
    ) -> Iterator[tuple[int, R]]:
        """Submit every task to the cluster and yield results as they finish."""
        try:
            import distributed as _distributed
        except ImportError:
            raise InputError(
                "scheduler: Dask is not installed; install the extra: pip install 'ame[dask]'"
            ) from None
        distributed: Any = _distributed  # untyped: its calls are checked by the tests
        try:
            client = distributed.Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise AttributionError(
                f"scheduler {self.address}: no Dask scheduler answered within "
                f"{self.timeout:g} s ({type(err).__name__}: {err})"
            ) from None
        with client:
            # pure=False: a batch is not worth hashing for Dask's result cache, and the
            # checkpoint already keeps finished batches.
            scattered = client.scatter(spec, broadcast=True, hash=False)
            futures = [client.submit(fn, scattered, task, pure=False) for task in tasks]
            index = {f.key: i for i, f in enumerate(futures)}
            try:
                for future in distributed.as_completed(futures, loop=client.loop):
                    yield index[future.key], future.result()
            finally:
                client.cancel(futures)

    def describe(self) -> str:
        """``the Dask cluster at ADDRESS``."""
        return f"the Dask cluster at {self.address}"


# -- the task, in the worker -----------------------------------------------------------

# One loaded pipeline per process, under its spec's digest; the lock serialises batches
# in a worker running several threads (Dask's default), since a pipeline's caches and
# torch's thread setting are not thread-safe.
_LOADED: dict[str, BatchAttributor[Any]] = {}
_LOCK = threading.Lock()
# The caller's progress, seen by batches that run in its own process only.
_PROGRESS: contextvars.ContextVar[Progress] = contextvars.ContextVar(
    "batch_progress", default=quiet_progress
)


def _run_batch(spec: BatchSpec[Any], task: _Task[Any]) -> dict[str, Any]:
    with _LOCK:
        key = spec.digest()
        attributor = _LOADED.get(key)
        if attributor is None:
            _LOADED.clear()  # one pipeline held per process: a new spec replaces the old
            attributor = _LOADED[key] = spec.load()
        result = attributor.attribute(task.inputs, _PROGRESS.get())
    return _batch_body(spec, task.first, result)


def _batch_body(spec: BatchSpec[Any], first: int, result: MultiStageResult) -> dict[str, Any]:
    return {
        "first": first,
        "method": result.method,
        "negative": result.negative,
        "seed": result.seed,
        "precision": result.precision,
        "settings": dict(result.settings),
        "events": [_event_record(spec, item) for item in result.events],
    }


def _event_record(spec: BatchSpec[Any], item: EventAttribution) -> dict[str, Any]:
    # Plain data: EventAttribution's read-only mappings do not pickle, and the record
    # is also the checkpoint's JSON. Floats survive JSON exactly (repr round-trips).
    return {
        "event": spec.event_json(item.event),
        "utility": item.utility,
        "method": item.method,
        "n_evaluations": item.n_evaluations,
        "notes": list(item.notes),
        "record": item.record.to_json(),
        "stages": [
            {
                "stage": stage,
                "assets": list(st.assets),
                "value": st.value,
                "amount": st.amount,
                "method": st.method,
                "asset_values": dict(st.asset_values),
                "asset_stderr": dict(st.asset_stderr),
                "amounts": dict(st.amounts),
            }
            for stage, st in item.stages.items()
        ],
    }


def _event_from_record(spec: BatchSpec[Any], record: Mapping[str, Any]) -> EventAttribution:
    stages = {
        s["stage"]: StageAttribution(
            s["stage"],
            tuple(s["assets"]),
            s["value"],
            s["amount"],
            s["method"],
            MappingProxyType(dict(s["asset_values"])),
            MappingProxyType(dict(s["asset_stderr"])),
            MappingProxyType(dict(s["amounts"])),
        )
        for s in record["stages"]
    }
    return EventAttribution(
        spec.event_from_json(record["event"]),
        record["utility"],
        MappingProxyType(stages),
        record["method"],
        record["n_evaluations"],
        EventRecord.from_json(record["record"], "checkpoint record"),
        tuple(record["notes"]),
    )


# -- the driver ------------------------------------------------------------------------


def checkpoint_key(spec: BatchSpec[I], inputs: Sequence[I]) -> str:
    """Hex SHA-256 naming a run's inputs: the spec's digest and every input, in order.

    Raises:
        TypeError: If an input's JSON form is not JSON.
    """
    digest = hashlib.sha256(f"{CHECKPOINT_FORMAT}\0{spec.digest()}\0".encode())
    for item in inputs:
        data = json.dumps(spec.input_json(item), sort_keys=True, separators=(",", ":"))
        digest.update(len(data).to_bytes(8, "big") + data.encode())
    return digest.hexdigest()


def _body_bytes(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _write_checkpoint(folder: Path, key: str, body: Mapping[str, Any]) -> None:
    data = _body_bytes(body)
    document = {
        "format": CHECKPOINT_FORMAT,
        "key": key,
        "sha256": hashlib.sha256(data).hexdigest(),
        "body": body,
    }
    name = f"batch-{body['first']:012d}-{len(body['events'])}.json"
    try:
        atomic_write(folder / name, _body_bytes(document))
    except OSError as err:
        raise InputError(f"{folder / name}: cannot write the checkpoint: {err}") from err


def _read_checkpoints(
    folder: Path, key: str, spec: BatchSpec[Any], n: int
) -> dict[int, tuple[EventAttribution, dict[str, Any]]]:
    """Every valid record under ``folder``, by event index; damaged files are skipped."""
    done: dict[int, tuple[EventAttribution, dict[str, Any]]] = {}
    if not folder.is_dir():
        return done
    for file in sorted(folder.glob("batch-*.json")):
        with contextlib.suppress(Exception):
            # Anything wrong (unreadable, not JSON, a repeated key, other key, body not
            # matching its digest, a record that does not decode) makes the file
            # worthless, not fatal.
            document = parse_json(
                file.read_bytes(), source=str(file), decimals=False, unique_keys=True
            )
            body = document["body"]
            if (
                document["format"] != CHECKPOINT_FORMAT
                or document["key"] != key
                or document["sha256"] != hashlib.sha256(_body_bytes(body)).hexdigest()
            ):
                continue
            first, records = body["first"], body["events"]
            if not (isinstance(first, int) and first >= 0 and first + len(records) <= n):
                continue
            items = [_event_from_record(spec, r) for r in records]
            meta = {k: body[k] for k in _META}
            for offset, item in enumerate(items):
                done.setdefault(first + offset, (item, meta))
    return done


def _batches(missing: Sequence[int], batch_size: int) -> list[tuple[int, int]]:
    """Runs of consecutive missing indices cut into ``(first, stop)`` of at most batch_size."""
    out: list[tuple[int, int]] = []
    start = None
    for position, index in enumerate(missing):
        if start is None:
            start = index
        end = index + 1
        if (
            position + 1 == len(missing)
            or missing[position + 1] != end
            or end - start == batch_size
        ):
            out.append((start, end))
            start = None
    return out


def attribute_in_batches(
    spec: BatchSpec[I],
    inputs: Sequence[I],
    *,
    executor: BatchExecutor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    checkpoint_dir: str | Path | None = None,
    progress: Progress = quiet_progress,
) -> MultiStageResult:
    """Attribute every input's event in batches on an executor, merged in input order.

    Args:
        spec: The pipeline and how it attributes (picklable).
        inputs: The events to attribute, as the spec takes them; ids distinct.
        executor: Where batches run; default a :class:`ProcessExecutor` (one process per
            CPU; a single batch runs in this process).
        batch_size: Events per batch.
        checkpoint_dir: Where finished batches are kept, to resume an interrupted run;
            None keeps nothing.
        progress: Told where the batches run and how many were resumed, advanced per
            finished batch.

    Returns:
        The split of every event, in the order of ``inputs``: the same bits for any
        executor, batch size and checkpoint state.

    Raises:
        InputError: If ``inputs`` is empty or ``batch_size`` is not a positive int, or a
            checkpoint cannot be written.
        AttributionError: If the executor cannot run (e.g. no scheduler answers), or
            batches disagree on the method, policy or seed.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: must be a positive int, got {batch_size!r}")
    if not inputs:
        raise InputError("events: need at least one event, got none")
    runner = ProcessExecutor() if executor is None else executor
    n = len(inputs)
    folder: Path | None = None
    done: dict[int, tuple[EventAttribution, dict[str, Any]]] = {}
    key = ""
    if checkpoint_dir is not None:
        key = checkpoint_key(spec, inputs)
        folder = Path(checkpoint_dir) / key
        done = _read_checkpoints(folder, key, spec, n)
    missing = [i for i in range(n) if i not in done]
    ranges = _batches(missing, batch_size)
    tasks = [_Task(a, tuple(inputs[a:b])) for a, b in ranges]
    resumed = f", {len(done)} resumed from the checkpoint" if done else ""
    progress.step(
        f"attributing {n} events in {len(tasks)} batches of up to {batch_size} on "
        f"{runner.describe()}{resumed}"
    )
    token = _PROGRESS.set(progress)
    try:
        _run_tasks(runner, spec, tasks, folder, key, done, progress, n)
    finally:
        _PROGRESS.reset(token)
    metas = {json.dumps(meta, sort_keys=True) for _, meta in done.values()}
    if len(metas) != 1:
        raise AttributionError(
            f"batches disagree on the method, policy, seed or settings: {sorted(metas)}"
        )
    meta = next(iter(done.values()))[1]
    events = tuple(done[i][0] for i in range(n))
    return MultiStageResult(
        events,
        meta["method"],
        meta["negative"],
        meta["seed"],
        meta["precision"],
        MappingProxyType(meta["settings"]),
    )


def _run_tasks(
    runner: BatchExecutor,
    spec: BatchSpec[Any],
    tasks: Sequence[_Task[Any]],
    folder: Path | None,
    key: str,
    done: dict[int, tuple[EventAttribution, dict[str, Any]]],
    progress: Progress,
    n: int,
) -> None:
    with progress.bar("events", n) as advance:
        advance(len(done))
        if tasks:
            for index, body in runner.run(_run_batch, spec, tasks):
                if folder is not None:
                    _write_checkpoint(folder, key, body)
                meta = {k: body[k] for k in _META}
                for offset, record in enumerate(body["events"]):
                    done[tasks[index].first + offset] = (_event_from_record(spec, record), meta)
                advance(len(body["events"]))
