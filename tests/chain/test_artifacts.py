"""The committed ABI and bytecode must be what the sources compile to today."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ame_chain.contracts import load_artifact
from ame_chain.exceptions import CompilationError

SCRIPT = Path(__file__).resolve().parents[2] / "contracts" / "compile.py"


def _load_script() -> ModuleType:
    # A development script outside every package: loaded from its path, as `make artifacts` runs it.
    spec = importlib.util.spec_from_file_location("ame_compile_contracts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


compile_script = _load_script()
ARTIFACTS_DIR: Path = compile_script.ARTIFACTS_DIR
SOLC_VERSION: str = compile_script.SOLC_VERSION


@pytest.mark.node
def test_committed_artifacts_match_a_fresh_compilation() -> None:
    compiled = compile_script.compile_contracts()
    assert "AmeSettlement" in compiled.contracts
    problems = compile_script.stale_artifacts(compiled)
    assert problems == [], "artifacts are stale, run `make artifacts`:\n" + "\n".join(problems)


def test_build_info_pins_the_compiler() -> None:
    info = json.loads((ARTIFACTS_DIR / "build-info.json").read_text())
    assert info["solcVersion"] == SOLC_VERSION
    assert info["settings"]["evmVersion"] == "cancun"


def test_settlement_runtime_fits_the_contract_size_limit() -> None:
    data = json.loads((ARTIFACTS_DIR / "AmeSettlement.json").read_text())
    assert len(bytes.fromhex(data["deployedBytecode"][2:])) <= 24_576  # EIP-170


def test_load_artifact_fails_for_unknown_contract() -> None:
    with pytest.raises(CompilationError, match="no artifact for contract 'Nope'"):
        load_artifact("Nope")


@pytest.mark.node
def test_compiler_errors_become_a_compilation_error_with_solc_message() -> None:
    broken = {"language": "Solidity", "sources": {"Broken.sol": {"content": "contract {"}}}
    with pytest.raises(CompilationError, match="ParserError: Expected identifier"):
        compile_script._run_standard_json(compile_script.find_solc(), broken)
