"""CLI fixtures: the whole `ame` command on one in-process chain (handed in as CliEnv), per module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ame.cli import CliEnv, main
from ame_chain.chains import InProcessChain

# Variables a developer's shell may hold that would change what the commands do.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "AME_CONFIG",
        "AME_STATE_DIR",
        "AME_RPC_URL",
        "AME_SETTLEMENT",
        "AME_TOKEN",
        "AME_FROM_BLOCK",
        "AME_PUBLISH_DIR",
        "AME_PUBLISH_BASE_URI",
        "AME_KEYSTORE",
        "AME_KEYSTORE_PASSWORD",
        "AME_PRIVATE_KEY",
        "AME_FETCH_MAX_BYTES",
        "AME_SCHEDULER",
        "AME_ATTRIBUTION_WORKERS",
        "AME_ATTRIBUTION_BATCH_SIZE",
        "AME_ATTRIBUTION_CHECKPOINT_DIR",
        "AME_FETCH_DEADLINE",
        "AME_FETCH_ALLOW_LOCAL",
        "AME_CLAIM_PAGE_URL",
        "AME_CLAIM_PAGE_CHAIN_ID",
        "AME_CLAIM_PAGE_PORT",
        "AME_CLAIM_PAGE_DIR",
    )
}


@dataclass
class Ame:
    """Runs `ame ...` in-process with a state directory and, optionally, a shared chain."""

    chain: InProcessChain | None
    state_dir: Path

    def __call__(self, *args: object, env: dict[str, str | None] | None = None) -> Result:
        argv = [str(a) for a in args]
        # `map`, `attribute` and `demo` keep no state; every other command gets this directory.
        full = (
            argv
            if argv[0] in {"map", "attribute", "demo"}
            else [*argv, "--state-dir", str(self.state_dir)]
        )
        return CliRunner().invoke(
            main, full, obj=CliEnv(chain=self.chain), env={**CLEAN_ENV, **(env or {})}
        )


@pytest.fixture(scope="module")
def chain() -> Iterator[InProcessChain]:
    made = InProcessChain()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def ame(chain: InProcessChain, tmp_path: Path) -> Ame:
    return Ame(chain, tmp_path / "state")
