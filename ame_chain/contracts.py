"""The committed contract artifacts (ABI and bytecode), loaded without a compiler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ame_chain.exceptions import CompilationError

__all__ = ["Artifact", "load_artifact"]

_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    """A contract's ABI and creation bytecode, as committed under ``ame_chain/artifacts``."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Load the artifact of contract ``name`` (test-only contracts included).

    Raises:
        CompilationError: No artifact of that name exists (run ``make artifacts``).
    """
    for path in (_ARTIFACTS / f"{name}.json", _ARTIFACTS / "test" / f"{name}.json"):
        if path.is_file():
            data = json.loads(path.read_text())
            return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])
    known = sorted(p.stem for p in _ARTIFACTS.rglob("*.json") if p.stem != "build-info")
    raise CompilationError(f"no artifact for contract {name!r}; known: {', '.join(known)}")
