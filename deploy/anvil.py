"""Deploy AmeSettlement to a local Anvil and write its deployment record.

    python deploy/anvil.py [--rpc http://127.0.0.1:8545] [-o deployments/anvil.json]

Signs with Anvil's first development account (public knowledge: local use only), which
also becomes operator, arbiter and guardian unless others are given.
"""

from __future__ import annotations

import argparse
import sys

from ame_chain.chains import RpcChain, anvil_dev_accounts
from ame_core.exceptions import AmeError
from deploy._common import add_config_arguments, deploy_and_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rpc", default="http://127.0.0.1:8545")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        chain = RpcChain(args.rpc)
        deployer = anvil_dev_accounts(1)[0]
        line = deploy_and_record(
            chain,
            deployer,
            args,
            default_roles=[deployer.address],
            record_name="anvil-{chain_id}.json",
        )
    except AmeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
