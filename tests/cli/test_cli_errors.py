"""Every user error: `ErrorName: message` on stderr, exit 1 (2 for bad usage), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from eth_account import Account

from ame_chain.chains import InProcessChain
from tests.cli.conftest import Ame
from tests.cli.test_cli_workflow import deploy, settle
from tests.workflow._helpers import OPERATOR, write_inputs


def fails(result: Result, code: int = 1) -> str:
    """The error line (the last on stderr, after any progress lines), checked to be the only result."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr.splitlines()[-1] + "\n"


def test_no_chain_says_how_to_get_one(tmp_path: Path) -> None:
    ame = Ame(None, tmp_path / "state")
    # An operator's command says how to start one; a reader's how to name one (issue 14).
    assert fails(ame("finalize", 1)) == (
        f"ChainError: no chain: start one with `ame chain up` (state {tmp_path / 'state'}), "
        "or pass --rpc URL (or set AME_RPC_URL, or [chain] rpc in ame.toml)\n"
    )
    assert fails(ame("status")) == (
        "ChainError: no chain to read: pass --rpc URL (or set AME_RPC_URL, or [chain] rpc in "
        "ame.toml), the node of the chain the settlement contract is on\n"
    )


def test_an_unreachable_node_is_named(tmp_path: Path) -> None:
    ame = Ame(None, tmp_path / "state")
    assert fails(ame("status", "--rpc", "http://127.0.0.1:9")).startswith(
        "ChainError: cannot reach the node at http://127.0.0.1:9"
    )


def test_no_contract_says_how_to_deploy_one(ame: Ame, chain: InProcessChain) -> None:
    # Where no state directory is, a reader's command advises a reader (issue 14)...
    assert fails(ame("status")) == (
        f"WorkflowError: no settlement contract to read on chain {chain.chain_id}: pass "
        "--settlement ADDRESS (or set AME_SETTLEMENT, or [settlement] address in ame.toml), "
        "the contract the operator published\n"
    )
    assert fails(ame("finalize", 1)) == (
        f"WorkflowError: no settlement contract on chain {chain.chain_id}: run `ame deploy`, "
        "or pass --settlement ADDRESS (or set AME_SETTLEMENT)\n"
    )
    # ... and where an operator works, as the operator's commands do.
    assert fails(ame("status")) == (
        f"WorkflowError: no settlement contract on chain {chain.chain_id}: run `ame deploy`, "
        "or pass --settlement ADDRESS (or set AME_SETTLEMENT)\n"
    )
    empty = "0x" + "11" * 20
    assert fails(ame("status", "--settlement", empty)) == (
        f"WorkflowError: --settlement: no contract at {empty} on chain {chain.chain_id}\n"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AME_SETTLEMENT": "0x12"},
            "ConfigError: $AME_SETTLEMENT (settlement.address): '0x12' is not an address\n",
        ),
        (
            {"AME_RPC_URL": "127.0.0.1:8545"},
            "ConfigError: $AME_RPC_URL (chain.rpc): '127.0.0.1:8545' is not an http(s) URL\n",
        ),
        (
            {"AME_FROM_BLOCK": "-1"},
            "ConfigError: $AME_FROM_BLOCK (settlement.from_block): '-1' is not a whole number\n",
        ),
    ],
)
def test_bad_environment_values_name_variable_and_field(
    ame: Ame, env: dict[str, str | None], message: str
) -> None:
    assert fails(ame("status", env=env)) == message


def test_bad_config_file_names_file_and_field(ame: Ame, tmp_path: Path) -> None:
    config = tmp_path / "ame.toml"
    config.write_text('[chain]\nrcp = "http://127.0.0.1:8545"\n')
    assert (
        fails(ame("status", "--config", config))
        == f"ConfigError: {config}: chain.rcp: unknown field\n"
    )
    # A --config that does not exist is bad usage (exit 2, as a missing input file is);
    # $AME_CONFIG naming one is the environment's problem (exit 1).
    assert fails(ame("status", "--config", tmp_path / "none.toml"), code=2) == (
        f"ConfigError: {tmp_path / 'none.toml'}: config file not found\n"
    )
    assert fails(ame("status", env={"AME_CONFIG": str(tmp_path / "none.toml")})) == (
        f"ConfigError: {tmp_path / 'none.toml'}: config file not found\n"
    )


