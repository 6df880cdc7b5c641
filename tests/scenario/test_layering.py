"""The scenario format sits above attribution and mapping, which never import it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import offchain

_OFFCHAIN = Path(offchain.__file__).parent


def _imports(package: str) -> Iterator[tuple[Path, str]]:
    """Every module imported anywhere in ``package`` (type-checking and local imports too)."""
    for path in sorted((_OFFCHAIN / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                yield path, node.module


@pytest.mark.parametrize(
    ("package", "above"),
    [
        ("attribution", ("offchain.scenario", "offchain.mapping")),
        ("mapping", ("offchain.scenario", "offchain.attribution")),
    ],
)
def test_lower_packages_never_import_the_scenario_or_each_other(
    package: str, above: tuple[str, ...]
) -> None:
    found = [
        f"{path.relative_to(_OFFCHAIN)}: {module}"
        for path, module in _imports(package)
        if any(module == name or module.startswith(f"{name}.") for name in above)
    ]
    assert found == []
