"""Deploying the settlement contract and recording where it went.

A deployment record is a small JSON file (chain id, address, block, transaction hash,
the keccak256 of the creation bytecode, configuration and roles) that the operator's
tools and auditors read to find the contract and check it runs the committed code.
Records are written atomically: a failed deployment leaves no file behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import BlockNotFound

from ame_chain._addresses import checked_address
from ame_chain.client import SettlementClient, SettlementConfig
from ame_chain.contracts import load_artifact
from ame_chain.errors import chain_errors
from ame_chain.tx import Transactor
from ame_core.documents import parse_json
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from ame_core.validation import show_value

__all__ = [
    "DeploymentRecord",
    "block_hash",
    "deploy_settlement",
    "read_record",
    "write_record",
]

RECORD_FORMAT = "ame.deployment/1"


@dataclass(frozen=True)
class DeploymentRecord:
    """Where a settlement contract was deployed and with what.

    Attributes:
        genesis_hash: The hash of the chain's block 0: a development chain restarted with
            the same chain id has another, so the record (and the operator state kept
            under it) is known to be of a chain that is gone. None in records written
            before it was kept.
        block_hash: The hash of the block the deployment was mined in: a chain reset or
            reorganised below it no longer holds this deployment.
    """

    chain_id: int
    address: str
    block: int
    tx_hash: str
    artifact_hash: str
    deployer: str
    config: dict[str, int]
    roles: dict[str, list[str]]
    sweep_recipient: str
    genesis_hash: str | None = None
    block_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record file's content."""
        return {"format": RECORD_FORMAT, **asdict(self)}


def artifact_hash() -> str:
    """keccak256 of the committed creation bytecode of ``AmeSettlement``."""
    return "0x" + keccak(hexstr=load_artifact("AmeSettlement").bytecode).hex()


def deploy_settlement(
    transactor: Transactor,
    *,
    config: SettlementConfig,
    operators: Sequence[str] = (),
    arbiters: Sequence[str] = (),
    guardians: Sequence[str] = (),
    sweep_recipient: str | None = None,
    genesis_hash: str | None = None,
) -> tuple[SettlementClient, DeploymentRecord]:
    """Deploy, grant the roles, and return the client and its record.

    The deployer keeps ``DEFAULT_ADMIN_ROLE`` (it can grant roles later). Every address
    is checked before anything is sent.

    Args:
        transactor: Signs the deployment and the grants.
        config: The contract's windows and bonds.
        operators: Granted ``OPERATOR_ROLE``.
        arbiters: Granted ``ARBITER_ROLE``.
        guardians: Granted ``GUARDIAN_ROLE``.
        sweep_recipient: Receives expired epochs' leftovers; the deployer by default.
        genesis_hash: The chain's block 0 hash, when the caller has read it already;
            read from the chain otherwise.

    Raises:
        InputError: An address is not one.
        SettlementError: The contract refused the configuration or a grant.
        ChainError: The node failed.
    """
    roles = {"OPERATOR_ROLE": operators, "ARBITER_ROLE": arbiters, "GUARDIAN_ROLE": guardians}
    checked = {
        role: [_address(a, f"{role.split('_')[0].lower()}s") for a in accounts]
        for role, accounts in roles.items()
    }
    recipient = (
        _address(sweep_recipient, "sweep_recipient") if sweep_recipient else transactor.address
    )
    client, result = SettlementClient.deploy(transactor, config=config, sweep_recipient=recipient)
    for role, accounts in checked.items():
        for account in accounts:
            client.grant_role(role, account)
    record = DeploymentRecord(
        chain_id=client.chain_id,
        address=client.address,
        block=int(result.receipt["blockNumber"]),
        tx_hash=result.tx_hash,
        artifact_hash=artifact_hash(),
        deployer=transactor.address,
        config={
            "challengeWindow": config.challenge_window,
            "disputeWindow": config.dispute_window,
            "claimPeriod": config.claim_period,
            "operatorBond": config.operator_bond,
            "disputeBond": config.dispute_bond,
        },
        roles=checked,
        sweep_recipient=recipient,
        genesis_hash=genesis_hash or block_hash(transactor.w3, 0),
        block_hash=_hex(result.receipt["blockHash"]),
    )
    return client, record


def block_hash(w3: Web3, number: int) -> str | None:
    """The hash of block ``number`` (0x-hex), or None when the chain has no such block.

    Raises:
        ChainError: The node failed.
    """
    with chain_errors():
        try:
            block = w3.eth.get_block(number)
        except BlockNotFound:
            return None
    found = block.get("hash")
    return _hex(found) if found is not None else None


def _hex(value: bytes | str) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def _address(value: str | None, field: str) -> str:
    return checked_address(value, field)


def write_record(record: DeploymentRecord, path: Path) -> None:
    """Write ``record`` to ``path`` atomically (a temporary file, then a rename).

    Raises:
        InputError: The file cannot be written.
    """
    try:
        atomic_write(path, json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n")
    except OSError as err:
        raise InputError(f"deployment record {path}: cannot write: {err.strerror or err}") from None


def read_record(path: Path) -> DeploymentRecord:
    """Read a record written by :func:`write_record`.

    Raises:
        InputError: The file is missing, not JSON, of another format, or lacks a field.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"deployment record {path}: file not found") from None
    except OSError as err:
        raise InputError(f"deployment record {path}: cannot read: {err.strerror or err}") from None
    data = parse_json(text, source=f"deployment record {path}", decimals=False, unique_keys=True)
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise InputError(f"deployment record {path}: format is not {RECORD_FORMAT!r}")
    given = {k: v for k, v in data.items() if k != "format"}
    # Named here, not left to the constructor's TypeError (Python's wording, not ours).
    known = {f.name for f in fields(DeploymentRecord)}
    required = {
        f.name
        for f in fields(DeploymentRecord)
        if f.default is MISSING and f.default_factory is MISSING
    }
    if unknown := sorted(set(given) - known):
        raise InputError(f"deployment record {path}: unknown field {show_value(unknown[0])}")
    if missing := sorted(required - set(given)):
        raise InputError(f"deployment record {path}: missing field {show_value(missing[0])}")
    return DeploymentRecord(**given)
