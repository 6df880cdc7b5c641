"""Parsing untrusted documents (JSON, YAML, TOML) so that any text gives a value or an InputError.

The standard parsers fail in three ways beyond their own decode errors, each seen with
hostile input (manifests come from whoever proposed an epoch):

* a number of more than 4,300 digits raises a plain ``ValueError`` (CPython's guard
  against quadratic ``int(str)``, ``sys.set_int_max_str_digits``);
* deep nesting raises ``RecursionError``, or crashes the process: py-ecc (imported with
  eth-account) raises the recursion limit to 100,000 at import, far beyond what the C
  stack holds, so ``json.loads("[" * 100_000)`` segfaults the interpreter;
* YAML raises its own ``YAMLError`` tree.

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


def parse_json(text: str | bytes, *, source: str, decimals: bool = True, kind: str = "JSON") -> Any:
    """Parse JSON; non-integers as ``Decimal`` unless ``decimals`` is False.

    Args:
        text: The document.
        source: Where it came from, for messages.
        decimals: Read non-integers as ``Decimal`` (exact) rather than ``float``.
        kind: The format's name in messages (``"{source}: not valid {kind}: ..."``).

    Raises:
        InputError: The text is not JSON, nests too deeply, or holds an unreadable number.
    """
    parse_float = Decimal if decimals else float
    return _guarded(
        lambda: json.loads(text, parse_float=parse_float), source, kind, (json.JSONDecodeError,)
    )


def parse_yaml(text: str, *, source: str, kind: str = "YAML") -> Any:
    """Parse YAML with ``yaml.safe_load`` (arguments as :func:`parse_json`).

    Raises:
        InputError: The text is not YAML or nests too deeply.
    """
    return _guarded(lambda: yaml.safe_load(text), source, kind, (yaml.YAMLError,))


def parse_toml(text: str, *, source: str, kind: str = "TOML") -> dict[str, Any]:
    """Parse TOML (arguments as :func:`parse_json`).

    Raises:
        InputError: The text is not TOML, nests too deeply, or holds an unreadable number.
    """
    return _guarded(lambda: tomllib.loads(text), source, kind, (tomllib.TOMLDecodeError,))


def read_document(path: str | Path, *, decimals: bool = True) -> Any:
    """Read a JSON or YAML file: ``.yaml``/``.yml`` as YAML, anything else as JSON.

    Args:
        path: The file to read.
        decimals: Read non-integers in JSON as ``Decimal`` (exact) rather than ``float``.

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
        return parse_yaml(text, source=str(file), kind=kind)
    return parse_json(text, source=str(file), decimals=decimals, kind=kind)
