"""Deploy AmeSettlement to a local Anvil: ``ame deploy`` signed by Anvil's account 0.

    python deploy/anvil.py [--rpc http://127.0.0.1:8545] [-o deployments/anvil.json]

Signs with Anvil's first development account (public knowledge: local use only) unless
``--keystore`` or ``--dev-account`` says otherwise, and that account becomes operator,
arbiter and guardian unless others are named. The node is the one ``ame deploy`` would
use (``--rpc``, ``$AME_RPC_URL`` or ``[chain] rpc``), else the Anvil on 127.0.0.1:8545.
Every option of ``ame deploy`` applies (``ame deploy --help``); the record goes to the
state directory as for ``ame deploy``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout (`python deploy/anvil.py`): this checkout's packages, not an
# installed copy's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy._wrapper import has_option, run_ame_deploy

DEFAULT_RPC = "http://127.0.0.1:8545"


def main(argv: list[str] | None = None) -> int:
    """Deploy as ``ame deploy --dev-account 0`` does, on 127.0.0.1:8545 unless a node is named."""
    from ame.cli import CliEnv

    args = list(sys.argv[1:] if argv is None else argv)
    if not has_option(args, "--dev-account", "--keystore"):
        args += ["--dev-account", "0"]
    return run_ame_deploy(args, prog="python deploy/anvil.py", env=CliEnv(default_rpc=DEFAULT_RPC))


if __name__ == "__main__":
    raise SystemExit(main())
