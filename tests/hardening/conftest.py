"""Hardening fixtures: one in-process chain per module, a fresh settlement per test.

The attack catalogue runs on the embedded chain (fast, deterministic); the few attacks that
need a mempool (two transactions racing in one block) start their own Anvil.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ame_chain.chains import Chain, InProcessChain
from ame_chain.client import SettlementClient
from tests.chain.conftest import CONFIG, Actors, Deployment


@pytest.fixture(scope="module")
def chain() -> Iterator[InProcessChain]:
    made = InProcessChain()
    try:
        yield made
    finally:
        made.close()


def deploy_on(chain: Chain) -> Deployment:
    """A fresh settlement on ``chain`` with the roles of :class:`Actors` granted."""
    a = chain.dev_accounts
    actors = Actors(chain, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
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


@pytest.fixture
def deployment(chain: InProcessChain) -> Deployment:
    return deploy_on(chain)
