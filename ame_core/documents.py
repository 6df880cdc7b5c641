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

import codecs
import json
import re
import sys
import threading
import tomllib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, TypeVar

import yaml

from ame_core.exceptions import InputError

__all__ = [
    "MAX_DEPTH",
    "iter_json_members",
    "key_path",
    "parse_json",
    "parse_toml",
    "parse_yaml",
    "read_document",
]

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


_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")


class _Members:
    """A pull parser of one JSON object read from a binary file a window at a time.

    Values are decoded by the standard decoder's ``raw_decode`` (the same grammar,
    number handling and repeated-key refusal as :func:`parse_json`) from a window of
    text that slides over the file, so no more than the value being read and one
    window are held at once. A value that ends at the window's edge may continue past
    it (a number), and one that fails there may be cut off: both are decoded again
    once the window has grown, and only an error with the whole file read is one.
    """

    def __init__(self, file: IO[bytes], source: str, window: int) -> None:
        self.file, self.source, self.window = file, source, window
        self.text, self.at, self.offset, self.eof = "", 0, 0, False
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_unique_pairs)

    def fail(self, reason: str) -> InputError:
        return InputError(
            f"{self.source}: not valid JSON: {reason} (character {self.offset + self.at})"
        )

    def more(self, at_least: int) -> None:
        """Slide the window past what is read and read at least ``at_least`` more bytes."""
        if self.eof:
            return
        data = self.file.read(max(at_least, self.window))
        self.offset += self.at
        self.text, self.at = self.text[self.at :] + self.utf8.decode(data, final=not data), 0
        self.eof = not data

    def skip(self) -> str:
        """Skip whitespace; the next character, '' at the end of the file."""
        while True:
            end = _WHITESPACE.match(self.text, self.at).end()  # type: ignore[union-attr]
            self.at = end
            if end < len(self.text) or self.eof:
                return self.text[end : end + 1]
            self.more(self.window)

    def expect(self, char: str) -> None:
        if self.skip() != char:
            raise self.fail(f"expecting {char!r}")
        self.at += 1

    def value(self) -> Any:
        """The next value (after whitespace), decoded whole."""
        self.skip()
        grow = self.window
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.at)
            except _DuplicateKeyError as err:
                raise self.fail(f"duplicate key {err}") from None
            except (json.JSONDecodeError, ValueError) as err:
                if self.eof:
                    raise self.fail(str(err)) from None
                self.more(grow)
                grow *= 2
                continue
            if end == len(self.text) and not self.eof:  # a number may go on past the window
                self.more(grow)
                grow *= 2
                continue
            self.at = end
            return value

    def items(self, chunk: int) -> Iterator[list[Any]]:
        """The items of the array that starts here, ``chunk`` at a time."""
        with self.reading():
            self.expect("[")
            done = self.skip() == "]"
        if done:
            self.at += 1
            return
        while not done:
            batch: list[Any] = []
            with self.reading(), _shallow_recursion():
                while len(batch) < chunk and not done:
                    batch.append(self.value())
                    after = self.skip()
                    if after not in (",", "]"):
                        raise self.fail("expecting ',' or ']' between array items")
                    self.at += 1
                    done = after == "]"
            yield batch

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every failure to read as an :class:`InputError` naming the source."""
        try:
            yield
        except UnicodeDecodeError as err:
            raise InputError(f"{self.source}: not valid JSON: not UTF-8: {err}") from None
        except RecursionError:
            raise InputError(f"{self.source}: not valid JSON: nested too deeply") from None


def iter_json_members(
    file: IO[bytes],
    *,
    source: str,
    arrays: Collection[str] = (),
    chunk_items: int = 4096,
    window: int = 1 << 20,
) -> Iterator[tuple[str, Any]]:
    """Read one JSON object from a binary file member by member, long arrays a chunk at a time.

    For a document too large to hold parsed whole (a manifest of a million leaves):
    each member is yielded as ``(key, value)`` in the order of the file; a member named
    in ``arrays`` whose value is an array is yielded as ``(key, chunks)``, an iterator of
    lists of at most ``chunk_items`` items, which the caller consumes before asking for
    the next member (what it leaves is read and dropped). The grammar and values are
    :func:`parse_json`'s with ``unique_keys=True`` (UTF-8, non-integers as ``Decimal``,
    nesting bounded by :data:`MAX_DEPTH`, a key repeated in one object refused, the
    top-level object's keys included); only the messages differ, naming the character
    at which reading stopped rather than a line and column.

    Args:
        file: The document, read from its current position to its end.
        source: Where it came from, for messages.
        arrays: Members whose arrays are yielded a chunk of items at a time.
        chunk_items: Items per chunk.
        window: Bytes read at a time (a value longer than that is read whole).

    Yields:
        ``(key, value)`` or ``(key, chunks)`` for each member, in the file's order.

    Raises:
        InputError: The file is not UTF-8, or not one JSON object, nests too deeply,
            holds an unreadable number or repeats a key.
    """
    reader = _Members(file, source, window)
    seen: set[str] = set()
    with reader.reading():
        reader.expect("{")
        closed = reader.skip() == "}"
        reader.at += closed
    while not closed:
        with reader.reading(), _shallow_recursion():
            if reader.skip() != '"':
                raise reader.fail("expecting a key in double quotes")
            key = reader.value()
            if key in seen:
                raise reader.fail(f"duplicate key {key!r} at {key_path([key])}")
            seen.add(key)
            reader.expect(":")
            streamed = key in arrays and reader.skip() == "["
            value = None if streamed else reader.value()
        if streamed:
            chunks = reader.items(chunk_items)
            yield key, chunks
            for _ in chunks:  # whatever the caller left unread
                pass
        else:
            yield key, value
        with reader.reading():
            after = reader.skip()
            if after not in (",", "}"):
                raise reader.fail("expecting ',' or '}' after a member")
            reader.at += 1
            closed = after == "}"
    with reader.reading():
        if reader.skip() != "":
            raise reader.fail("extra data after the object")


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
