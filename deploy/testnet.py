"""Deploy AmeSettlement to a testnet (or any node) and write its deployment record.

    AME_RPC_URL=https://... AME_PRIVATE_KEY=0x... python deploy/testnet.py --operator 0x... -o deployments/sepolia.json
    python deploy/testnet.py --rpc URL --keystore key.json   # password from $AME_KEYSTORE_PASSWORD or a prompt

The deployer keeps the admin role; give the operator, arbiter and guardian explicitly.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from ame_chain.chains import RpcChain
from ame_chain.keys import ENV_PASSWORD, account_from_env, account_from_keystore
from ame_core.exceptions import AmeError, InputError
from deploy._common import add_config_arguments, deploy_and_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rpc", default=os.environ.get("AME_RPC_URL"), help="node URL (or $AME_RPC_URL)"
    )
    parser.add_argument(
        "--keystore", type=Path, default=None, help="keystore file (else $AME_PRIVATE_KEY)"
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if not args.rpc:
            raise InputError("--rpc: no node URL (pass --rpc or set AME_RPC_URL)")
        if args.keystore is not None:
            password = os.environ.get(ENV_PASSWORD)
            if password is None and sys.stdin.isatty():
                password = getpass.getpass(f"password for {args.keystore}: ")
            deployer = account_from_keystore(args.keystore, password)
        else:
            deployer = account_from_env()
        chain = RpcChain(args.rpc)
        line = deploy_and_record(chain, deployer, args, record_name="{chain_id}.json")
    except AmeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
