"""Compile ``contracts/`` and manage the committed artifacts.

The Solidity sources are compiled through py-solc-x's standard-JSON interface with every
imported file (OpenZeppelin included) passed in, so the output depends only on the
sources, the pinned compiler version and :data:`SETTINGS`.

Compiler choice: a native ``solc`` of the pinned version when one is on ``PATH``, otherwise
solcjs from ``node_modules/solc`` through a small shim. solcjs prints a line starting with
``>>> `` before its JSON; the shim drops it so py-solc-x can parse the answer. Both give
byte-identical output for the same version and settings.

The ABI and bytecode are committed under ``ame_chain/artifacts`` (``make artifacts``), so a
pip user needs no compiler; ``tests/chain/test_artifacts.py`` recompiles and fails when the
committed files are stale.

Run ``python -m ame_chain.compile --write`` to rewrite the artifacts, ``--check`` to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ame_chain.exceptions import CompilationError

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS_DIR",
    "SETTINGS",
    "SOLC_VERSION",
    "CompiledContract",
    "compile_contracts",
    "find_solc",
    "stale_artifacts",
    "write_artifacts",
]

SOLC_VERSION = "0.8.30"
REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO_ROOT / "contracts"
NODE_MODULES = REPO_ROOT / "node_modules"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

#: Compiler settings. Many optimizer runs: claims run far more often than deployment.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 20_000},
    # The IR pipeline saves about 1,400 gas per claim and per proposal (bench/gas.py).
    "viaIR": True,
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_IMPORT_RE = re.compile(r"""^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']\s*;""", re.M)


@dataclass(frozen=True)
class CompiledContract:
    """A compiled contract: its source unit, ABI and creation and runtime bytecode (0x-hex)."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    @property
    def is_test_only(self) -> bool:
        """Whether the contract lives under ``contracts/test`` (deployed only by tests)."""
        return self.source.startswith("contracts/test/")

    def to_json(self) -> dict[str, Any]:
        """The artifact file's content."""
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }


def _version_of(binary: str) -> str | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


def _solcjs_shim() -> Path:
    solc_js = NODE_MODULES / "solc" / "solc.js"
    node = shutil.which("node")
    if not solc_js.is_file() or node is None:
        raise CompilationError(
            f"no solc {SOLC_VERSION} found: install a native solc {SOLC_VERSION} or run "
            f"`npm ci` so that {solc_js} exists (node must be on PATH)"
        )
    shim_dir = Path(tempfile.gettempdir()) / f"ame-solcjs-{os.getuid()}"
    shim_dir.mkdir(exist_ok=True)
    shim = shim_dir / "solc"
    # solcjs reads stdin in one synchronous call (EAGAIN on a pipe) and exits before a pipe
    # drains its output (truncating it): both go through files instead.
    text = (
        "#!/bin/sh\n"
        "in=$(mktemp) && out=$(mktemp) || exit 1\n"
        'case " $* " in *" --standard-json "*) cat > "$in" ;; esac\n'
        f'"{node}" "{solc_js}" "$@" < "$in" > "$out"; rc=$?\n'
        'sed "/^>>> /d" "$out"; rm -f "$in" "$out"; exit $rc\n'
    )
    if not shim.is_file() or shim.read_text() != text:
        tmp = shim_dir / f".solc.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        tmp.replace(shim)
    return shim


def find_solc() -> Path:
    """The compiler to use: a native ``solc`` of :data:`SOLC_VERSION`, else the solcjs shim.

    Raises:
        CompilationError: Neither a native solc of the pinned version nor solcjs is available.
    """
    native = shutil.which("solc")
    if native is not None and _version_of(native) == SOLC_VERSION:
        return Path(native)
    return _solcjs_shim()


def _resolve(unit: str, path: str) -> str:
    if path.startswith("."):
        return posixpath.normpath(posixpath.join(posixpath.dirname(unit), path))
    return path


