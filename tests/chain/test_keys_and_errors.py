"""Keys from keystores and the environment; reverts decoded into named exceptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector

from ame_chain import errors
from ame_chain.exceptions import SettlementError, TransactionError
from ame_chain.keys import account_from_env, account_from_keystore
from ame_core.exceptions import InputError

KEY = "0x" + "11" * 32


def test_keystore_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "pw", iterations=2)))
    assert account_from_keystore(path, "pw").key.hex() == KEY[2:]


def test_keystore_errors_name_the_file_and_never_the_key(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "pw", iterations=2)))
    with pytest.raises(InputError, match="wrong password") as info:
        account_from_keystore(path, "nope")
    assert "11111111" not in str(info.value)
    with pytest.raises(InputError, match="file not found"):
        account_from_keystore(tmp_path / "missing.json", "pw")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError, match="not a JSON keystore"):
        account_from_keystore(tmp_path / "junk.json", "pw")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(InputError, match="not an eth-account keystore"):
        account_from_keystore(tmp_path / "other.json", "pw")


def test_keystore_needs_a_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AME_KEYSTORE_PASSWORD", raising=False)
    with pytest.raises(InputError, match="no password"):
        account_from_keystore(tmp_path / "k.json")


def test_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AME_PRIVATE_KEY", KEY)
    assert account_from_env().key.hex() == KEY[2:]
    monkeypatch.setenv("AME_PRIVATE_KEY", "0x1234")
    with pytest.raises(InputError, match="not a valid private key") as info:
        account_from_env()
    assert "1234" not in str(info.value)
    monkeypatch.delenv("AME_PRIVATE_KEY")
    with pytest.raises(InputError, match="is not set"):
        account_from_env()


def test_custom_error_is_decoded_with_named_arguments() -> None:
    data = function_signature_to_4byte_selector(
        "SettlementAlreadyClaimed(uint256,uint256)"
    ) + encode(["uint256", "uint256"], [7, 42])
    err = errors.decode_revert(data, "0xabc")
    assert isinstance(err, errors.SettlementAlreadyClaimed)
    assert isinstance(err, SettlementError)
    assert err.args_by_name == {"epoch": 7, "index": 42}
    assert err.tx_hash == "0xabc"
    assert str(err) == "SettlementAlreadyClaimed(epoch=7, index=42)"


def test_unknown_or_malformed_revert_is_not_decoded() -> None:
    assert errors.decode_revert(b"\xde\xad\xbe\xef") is None
    selector = function_signature_to_4byte_selector("SettlementAlreadyClaimed(uint256,uint256)")
    assert errors.decode_revert(selector + b"\x01") is None


def test_revert_data_is_read_from_web3_and_eth_tester_exceptions() -> None:
    class Web3StyleError(Exception):
        data = "0x01020304"

    assert errors.revert_data(Web3StyleError()) == b"\x01\x02\x03\x04"
    assert errors.revert_data(Exception("execution reverted: b'\\x01\\x02'")) == b"\x01\x02"
    assert errors.revert_data(Exception("out of gas")) is None


def test_unknown_error_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        errors.SettlementNoSuchThing  # noqa: B018


def test_error_string_and_panic_are_decoded_as_transaction_errors() -> None:
    reason = function_signature_to_4byte_selector("Error(string)") + encode(["string"], ["nope"])
    err = errors.decode_revert(reason, "0x1")
    assert isinstance(err, TransactionError)
    assert str(err) == "reverted 'nope' (tx 0x1)"
    panic = function_signature_to_4byte_selector("Panic(uint256)") + encode(["uint256"], [0x11])
    assert str(errors.decode_revert(panic)) == "panicked with code 17"
