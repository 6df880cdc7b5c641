"""A gas limit given to :meth:`Transactor.send` is used as is, with no estimation; web3's
failures leave the chain layer as ours.

Estimation runs the call (py-evm searches the limit by running it about five times); a
caller that names the limit, such as the stateful soak, must not pay for it, and a call
that reverts must still surface as the contract's own error once mined. A read whose answer
cannot be used is a :class:`ChainError` (from web3's exception); a bug of ours stays one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3.exceptions import BadFunctionCallOutput

from ame_chain import errors
from ame_chain.chains import InProcessChain
from ame_chain.client import SettlementClient
from ame_chain.exceptions import ChainError
from ame_chain.tx import Transactor


@pytest.fixture(scope="module")
def chain() -> Iterator[InProcessChain]:
    made = InProcessChain()
    try:
        yield made
    finally:
        made.close()


def test_given_gas_is_used_without_estimating(
    chain: InProcessChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = chain.dev_accounts[0]
    client, _ = SettlementClient.deploy(Transactor(chain.w3, admin))

    def no_estimate(*args: object, **kwargs: object) -> int:
        raise AssertionError("estimate_gas was called although a limit was given")

    monkeypatch.setattr(chain.w3.eth, "estimate_gas", no_estimate)
    result = Transactor(chain.w3, admin).send(
        client.contract.functions.grantRole(b"\1" * 32, chain.dev_accounts[1].address),
        gas=200_000,
    )
    sent = chain.w3.eth.get_transaction(result.tx_hash)  # type: ignore[arg-type]
    assert sent["gas"] == 200_000


def test_given_gas_on_a_reverting_call_raises_the_contract_error_once_mined(
    chain: InProcessChain,
) -> None:
    admin, mallory = chain.dev_accounts[0], chain.dev_accounts[7]
    client, _ = SettlementClient.deploy(Transactor(chain.w3, admin))
    nonce = chain.w3.eth.get_transaction_count(mallory.address)
    with pytest.raises(errors.AccessControlUnauthorizedAccount) as info:
        Transactor(chain.w3, mallory).send(client.contract.functions.pause(), gas=100_000)
    assert info.value.tx_hash is not None  # it was mined, and failed
    assert chain.w3.eth.get_transaction_count(mallory.address) == nonce + 1


def test_reads_of_an_address_without_the_contract_raise_chain_errors_not_web3s(
    chain: InProcessChain,
) -> None:
    nobody = SettlementClient(chain.w3, chain.dev_accounts[6].address)
    assert not nobody.is_settlement()
    with pytest.raises(ChainError, match="returned nothing usable") as info:
        nobody.status(1)
    assert isinstance(info.value.__cause__, BadFunctionCallOutput)


def test_translation_leaves_our_own_bugs_alone() -> None:
    with pytest.raises(TypeError), errors.chain_errors():
        raise TypeError("a bug of ours is not the node's fault")
