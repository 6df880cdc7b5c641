"""Contract errors explained for operators: every error the ABIs declare, any arguments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from ame.cli._advice import explain
from ame_chain._roles import ROLES
from ame_chain.chains import Chain, InProcessChain
from ame_chain.contracts import load_artifact
from ame_chain.errors import decode_revert
from ame_chain.exceptions import SettlementError


def _errors() -> list[tuple[str, list[str]]]:
    """Every custom error of the settlement contract, its own and AccessControl's."""
    return sorted(
        (item["name"], [i["type"] for i in item["inputs"]])
        for item in load_artifact("AmeSettlement").abi
        if item["type"] == "error"
    )


ERRORS = _errors()


def _value(kind: str) -> st.SearchStrategy[Any]:
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if kind == "bytes32":
        return st.one_of(
            st.sampled_from([bytes.fromhex(r[2:]) for r in ROLES.values()]),
            st.binary(min_size=32, max_size=32),
        )
    if kind == "uint8":
        return st.integers(0, 255)
    return st.one_of(st.integers(0, 2**40), st.integers(0, 2**256 - 1))


@pytest.fixture(scope="module")
def chains() -> Iterator[tuple[Chain, Chain]]:
    """The in-process chain as a development chain, and as a node without dev accounts."""
    dev = InProcessChain()
    yield dev, Chain(dev.w3, [])
    dev.close()


@seed(17)
@settings(max_examples=300, database=None)
@given(data=st.data())
def test_every_contract_error_keeps_its_class_arguments_and_words(
    chains: tuple[Chain, Chain], data: st.DataObject
) -> None:
    name, types = data.draw(st.sampled_from(ERRORS), label="error")
    values = [data.draw(_value(t), label=t) for t in types]
    selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
    err = decode_revert(selector + encode(types, values))
    assert isinstance(err, SettlementError) and type(err).__name__ == name
    chain = data.draw(st.sampled_from([*chains, None]), label="chain")
    explained = explain(err, (lambda: chain) if chain is not None else None)
    assert type(explained) is type(err)
    assert explained.args_by_name == err.args_by_name and explained.tx_hash == err.tx_hash
    assert str(explained).startswith(str(err))
    if "challengeEnd" in err.args_by_name or "deadline" in err.args_by_name:
        assert str(explained) != str(err) and (
            "UTC" in str(explained) or "Unix time" in str(explained)
        )


def test_a_window_names_the_command_on_a_development_chain_and_waiting_elsewhere(
    chains: tuple[Chain, Chain],
) -> None:
    dev, node = chains
    end = dev.timestamp() + 3600
    data = function_signature_to_4byte_selector(
        "SettlementChallengeWindowOpen(uint256,uint256)"
    ) + encode(["uint256", "uint256"], [1, end])
    err = decode_revert(data)
    assert isinstance(err, SettlementError)
    on_dev = str(explain(err, lambda: dev))
    assert "epoch 1's challenge window ends " in on_dev
    assert "(in 1h by the chain's clock): `ame chain advance 3600` moves" in on_dev
    on_node = str(explain(err, lambda: node))
    assert on_node.endswith("(in 1h by the chain's clock): wait until then")
    # No chain to ask: the date alone.
    assert str(explain(err, None)).endswith(" UTC")
    past = decode_revert(
        function_signature_to_4byte_selector("SettlementChallengeWindowClosed(uint256,uint256)")
        + encode(["uint256", "uint256"], [1, dev.timestamp() - 90])
    )
    assert isinstance(past, SettlementError)
    assert str(explain(past, lambda: dev)).endswith("(1m 30s ago by the chain's clock)")
