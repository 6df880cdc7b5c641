"""Issue 15 on a managed Anvil: `chain down`, `up`, `deploy` at the same address, and the state.

The restarted chain has another genesis; the new contract lands at the old address (the
deployer's first transaction again). The old epochs must not show as the new contract's,
and a transaction recorded for the old one must never be sent again, least of all signed
by an account other than the one asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli_anvil import node, run, settle_args
from tests.workflow._helpers import OPERATOR

pytestmark = pytest.mark.anvil

ADMIN = 0


def _deploy(state: Path) -> str:
    deployed = run(state, "deploy", "--dev-account", ADMIN, "--json")
    assert deployed.returncode == 0, deployed.stderr
    return str(json.loads(deployed.stdout)["address"])


def test_a_restarted_chain_shows_no_old_epochs_and_sends_nothing_of_the_old_state(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    assert run(state, "chain", "up").returncode == 0
    try:
        address = _deploy(state)
        old_genesis = node(state).w3.eth.get_block(0)["hash"]
        # Epoch 1 settled by the admin (it holds every role); epoch 2 left signed, unsent.
        assert run(state, *settle_args(state, tmp_path, 1), "--dev-account", ADMIN).returncode == 0
        crashed = run(
            state,
            *settle_args(state, tmp_path / "2", 2),
            "--dev-account",
            ADMIN,
            crash_at="propose:before-send",
        )
        assert crashed.returncode != 0
        assert run(state, "chain", "down").returncode == 0
        assert run(state, "chain", "up").returncode == 0
        chain = node(state)
        assert chain.w3.eth.get_block(0)["hash"] != old_genesis

        # Before any deploy: the recorded contract is of the old chain, and is not used.
        status = run(state, "status", "-v")
        assert status.returncode == 1
        assert "no settlement contract on chain 31337: run `ame deploy`" in status.stderr
        assert "retired 1 deployments, 2 epochs, 2 txs of chain 31337" in status.stderr

        assert _deploy(state) == address  # the admin's first transaction again
        status = run(state, "status")
        assert status.returncode == 0, status.stderr
        assert status.stdout == f"no epochs on {address} yet\n"

        # Another account settles epoch 2: its own transaction, none signed by the admin.
        operator = chain.dev_accounts[OPERATOR]
        granted = run(state, "roles", "grant", "operator", operator.address, "--dev-account", ADMIN)
        assert granted.returncode == 0, granted.stderr
        admin_nonce = chain.w3.eth.get_transaction_count(chain.dev_accounts[ADMIN].address)
        settled = run(
            state, *settle_args(state, tmp_path / "2", 2), "--dev-account", OPERATOR, "--json"
        )
        assert settled.returncode == 0, settled.stderr
        tx = chain.w3.eth.get_transaction(json.loads(settled.stdout)["proposeTx"])
        assert tx["from"] == operator.address
        assert chain.w3.eth.get_transaction_count(chain.dev_accounts[ADMIN].address) == admin_nonce
    finally:
        run(state, "chain", "down")