def _read_unit(unit: str) -> str:
    base = NODE_MODULES if unit.startswith("@") else REPO_ROOT
    file = base / unit
    if not file.is_file():
        raise CompilationError(f"cannot find Solidity source {unit!r} (looked at {file})")
    return file.read_text(encoding="utf-8")


def collect_sources(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, str]:
    """Every ``.sol`` file under ``contracts_dir`` and everything it imports, by source unit name."""
    pending = sorted(
        p.relative_to(REPO_ROOT).as_posix() for p in contracts_dir.rglob("*.sol") if p.is_file()
    )
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = _read_unit(unit)
        sources[unit] = text
        pending.extend(_resolve(unit, imp) for imp in _IMPORT_RE.findall(text))
    return dict(sorted(sources.items()))


def compile_contracts(solc: Path | None = None) -> dict[str, CompiledContract]:
    """Compile every contract under ``contracts/``.

    Returns:
        The compiled contracts by name (names are unique across the project).

    Raises:
        CompilationError: The compiler is missing or reported errors.
    """
    import solcx
    from solcx.exceptions import SolcError

    sources = collect_sources()
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": SETTINGS,
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=solc or find_solc())
    except SolcError as err:
        raise CompilationError(f"solc failed:\n{err}") from err
    project_units = {u for u in sources if u.startswith("contracts/")}
    compiled: dict[str, CompiledContract] = {}
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        if unit not in project_units:
            continue
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode or not data["abi"]:  # interfaces, libraries of internal functions
                continue
            if name in compiled:
                raise CompilationError(f"contract name {name!r} is defined twice ({unit})")
            compiled[name] = CompiledContract(
                name=name,
                source=unit,
                abi=data["abi"],
                bytecode="0x" + bytecode,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
    return compiled


def _artifact_path(contract: CompiledContract, root: Path) -> Path:
    return (root / "test" if contract.is_test_only else root) / f"{contract.name}.json"


def _render(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _build_info(sources: Mapping[str, str]) -> dict[str, Any]:
    return {
        "solcVersion": SOLC_VERSION,
        "settings": SETTINGS,
        "sources": {u: hashlib.sha256(t.encode()).hexdigest() for u, t in sources.items()},
    }


def expected_artifacts(compiled: Mapping[str, CompiledContract]) -> dict[Path, str]:
    """The artifact files, path to content, that ``compiled`` should produce."""
    files = {_artifact_path(c, ARTIFACTS_DIR): _render(c.to_json()) for c in compiled.values()}
    files[ARTIFACTS_DIR / "build-info.json"] = _render(_build_info(collect_sources()))
    return files


def write_artifacts(compiled: Mapping[str, CompiledContract]) -> list[Path]:
    """Rewrite ``ame_chain/artifacts`` from ``compiled``; returns the files written."""
    files = expected_artifacts(compiled)
    for old in ARTIFACTS_DIR.rglob("*.json"):
        if old not in files:
            old.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return sorted(files)


def stale_artifacts(compiled: Mapping[str, CompiledContract]) -> list[str]:
    """Artifact files that are missing, differ from ``compiled``, or should not exist."""
    files = expected_artifacts(compiled)
    problems = [
        f"{path.relative_to(REPO_ROOT)}: {'missing' if not path.exists() else 'differs'}"
        for path, text in files.items()
        if not path.exists() or path.read_text() != text
    ]
    problems += [
        f"{old.relative_to(REPO_ROOT)}: no longer produced"
        for old in ARTIFACTS_DIR.rglob("*.json")
        if old not in files
    ]
    return sorted(problems)


def main(argv: list[str] | None = None) -> int:
    """``python -m ame_chain.compile [--write | --check]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite ame_chain/artifacts")
    mode.add_argument("--check", action="store_true", help="exit 1 if the artifacts are stale")
    args = parser.parse_args(argv)
    try:
        compiled = compile_contracts()
    except CompilationError as err:
        print(f"CompilationError: {err}", file=sys.stderr)
        return 1
    if args.write:
        for path in write_artifacts(compiled):
            print(path.relative_to(REPO_ROOT))
        return 0
    problems = stale_artifacts(compiled)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
