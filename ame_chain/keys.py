"""Signing keys: an eth-account keystore file with its password, or a key from the environment.

Keys are held as :class:`~eth_account.signers.local.LocalAccount` objects and never
printed or logged; error messages name the file or variable, never the secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ame_core.documents import parse_json
from ame_core.exceptions import InputError

__all__ = ["ENV_KEY", "ENV_PASSWORD", "account_from_env", "account_from_keystore"]

ENV_KEY = "AME_PRIVATE_KEY"
ENV_PASSWORD = "AME_KEYSTORE_PASSWORD"


def account_from_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Decrypt a keystore file; the password defaults to ``$AME_KEYSTORE_PASSWORD``.

    Raises:
        InputError: The file is missing or not a keystore, no password was given, or the
            password is wrong.
    """
    if password is None:
        password = os.environ.get(ENV_PASSWORD)
    if password is None:
        raise InputError(f"keystore {path}: no password (give one or set {ENV_PASSWORD})")
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"keystore {path}: file not found") from None
    except OSError as err:
        raise InputError(f"keystore {path}: cannot read ({err.strerror or err})") from None
    try:
        keystore = parse_json(text, source=f"keystore {path}", decimals=False, unique_keys=True)
    except InputError as err:  # not JSON, nested too deeply, or a key repeated
        why = str(err).removeprefix(f"keystore {path}: not valid JSON: ")
        raise InputError(f"keystore {path}: not a JSON keystore ({why})") from None
    if not isinstance(keystore, dict) or not isinstance(keystore.get("crypto"), dict):
        raise InputError(f"keystore {path}: not an eth-account keystore")
    try:
        key = Account.decrypt(keystore, password)
    except ValueError:
        raise InputError(f"keystore {path}: wrong password or corrupted keystore") from None
    except Exception:  # eth-keyfile's own errors: unknown version, kdf or cipher, bad fields
        raise InputError(f"keystore {path}: not an eth-account keystore") from None
    account: LocalAccount = Account.from_key(key)
    return account


def account_from_env(variable: str = ENV_KEY) -> LocalAccount:
    """The account whose private key (0x-hex) is in the environment variable ``variable``.

    Raises:
        InputError: The variable is unset or does not hold a valid private key.
    """
    value = os.environ.get(variable)
    if not value:
        raise InputError(f"${variable} is not set")
    try:
        account: LocalAccount = Account.from_key(value)
    except (ValueError, TypeError):
        raise InputError(
            f"${variable} is not a valid private key (expected 32 bytes of hex)"
        ) from None
    return account
