"""Deploy AmeSettlement to a local Anvil and write its deployment record.

    python deploy/anvil.py [--rpc http://127.0.0.1:8545] [-o deployments/anvil.json]

Signs with Anvil's first development account (public knowledge: local use only), which
also becomes operator, arbiter and guardian unless others are given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eth_account import Account

from ame_chain.chains import RpcChain
from ame_chain.deployment import deploy_settlement, write_record
from ame_chain.tx import Transactor
from deploy._common import add_config_arguments, config_from
from offchain.exceptions import AmeError

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rpc", default="http://127.0.0.1:8545")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        chain = RpcChain(args.rpc)
        Account.enable_unaudited_hdwallet_features()
        deployer = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/0")
        me = [deployer.address]
        client, record = deploy_settlement(
            Transactor(chain.w3, deployer),
            config=config_from(args),
            operators=args.operator or me,
            arbiters=args.arbiter or me,
            guardians=args.guardian or me,
            sweep_recipient=args.sweep_recipient,
        )
        output = args.output or Path("deployments") / f"anvil-{record.chain_id}.json"
        write_record(record, output)
    except AmeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(
        f"AmeSettlement deployed at {client.address} (chain {record.chain_id}); record in {output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
