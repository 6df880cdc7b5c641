r"""Audit layer 2: every published coalition worth recomputed on the auditor's machine.

Layer 1 (:mod:`ame.workflow._record`) proves that the values follow, exactly, from the
published table of worths. Layer 2 asks whether the table itself is what the pipeline
gives: ``ame audit EPOCH --recompute-utilities`` reruns the operator's pipeline, from
assets the auditor loads, on the sampled events, and compares each worth.

1. **The pipeline.** The record's header names it (``pipeline.kind``): ``"reference"``
   is an ``ame.scenario/1`` market (the embedded reference market is used when the
   header names it; any other scenario file the auditor passes), ``"hf"`` an
   ``ame.pipeline/1`` configuration pointing at the auditor's own copies of the model,
   adapters and datasets. Before anything runs, every asset the auditor loads is hashed
   and compared with the header's content hashes, and the scenario's digest (or the
   configuration's settings) with the header's: a difference is a finding naming the
   asset or setting, and nothing is rerun on other data.
2. **The events.** The record names each output by its SHA-256 only. A scenario holds
   its events (requests), which the pipeline answers again; an HF log is passed by the
   auditor (``--events``): outputs are what users were served, which an operator may not
   publish, and the hash binds whatever log the auditor obtains. Every output is hashed
   and compared with the record's ``output``; a mismatch is a finding and the event is
   not scored (a worth of another text proves nothing).
3. **The sample.** Without ``--sample`` every event, up to :data:`FULL_RERUN_LIMIT`;
   beyond that, or with ``--sample K``, the ``K`` events whose
   ``SHA-256(f"{seed}\0{event id}")`` are smallest (:func:`sample_events`): a seeded
   choice anyone can repeat, independent of the record's order, that the operator
   cannot predict before the auditor picks the seed.
4. **The rerun** (:class:`offchain.scenario.PipelineRerun`, the torch half, handed in
   as a :class:`Rerunner`: the workflow never loads torch). Each sampled event goes
   through :class:`~offchain.attribution.multistage.MultiStageAttribution` with the header's
   settings: the very code path that evaluated the operator's worths (the pipeline
   protocol's asset game, quantized to the record's precision), so the rerun evaluates
   the coalitions the operator's did. A published coalition the rerun did not evaluate
   is evaluated through the same asset game. The data stage's scores are asked one event
   at a time (``influence_batch=1``): an operator that batched them differs in float32
   rounding only.
5. **The comparison.** Each worth, and each given within-stage value (TracIn scores,
   sampled Shapley or Owen values, recomputed from the header's seed), must be within the
   tolerance of its regime (:mod:`offchain.attribution.tolerance`): the reference
   pipeline trains every model it scores from the published recipe and data, and an HF
   pipeline with a ``retrain`` recipe retrains its counterfactuals, so their worths get
   ``RETRAINED_UTILITY_TOLERANCE``; an HF pipeline scoring the published weights gets
   ``UTILITY_TOLERANCE``. Each difference is reported in tolerance units,
   :math:`|v_\text{published} - v_\text{recomputed}| / (a + r |v_\text{published}|)`,
   and its distribution per kind (worths, given values): a unit above 1 is a mismatch.

Bounds: at most :data:`MAX_SAMPLE` events, :data:`MAX_EXTRA_WORTHS` coalitions evaluated
beyond the rerun's own per event, and ``time_limit`` seconds (checked between events).
Whatever cannot be rerun is a finding ``could not recompute: <reason>``: never a raise,
never a pass.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, Any, Final, Protocol

from ame.workflow._record import Finding
from ame_core.exceptions import AmeError, InputError
from offchain.attribution.record import EventRecord, RecordHeader, read_record
from offchain.attribution.tolerance import (
    RETRAINED_UTILITY_TOLERANCE,
    UTILITY_TOLERANCE,
    Tolerance,
)

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "FULL_RERUN_LIMIT",
    "MAX_EXTRA_WORTHS",
    "MAX_SAMPLE",
    "RECOMPUTE_FAILED",
    "Drift",
    "Recomputation",
    "Recompute",
    "Rerunner",
    "recompute_record",
    "sample_events",
]

#: Without ``--sample``, records with more events than this are sampled down to it.
FULL_RERUN_LIMIT: Final = 100
#: The most events one audit reruns (``--sample`` above it is refused).
MAX_SAMPLE: Final = 10_000
#: Coalitions a published table may hold beyond those the rerun evaluates, per event.
MAX_EXTRA_WORTHS: Final = 1024
#: Seconds the rerun may take by default (checked between events).
DEFAULT_TIME_LIMIT: Final = 3600.0
#: How the finding of a rerun that could not run starts.
RECOMPUTE_FAILED: Final = "could not recompute: "
_QUANTILES: Final = (0.5, 0.9, 0.99)


class Rerunner(Protocol):
    """What reruns a record's pipeline on the auditor's machine.

    :class:`offchain.scenario.PipelineRerun` is the implementation (the reference and
    Hugging Face pipelines); the workflow never loads torch, so it is handed one.
    """

    def load(self, header: RecordHeader, records: Sequence[EventRecord]) -> Sequence[Any]:
        """Load the pipeline and the events; each difference from the record's
        assets, settings and outputs, as objects with ``field``, ``expected``, ``found``."""
        ...

    def loaded(self, event_id: str) -> bool:
        """Whether the event can be rerun (loaded, its output the record's)."""
        ...

    def rerun(self, record: EventRecord, *, max_extra: int) -> EventRecord:
        """The event's record recomputed: every coalition of ``record``'s table evaluated."""
        ...


@dataclass(frozen=True)
class Recompute:
    """What the auditor reruns (``ame audit --recompute-utilities``).

    Attributes:
        rerunner: Loads the pipeline and reruns events (e.g.
            :class:`offchain.scenario.PipelineRerun` over the auditor's files).
        sample: Events to rerun, chosen by :func:`sample_events`; None: every event up
            to :data:`FULL_RERUN_LIMIT`, a sample of that many beyond.
        seed: Seed of the sample.
        time_limit: Seconds the rerun may take (checked between events).

    Raises:
        InputError: A field is out of range (named in the message).
    """

    rerunner: Rerunner
    sample: int | None = None
    seed: int = 0
    time_limit: float = DEFAULT_TIME_LIMIT

    def __post_init__(self) -> None:
        sample = self.sample
        if sample is not None and (
            isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE
        ):
            raise InputError(f"sample: must be an int in 1..{MAX_SAMPLE}, got {sample!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed: must be an int >= 0, got {self.seed!r}")
        limit = self.time_limit
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
            raise InputError(f"time_limit: must be a number of seconds > 0, got {limit!r}")


@dataclass(frozen=True)
class Drift:
    """How far recomputed numbers of one kind are from the published ones.

    Attributes:
        kind: ``"worths"`` or ``"given"`` (within-stage values not derived from worths).
        tolerance: The tolerance they are compared within.
        regime: ``"scoring"`` or ``"retrained"``: why that tolerance.
        units: Each ``|published - recomputed|`` over its tolerance bound, sorted.
    """

    kind: str
    tolerance: Tolerance
    regime: str
    units: tuple[float, ...]

    @property
    def outside(self) -> int:
        """How many are outside the tolerance (more than 1 unit)."""
        return sum(1 for u in self.units if u > 1)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of :attr:`units` (nearest rank; 0 when empty)."""
        if not self.units:
            return 0.0
        return self.units[min(len(self.units) - 1, max(0, math.ceil(q * len(self.units)) - 1))]

    def to_json(self) -> dict[str, Any]:
        """JSON form (in tolerance units)."""
        return {
            "kind": self.kind,
            "regime": self.regime,
            "tolerance": {"absolute": self.tolerance.absolute, "relative": self.tolerance.relative},
            "count": len(self.units),
            "outside": self.outside,
            "max": self.units[-1] if self.units else 0.0,
            "quantiles": {f"p{round(q * 100)}": self.quantile(q) for q in _QUANTILES},
        }


@dataclass
class Recomputation:
    """The result of layer 2 on one record.

    Attributes:
        events: Event lines in the record.
        sampled: Ids of the events chosen (:func:`sample_events`), in record order.
        recomputed: Ids of the events whose worths were compared.
        drift: The drift distribution, by kind.
        findings: Everything found wrong; ``could not recompute: <reason>`` for what
            could not be rerun.
        note: How the sample was chosen, for the report.
    """

    events: int = 0
    sampled: tuple[str, ...] = ()
    recomputed: tuple[str, ...] = ()
    drift: dict[str, Drift] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        """Whether every sampled event was rerun and matched."""
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ok": self.ok,
            "events": self.events,
            "sampled": list(self.sampled),
            "recomputed": list(self.recomputed),
            "note": self.note,
            "drift": {k: d.to_json() for k, d in self.drift.items()},
            "findings": [
                {"field": f.field, "expected": f.expected, "found": f.found} for f in self.findings
            ],
        }


class _RerunError(Exception):
    """The rerun cannot go on: the reason is the finding."""


def sample_events(ids: Iterable[str], k: int | None, seed: int) -> list[str]:
    """The ``k`` ids whose ``SHA-256(f"{seed}\\0{id}")`` are smallest, in their given order.

    The same ids and seed give the same sample on any machine, whatever order the ids
    come in; ``k`` None or at least the number of ids gives them all.

    Raises:
        InputError: If ``k`` is not a positive int or None, or ``seed`` is negative.
    """
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise InputError(f"sample: must be a positive int, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed: must be an int >= 0, got {seed!r}")
    listed = list(ids)
    if k is None or k >= len(listed):
        return listed
    chosen = set(heapq.nsmallest(k, listed, key=lambda i: (_rank(seed, i), i)))
    return [i for i in listed if i in chosen]


def _rank(seed: int, event_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{event_id}".encode()).digest()


def recompute_record(
    lines: IO[bytes] | Iterable[bytes], request: Recompute, *, source: str = "<attribution>"
) -> Recomputation:
    """Rerun the pipeline of a record on the sampled events and compare every worth.

    Args:
        lines: The record file's lines (an open binary file, or byte strings).
        request: What to rerun it with.
        source: Where the record came from, for findings.

    Returns:
        The drift and the findings; whatever cannot be rerun is a finding
        ``could not recompute: <reason>`` (nothing raises on the record's contents or
        the auditor's files).
    """
    out = Recomputation()
    try:
        header, records = _sample(lines, request, source, out)
        if not records:
            return out
        _rerun(header, records, request, out)
    except _RerunError as err:
        out.findings.append(
            Finding("recompute", "a rerun of the pipeline", f"{RECOMPUTE_FAILED}{err}")
        )
    except (
        Exception
    ) as err:  # the operator's bytes and the auditor's files: a verdict, never a raise
        reason = f"{RECOMPUTE_FAILED}{type(err).__name__}: {err}"
        out.findings.append(Finding("recompute", "a rerun of the pipeline", reason[:600]))
    return out


def _sample(
    lines: IO[bytes] | Iterable[bytes], request: Recompute, source: str, out: Recomputation
) -> tuple[RecordHeader, list[EventRecord]]:
    try:
        header, events = read_record(lines, source=source)
        k = request.sample
        if k is None and header.events > FULL_RERUN_LIMIT:
            k = FULL_RERUN_LIMIT
            out.note = (
                f"{header.events} events: a sample of {k} (seed {request.seed}); "
                "--sample N reruns more"
            )
        elif k is not None and k < header.events:
            out.note = f"a sample of {k} of {header.events} events (seed {request.seed})"
        else:
            out.note = f"every event ({header.events})"
        out.events = header.events
        seed = request.seed
        if k is None or k >= header.events:
            records = list(events)
        else:
            # One pass, k records kept: a million-line record is never held in memory.
            ranked = heapq.nsmallest(
                k, enumerate(events), key=lambda item: (_rank(seed, item[1].id), item[1].id)
            )
            records = [record for _, record in sorted(ranked, key=lambda item: item[0])]
    except AmeError as err:
        raise _RerunError(f"the record cannot be read: {err}") from None
    out.sampled = tuple(r.id for r in records)
    return header, records


def _regime(pipeline: Mapping[str, Any]) -> tuple[str, Tolerance]:
    """Which tolerance a record's worths are compared within (see the module)."""
    config = pipeline.get("config")
    if (
        pipeline.get("kind") == "hf"
        and isinstance(config, Mapping)
        and config.get("retrain") is None
    ):
        return "scoring", UTILITY_TOLERANCE
    return "retrained", RETRAINED_UTILITY_TOLERANCE


def _rerun(
    header: RecordHeader, records: Sequence[EventRecord], request: Recompute, out: Recomputation
) -> None:
    regime, tolerance = _regime(header.pipeline)
    try:
        problems = request.rerunner.load(header, records)
    except AmeError as err:
        raise _RerunError(str(err)) from None
    out.findings.extend(Finding(p.field, p.expected, p.found) for p in problems)
    units: dict[str, list[float]] = {"worths": [], "given": []}
    deadline = time.monotonic() + request.time_limit
    done: list[str] = []
    try:
        for number, record in enumerate(records):
            if time.monotonic() > deadline:
                raise _RerunError(
                    f"the time limit of {request.time_limit:g} s passed after {number} of "
                    f"{len(records)} events"
                )
            if not request.rerunner.loaded(record.id):
                continue  # its finding is already out
            where = f"recompute.events[{record.id}]"
            try:
                again = request.rerunner.rerun(record, max_extra=MAX_EXTRA_WORTHS)
            except AmeError as err:
                out.findings.append(
                    Finding(where, "a rerun of the event", f"{RECOMPUTE_FAILED}{err}")
                )
                continue
            _compare(record, again, header.precision, tolerance, where, units, out)
            done.append(record.id)
    finally:
        # What was compared before a limit or a failure is reported with it.
        out.recomputed = tuple(done)
        out.drift = {k: Drift(k, tolerance, regime, tuple(sorted(v))) for k, v in units.items()}


def _compare(
    record: EventRecord,
    again: EventRecord,
    precision: int,
    tolerance: Tolerance,
    where: str,
    units: dict[str, list[float]],
    out: Recomputation,
) -> None:
    if again.stages != record.stages:
        out.findings.append(Finding(f"{where}.stages", _stages(record), _stages(again)))
        return
    scale = Fraction(1, 10**precision)
    players = record.players
    digits = min(precision, 12)

    def check(kind: str, name: str, published: int, found: int) -> None:
        ref, value = float(published * scale), float(found * scale)
        bound = tolerance.bound(ref)
        unit = float(abs(published - found) * scale) / bound
        units[kind].append(unit)
        if unit > 1:
            out.findings.append(
                Finding(
                    f"{where}.{name}",
                    f"{ref:.{digits}g} within {bound:.3g}",
                    f"{value:.{digits}g} recomputed ({unit:.3g} tolerances off)",
                )
            )

    for mask, published in sorted(record.worths.items()):
        members = ",".join(a for i, a in enumerate(players) if mask >> i & 1)
        found = again.worths.get(mask)
        if found is None:
            out.findings.append(
                Finding(f"{where}.worths[{members}]", str(published), "not evaluated by the rerun")
            )
            continue
        check("worths", f"worths[{members}]", published, found)
    for stage, label in sorted(record.labels.items()):
        if again.labels.get(stage) != label:
            out.findings.append(
                Finding(f"{where}.labels.{stage}", label, str(again.labels.get(stage)))
            )
    for asset, published in sorted(record.given.items()):
        given = again.given.get(asset)
        if given is None:
            out.findings.append(
                Finding(f"{where}.given.{asset}", str(published), "not given by the rerun")
            )
            continue
        check("given", f"given.{asset}", published, given)


def _stages(record: EventRecord) -> str:
    return "; ".join(f"{s}: {','.join(a)}" for s, a in record.stages)
