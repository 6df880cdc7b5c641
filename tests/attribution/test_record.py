"""The attribution record: exact split from published worths, and the ame.attribution/1 file."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ame_core.exceptions import InputError
from offchain.attribution import record as record_module
from offchain.attribution.multistage import MultiStageAttribution, MultiStageResult
from offchain.attribution.record import (
    ATTRIBUTION_FORMAT,
    DEFAULT_PRECISION,
    EventRecord,
    iter_record_lines,
    output_digest,
    quantize,
    read_record,
    split_event,
)
from offchain.exceptions import AttributionError
from tests.attribution.helpers import Sale, TablePipeline


def _all_coalitions(players: Sequence[str]) -> Iterable[frozenset[str]]:
    for mask in range(1 << len(players)):
        yield frozenset(p for i, p in enumerate(players) if mask >> i & 1)


@st.composite
def _games(draw: st.DrawFn) -> tuple[dict[str, tuple[str, ...]], dict[frozenset[str], float]]:
    n_stages = draw(st.integers(1, 4))
    names = ["data", "base_model", "adapter", "prompt"][:n_stages]
    stages = {}
    for index, name in enumerate(names):
        size = draw(st.integers(1, 3))
        stages[name] = tuple(f"{name[0]}{index}{j}" for j in range(size))
    players = [a for ids in stages.values() for a in ids]
    worth = st.one_of(
        st.floats(-50, 200, allow_nan=False, allow_infinity=False),
        st.integers(-5, 20).map(float),  # ties and exact zeros
    )
    worths = {c: draw(worth) if c else 0.0 for c in _all_coalitions(players)}
    return stages, worths


def _parsed(result: MultiStageResult) -> list[EventRecord]:
    assets = {a: "sha256:" + "ab" * 32 for item in result.events for a in item.amounts}
    data = b"".join(iter_record_lines(result, epoch=1, assets=assets, pipeline={"kind": "t"}))
    header, events = read_record(io.BytesIO(data), source="t.jsonl")
    assert header.precision == result.precision
    assert header.settings == result.settings
    return list(events)


@settings(max_examples=120)
@given(
    _games(),
    st.integers(0, 10**24),
    st.integers(0, 15),
    st.sampled_from(["shapley", "owen", "tracin"]),
    st.booleans(),
)
def test_the_record_recomputes_the_operators_amounts_bit_for_bit(
    game: tuple[dict[str, tuple[str, ...]], dict[frozenset[str], float]],
    revenue: int,
    precision: int,
    method: str,
    free_disposal: bool,
) -> None:
    stages, worths = game
    scores = {a: (i - 1.5) * 0.37 for i, a in enumerate(stages.get("data", ()))}
    pipe = TablePipeline(stages, worths, scores)
    if method == "tracin" and "data" not in stages:
        method = "shapley"
    result = (
        MultiStageAttribution(
            pipe,
            method=method,  # type: ignore[arg-type]
            precision=precision,
            free_disposal=free_disposal,
        )
        .fit([Sale("e", revenue)])
        .result
    )
    item = result.events[0]
    (published,) = _parsed(result)
    assert published == item.record
    split = split_event(published, precision=precision, negative="clip")
    assert dict(split.amounts) == item.amounts
    assert dict(split.stage_amounts) == item.stage_amounts
    assert split.notes == item.notes == published.notes
    total = sum(item.amounts.values())
    assert total == (revenue if split.labels else 0)
    for stage in item.stages.values():
        assert sum(stage.amounts.values()) == stage.amount


@settings(max_examples=60)
@given(_games(), st.integers(1, 10**24), st.integers(0, 15))
def test_the_exact_split_follows_the_rounded_table_not_the_machine(
    game: tuple[dict[str, tuple[str, ...]], dict[frozenset[str], float]],
    revenue: int,
    precision: int,
) -> None:
    # Perturbing every worth below half a published unit rounds to the same table, so
    # the amounts are the same bits: what a machine's last-bit drift cannot change.
    stages, worths = game
    unit = 10.0**-precision
    nudged = {c: w + (0.1 * unit if c else 0.0) for c, w in worths.items()}
    first, second = (
        MultiStageAttribution(TablePipeline(stages, w), precision=precision, free_disposal=False)
        .fit([Sale("e", revenue)])
        .result.events[0]
        for w in (worths, nudged)
    )
    if first.record.worths == second.record.worths:
        assert first.amounts == second.amounts
        assert first.stage_amounts == second.stage_amounts


def test_a_closed_form_game_splits_exactly() -> None:
    # Additive stage game with 1/3-unit values: the floats would not be exact; rationals are.
    stages = {"data": ("d1", "d2", "d3"), "base_model": ("m",)}
    weights = {"d1": 1.0, "d2": 1.0, "d3": 1.0, "m": 3.0}
    worths = {c: sum(weights[a] for a in c) for c in _all_coalitions(list(weights))}
    item = (
        MultiStageAttribution(TablePipeline(stages, worths)).fit([Sale("e", 601)]).result.events[0]
    )
    assert item.stage_amounts == {"data": 301, "base_model": 300}  # tie to the earlier stage
    assert item.amounts == {"d1": 101, "d2": 100, "d3": 100, "m": 300}
    split = split_event(item.record, precision=DEFAULT_PRECISION)
    assert split.stage_values == {"data": 3 * 10**12, "base_model": 3 * 10**12}
    assert split.asset_values == {"d1": 10**12, "d2": 10**12, "d3": 10**12, "m": 3 * 10**12}
    assert item.record.output == output_digest("out")


def test_quantize_rounds_the_floats_exact_value_half_to_even() -> None:
    assert quantize(0.5, 0) == 0 and quantize(1.5, 0) == 2 and quantize(-2.5, 0) == -2
    # 0.1 is 0.1000000000000000055...: past the half at 17 decimals, so it rounds up.
    assert quantize(0.1, 16) == 10**15
    assert quantize(0.1, 17) == 10**16 + 1
    assert quantize(1 / 3, 3) == 333
    for bad, message in [
        (float("nan"), "worth: expected a finite number"),
        ("1", "worth: expected a finite number"),
    ]:
        with pytest.raises(InputError, match=message):
            quantize(bad, 3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"precision: must be an int in 0\.\.30, got 31"):
        quantize(1.0, 31)


def _one_record() -> tuple[bytes, EventRecord]:
    stages = {"data": ("d1", "d2"), "base_model": ("m",)}
    weights = {"d1": 1.0, "d2": 2.0, "m": 4.0}
    worths = {c: sum(weights[a] for a in c) for c in _all_coalitions(list(weights))}
    result = MultiStageAttribution(TablePipeline(stages, worths)).fit([Sale("e", 700)]).result
    assets = {a: "sha256:" + "cd" * 32 for a in weights}
    data = b"".join(iter_record_lines(result, epoch=2, assets=assets, pipeline={"kind": "t"}))
    return data, result.events[0].record


def test_the_record_file_is_a_header_and_one_canonical_line_per_event() -> None:
    data, _ = _one_record()
    lines = data.splitlines()
    header = json.loads(lines[0])
    assert header["format"] == ATTRIBUTION_FORMAT
    assert header["events"] == 1 and header["epoch"] == 2
    assert header["settings"]["method"] == "shapley"
    assert set(header["assets"]) == {"d1", "d2", "m"}
    line = json.loads(lines[1])
    assert line["stages"] == [["data", ["d1", "d2"]], ["base_model", ["m"]]]
    assert line["worths"]["7"] == str(7 * 10**12)
    assert line["labels"] == {"data": "shapley/exact", "base_model": "single"}
    assert all(isinstance(v, str) for v in line["worths"].values())


def test_a_missing_coalition_is_an_attribution_error() -> None:
    _, record = _one_record()
    worths = dict(record.worths)
    del worths[3]
    with pytest.raises(AttributionError, match=r"coalition \['d1', 'd2'\] is not in the table"):
        split_event(replace(record, worths=worths), precision=12)


def test_a_given_stage_without_its_values_is_an_attribution_error() -> None:
    _, record = _one_record()
    with pytest.raises(AttributionError, match=r"stage 'data' \(tracin\) has no given value"):
        split_event(replace(record, labels={"data": "tracin"}), precision=12)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h, e: (dict(h, format="x"), e), r"t:1: format: expected 'ame.attribution/1'"),
        (lambda h, e: (dict(h, precision=99), e), r"t:1: precision: must be in 0\.\.30, got 99"),
        (lambda h, e: (dict(h, events=2), e), r"t: 1 event lines, the header says 2"),
        (lambda h, e: (dict(h, epoch=True), e), r"t:1: epoch: expected int, got True"),
        (lambda h, e: (h, dict(e, worths={str(i): "1" for i in range(1, 65538)})), r"worths: 65537 entries, above the limit of 65536"),
        (lambda h, e: (h, dict(e, revenue="-1")), r"t:2 \(event 'e'\): revenue: expected a non-negative integer"),
        (lambda h, e: (h, dict(e, worths={"0": "1"})), r"worths\.0: not the mask of a non-empty coalition"),
        (lambda h, e: (h, dict(e, worths={"8": "1"})), r"worths\.8: not the mask of a non-empty coalition"),
        (lambda h, e: (h, dict(e, worths={"1": "1.5"})), r"worths\.1: expected an integer as a digit string"),
        (lambda h, e: (h, dict(e, worths={"1": "9" * 81})), r"worths\.1: expected an integer"),
        (lambda h, e: (h, dict(e, stages=[["a", ["x"]], ["b", ["x"]]])), r"stages\[1\]: a stage or asset appears twice"),
        (lambda h, e: (h, dict(e, stages=[["s", [f"a{i}" for i in range(65)]]])), r"more than 64 assets"),
        (lambda h, e: (h, dict(e, labels={"data": 3})), r"labels\.data: expected a label"),
        (lambda h, e: (h, dict(e, given={"zz": "1"})), r"given: assets \['zz'\] are in no stage"),
    ],
)  # fmt: skip
def test_a_malformed_record_names_its_line_and_field(edit: Any, message: str) -> None:
    data, _ = _one_record()
    header, event = (json.loads(line) for line in data.splitlines())
    header, event = edit(header, event)
    lines = [json.dumps(header).encode(), json.dumps(event).encode()]
    with pytest.raises(InputError, match=message):
        _, events = read_record(lines, source="t")
        list(events)


def test_an_extra_or_repeated_event_line_is_refused() -> None:
    data, _ = _one_record()
    lines = data.splitlines()
    with pytest.raises(InputError, match=r"t:3: more event lines than the header's 1"):
        list(read_record([*lines, lines[1]], source="t")[1])
    header = json.loads(lines[0]) | {"events": 2}
    with pytest.raises(InputError, match=r"t:3: id: event 'e' appears twice"):
        list(read_record([json.dumps(header).encode(), lines[1], lines[1]], source="t")[1])


def test_every_asset_needs_a_content_hash_before_any_line_is_written() -> None:
    stages: dict[str, tuple[str, ...]] = {"base_model": ("m",)}
    result = MultiStageAttribution(TablePipeline(stages, {frozenset(): 0.0, frozenset({"m"}): 1.0}))
    fitted = result.fit([Sale("e", 1)]).result
    with pytest.raises(InputError, match=r"assets: no content hash for \['m'\]"):
        next(iter_record_lines(fitted, epoch=0, assets={}, pipeline={}))


def test_the_exact_owen_split_equals_the_owen_value_of_a_closed_form_game() -> None:
    # A unanimity game on {d1, m}: Owen gives the stage pair 1/2 each, d1 all of data's.
    stages = {"data": ("d1", "d2"), "base_model": ("m",)}
    worths = {c: 6.0 if {"d1", "m"} <= c else 0.0 for c in _all_coalitions(["d1", "d2", "m"])}
    item = (
        MultiStageAttribution(TablePipeline(stages, worths), method="owen")
        .fit([Sale("e", 10)])
        .result.events[0]
    )
    assert item.amounts == {"d1": 5, "d2": 0, "m": 5}
    split = split_event(item.record, precision=DEFAULT_PRECISION)
    assert split.asset_values["d1"] == Fraction(3 * 10**12)
    assert record_module.EXACT_LABELS == ("shapley/exact", "owen/exact")
