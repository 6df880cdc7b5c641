"""Any hostile manifest or input document gets an audit report, never an exception (issue 13).

A seeded search corrupts the honest manifest (and the values and carried ledger beside it)
the ways a hostile operator can: integers past uint256 or negative, as JSON numbers and as
decimal strings; wrong types; deep nesting; missing fields; a megabyte string; one to
three changes at a time, half of them aimed at what reaches the tree, the contract and
the chain (leaf fields, the carried epoch, totals). It runs in its own module so that its
chain holds only its own epoch (eth-tester's log queries grow with the chain).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.workflow import AuditReport, MappingInputs, Workspace, audit_epoch, settle_epoch
from ame_chain.chains import InProcessChain
from tests.workflow._helpers import write_inputs
from tests.workflow._hostile import encode, honest_document

UINT256 = 2**256


def load(tmp_path: Path, chain: InProcessChain) -> MappingInputs:
    return MappingInputs.load(*write_inputs(tmp_path / "in", chain, 1)[:2])


#: Numbers no uint256 holds, as JSON integers and as the decimal strings manifests use.
_HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=UINT256, max_value=2**300),
    st.builds(str, st.integers(min_value=UINT256, max_value=2**300)),
    st.integers(min_value=-(2**70), max_value=-1),
    st.builds(str, st.integers(min_value=-(2**300), max_value=-1)),
)
_HOSTILE_VALUES = st.one_of(
    st.integers(min_value=UINT256 - 2, max_value=UINT256 + 2),
    st.integers(min_value=-(2**70), max_value=-1),
    st.integers(min_value=UINT256, max_value=10**4000),
    st.builds(str, st.integers(min_value=UINT256, max_value=2**300)),
    st.builds(str, st.integers(min_value=-(2**300), max_value=-1)),
    st.text(max_size=20),
    st.just("x" * 1_000_000),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.just([]),
    st.just({}),
    st.integers(min_value=50, max_value=3000).map(lambda n: _nested(n)),
)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _corrupt(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


#: Where a hostile value does the most harm: what reaches the tree, the contract and the chain.
_TARGETED = [
    *[("leaves", 0, key) for key in ("index", "amount", "amountBefore", "account")],
    *[("leaves", 3, key) for key in ("index", "amount", "amountBefore")],
    ("inputs", "carried", "epoch"),
    ("inputs", "values", "epoch"),
    ("epoch",),
    ("totals", "pool"),
    ("leaves",),
]


@st.composite
def _hostile(draw: st.DrawFn, honest: dict[str, Any]) -> tuple[str, bytes]:
    target = draw(st.sampled_from(["manifest", "manifest", "manifest", "values", "carried"]))
    document = json.loads(json.dumps(honest[target]))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = _paths(document)
        values = _HOSTILE_VALUES
        if target == "manifest" and draw(st.sampled_from([True, True, False])):
            path = draw(st.sampled_from([p for p in _TARGETED if p in paths] or [()]))
            values = st.one_of(_HOSTILE_NUMBERS, _HOSTILE_NUMBERS, _HOSTILE_VALUES)
        else:
            path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete"])) if path else "replace"
        document = _corrupt(document, path, action, draw(values))
    try:
        data = encode(document)
    except ValueError:  # an int past the digit limit: write its digits raw, as an attacker can
        data = json.dumps(document, default=str).encode()
    return target, data


@pytest.fixture
def hostile_folder(
    operator_ws: Workspace, chain: InProcessChain, tmp_path: Path
) -> tuple[Path, dict[str, Any]]:
    inputs = load(tmp_path, chain)
    settle_epoch(operator_ws, inputs)
    honest = {"manifest": honest_document(inputs)}
    honest.update({name: json.loads(data) for name, data in inputs.documents().items()})
    return tmp_path / "hostile", honest


@seed(13)
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_audit_of_any_hostile_manifest_returns_a_report(
    watchdog_ws: Workspace, hostile_folder: tuple[Path, dict[str, Any]], data: st.DataObject
) -> None:
    folder, honest = hostile_folder
    target, hostile = data.draw(_hostile(honest))
    folder.mkdir(exist_ok=True)
    for name, document in honest.items():
        (folder / f"{name}.json").write_bytes(encode(document))
    (folder / f"{target}.json").write_bytes(hostile)
    report = audit_epoch(watchdog_ws, 1, manifest_uri=str(folder / "manifest.json"))
    assert isinstance(report, AuditReport)
    assert report.checks[:2] == ["header", "manifest"]
    json.dumps(report.to_json())  # and it can be shown (a CLI prints it)
    if target == "manifest" and hostile != encode(honest[target]):
        assert not report.ok  # other bytes than those committed, at the least
