"""Arguments shared by the deploy scripts."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ame.deployment import deploy_settlement, write_record
from ame_chain.chains import Chain
from ame_chain.client import SettlementConfig
from ame_chain.tx import Transactor


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Contract parameters and roles, with the production defaults."""
    default = SettlementConfig()
    parser.add_argument(
        "--challenge-window", type=int, default=default.challenge_window, help="seconds"
    )
    parser.add_argument(
        "--dispute-window", type=int, default=default.dispute_window, help="seconds"
    )
    parser.add_argument("--claim-period", type=int, default=default.claim_period, help="seconds")
    parser.add_argument("--operator-bond", type=int, default=default.operator_bond, help="wei")
    parser.add_argument("--dispute-bond", type=int, default=default.dispute_bond, help="wei")
    parser.add_argument(
        "--operator", action="append", default=[], help="grant OPERATOR_ROLE (repeatable)"
    )
    parser.add_argument(
        "--arbiter", action="append", default=[], help="grant ARBITER_ROLE (repeatable)"
    )
    parser.add_argument(
        "--guardian", action="append", default=[], help="grant GUARDIAN_ROLE (repeatable)"
    )
    parser.add_argument("--sweep-recipient", default=None, help="defaults to the deployer")
    parser.add_argument("-o", "--output", type=Path, default=None, help="record path")


def config_from(args: argparse.Namespace) -> SettlementConfig:
    """The :class:`SettlementConfig` the arguments describe."""
    return SettlementConfig(
        challenge_window=args.challenge_window,
        dispute_window=args.dispute_window,
        claim_period=args.claim_period,
        operator_bond=args.operator_bond,
        dispute_bond=args.dispute_bond,
    )


def deploy_and_record(
    chain: Chain,
    deployer: LocalAccount,
    args: argparse.Namespace,
    *,
    default_roles: Sequence[str] = (),
    record_name: str,
) -> str:
    """Deploy with the parsed arguments, write the record; returns the line to print."""
    client, record = deploy_settlement(
        Transactor(chain.w3, deployer),
        config=config_from(args),
        operators=args.operator or default_roles,
        arbiters=args.arbiter or default_roles,
        guardians=args.guardian or default_roles,
        sweep_recipient=args.sweep_recipient,
    )
    output = args.output or Path("deployments") / record_name.format(chain_id=record.chain_id)
    write_record(record, output)
    return (
        f"AmeSettlement deployed at {client.address} (chain {record.chain_id}); record in {output}"
    )
