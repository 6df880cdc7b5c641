"""Every file parser, fed any bytes or any JSON, returns a valid object or raises an AmeError.

Nothing else may escape: a ``ValueError`` from a 5,000-digit number, a ``RecursionError``
from deep nesting (or the interpreter crash it becomes once py-ecc has raised the recursion
limit), a ``KeyError`` from a half-valid document. The fuzzing is seeded and bounded (the
``ame`` hypothesis profile); the documents start from valid ones, then one field at a time
is replaced by arbitrary JSON, so the validators deep inside are reached too.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import offchain.scenario
from ame.config import load_config
from ame.deployment import read_record
from ame_chain.keys import account_from_keystore
from ame_chain.merkle import StandardMerkleTree
from ame_core.documents import MAX_DEPTH, parse_json, parse_toml, parse_yaml
from ame_core.exceptions import AmeError, InputError
from offchain.mapping import (
    load_registry,
    load_values,
    map_epoch,
    parse_carried,
    parse_manifest,
    parse_policy,
    parse_registry,
    parse_values,
)
from offchain.scenario import REFERENCE_SCENARIO, parse_scenario
from tests._messages import assert_plain
from tests.mapping._builders import address, asset_doc, event_doc, registry_doc, values_doc

EXAMPLES = 120

# --------------------------------------------------------------------------- the three failure modes


@pytest.mark.parametrize(
    ("parse", "text", "problem"),
    [
        (parse_json, "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (parse_json, '{"a": ' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
        (parse_json, "[" + "9" * 5_000 + "]", "Exceeds the limit (4300 digits)"),
        (parse_json, '{"a": 1', "Expecting"),
        (parse_yaml, "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (parse_yaml, "a: [\n\t- x", "not valid YAML"),
        (parse_toml, "a = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (parse_toml, "a = " + "9" * 5_000, "Exceeds the limit (4300 digits)"),
        (parse_toml, "[a\n", "not valid TOML"),
    ],
    ids=[
        "json-deep-arrays",
        "json-deep-objects",
        "json-huge-number",
        "json-truncated",
        "yaml-deep",
        "yaml-tab",
        "toml-deep",
        "toml-huge-number",
        "toml-broken-table",
    ],
)
def test_hostile_documents_become_input_errors(
    parse: Callable[..., Any], text: str, problem: str
) -> None:
    with pytest.raises(InputError, match=r"^doc: not valid") as info:
        parse(text, source="doc")
    assert problem in str(info.value)


def test_parsing_restores_the_recursion_limit_and_accepts_ordinary_nesting() -> None:
    before = sys.getrecursionlimit()
    with pytest.raises(InputError):
        parse_json("[" * 100_000, source="doc")
    assert sys.getrecursionlimit() == before
    nested = "[" * (MAX_DEPTH // 2) + "]" * (MAX_DEPTH // 2)
    assert parse_json(nested, source="doc") is not None
    assert parse_json('{"x": 0.1}', source="doc") == {"x": Decimal("0.1")}


# --------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**80), 10**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=False, allow_infinity=False)  # non-integers as parse_json reads them
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """``valid`` with one node replaced by arbitrary JSON, removed, or the whole thing replaced."""
    doc = copy.deepcopy(valid)
    path = draw(st.sampled_from(_paths(doc)))
    action = draw(st.sampled_from(["replace", "replace", "delete", "whole"]))
    if action == "whole" or not path:
        return draw(JSON)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON)
    return doc


def _only_ame_errors(parse: Callable[[Any], object], data: Any) -> None:
    """Only AmeErrors escape, and their messages are plain (no pydantic wording, no repr)."""
    try:
        parse(data)
    except AmeError as err:
        assert_plain(str(err))


REGISTRY = registry_doc(
    [
        asset_doc("a", owners=[(address(1), "1/2"), (address(2), "1/2")]),
        asset_doc("b", parents=[("a", "10%")], expires="2030-01-01"),
    ]
)
VALUES = values_doc([event_doc("e1", 1000, {"a": 1, "b": "0.5"}), event_doc("e2", "7", {"b": 2})])
POLICY = {"format": "ame.policy/1", "withheld": "redistribute", "min_payout": "2"}
CARRIED = {"format": "ame.carried/1", "balances": {address(3): "5"}}
MANIFEST = json.loads(
    map_epoch(parse_values(VALUES), parse_registry(REGISTRY)).to_json_bytes().decode()
)
DUMP = StandardMerkleTree.of(
    [[address(i + 1), i * 10] for i in range(5)], ["address", "uint256"]
).dump()

FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=mutated(REGISTRY))
def test_registry_parser_fuzz(data: Any) -> None:
    _only_ame_errors(parse_registry, data)


@FUZZ
@given(data=mutated(VALUES))
def test_values_parser_fuzz(data: Any) -> None:
    _only_ame_errors(parse_values, data)


@FUZZ
@given(data=mutated(POLICY) | mutated(CARRIED))
def test_policy_and_carried_parsers_fuzz(data: Any) -> None:
    _only_ame_errors(parse_policy, data)
    _only_ame_errors(parse_carried, data)


@FUZZ
@given(data=mutated(MANIFEST))
def test_manifest_parser_fuzz(data: Any) -> None:
    _only_ame_errors(parse_manifest, data)
    _only_ame_errors(parse_carried, data)  # a manifest is also a carried ledger


@FUZZ
@given(data=mutated(DUMP))
def test_tree_dump_loader_fuzz(data: Any) -> None:
    _only_ame_errors(StandardMerkleTree.load, data)


@FUZZ
@given(raw=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_manifest_bytes_fuzz(raw: bytes) -> None:
    _only_ame_errors(parse_manifest, raw)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _file_bytes() -> st.SearchStrategy[bytes]:
    structured = (
        st.sampled_from([REGISTRY, VALUES, DUMP])
        .flatmap(mutated)
        .map(lambda doc: json.dumps(doc, default=str).encode())
    )
    return st.binary(max_size=300) | st.text(max_size=300).map(str.encode) | structured


@FUZZ
@given(raw=_file_bytes(), suffix=st.sampled_from([".json", ".yaml"]))
def test_file_readers_fuzz(files: Path, raw: bytes, suffix: str) -> None:
    path = files / f"doc{suffix}"
    path.write_bytes(raw)
    for load in (load_values, load_registry, read_record):
        _only_ame_errors(load, path)


KEYSTORE = Account.encrypt("0x" + "11" * 32, "pw", kdf="pbkdf2", iterations=2)


@FUZZ
@given(data=mutated(KEYSTORE), raw=st.binary(max_size=200))
def test_keystore_reader_fuzz(files: Path, data: Any, raw: bytes) -> None:
    path = files / "keystore.json"
    for content in (json.dumps(data, default=str).encode(), raw):
        path.write_bytes(content)
        _only_ame_errors(lambda p: account_from_keystore(p, "pw"), path)


TOML_LINE = st.sampled_from(
    [
        "[state]",
        "[chain]",
        "[settlement]",
        "[deploy]",
        "[publish]",
        "[account]",
        "[[deploy]]",
        "dir = 'x'",
        "rpc = 'http://127.0.0.1:1'",
        "address = '0x12'",
        "from_block = -1",
        "challenge_window = 0",
        "operator_bond = 1e3",
        "token = 5",
        "base_uri = 'no-scheme'",
        "x = [[[[1]]]]",
        "keystore = 'k.json'",
    ]
)


@FUZZ
@given(lines=st.lists(TOML_LINE | st.text(max_size=20), max_size=8), raw=st.binary(max_size=100))
def test_config_loader_fuzz(files: Path, lines: list[str], raw: bytes) -> None:
    path = files / "ame.toml"
    for content in ("\n".join(lines).encode(), raw):
        path.write_bytes(content)
        _only_ame_errors(lambda p: load_config(p, env={}), path)


SCENARIO_DIR = Path(offchain.scenario.__file__).parent
SCENARIO = yaml.safe_load((SCENARIO_DIR / REFERENCE_SCENARIO).read_text())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated(SCENARIO))
def test_scenario_parser_fuzz(data: Any) -> None:
    _only_ame_errors(lambda d: parse_scenario(d, base_dir=SCENARIO_DIR / "data"), data)
