"""The operator's path on the in-process chain: deploy with roles, `ame roles`, actionable errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from ame.deployment import DeploymentRecord
from ame.workflow import StateStore, format_date, format_duration
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from tests.cli.conftest import Ame
from tests.cli.test_cli_errors import fails
from tests.cli.test_cli_workflow import deploy, settle
from tests.workflow._helpers import ADMIN, CONFIG, ETHER, OPERATOR, WATCHDOG, write_inputs

ADMIN_FLAGS = ("--dev-account", ADMIN)
_DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def test_deploy_gives_every_role_to_the_deployer_and_prints_the_settlement_line(
    ame: Ame, chain: InProcessChain
) -> None:
    result = ame("deploy", *ADMIN_FLAGS)
    assert result.exit_code == 0, result.output
    admin = chain.dev_accounts[ADMIN].address
    address = result.stdout.splitlines()[-1].removeprefix("AME_SETTLEMENT=")
    assert result.stdout.splitlines()[-1] == f"AME_SETTLEMENT={address}"
    client = SettlementClient(chain.w3, address)
    for role in ("OPERATOR_ROLE", "ARBITER_ROLE", "GUARDIAN_ROLE", "DEFAULT_ADMIN_ROLE"):
        assert client.has_role(role, admin), role
    # Every later command in the state directory finds it.
    shown = ame("roles", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {
        "settlement": address,
        "roles": {
            role: [admin]
            for role in ("OPERATOR_ROLE", "ARBITER_ROLE", "GUARDIAN_ROLE", "DEFAULT_ADMIN_ROLE")
        },
    }


def test_deploy_leaves_no_operator_only_when_told_to(ame: Ame, chain: InProcessChain) -> None:
    operator = chain.dev_accounts[OPERATOR].address
    both = ame("deploy", *ADMIN_FLAGS, "--operator", operator, "--no-operator")
    assert both.exit_code == 2 and "--operator and --no-operator exclude each other" in both.stderr
    bad = ame("deploy", *ADMIN_FLAGS, "--arbiter", "0x12")
    assert bad.exit_code == 2 and "Invalid value for '--arbiter': '0x12' is not an address" in (
        bad.stderr
    )
    result = ame("deploy", *ADMIN_FLAGS, "--no-operator", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["roles"]["OPERATOR_ROLE"] == []
    assert record["genesisHash"] == "0x" + bytes(chain.w3.eth.get_block(0)["hash"]).hex()
    assert (
        record["blockHash"] == "0x" + bytes(chain.w3.eth.get_block(record["block"])["hash"]).hex()
    )
    shown = ame("roles", "show")
    assert "OPERATOR_ROLE       (none)" in shown.stdout


def test_roles_grant_and_revoke_by_the_admin_only(ame: Ame, chain: InProcessChain) -> None:
    ame("deploy", *ADMIN_FLAGS, "--no-operator")
    watchdog = chain.dev_accounts[WATCHDOG].address
    granted = ame("roles", "grant", "operator", watchdog, *ADMIN_FLAGS, "--json")
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.stdout)["holds"] is True
    assert watchdog in ame("roles", "show").stdout
    refused = ame("roles", "grant", "ARBITER_ROLE", watchdog, "--dev-account", WATCHDOG)
    assert fails(refused) == (
        f"AccessControlUnauthorizedAccount: AccessControlUnauthorizedAccount(account={watchdog}, "
        f"neededRole=DEFAULT_ADMIN_ROLE): {watchdog} is not the admin (DEFAULT_ADMIN_ROLE); sign "
        "with the admin, by default the account that deployed the contract\n"
    )
    revoked = ame("roles", "revoke", "operator", watchdog, *ADMIN_FLAGS, "--json")
    assert json.loads(revoked.stdout)["holds"] is False
    assert watchdog not in ame("roles", "show").stdout
    unknown = ame("roles", "grant", "king", watchdog, *ADMIN_FLAGS)
    assert unknown.exit_code == 2 and "'king' is not one of" in unknown.stderr


def test_settle_without_the_operator_role_names_it_before_publishing_anything(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    watchdog = chain.dev_accounts[WATCHDOG].address
    result = ame("settle", "--values", values, "--registry", registry, "--dev-account", WATCHDOG)
    assert fails(result) == (
        f"AccessControlUnauthorizedAccount: AccessControlUnauthorizedAccount(account={watchdog}, "
        "neededRole=OPERATOR_ROLE), checked before anything was published: "
        f"{watchdog} does not hold OPERATOR_ROLE; the admin (by default the deployer) grants "
        f"it with `ame roles grant operator {watchdog}`\n"
    )
    assert not (ame.state_dir / "published").exists()


def test_finalize_and_challenge_say_what_the_chain_tells_without_an_account(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    clean = ame("challenge", 1)
    assert clean.exit_code == 0, clean.output
    assert "the audit found nothing wrong; nothing to challenge" in clean.stdout
    early = fails(ame("finalize", 1))
    match = re.fullmatch(
        r"SettlementChallengeWindowOpen: SettlementChallengeWindowOpen\(epoch=1, "
        rf"challengeEnd=\d+\): epoch 1's challenge window ends {_DATE} \(in (.+) by the "
        r"chain's clock\): `ame chain advance (\d+)` moves this development chain's clock "
        r"past it\n",
        early,
    )
    assert match is not None, early
    assert 0 < int(match.group(2)) <= CONFIG.challenge_window
    # Signed, the contract says the same, explained the same way.
    signed = fails(ame("finalize", 1, "--dev-account", OPERATOR))
    assert signed.startswith("SettlementChallengeWindowOpen: ") and "ame chain advance" in signed
    assert ame("chain", "advance", match.group(2)).exit_code == 0
    unsigned = fails(ame("finalize", 1))
    assert unsigned.startswith("InputError: no account: this command signs a transaction; set ")
    assert "$AME_KEYSTORE" in unsigned
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0
    again = ame("finalize", 1, "--json")  # nothing to sign: no account needed
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"epoch": 1, "status": "Finalized", "tx": None}


def test_status_shows_the_window_end_as_a_date_with_time_left_and_json_keeps_seconds(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    settle(ame, chain, tmp_path)
    document = json.loads(ame("status", "--json").stdout)
    (epoch,) = document["epochs"]
    end = epoch["challengeEnd"]  # machine form: Unix seconds, the date beside it
    assert isinstance(end, int) and epoch["challengeEndDate"] == format_date(end)
    assert document["now"] == chain.timestamp() < end
    shown = ame("status")
    assert shown.exit_code == 0, shown.output
    assert f"  {format_date(end)} (in {format_duration(end - chain.timestamp())})  " in (
        shown.stdout
    )
    assert re.search(rf"  {_DATE} \(in \d+[dhms]( \d+[dhms])?\)  ", shown.stdout)
    assert str(end) not in shown.stdout
    assert ame("chain", "advance", CONFIG.challenge_window).exit_code == 0
    assert f"{format_date(end)} (ended)" in ame("status").stdout


def test_settle_and_claim_without_funds_say_what_is_needed(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    poor = Account.create()
    granted = ame("roles", "grant", "operator", poor.address, *ADMIN_FLAGS)
    assert granted.exit_code == 0, granted.output
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    key = {"AME_PRIVATE_KEY": poor.key.hex()}
    args = ("settle", "--values", values, "--registry", registry)
    assert fails(ame(*args, env=key)) == (
        f"WorkflowError: epoch 1: {poor.address} holds 0 ETH (0 wei); the pool and bond need "
        "1.1 ETH (pool of 1 ETH and the operator bond of 0.1 ETH), plus gas: fund "
        f"{poor.address} with the difference\n"
    )
    # Enough for the pool and the bond, not for the gas: the node's refusal, explained.
    needed = ETHER + CONFIG.operator_bond
    chain.w3.eth.send_transaction(
        {"from": chain.dev_accounts[ADMIN].address, "to": poor.address, "value": needed}
    )
    assert fails(ame(*args, env=key)) == (
        f"FundingError: {poor.address} has {needed} wei: not enough for a transaction carrying "
        f"{needed} wei plus its gas; proposing epoch 1 carries its pool of 1 ETH plus the "
        "operator bond of 0.1 ETH = 1.1 ETH, and gas: fund the operator's account with that "
        "much\n"
    )
    settle(ame, chain, tmp_path)
    ame("chain", "advance", CONFIG.challenge_window)
    assert ame("finalize", 1, "--dev-account", OPERATOR).exit_code == 0
    contributor = chain.dev_accounts[4].address
    relayer = Account.create()
    claim = fails(
        ame("claim", "--account", contributor, env={"AME_PRIVATE_KEY": relayer.key.hex()})
    )
    assert claim.startswith(f"FundingError: {relayer.address} has 0 wei: not enough for a ")
    assert (
        f"{contributor} is owed 0.1 ETH in epoch 1. A claim pays each leaf's own account" in claim
    )
    assert "`ame claim --account ADDRESS` signed by a funded account" in claim


def test_settle_checks_the_published_files_are_served_and_says_what_to_upload_where(
    ame: Ame, chain: InProcessChain, tmp_path: Path, www: tuple[Path, str]
) -> None:
    root, base = www
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    args = ("settle", "--values", values, "--registry", registry, "--dev-account", OPERATOR)
    env = {"AME_PUBLISH_BASE_URI": base + "ame"}
    first = ame(*args, "--json", env=env)
    assert first.exit_code == 0, first.output  # proposed: what is left is the operator's upload
    served = json.loads(first.stdout)["served"]
    assert served["ok"] is False and served["base"].startswith(base + "ame/")
    folder = Path(served["folder"])
    assert folder.is_relative_to(ame.state_dir / "published")
    assert {Path(f["path"]).name for f in served["files"]} >= {"manifest.json", "proofs.json"}
    assert all("HTTP 404" in f["problem"] for f in served["files"])
    match = re.search(
        rf"upload the folder {re.escape(str(folder))} to {re.escape(served['base'])} \(each "
        rf"file under that URI by the same name\) before ({_DATE}), when epoch 1's challenge "
        r"window ends: .*; then run this `ame settle` again to check",
        first.stderr,
    )
    assert match is not None, first.stderr

    # Uploaded as told: the same command checks again and proposes nothing twice.
    target = root / "ame" / folder.relative_to(ame.state_dir / "published")
    shutil.copytree(folder, target)
    again = ame(*args, env=env)
    assert again.exit_code == 0, again.output
    assert f"all {len(served['files'])} files at {served['base']}" in again.stdout
    assert "not served" not in again.stderr
    assert len(SettlementClient(chain.w3, served_contract(ame)).events("EpochProposed")) == 1


def served_contract(ame: Ame) -> str:
    """The contract `ame deploy` recorded last in the state directory."""
    shown = json.loads(ame("roles", "show", "--json").stdout)
    return str(shown["settlement"])


def test_units_ether_shows_amounts_in_ether_and_finalize_twice_sends_nothing(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    args = ("settle", "--values", values, "--registry", registry, "--dev-account", OPERATOR)
    settled = ame(*args, "--units", "ether")
    assert settled.exit_code == 0, settled.output
    assert re.search(r"^pool +1 ETH$", settled.stdout, re.M)
    assert re.search(rf"^challenge ends +\d+ \({_DATE}\)$", settled.stdout, re.M)
    assert "  1 ETH  " in ame("status", "--units", "ether").stdout
    assert "1000000000000000000" in ame("status").stdout  # wei unless asked
    ame("chain", "advance", CONFIG.challenge_window)
    first = ame("finalize", 1, "--dev-account", OPERATOR, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["tx"] is not None
    again = ame("finalize", 1, "--dev-account", OPERATOR, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["tx"] is None
    claimed = ame("claim", "--all", "--dev-account", WATCHDOG, "--units", "ether")
    assert claimed.exit_code == 0, claimed.output
    assert "0.1 ETH" in claimed.stdout and claimed.stdout.endswith(
        "paid 1 ETH in 1 transaction(s)\n"
    )
    withdrawn = ame("withdraw", "--dev-account", OPERATOR, "--units", "ether")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert re.search(r"^withdrawn +0\.1 ETH$", withdrawn.stdout, re.M)  # the bond, back
    nothing = fails(ame("withdraw", "--dev-account", OPERATOR))
    assert nothing.startswith("SettlementNoCredit: SettlementNoCredit(account=")
    assert nothing.endswith("has no ETH credit to withdraw (bonds come back as credit)\n")


@pytest.mark.parametrize("script", ["deploy/testnet.py", "deploy/anvil.py"])
def test_the_deploy_scripts_run_from_the_repository_root_as_ame_deploy(script: str) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AME_")}
    done = subprocess.run(
        [sys.executable, script, "--help"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: python {script} [OPTIONS]\n")
    assert "--no-operator" in done.stdout
    if script == "deploy/testnet.py":  # never a local chain by default
        refused = subprocess.run(
            [sys.executable, script], cwd=root, env=env, capture_output=True, text=True
        )
        assert refused.returncode == 1
        # Every place `ame deploy` finds a node is named, ame.toml's [chain] rpc included.
        assert refused.stderr == (
            "InputError: --rpc: no node URL "
            "(pass --rpc URL, set AME_RPC_URL, or [chain] rpc in ame.toml)\n"
        )


def test_deploy_on_a_chain_with_another_genesis_retires_the_old_records_first(
    ame: Ame, chain: InProcessChain, tmp_path: Path
) -> None:
    # The state last saw chain id N with another genesis (as after `chain down`, `up`),
    # and holds a contract of it.
    old = deploy(ame, chain)
    with StateStore(ame.state_dir) as state:
        state.check_chain(chain.chain_id, "0x" + "ee" * 32)  # retires the record just made
        record = state.deployment(chain.chain_id)
        assert record is None
        ghost = json.loads(
            (ame.state_dir / "deployments" / f"{chain.chain_id}-{old.lower()}.json").read_text()
        )
        ghost.pop("format")
        state.add_deployment(DeploymentRecord(**{**ghost, "genesis_hash": "0x" + "ee" * 32}))
    deployed = ame("deploy", *ADMIN_FLAGS, "--json")
    assert deployed.exit_code == 0, deployed.output
    assert f"contract {old}: chain {chain.chain_id} has genesis " in deployed.stderr
    new = json.loads(deployed.stdout)["address"]
    # What deploy recorded is of this chain: the next command keeps it.
    status = ame("status")
    assert status.exit_code == 0, status.output
    assert status.stdout == f"no epochs on {new} yet\n" and "retired" not in status.stderr
