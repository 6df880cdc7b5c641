"""Chain fixtures: ``chain -> accounts -> deployed settlement``, on the in-process chain and Anvil.

Every test that takes ``chain`` runs twice: on the embedded py-evm chain and on a managed
Anvil (marked ``anvil``). Each test gets a fresh deployment, so tests never share state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from ame_chain.chains import AnvilChain, Chain, InProcessChain
from ame_chain.client import SettlementClient, SettlementConfig
from ame_chain.contracts import load_artifact
from ame_chain.tx import Transactor

CONFIG = SettlementConfig(
    challenge_window=3600,
    dispute_window=86400,
    claim_period=30 * 86400,
    operator_bond=10**17,
    dispute_bond=10**16,
)


@pytest.fixture(
    scope="module",
    params=["in-process", pytest.param("anvil", marks=pytest.mark.anvil)],
)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    made: Chain = InProcessChain() if request.param == "in-process" else AnvilChain()
    try:
        yield made
    finally:
        made.close()


@dataclass
class Actors:
    """Named development accounts, each with its own transactor."""

    chain: Chain
    admin: LocalAccount
    operator: LocalAccount
    arbiter: LocalAccount
    guardian: LocalAccount
    alice: LocalAccount
    bob: LocalAccount
    carol: LocalAccount
    mallory: LocalAccount

    def tx(self, account: LocalAccount) -> Transactor:
        return Transactor(self.chain.w3, account)


@pytest.fixture
def actors(chain: Chain) -> Actors:
    a = chain.dev_accounts
    return Actors(chain, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])


@dataclass
class Deployment:
    """A fresh settlement with roles granted, and clients acting as each actor."""

    chain: Chain
    actors: Actors
    admin: SettlementClient
    operator: SettlementClient
    arbiter: SettlementClient
    guardian: SettlementClient

    def as_(self, account: LocalAccount) -> SettlementClient:
        return self.admin.with_transactor(self.actors.tx(account))


@pytest.fixture
def deployment(chain: Chain, actors: Actors) -> Deployment:
    admin, _ = SettlementClient.deploy(actors.tx(actors.admin), config=CONFIG)
    admin.grant_role("OPERATOR_ROLE", actors.operator.address)
    admin.grant_role("ARBITER_ROLE", actors.arbiter.address)
    admin.grant_role("GUARDIAN_ROLE", actors.guardian.address)
    return Deployment(
        chain,
        actors,
        admin,
        admin.with_transactor(actors.tx(actors.operator)),
        admin.with_transactor(actors.tx(actors.arbiter)),
        admin.with_transactor(actors.tx(actors.guardian)),
    )


def deploy_test_contract(chain: Chain, deployer: LocalAccount, name: str, *args: object) -> str:
    """Deploy a contract from ``contracts/test`` and return its address."""
    artifact = load_artifact(name)
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    result = Transactor(chain.w3, deployer).send(factory.constructor(*args))
    address = result.receipt["contractAddress"]
    assert address is not None
    return str(address)
