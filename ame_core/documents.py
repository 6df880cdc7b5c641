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
``unique_keys=True`` a repeated key is an :class:`~ame_core.exceptions.InputError`
(configuration files, where the first of two settings would otherwise vanish).

:func:`parse_json`, :func:`parse_yaml` and :func:`parse_toml` run the parser with the
recursion limit lowered to :data:`MAX_DEPTH` frames above the caller, and turn every
failure into an :class:`~ame_core.exceptions.InputError` naming the source.
"""

from __future__ import annotations

import json
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from ame_core.exceptions import InputError

__all__ = ["MAX_DEPTH", "parse_json", "parse_toml", "parse_yaml", "read_document"]

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
    except errors as err:
        raise InputError(f"{source}: not valid {kind}: {err}") from None
    except ValueError as err:  # CPython's digit limit, or a number the parser refused
        raise InputError(f"{source}: not valid {kind}: {err}") from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing a key repeated in one mapping."""

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
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


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
    return _guarded(
        lambda: json.loads(text, parse_float=parse_float, object_pairs_hook=hook),
        source,
        kind,
        (json.JSONDecodeError,),
    )


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
