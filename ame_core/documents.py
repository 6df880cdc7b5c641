"""Parsing untrusted documents (JSON, YAML, TOML) so that any text gives a value or an InputError.

The standard parsers fail in three ways beyond their own decode errors, each seen with
hostile input (manifests come from whoever proposed an epoch):

* a number of more than 4,300 digits raises a plain ``ValueError`` (CPython's guard
  against quadratic ``int(str)``, ``sys.set_int_max_str_digits``);
* deep nesting raises ``RecursionError``, or crashes the process: py-ecc (imported with
  eth-account) raises the recursion limit to 100,000 at import, far beyond what the C
  stack holds, so ``json.loads("[" * 100_000)`` segfaults the interpreter;
* YAML raises its own ``YAMLError`` tree.

Both standard parsers also keep the last of two equal keys in one mapping, silently; with
``unique_keys=True`` a repeated key is an :class:`~ame_core.exceptions.InputError` naming
the key's path in the document (``events[0].values.'dataset:x'``), and for YAML its line.
Every reader of an input asks for it (values, registry, policy, carried ledger, scenario,
pipeline, events, training logs, keystores, deployment and chain records, batch
checkpoints, and every document fetched from another party: manifests, proofs, the
inputs an audit reads): the first of two settings would otherwise vanish.
``tests/core/test_documents.py`` pins that each call asks. TOML refuses a repeated key
by its own grammar.

:func:`parse_json`, :func:`parse_yaml` and :func:`parse_toml` run the parser with the
recursion limit lowered to :data:`MAX_DEPTH` frames above the caller, and turn every
failure into an :class:`~ame_core.exceptions.InputError` naming the source.
"""

from __future__ import annotations

import json
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from ame_core.exceptions import InputError

__all__ = ["MAX_DEPTH", "key_path", "parse_json", "parse_toml", "parse_yaml", "read_document"]

#: Frames a parser may use above its caller: documents nest far less (a manifest, 6 levels).
MAX_DEPTH: Final = 400

T = TypeVar("T")
_LOCK = threading.Lock()


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


@contextmanager
def _shallow_recursion() -> Iterator[None]:
    # The limit is process-wide: one parse at a time, restored whatever happens.
    with _LOCK:
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(min(previous, _depth() + MAX_DEPTH))
        try:
            yield
        finally:
            sys.setrecursionlimit(previous)


def _guarded(
    parse: Callable[[], T], source: str, kind: str, errors: tuple[type[Exception], ...]
) -> T:
    try:
        with _shallow_recursion():
            return parse()
    except RecursionError:
        raise InputError(f"{source}: not valid {kind}: nested too deeply") from None
    except _DuplicateKeyError as err:
        raise InputError(f"{source}: not valid {kind}: {err}") from None
    except errors as err:
        raise InputError(f"{source}: not valid {kind}: {err}") from None
    except ValueError as err:  # CPython's digit limit, or a number the parser refused
        raise InputError(f"{source}: not valid {kind}: {err}") from None


class _DuplicateKeyError(ValueError):
    """A key repeated in one mapping (the path is found once the parse has failed)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _Pairs(list):  # type: ignore[type-arg]
    """An object's ``(key, value)`` pairs as the parser read them, repeats kept."""


def key_path(parts: Sequence[object]) -> str:
    """A location in a document: ``events[0].values['dataset:x']``.

    Args:
        parts: Keys and list indices, outermost first.

    Returns:
        The path; keys that are not identifiers are quoted in brackets; ``(top level)``
        for an empty location.
    """
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            text += f".{part}" if text else part
        elif isinstance(part, str):
            text += f"[{part!r}]"
        else:  # a YAML key that is not a string (a number, a date, null)
            text += f"[{part}]"
    return text or "(top level)"


