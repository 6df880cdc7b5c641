"""Names a package exports but imports only on first use (PEP 562).

A package whose heavy parts (torch, the pipeline) should not load with its light ones
maps each such name to the submodule defining it, and installs::

    __getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, lazy: Mapping[str, str], exported: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: The package's ``__name__`` (it must be importing, or imported).
        lazy: Exported name -> submodule of ``package`` defining it.
        exported: The package's ``__all__``.

    Returns:
        ``__getattr__`` (imports the submodule on first use and caches the value in the
        package, so later lookups are plain attribute reads) and ``__dir__``.
    """
    namespace = sys.modules[package].__dict__

    def get(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted(set(namespace) | set(exported))

    return get, names
