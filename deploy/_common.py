"""Arguments shared by the deploy scripts."""

from __future__ import annotations

import argparse
from pathlib import Path

from ame_chain.client import SettlementConfig


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
