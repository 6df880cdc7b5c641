"""The deploy scripts against a managed Anvil: records written, roles granted, errors clean."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ame.deployment import artifact_hash, read_record
from ame_chain.chains import AnvilChain
from ame_chain.client import ROLES, SettlementClient
from ame_core.exceptions import InputError
from deploy import anvil as anvil_script
from deploy import testnet as testnet_script

pytestmark = pytest.mark.anvil


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scripts run `ame deploy`, which records in the state directory: a fresh one."""
    for variable in ("AME_KEYSTORE", "AME_SETTLEMENT", "AME_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AME_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    chain = AnvilChain()
    try:
        yield chain
    finally:
        chain.close()


def test_anvil_script_deploys_and_records(anvil: AnvilChain, tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    assert anvil_script.main(["--rpc", anvil.url, "--challenge-window", "600", "-o", str(out)]) == 0
    record = read_record(out)
    assert record.chain_id == 31337
    assert record.artifact_hash == artifact_hash()
    assert record.config["challengeWindow"] == 600
    client = SettlementClient(anvil.w3, record.address)
    assert client.config().challenge_window == 600
    deployer = anvil.dev_accounts[0].address
    for role in ("OPERATOR_ROLE", "ARBITER_ROLE", "GUARDIAN_ROLE"):
        assert client.contract.functions.hasRole(ROLES[role], deployer).call()
    assert anvil.w3.eth.get_transaction_receipt(record.tx_hash)["contractAddress"] == record.address


def test_testnet_script_signs_with_env_key(
    anvil: AnvilChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = anvil.dev_accounts[2].address
    monkeypatch.setenv("AME_PRIVATE_KEY", anvil.dev_accounts[1].key.hex())
    out = tmp_path / "testnet.json"
    code = testnet_script.main(["--rpc", anvil.url, "--operator", operator, "-o", str(out)])
    assert code == 0
    record = read_record(out)
    assert record.deployer == anvil.dev_accounts[1].address
    assert record.roles["OPERATOR_ROLE"] == [operator]
    client = SettlementClient(anvil.w3, record.address)
    assert client.contract.functions.hasRole(ROLES["OPERATOR_ROLE"], operator).call()


def test_testnet_script_errors_are_named_and_leave_no_record(
    anvil: AnvilChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "none.json"
    monkeypatch.delenv("AME_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("AME_RPC_URL", raising=False)
    assert testnet_script.main(["-o", str(out)]) == 1
    assert "InputError: --rpc: no node URL" in capsys.readouterr().err
    assert testnet_script.main(["--rpc", anvil.url, "-o", str(out)]) == 1
    # The scripts are `ame deploy` now: a keystore is one way among others to sign.
    assert "InputError: no account: " in (err := capsys.readouterr().err)
    assert "$AME_KEYSTORE" in err and "$AME_PRIVATE_KEY" in err
    monkeypatch.setenv("AME_PRIVATE_KEY", anvil.dev_accounts[1].key.hex())
    # A bad address is bad usage, as for every `ame` command: exit 2, the option named.
    assert testnet_script.main(["--rpc", anvil.url, "--operator", "0x123", "-o", str(out)]) == 2
    assert "Invalid value for '--operator': '0x123' is not an address" in capsys.readouterr().err
    assert testnet_script.main(["--rpc", "http://127.0.0.1:9", "-o", str(out)]) == 1
    assert "ChainError: cannot reach the node" in capsys.readouterr().err
    assert not out.exists()


def test_read_record_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_record(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_record(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="format is not"):
        read_record(bad)
    bad.write_text(json.dumps({"format": "ame.deployment/1", "chain_id": 1}))
    with pytest.raises(InputError, match="missing"):
        read_record(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"format": "ame.deployment/1", "chain_id": 1, "chain_id": 2}',
            "not valid JSON: duplicate key 'chain_id' at chain_id",
        ),
        ('{"format": "ame.deployment/1", "chainId": 1}', "unknown field 'chainId'"),
        ('{"format": "ame.deployment/1", "chain_id": 1}', "missing field 'address'"),
    ],
)
def test_read_record_names_a_repeated_unknown_or_missing_field(
    tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(InputError) as caught:
        read_record(bad)
    assert str(caught.value) == f"deployment record {bad}: {message}"
    assert "__init__" not in str(caught.value)


def test_testnet_script_reads_the_node_and_settings_from_ame_toml_as_ame_deploy_does(
    anvil: AnvilChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AME_RPC_URL", "AME_CONFIG", "AME_STATE_DIR", "AME_CHALLENGE_WINDOW"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AME_PRIVATE_KEY", anvil.dev_accounts[1].key.hex())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ame.toml").write_text(
        f'[chain]\nrpc = "{anvil.url}"\n[state]\ndir = "op-state"\n[deploy]\nchallenge_window = 777\n'
    )
    assert testnet_script.main([]) == 0
    (path,) = (tmp_path / "op-state" / "deployments").glob("*.json")
    record = read_record(path)
    assert record.deployer == anvil.dev_accounts[1].address
    assert record.config["challengeWindow"] == 777
    # The environment overrides the file, as for `ame deploy`.
    monkeypatch.setenv("AME_CHALLENGE_WINDOW", "778")
    assert testnet_script.main(["-o", "env.json"]) == 0
    assert read_record(tmp_path / "env.json").config["challengeWindow"] == 778
    # --config names another file, and its node: one that does not answer is named.
    other = tmp_path / "other.toml"
    other.write_text('[chain]\nrpc = "http://127.0.0.1:9"\n')
    assert testnet_script.main(["--config", str(other), "-o", "none.json"]) == 1
    assert not (tmp_path / "none.json").exists()
