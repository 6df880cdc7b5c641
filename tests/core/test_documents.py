"""``ame_core.documents``: a key given twice in one mapping is refused, its path named."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from ame_core.documents import key_path, parse_json, parse_yaml
from ame_core.exceptions import InputError

_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=6)
_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=10,
)


def _objects(tree: Any, path: list[str | int]) -> list[tuple[list[str | int], dict[str, Any]]]:
    """Every mapping of ``tree`` with its path."""
    found: list[tuple[list[str | int], dict[str, Any]]] = []
    if isinstance(tree, dict):
        found.append((path, tree))
        for key, value in tree.items():
            found.extend(_objects(value, [*path, key]))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.extend(_objects(value, [*path, index]))
    return found


def _dump(value: Any, repeat: int | None, key: str) -> str:
    """JSON text of ``value`` with ``key`` written a second time in the object ``id`` ``repeat``."""
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {_dump(v, repeat, key)}" for k, v in value.items()]
        if id(value) == repeat:
            items.append(f"{json.dumps(key)}: 0")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, repeat, key) for v in value) + "]"
    return json.dumps(value)


@seed(15)
@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _TREES, min_size=1, max_size=4), st.data())
def test_any_json_document_with_a_repeated_key_is_refused_naming_its_path(
    document: dict[str, Any], data: st.DataObject
) -> None:
    objects = [(p, o) for p, o in _objects(document, []) if o]
    path, target = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(target)))
    text = _dump(document, id(target), key)
    assert parse_json(text, source="d") is not None  # without the option: the last one wins
    with pytest.raises(InputError) as caught:
        parse_json(text, source="d", unique_keys=True)
    # The one repeat in the document, wherever it is.
    assert str(caught.value) == (
        f"d: not valid JSON: duplicate key {key!r} at {key_path([*path, key])}"
    )


@seed(15)
@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_KEYS, _TREES, min_size=1, max_size=4))
def test_documents_without_repeats_parse_the_same_with_the_option(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert parse_json(text, source="d", unique_keys=True) == parse_json(text, source="d")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("b:\n  a: 1\n  a: 2\n", "duplicate key 'a' at b.a (line 3)"),
        ("x: [1, {c: 1, c: 2}]\n", "duplicate key 'c' at x[1].c (line 1)"),
        ("a: &x {b: 1}\nc: *x\nd:\n  e: 1\n  e: 2\n", "duplicate key 'e' at d.e (line 5)"),
        ("'dataset:x': 1\n'dataset:x': 2\n", "duplicate key 'dataset:x' at ['dataset:x'] (line 2)"),
        ("1: a\n1: b\n", "duplicate key 1 at [1] (line 2)"),
    ],
)
def test_a_repeated_yaml_key_is_named_by_path_and_line(text: str, message: str) -> None:
    assert yaml.safe_load(text) is not None
    with pytest.raises(InputError) as caught:
        parse_yaml(text, source="r.yaml", unique_keys=True)
    assert str(caught.value) == f"r.yaml: not valid YAML: {message}"


def test_key_paths_quote_keys_that_are_not_identifiers() -> None:
    assert key_path([]) == "(top level)"
    assert key_path(["events", 0, "values", "dataset:x"]) == "events[0].values['dataset:x']"
    assert key_path(["a", "b"]) == "a.b"


# Modules that parse JSON with the standard parser, and why the text is not an input: what
# the program wrote itself and reads back, never a file a person or another party hands it.
_OWN_TEXT = {
    "ame_core/documents.py": "the guarded parser itself",
    "ame_chain/contracts.py": "the committed artifacts shipped in the package",
    "offchain/attribution/hf/_gradients.py": "the feature cache's header, checked by its hash",
    "ame/demos/market.py": "the manifest bytes the demo has just made",
    "ame/workflow/_settle.py": "the manifest the state stored when it was proposed",
    "ame/workflow/_state.py": "rows the program wrote to its own SQLite state",
}
_READERS = {"parse_json", "parse_yaml", "read_document"}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def test_every_reader_of_an_input_refuses_a_repeated_key() -> None:
    # Each input (files, keystores, records, checkpoints, logs, documents fetched from another
    # party) goes through the guarded parser asking for unique keys; the standard parser
    # only reads back what the program wrote itself.
    root = Path(__file__).resolve().parents[2]
    unguarded, plain = [], []
    for package in ("ame_core", "offchain", "ame_chain", "ame"):
        for file in sorted((root / package).rglob("*.py")):
            where = file.relative_to(root).as_posix()
            for call in _calls(ast.parse(file.read_text(encoding="utf-8"))):
                name = _name(call)
                if name in _READERS and where != "ame_core/documents.py":
                    asked = [k for k in call.keywords if k.arg == "unique_keys"]
                    if not (
                        asked
                        and isinstance(asked[0].value, ast.Constant)
                        and asked[0].value.value is True
                    ):
                        unguarded.append(f"{where}:{call.lineno} {name}")
                standard = name in {"json.loads", "json.load", "yaml.safe_load", "yaml.load"}
                if standard and where not in _OWN_TEXT:
                    plain.append(f"{where}:{call.lineno} {name}")
    assert unguarded == []
    assert plain == []
