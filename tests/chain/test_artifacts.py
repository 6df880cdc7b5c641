"""The committed ABI and bytecode must be what the sources compile to today."""

from __future__ import annotations

import json

import pytest

from ame_chain.compile import ARTIFACTS_DIR, SOLC_VERSION, compile_contracts, stale_artifacts
from ame_chain.contracts import load_artifact
from ame_chain.exceptions import CompilationError


@pytest.mark.node
def test_committed_artifacts_match_a_fresh_compilation() -> None:
    compiled = compile_contracts()
    assert "AmeSettlement" in compiled
    problems = stale_artifacts(compiled)
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