def test_account_errors(ame: Ame, chain: InProcessChain, tmp_path: Path) -> None:
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    args = ("settle", "--values", values, "--registry", registry)
    assert fails(ame(*args)) == (
        "InputError: no account: this command signs a transaction; set $AME_KEYSTORE (and "
        "$AME_KEYSTORE_PASSWORD) or pass --keystore PATH, set $AME_PRIVATE_KEY, or pass "
        "--dev-account N on a development chain\n"
    )
    assert (
        fails(ame(*args, "--dev-account", 10)) == "InputError: --dev-account: 10 is not in 0..9\n"
    )
    assert fails(ame(*args, env={"AME_PRIVATE_KEY": "0x1234"})) == (
        "InputError: $AME_PRIVATE_KEY is not a valid private key (expected 32 bytes of hex)\n"
    )
    keystore = tmp_path / "key.json"
    keystore.write_text(
        json.dumps(
            Account.encrypt(chain.dev_accounts[OPERATOR].key, "right", kdf="pbkdf2", iterations=2)
        )
    )
    wrong = ame(*args, "--keystore", keystore, env={"AME_KEYSTORE_PASSWORD": "wrong"})
    assert (
        fails(wrong) == f"InputError: keystore {keystore}: wrong password or corrupted keystore\n"
    )
    right = ame(*args, "--keystore", keystore, env={"AME_KEYSTORE_PASSWORD": "right"})
    assert right.exit_code == 0, right.output


def test_keys_are_never_printed_or_logged(ame: Ame, chain: InProcessChain, tmp_path: Path) -> None:
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    key = chain.dev_accounts[OPERATOR].key.hex()
    result = ame(
        "settle",
        "--values",
        values,
        "--registry",
        registry,
        "-vv",
        env={"AME_PRIVATE_KEY": "0x" + key},
    )
    assert result.exit_code == 0, result.output
    assert "INFO ame.sender: propose: signed" in result.stderr  # logging is on...
    assert key.removeprefix("0x")[-40:] not in result.output  # ...and the key is nowhere
    assert not any(key[-40:] in p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))


def test_epoch_errors(ame: Ame, chain: InProcessChain, tmp_path: Path) -> None:
    address = deploy(ame, chain)
    assert fails(ame("finalize", 9, "--dev-account", 0)) == (
        f"WorkflowError: epoch 9 was never proposed on {address}\n"
    )
    settle(ame, chain, tmp_path)
    assert fails(ame("claim", "--epoch", 1, "--dev-account", 5)) == (
        "WorkflowError: epoch 1 is Proposed: leaves are claimable once Finalized\n"
    )
    assert fails(ame("challenge", 9, "--dev-account", 3)) == (
        f"WorkflowError: epoch 9 was never proposed on {address}\n"
    )


def test_input_errors_name_file_and_field(ame: Ame, chain: InProcessChain, tmp_path: Path) -> None:
    deploy(ame, chain)
    values, registry, _ = write_inputs(tmp_path, chain, 1)
    document = json.loads(values.read_text())
    document["events"][0]["values"]["zz"] = 1
    values.write_text(json.dumps(document))
    args = ("--values", values, "--registry", registry, "--dev-account", OPERATOR)
    assert fails(ame("settle", *args)) == (
        "MappingError: values: event 'e1': values['zz']: asset 'zz' is not in the registry (revision 1)\n"
    )
    values.write_text("{")
    assert fails(ame("settle", *args)).startswith(
        f"InputError: {values}: not valid json: Expecting"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("settle", "--dev-account", 1), "settle needs --values or --scenario (one of them)"),
        (("resolve", 1, 0), "give one of --uphold, --reject or --dismiss"),
        (
            ("audit", 1, 2, "--manifest", "x.json"),
            "input files and --manifest need exactly one EPOCH",
        ),
        (
            ("claim", "--all", "--account", "0x" + "11" * 20),
            "--all and --account exclude each other",
        ),
        (("settle", "--values", "missing.json"), "'--values': File 'missing.json' does not exist"),
        (("finalize", "one"), "'one' is not a valid integer range"),
    ],
)
def test_bad_usage_exits_2(
    ame: Ame, chain: InProcessChain, args: tuple[object, ...], message: str
) -> None:
    deploy(ame, chain)
    assert message in fails(ame(*args), code=2)