def _first_repeat(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
    """The path of the first repeated key in a tree of :class:`_Pairs` and lists."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return [*path, key], key
            seen.add(key)
        for key, item in value:
            found = _first_repeat(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeat(item, [*path, index])
            if found is not None:
                return found
    return None


def _json_repeat(text: str | bytes) -> str:
    """Where a JSON text that failed for a repeated key repeats it (parsed again, keeping all)."""
    found = _first_repeat(json.loads(text, object_pairs_hook=_Pairs), [])
    if found is None:  # not reached: the first parse found one
        return "duplicate key"
    path, key = found
    return f"duplicate key {key!r} at {key_path(path)}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing a key repeated in one mapping, naming its path and line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: construct_mapping reports it
                break
            if repeated:
                path = self._path_to(node)
                raise _DuplicateKeyError(
                    f"duplicate key {key!r} at {key_path([*path, key])} "
                    f"(line {key_node.start_mark.line + 1})"
                )
        return super().construct_mapping(node, deep=deep)

    def _path_to(self, target: yaml.Node) -> list[str | int]:
        """The path from the document's root to ``target`` (keys as scalars read them)."""
        root = getattr(self, "_root", None)
        path: list[str | int] = []

        def walk(node: yaml.Node, visited: set[int]) -> bool:
            if node is target:
                return True
            if id(node) in visited:  # an alias back to an ancestor
                return False
            visited.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    path.append(key_node.value if isinstance(key_node, yaml.ScalarNode) else "?")
                    if walk(value_node, visited):
                        return True
                    path.pop()
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    path.append(index)
                    if walk(item, visited):
                        return True
                    path.pop()
            return False

        return path if root is not None and walk(root, set()) else []

    def construct_document(self, node: yaml.Node) -> Any:
        self._root = node
        return super().construct_document(node)


def parse_json(
    text: str | bytes,
    *,
    source: str,
    decimals: bool = True,
    kind: str = "JSON",
    unique_keys: bool = False,
) -> Any:
    """Parse JSON; non-integers as ``Decimal`` unless ``decimals`` is False.

    Args:
        text: The document.
        source: Where it came from, for messages.
        decimals: Read non-integers as ``Decimal`` (exact) rather than ``float``.
        kind: The format's name in messages (``"{source}: not valid {kind}: ..."``).
        unique_keys: Refuse a key repeated in one object (the parser keeps the last).

    Raises:
        InputError: The text is not JSON, nests too deeply, holds an unreadable number,
            or (with ``unique_keys``) repeats a key.
    """
    parse_float = Decimal if decimals else float
    hook = _unique_pairs if unique_keys else None

    def parse() -> Any:
        try:
            return json.loads(text, parse_float=parse_float, object_pairs_hook=hook)
        except _DuplicateKeyError:
            raise _DuplicateKeyError(_json_repeat(text)) from None

    return _guarded(parse, source, kind, (json.JSONDecodeError,))


def parse_yaml(text: str, *, source: str, kind: str = "YAML", unique_keys: bool = False) -> Any:
    """Parse YAML with ``yaml.safe_load`` (arguments as :func:`parse_json`).

    Raises:
        InputError: The text is not YAML, nests too deeply, or (with ``unique_keys``)
            repeats a key.
    """
    loader = _UniqueKeyLoader if unique_keys else yaml.SafeLoader
    return _guarded(lambda: yaml.load(text, Loader=loader), source, kind, (yaml.YAMLError,))


def parse_toml(text: str, *, source: str, kind: str = "TOML") -> dict[str, Any]:
    """Parse TOML (arguments as :func:`parse_json`).

    Raises:
        InputError: The text is not TOML, nests too deeply, or holds an unreadable number.
    """
    return _guarded(lambda: tomllib.loads(text), source, kind, (tomllib.TOMLDecodeError,))


def read_document(path: str | Path, *, decimals: bool = True, unique_keys: bool = False) -> Any:
    """Read a JSON or YAML file: ``.yaml``/``.yml`` as YAML, anything else as JSON.

    Args:
        path: The file to read.
        decimals: Read non-integers in JSON as ``Decimal`` (exact) rather than ``float``.
        unique_keys: Refuse a key repeated in one mapping.

    Raises:
        InputError: The file cannot be read or parsed (the message names it).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{file}: cannot read: {err}") from err
    kind = file.suffix.lstrip(".") or "JSON"
    if file.suffix.lower() in {".yaml", ".yml"}:
        return parse_yaml(text, source=str(file), kind=kind, unique_keys=unique_keys)
    return parse_json(text, source=str(file), decimals=decimals, kind=kind, unique_keys=unique_keys)
