"""Running ``ame`` in-process against a node URL, as the fault and node-answer tests do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from ame.cli import main
from ame_chain.chains import Chain
from tests.cli.conftest import CLEAN_ENV

#: A development node reached by URL: the files it names are the test's own, in tmp_path.
DEV_NODE_ENV = {"AME_FETCH_ALLOW_LOCAL": "true"}


def run(url: str, state: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    """``ame ARGS --rpc URL --state-dir STATE`` with a clean environment plus ``env``.

    Local documents are allowed, as for any development node given by URL.
    """
    argv = [*map(str, args), "--rpc", url, "--state-dir", str(state)]
    return CliRunner().invoke(main, argv, env={**CLEAN_ENV, **DEV_NODE_ENV, **(env or {})})


def key(chain: Chain, index: int) -> dict[str, str]:
    """The environment that makes development account ``index`` the signer."""
    return {"AME_PRIVATE_KEY": "0x" + chain.dev_accounts[index].key.hex().removeprefix("0x")}
