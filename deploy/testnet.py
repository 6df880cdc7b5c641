"""Deploy AmeSettlement to a testnet (or any node): ``ame deploy`` with the node required.

    export AME_RPC_URL=https://... AME_KEYSTORE=operator.json AME_KEYSTORE_PASSWORD=...
    python deploy/testnet.py [--operator 0x...] [--arbiter 0x...] [--guardian 0x...]

The node, the account, the parameters and the state directory are found as ``ame deploy``
finds them, by the same code: ``--rpc``, ``$AME_RPC_URL`` or ``[chain] rpc`` in
``ame.toml`` (``--config``/``$AME_CONFIG``), and so on; only the managed chain of ``ame
chain up`` is never used, so naming no node is an error. Every option of ``ame deploy``
applies (``ame deploy --help``). It signs with
``$AME_KEYSTORE``/``--keystore`` or ``$AME_PRIVATE_KEY``; each role not named goes to the
deployer (``--no-operator`` to grant none); the deployment record goes to the state
directory (``$AME_STATE_DIR``, else ``.ame``), where every later ``ame`` command finds the
contract, and the ``AME_SETTLEMENT=`` line it prints names it anywhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout (`python deploy/testnet.py`): this checkout's packages, not an
# installed copy's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy._wrapper import run_ame_deploy


def main(argv: list[str] | None = None) -> int:
    """Deploy as ``ame deploy`` does, refusing to fall back on a local chain."""
    from ame.cli import CliEnv

    args = sys.argv[1:] if argv is None else argv
    return run_ame_deploy(args, prog="python deploy/testnet.py", env=CliEnv(require_node=True))


if __name__ == "__main__":
    raise SystemExit(main())
