r"""The attribution record: what each event's split was computed from, and the exact split.

Multi-stage attribution (:mod:`~offchain.attribution.multistage`) has two halves. The
first evaluates utilities: the worth :math:`v(S)` of coalitions of the assets an event
used, by running models (floating point, machine-dependent in the last bits). The second
turns those worths into money. This module is the second half, defined so that any
machine gets the same bits, and the record that lets anyone run it again:

1. **Published worths.** Every coalition worth the first half evaluated is rounded to
   ``precision`` decimals (half to even, from the float's exact binary value) and kept as
   an integer :math:`q(S) = \operatorname{round}(v(S) \cdot 10^{p})`; :math:`q(\varnothing)
   = 0`. Within-stage values that do not follow from worths (TracIn scores, sampled
   Shapley or Owen values) are rounded the same way and published as given.
2. **Exact values.** From those integers, in integer and rational arithmetic only:

   * the stage split, each stage's Shapley value in the quotient game
     :math:`q_M(T) = q(\bigcup_{t \in T} B_t)`,
     :math:`\phi_k = \sum_{T \subseteq M \setminus k} \frac{|T|!\,(m-|T|-1)!}{m!}
     [q_M(T \cup k) - q_M(T)]`;
   * within a stage :math:`k` labelled ``"shapley/exact"``, asset :math:`a`'s Shapley
     value in :math:`v_k(S) = q(S \cup \bar B_k) - q(\bar B_k)`; labelled
     ``"owen/exact"``, its Owen value in :math:`q` for the structure of stages; a
     stage of one asset gives it :math:`\phi_k`; any other label takes the published
     given values.

   Each sum is accumulated as an integer numerator over :math:`m!` (and :math:`n_k!`),
   so its order does not matter.
3. **Money.** As :mod:`~offchain.attribution.multistage` describes: stages with a
   positive value share the revenue by largest remainder
   (:func:`~ame_core.apportion.apportion`) over their exact values, ties to the earlier
   stage; each stage's amount goes to its positive assets the same way, ties to the
   smaller id. Negative values are clipped (``negative="clip"``) and each clip is
   noted; with no stage left the event is unattributed and escrowed whole.

:func:`split_event` is that function. The operator's
:class:`~offchain.attribution.multistage.MultiStageAttribution` produces its amounts by
calling it on the record it publishes, and ``ame audit`` calls it on the record it
fetches: the operator and the auditor run the same function on the same integers.

The record file, ``ame.attribution/1`` (``docs/manifest.md``), is line-delimited
canonical JSON, one header line then one line per event, so a million events are
written and read as a stream (:func:`iter_record_lines`, :func:`read_record`).
The header names every asset's content hash, the pipeline's configuration, the
valuation settings, the precision and the code version; each event line names its
revenue, the SHA-256 of the output scored, its stages and assets, its table of worths
by bit mask (bit :math:`i` is the :math:`i`-th asset of the stages in order), the label
and given values of each stage, and the notes. Masks are decimal strings and worths
digit strings, so the file holds no float.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import metadata
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from ame_core.apportion import apportion
from ame_core.canonical import canonical_json
from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from offchain.exceptions import AttributionError

__all__ = [
    "ATTRIBUTION_FORMAT",
    "DEFAULT_PRECISION",
    "EXACT_LABELS",
    "MAX_PRECISION",
    "EventRecord",
    "ExactSplit",
    "RecordHeader",
    "code_versions",
    "iter_record_lines",
    "output_digest",
    "quantize",
    "read_record",
    "split_event",
    "stage_values",
]

#: Format tag of the record file's header line.
ATTRIBUTION_FORMAT: Final = "ame.attribution/1"
#: Decimals kept of each worth by default: a float's 15-16 significant digits of a worth
#: of order 1-1,000 nats, so honest amounts move by no more than the float's own error.
DEFAULT_PRECISION: Final = 12
#: The most decimals a record may use (a hostile precision would make every integer huge).
MAX_PRECISION: Final = 30
#: Stage labels whose within-stage values follow from the table of worths.
EXACT_LABELS: Final = ("shapley/exact", "owen/exact")
# Bounds on what a record line may ask the auditor to compute: the recomputation of an
# exact stage walks 2**assets coalitions, and of the stage game 2**stages.
_MAX_STAGES: Final = 16
_MAX_ASSETS: Final = 64
_MAX_EXACT_ASSETS: Final = 16
_MAX_DIGITS: Final = 80
# A table holds at most this many worths: 64 times an honest event's of four stages and ten
# datasets valued exactly, and few enough that recomputing one event takes seconds at most.
_MAX_WORTHS: Final = 1 << 16
_SIGNED: Final = re.compile(rf"-?[0-9]{{1,{_MAX_DIGITS}}}")
_UNSIGNED: Final = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")

Negative = Literal["clip", "error"]


def quantize(worth: float, precision: int) -> int:
    """``worth`` in units of ``10**-precision``, rounded half to even, exactly.

    The float's exact binary value is scaled, so the result is the same on any machine.

    Raises:
        InputError: If ``worth`` is not a finite number or ``precision`` is out of range.
    """
    _check_precision(precision)
    if isinstance(worth, bool) or not isinstance(worth, (int, float)) or not math.isfinite(worth):
        raise InputError(f"worth: expected a finite number, got {worth!r}")
    # The float is num / den exactly (den a power of two): round(num * 10**p / den) in
    # integers, half to even as round(Fraction) does, without building Fractions.
    num, den = worth.as_integer_ratio()
    whole: int
    rest: int
    whole, rest = divmod(num * 10**precision, den)
    twice = 2 * rest
    return whole + 1 if twice > den or (twice == den and whole & 1) else whole


def _check_precision(precision: object) -> int:
    if (
        isinstance(precision, bool)
        or not isinstance(precision, int)
        or not 0 <= precision <= MAX_PRECISION
    ):
        raise InputError(f"precision: must be an int in 0..{MAX_PRECISION}, got {precision!r}")
    return precision


@dataclass(frozen=True)
class EventRecord:
    """What one event's split is computed from (one line of the record file).

    Attributes:
        id: The event id.
        revenue: The event's revenue, in base units.
        output: SHA-256 (hex) of the output scored, as UTF-8 text.
        stages: Each stage the event used with its assets, in pipeline order.
        worths: Coalition worths in units of ``10**-precision``, by bit mask over
            :attr:`players` (the empty coalition is 0 and not listed).
        labels: How each stage's assets were valued, e.g. ``"shapley/exact"``,
            ``"tracin"``; stages that were not valued (not paid) have none.
        given: The published within-stage values (same units) of the assets of
            stages whose label is not exact.
        notes: What the negative-contribution policy did, one line each.
    """

    id: str
    revenue: int
    output: str
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    worths: Mapping[int, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    given: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def players(self) -> tuple[str, ...]:
        """Every asset, stages in order: bit ``i`` of a mask is ``players[i]``."""
        return tuple(a for _, assets in self.stages for a in assets)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "record") -> EventRecord:
        """Parse and bound-check a record line's JSON form (:meth:`to_json`'s inverse).

        Raises:
            InputError: Naming ``where``, the field and the reason.
        """
        return _event(data, where)

    def to_json(self) -> dict[str, Any]:
        """The record line's JSON form (digit strings, no float)."""
        return {
            "id": self.id,
            "revenue": str(self.revenue),
            "output": self.output,
            "stages": [[stage, list(assets)] for stage, assets in self.stages],
            "worths": {str(mask): str(worth) for mask, worth in sorted(self.worths.items())},
            "labels": dict(self.labels),
            "given": {a: str(v) for a, v in self.given.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ExactSplit:
    """The exact split of one event, from its record (:func:`split_event`).

    Values are in units of ``10**-precision`` of the utility (e.g. nats), as exact
    rationals; amounts are in base units.

    Attributes:
        utility: :math:`q(N)`.
        stage_values: Each stage's Shapley value in the stage game, before clipping.
        asset_values: Each valued asset's within-stage value, before clipping.
        stage_amounts: Each stage's amount (sums to the revenue, or 0 if unattributed).
        amounts: Each asset's amount (each stage's sum to its amount).
        labels: The label of each stage whose assets were valued.
        notes: What the negative-contribution policy did, one line each.
    """

    utility: Fraction
    stage_values: Mapping[str, Fraction]
    asset_values: Mapping[str, Fraction]
    stage_amounts: Mapping[str, int]
    amounts: Mapping[str, int]
    labels: Mapping[str, str]
    notes: tuple[str, ...]


def stage_values(record: EventRecord) -> dict[str, Fraction]:
    """Each stage's exact Shapley value in the stage game of ``record``'s worths.

    Raises:
        AttributionError: A stage union's worth is not in the table.
    """
    bit = {a: 1 << i for i, a in enumerate(record.players)}
    masks = [_mask(assets, bit) for _, assets in record.stages]
    values = _shapley(masks, 0, _lookup(record, bit))
    return dict(zip((s for s, _ in record.stages), values, strict=True))


def _lookup(record: EventRecord, bit: Mapping[str, int]) -> Callable[[int], int]:
    def q(mask: int) -> int:
        if mask == 0:
            return 0
        try:
            return record.worths[mask]
        except KeyError:
            members = [a for a in record.players if bit[a] & mask]
            raise AttributionError(
                f"event {record.id!r}: the worth of coalition {members} is not in the table"
            ) from None

    return q


def split_event(
    record: EventRecord,
    *,
    precision: int,
    negative: Negative = "clip",
) -> ExactSplit:
    """The exact split of an event's revenue from its published worths (see the module).

    Args:
        record: The event's record (its ``notes`` are not read: they are an output).
        precision: Decimals of the worths (only used to show values in notes).
        negative: ``"clip"`` or ``"error"``.

    Returns:
        The split.

    Raises:
        AttributionError: A coalition the arithmetic needs is not in the table, a given
            value is missing, or (``negative="error"``) a value is negative.
    """
    labels, given = record.labels, record.given
    players = record.players
    bit = {a: 1 << i for i, a in enumerate(players)}
    stage_masks = {stage: _mask(assets, bit) for stage, assets in record.stages}
    order = [stage for stage, _ in record.stages]
    full = (1 << len(players)) - 1
    q = _lookup(record, bit)

    scale = Fraction(1, 10**precision)
    notes: list[str] = []

    def flag(message: str) -> None:
        if negative == "error":
            raise AttributionError(f"negative contribution: {message}")
        notes.append(message)

    values_of_stages = stage_values(record)
    utility = Fraction(q(full))
    within: dict[str, dict[str, Fraction]] = {}
    used: dict[str, str] = {}
    for stage, assets in record.stages:
        value = values_of_stages[stage]
        if value < 0:
            flag(f"stage {stage!r} has value {float(value * scale):.6g} < 0: it gets nothing")
        if not value > 0:
            continue
        label = "single" if len(assets) == 1 else labels.get(stage)
        if label is None:
            raise AttributionError(f"event {record.id!r}: stage {stage!r} has no label")
        if label == "single":
            values = {assets[0]: value}
        elif label == "shapley/exact":
            rest = full & ~stage_masks[stage]
            values = dict(zip(assets, _shapley([bit[a] for a in assets], rest, q), strict=True))
        elif label == "owen/exact":
            values = _owen(stage, record.stages, stage_masks, bit, q)
        else:
            missing = [a for a in assets if a not in given]
            if missing:
                raise AttributionError(
                    f"event {record.id!r}: stage {stage!r} ({label}) has no given value for "
                    f"{missing}"
                )
            values = {a: Fraction(given[a]) for a in assets}
        for asset in assets:
            if values[asset] < 0:
                flag(
                    f"asset {asset!r} has value {float(values[asset] * scale):.6g} < 0 in "
                    f"stage {stage!r}: clipped to 0"
                )
        used[stage] = label
        within[stage] = values
        if not any(v > 0 for v in values.values()):
            notes.append(
                f"stage {stage!r}: no asset has a positive value ({label}); its share "
                "goes to the other stages"
            )
            del within[stage]
    stage_amounts = _split(
        record.revenue,
        {s: values_of_stages[s] for s in within},
        {s: i for i, s in enumerate(order)},
    )
    if not within:
        notes.append(
            f"unattributed: no stage has a positive value (v(N) = {float(utility * scale):.6g})"
        )
    amounts: dict[str, int] = {}
    for stage, assets in record.stages:
        if stage not in within:
            amounts.update(dict.fromkeys(assets, 0))
            continue
        positive = {a: v for a, v in within[stage].items() if v > 0}
        split = _split(stage_amounts[stage], positive, {a: a for a in assets})
        amounts.update({a: split.get(a, 0) for a in assets})
    return ExactSplit(
        utility=utility,
        stage_values=MappingProxyType(values_of_stages),
        asset_values=MappingProxyType({a: v for s in within for a, v in within[s].items()}),
        stage_amounts=MappingProxyType({s: stage_amounts.get(s, 0) for s in order}),
        amounts=MappingProxyType(amounts),
        labels=MappingProxyType({s: used[s] for s in within}),
        notes=tuple(notes),
    )


def _mask(assets: Iterable[str], bit: Mapping[str, int]) -> int:
    mask = 0
    for asset in assets:
        mask |= bit[asset]
    return mask


def _shapley(groups: Sequence[int], base: int, q: Callable[[int], int]) -> list[Fraction]:
    """Exact Shapley values of ``groups`` (bit masks) in ``T -> q(base | T) - q(base)``.

    Integer numerators over ``m!``: the weight of a coalition of size ``s`` is
    ``s! (m-1-s)!``, so the sum is exact and its order immaterial.
    """
    m = len(groups)
    weights, sizes = _shapley_weights(m)
    # The worth of base joined with every union of the groups, by mask over the groups,
    # looked up once each (every one is needed); bit j of a mask is groups[j].
    unions = [base]
    for group in groups:
        unions += [union | group for union in unions]
    worths = [q(union) for union in unions]
    out = []
    for j in range(m):
        bit = 1 << j
        total = sum(
            weights[sizes[mask]] * (worths[mask | bit] - worths[mask])
            for mask in range(1 << m)
            if not mask & bit
        )
        out.append(Fraction(total, math.factorial(m)))
    return out


@functools.cache
def _shapley_weights(m: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The weight ``s! (m-1-s)!`` of each coalition size ``s < m``, and the size of
    every mask below ``2**m``: computed once per number of players."""
    weights = tuple(math.factorial(s) * math.factorial(m - 1 - s) for s in range(m))
    return weights, tuple(mask.bit_count() for mask in range(1 << m))


def _owen(
    stage: str,
    stages: Sequence[tuple[str, tuple[str, ...]]],
    stage_masks: Mapping[str, int],
    bit: Mapping[str, int],
    q: Callable[[int], int],
) -> dict[str, Fraction]:
    """Exact Owen values of ``stage``'s assets in ``q`` for the structure of stages."""
    others = [stage_masks[s] for s, _ in stages if s != stage]
    assets = dict(stages)[stage]
    m, n = len(stages), len(assets)
    outer = [math.factorial(t) * math.factorial(m - 1 - t) for t in range(m)]
    inner = [math.factorial(s) * math.factorial(n - 1 - s) for s in range(n)]
    out: dict[str, Fraction] = {}
    for asset in assets:
        mates = [bit[a] for a in assets if a != asset]
        total = 0
        for t_subset in range(1 << len(others)):
            base, t = 0, 0
            for i, other in enumerate(others):
                if t_subset >> i & 1:
                    base |= other
                    t += 1
            part = 0
            for s_subset in range(1 << len(mates)):
                union, s = base, 0
                for i, mate in enumerate(mates):
                    if s_subset >> i & 1:
                        union |= mate
                        s += 1
                part += inner[s] * (q(union | bit[asset]) - q(union))
            total += outer[t] * part
        out[asset] = Fraction(total, math.factorial(m) * math.factorial(n))
    return out


def _split(amount: int, weights: Mapping[str, Fraction], keys: Mapping[str, Any]) -> dict[str, int]:
    """``amount`` split by largest remainder in proportion to positive rational weights."""
    if not weights:
        return {}
    # One common denominator makes every weight an integer with the same ratios.
    scale = math.lcm(*(w.denominator for w in weights.values()))
    names = list(weights)
    ints = [weights[k].numerator * (scale // weights[k].denominator) for k in names]
    parts = apportion(amount, ints, [keys[k] for k in names], sum(ints))
    return dict(zip(names, parts, strict=True))


# -- the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordHeader:
    """The record file's first line: what every event's split shares.

    Attributes:
        epoch: The epoch of the values the record explains.
        precision: Decimals of every worth and given value.
        settings: The valuation settings needed to rerun it (method, seed, negative
            policy, free disposal, exact limit, budget, projection dimension).
        assets: Content hash of every asset the events used, by asset id, as the
            registry writes it (``"sha256:<hex>"``).
        pipeline: The pipeline and its configuration (utility, counterfactuals), as
            JSON, e.g. ``{"kind": "hf", "config": {...}, "inputs": {...}}``.
        code: Versions of the code that evaluated the worths, by distribution.
        events: How many event lines follow.
    """

    epoch: int
    precision: int
    settings: Mapping[str, Any]
    assets: Mapping[str, str]
    pipeline: Mapping[str, Any]
    code: Mapping[str, str]
    events: int

    def to_json(self) -> dict[str, Any]:
        """The header line's JSON form."""
        return {
            "format": ATTRIBUTION_FORMAT,
            "epoch": self.epoch,
            "precision": self.precision,
            "settings": dict(self.settings),
            "assets": dict(self.assets),
            "pipeline": dict(self.pipeline),
            "code": dict(self.code),
            "events": self.events,
        }


def code_versions() -> dict[str, str]:
    """Versions of the distributions whose code evaluates worths (``ame``, torch if loaded)."""
    out = {}
    for name in ("ame", "torch", "transformers", "peft"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


class _Attributed(Protocol):
    # One event of a MultiStageResult, as the writer reads it: typed structurally, so that
    # this module (which the audit imports) never imports multistage (which loads torch).
    @property
    def amounts(self) -> Mapping[str, int]: ...

    @property
    def record(self) -> EventRecord: ...


class _Result(Protocol):
    @property
    def events(self) -> Sequence[_Attributed]: ...

    @property
    def precision(self) -> int: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...


def iter_record_lines(
    result: _Result,
    *,
    epoch: int,
    assets: Mapping[str, str],
    pipeline: Mapping[str, Any],
) -> Iterator[bytes]:
    """The ``ame.attribution/1`` file of an attribution, line by line (canonical JSON).

    Args:
        result: The attribution (a
            :class:`~offchain.attribution.multistage.MultiStageResult`); each event's
            ``record`` is written.
        epoch: Epoch of the values document the record explains.
        assets: Content hash of every asset the events used, by asset id.
        pipeline: The pipeline's kind and configuration (JSON-ready).

    Yields:
        The header line, then one line per event, each ending in a newline.

    Raises:
        InputError: If an asset the events used has no content hash, or the metadata
            cannot be written as JSON; raised before the first line.
    """
    used = sorted({a for item in result.events for a in item.amounts})
    missing = [a for a in used if a not in assets]
    if missing:
        raise InputError(f"assets: no content hash for {missing}")
    header = RecordHeader(
        epoch=epoch,
        precision=result.precision,
        settings=result.settings,
        assets={a: assets[a] for a in used},
        pipeline=pipeline,
        code=code_versions(),
        events=len(result.events),
    )
    try:
        first = canonical_json(header.to_json())
    except (TypeError, ValueError) as err:
        raise InputError(f"pipeline: cannot be written as JSON: {err}") from None
    yield first + b"\n"
    for item in result.events:
        yield canonical_json(item.record.to_json()) + b"\n"


def output_digest(text: str) -> str:
    """SHA-256 (hex) of an output's text, as a record names it."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(
    lines: Iterable[bytes], *, source: str = "<attribution>"
) -> tuple[RecordHeader, Iterator[EventRecord]]:
    """Parse an ``ame.attribution/1`` file: its header, and its events as a stream.

    Every line is validated before it is returned, within the bounds that keep a
    hostile record's recomputation small (stages, assets, digits, precision).

    Args:
        lines: The file's lines (e.g. an open binary file).
        source: Where the lines came from, for messages.

    Returns:
        The header and an iterator of event records; the iterator raises on the first
        bad line, and if the file holds more or fewer events than the header says.

    Raises:
        InputError: The header is not an ``ame.attribution/1`` header (the message names
            the line and the field).
    """
    it = iter(lines)
    first = next(it, b"")
    header = _header(_line(first, source, 1), f"{source}:1")

    def events() -> Iterator[EventRecord]:
        count = 0
        seen: set[str] = set()
        for number, raw in enumerate(it, start=2):
            if count >= header.events:
                raise InputError(
                    f"{source}:{number}: more event lines than the header's {header.events}"
                )
            record = _event(_line(raw, source, number), f"{source}:{number}")
            if record.id in seen:
                raise InputError(f"{source}:{number}: id: event {record.id!r} appears twice")
            seen.add(record.id)
            count += 1
            yield record
        if count != header.events:
            raise InputError(f"{source}: {count} event lines, the header says {header.events}")

    return header, events()


def _line(raw: bytes, source: str, number: int) -> dict[str, Any]:
    # The guarded parser: bounded nesting, repeated keys refused, no float surprises.
    data = parse_json(raw, source=f"{source}:{number}", decimals=False, unique_keys=True)
    if not isinstance(data, dict):
        raise InputError(f"{source}:{number}: expected a JSON object, got {type(data).__name__}")
    return data


def _field(data: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    # bool is an int to isinstance; no field of a record is a bool.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(f"{where}: {name}: expected {kind.__name__}, got {_show(value)}")
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _integer(text: object, where: str, *, signed: bool = True) -> int:
    pattern = _SIGNED if signed else _UNSIGNED
    if not isinstance(text, str) or not pattern.fullmatch(text):
        sign = "an" if signed else "a non-negative"
        raise InputError(f"{where}: expected {sign} integer as a digit string, got {_show(text)}")
    return int(text)


def _header(data: Mapping[str, Any], where: str) -> RecordHeader:
    if data.get("format") != ATTRIBUTION_FORMAT:
        raise InputError(
            f"{where}: format: expected {ATTRIBUTION_FORMAT!r}, got {_show(data.get('format'))}"
        )
    epoch = _field(data, "epoch", int, where)
    precision = _field(data, "precision", int, where)
    if epoch < 0:
        raise InputError(f"{where}: epoch: must be >= 0, got {epoch}")
    if not 0 <= precision <= MAX_PRECISION:
        raise InputError(f"{where}: precision: must be in 0..{MAX_PRECISION}, got {precision}")
    events = _field(data, "events", int, where)
    if events < 0:
        raise InputError(f"{where}: events: must be >= 0, got {events}")
    assets = _field(data, "assets", dict, where)
    for asset, digest in assets.items():
        if not isinstance(digest, str):
            raise InputError(
                f"{where}: assets.{asset}: expected a content hash, got {_show(digest)}"
            )
    code = _field(data, "code", dict, where)
    return RecordHeader(
        epoch=epoch,
        precision=precision,
        settings=MappingProxyType(_field(data, "settings", dict, where)),
        assets=MappingProxyType(assets),
        pipeline=MappingProxyType(_field(data, "pipeline", dict, where)),
        code=MappingProxyType({str(k): str(v) for k, v in code.items()}),
        events=events,
    )


def _event(data: Mapping[str, Any], where: str) -> EventRecord:
    event_id = _field(data, "id", str, where)
    where = f"{where} (event {event_id!r})"
    revenue = _integer(data.get("revenue"), f"{where}: revenue", signed=False)
    output = _field(data, "output", str, where)
    raw_stages = _field(data, "stages", list, where)
    if not 0 < len(raw_stages) <= _MAX_STAGES:
        raise InputError(
            f"{where}: stages: expected 1 to {_MAX_STAGES} stages, got {len(raw_stages)}"
        )
    stages: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw_stages):
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], list)
            and entry[1]
            and all(isinstance(a, str) for a in entry[1])
        ):
            raise InputError(
                f"{where}: stages[{index}]: expected [stage id, [asset ids...]], got {_show(entry)}"
            )
        repeated = seen.intersection(entry[1]) or (len(set(entry[1])) != len(entry[1]))
        if repeated or entry[0] in {s for s, _ in stages}:
            raise InputError(f"{where}: stages[{index}]: a stage or asset appears twice")
        seen.update(entry[1])
        stages.append((entry[0], tuple(entry[1])))
    if len(seen) > _MAX_ASSETS:
        raise InputError(f"{where}: stages: more than {_MAX_ASSETS} assets ({len(seen)})")
    stage_ids = {s for s, _ in stages}
    labels = _field(data, "labels", dict, where)
    for stage, label in labels.items():
        if stage not in stage_ids or not isinstance(label, str):
            raise InputError(f"{where}: labels.{stage}: expected a label of one of its stages")
        size = len(dict(stages)[stage])
        if label in EXACT_LABELS and size > _MAX_EXACT_ASSETS:
            raise InputError(
                f"{where}: labels.{stage}: {label} over {size} assets, above the limit of "
                f"{_MAX_EXACT_ASSETS}"
            )
    full = 1 << len(seen)
    worths: dict[int, int] = {}
    raw_worths = _field(data, "worths", dict, where)
    if len(raw_worths) > _MAX_WORTHS:
        raise InputError(
            f"{where}: worths: {len(raw_worths)} entries, above the limit of {_MAX_WORTHS}"
        )
    for key, value in raw_worths.items():
        mask = _integer(key, f"{where}: worths key", signed=False)
        if not 0 < mask < full or key != str(mask):
            raise InputError(f"{where}: worths.{key}: not the mask of a non-empty coalition")
        worths[mask] = _integer(value, f"{where}: worths.{key}")
    given = {
        a: _integer(v, f"{where}: given.{a}") for a, v in _field(data, "given", dict, where).items()
    }
    unknown = sorted(set(given) - seen)
    if unknown:
        raise InputError(f"{where}: given: assets {unknown} are in no stage")
    notes = _field(data, "notes", list, where)
    if not all(isinstance(n, str) for n in notes):
        raise InputError(f"{where}: notes: expected strings")
    return EventRecord(
        id=event_id,
        revenue=revenue,
        output=output,
        stages=tuple(stages),
        worths=MappingProxyType(worths),
        labels=MappingProxyType(labels),
        given=MappingProxyType(given),
        notes=tuple(notes),
    )
