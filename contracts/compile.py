"""Compile ``contracts/`` into the committed artifacts under ``ame_chain/artifacts``.

    python contracts/compile.py --write    # rewrite the artifacts (``make artifacts``)
    python contracts/compile.py --check    # exit 1 and list the files that are stale

A development script, not library code: it lives next to the sources it compiles (as
web3.py's ``compile_contracts.py`` does) and outside every Python package, so an installed
``ame`` carries only the artifacts it produces (:mod:`ame_chain.contracts` loads them) and a
pip user needs no compiler. ``tests/chain/test_artifacts.py`` recompiles and fails when the
committed files are stale.

The compiler gets standard JSON naming the project's own ``.sol`` files and finds every
import itself: ``--base-path`` is the repository root, so the source unit names are
``contracts/...``, and ``--include-path node_modules`` resolves ``@openzeppelin/...``. The
output therefore depends only on the sources, :data:`SOLC_VERSION` and :data:`SETTINGS`.

Compiler choice: a native ``solc`` of the pinned version when one is on ``PATH``, otherwise
solcjs (``node_modules/solc/solc.js``) under ``node``. Both take the same arguments and give
byte-identical output for the same version and settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ame_chain.exceptions import CompilationError
from ame_core.files import atomic_write

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS_DIR",
    "SETTINGS",
    "SHIPPED_INTERFACES",
    "SOLC_VERSION",
    "Compilation",
    "CompiledContract",
    "compile_contracts",
    "expected_artifacts",
    "find_solc",
    "main",
    "stale_artifacts",
    "write_artifacts",
]

SOLC_VERSION = "0.8.30"
CONTRACTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONTRACTS_DIR.parent
NODE_MODULES = REPO_ROOT / "node_modules"
ARTIFACTS_DIR = REPO_ROOT / "ame_chain" / "artifacts"

#: Compiler settings. Many optimizer runs: claims run far more often than deployment.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 20_000},
    # The IR pipeline saves about 1,400 gas per claim and per proposal (bench/gas.py).
    "viaIR": True,
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

#: Interfaces whose ABI production code calls (no bytecode), by name: their source units.
#: They are written next to the deployable artifacts, so package data ships them.
SHIPPED_INTERFACES = {
    "IERC20": "@openzeppelin/contracts/token/ERC20/IERC20.sol",
    # symbol() and decimals(): the units `ame owed` shows a token's amounts in.
    "IERC20Metadata": "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol",
}

# Where the compiler looks for a source unit, in its order: --base-path, then --include-path.
_SEARCH_PATH = (REPO_ROOT, NODE_MODULES)


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


def find_solc() -> list[str]:
    """The command that runs the compiler: a native ``solc`` of :data:`SOLC_VERSION`, else solcjs.

    Returns:
        The argv prefix (``[solc]`` or ``[node, solc.js]``) to which the options are added.

    Raises:
        CompilationError: Neither a native solc of the pinned version nor solcjs is available.
    """
    native = shutil.which("solc")
    if native is not None and _version_of(native) == SOLC_VERSION:
        return [native]
    solc_js = NODE_MODULES / "solc" / "solc.js"
    node = shutil.which("node")
    if not solc_js.is_file() or node is None:
        raise CompilationError(
            f"no solc {SOLC_VERSION} found: install a native solc {SOLC_VERSION} or run "
            f"`npm ci` so that {solc_js} exists (node must be on PATH)"
        )
    return [node, str(solc_js)]


def _run_standard_json(command: list[str], standard_input: Mapping[str, Any]) -> dict[str, Any]:
    argv = [
        *command,
        "--standard-json",
        "--base-path",
        str(REPO_ROOT),
        "--include-path",
        str(NODE_MODULES),
    ]
    # Files, not pipes: solcjs reads stdin in one synchronous call, which fails with EAGAIN on
    # a non-blocking pipe, and it exits right after writing, which can truncate a pipe's
    # output. Unnamed temporary files leave nothing behind.
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout:
        stdin.write(json.dumps(standard_input).encode())
        stdin.seek(0)
        try:
            done = subprocess.run(
                argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, cwd=REPO_ROOT, check=False
            )
        except OSError as err:
            raise CompilationError(f"cannot run {argv[0]}: {err}") from err
        stdout.seek(0)
        text = stdout.read().decode()
    # solcjs prints notes starting with ">>> " (no SMT solver, ...) before its JSON.
    answer = "\n".join(line for line in text.splitlines() if not line.startswith(">>> "))
    if done.returncode != 0:
        raise CompilationError(
            f"{' '.join(command)} exited with {done.returncode}: "
            f"{done.stderr.decode().strip() or answer.strip()}"
        )
    try:
        output: dict[str, Any] = json.loads(answer)
    except ValueError:
        raise CompilationError(f"the compiler's answer is not JSON: {answer[:300]!r}") from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError(
            "solc failed:\n" + "\n".join(e.get("formattedMessage", e["message"]) for e in errors)
        )
    return output


def _project_units(contracts_dir: Path = CONTRACTS_DIR) -> list[str]:
    return sorted(
        p.relative_to(REPO_ROOT).as_posix() for p in contracts_dir.rglob("*.sol") if p.is_file()
    )


def _read_unit(unit: str) -> str:
    for root in _SEARCH_PATH:
        if (root / unit).is_file():
            return (root / unit).read_text(encoding="utf-8")
    raise CompilationError(f"cannot find Solidity source {unit!r} under {_SEARCH_PATH}")


@dataclass(frozen=True)
class Compilation:
    """What one compiler run produced: the contracts and every source unit it read.

    Attributes:
        contracts: The compiled contracts by name (names are unique across the project).
        sources: The text of every source unit compiled, imports included, by unit name.
    """

    contracts: dict[str, CompiledContract]
    sources: dict[str, str]


def compile_contracts(solc: list[str] | None = None) -> Compilation:
    """Compile every contract under ``contracts/``.

    Args:
        solc: The compiler command (see :func:`find_solc`, the default).

    Returns:
        The compiled contracts and the sources they were compiled from.

    Raises:
        CompilationError: The compiler is missing or reported errors.
    """
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"urls": [unit]} for unit in _project_units()},
        "settings": SETTINGS,
    }
    output = _run_standard_json(solc or find_solc(), standard_input)
    compiled: dict[str, CompiledContract] = {}
    shipped = {(unit, name) for name, unit in SHIPPED_INTERFACES.items()}
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            if (unit, name) in shipped:
                pass  # an interface production code calls: its ABI, with empty bytecode
            elif not unit.startswith("contracts/") or not bytecode or not data["abi"]:
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
    missing = sorted(set(SHIPPED_INTERFACES) - set(compiled))
    if missing:
        raise CompilationError(
            f"shipped interfaces not compiled (no contract imports them): {missing}"
        )
    # Every unit the compiler read (imports included), for the build info's hashes.
    sources = {unit: _read_unit(unit) for unit in sorted(output.get("sources", {}))}
    return Compilation(contracts=compiled, sources=sources)


def _artifact_path(contract: CompiledContract, root: Path) -> Path:
    return (root / "test" if contract.is_test_only else root) / f"{contract.name}.json"


def _render(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def expected_artifacts(compilation: Compilation) -> dict[Path, str]:
    """The artifact files, path to content, that ``compilation`` should produce."""
    files = {
        _artifact_path(c, ARTIFACTS_DIR): _render(c.to_json())
        for c in compilation.contracts.values()
    }
    files[ARTIFACTS_DIR / "build-info.json"] = _render(
        {
            "solcVersion": SOLC_VERSION,
            "settings": SETTINGS,
            "sources": {
                unit: hashlib.sha256(text.encode()).hexdigest()
                for unit, text in compilation.sources.items()
            },
        }
    )
    return files


def write_artifacts(compilation: Compilation) -> list[Path]:
    """Rewrite ``ame_chain/artifacts`` from ``compilation``; returns the files written."""
    files = expected_artifacts(compilation)
    for old in ARTIFACTS_DIR.rglob("*.json"):
        if old not in files:
            old.unlink()
    for path, text in files.items():
        atomic_write(path, text)
    return sorted(files)


def stale_artifacts(compilation: Compilation) -> list[str]:
    """Artifact files that are missing, differ from ``compilation``, or should not exist."""
    files = expected_artifacts(compilation)
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
    """``python contracts/compile.py --write | --check``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite ame_chain/artifacts")
    mode.add_argument("--check", action="store_true", help="exit 1 if the artifacts are stale")
    args = parser.parse_args(argv)
    try:
        compilation = compile_contracts()
    except CompilationError as err:
        print(f"CompilationError: {err}", file=sys.stderr)
        return 1
    if args.write:
        for path in write_artifacts(compilation):
            print(path.relative_to(REPO_ROOT))
        return 0
    problems = stale_artifacts(compilation)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
