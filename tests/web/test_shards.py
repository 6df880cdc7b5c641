"""The page's reading of a large epoch's proofs (web/claim/src/verify.js ``shardOf``), run in node.

Past :data:`~ame.workflow._proof_shards.SHARD_THRESHOLD` leaves (the same constant in the
page, pinned here) the page reads the index beside the manifest and the account's shard
only. Seeded searches over sharded epochs built by the code settle runs: the page finds
every account's shard and the leaf in it, says "no leaf" for an account before the first
shard, and refuses an index of another chain, contract, epoch, root or leaf count, or any
JSON in its place, with a message, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, seed
from hypothesis import strategies as st

import ame.workflow._proof_shards as shards_module
from ame.workflow._proof_shards import INDEX_NAME, SHARD_THRESHOLD, iter_shards
from ame_chain.leaves import ZERO_ADDRESS, EpochTree, build_leaves
from tests.web._page import PAGE, build_page
from tests.web.test_verify import SETTINGS, Checker, addresses, json_values, refused

pytestmark = pytest.mark.node

SETTLEMENT = to_checksum_address("0x" + "11" * 20)


@pytest.fixture(scope="module")
def check() -> Iterator[Checker]:
    build_page()
    checker = Checker()
    yield checker
    checker.close()


def test_the_page_and_settle_shard_past_the_same_leaf_count() -> None:
    source = (PAGE / "src" / "verify.js").read_text()
    found = re.search(r"export const SHARD_THRESHOLD = ([0-9_]+);", source)
    assert found is not None and int(found[1].replace("_", "")) == SHARD_THRESHOLD
    assert f'export const INDEX_NAME = "{INDEX_NAME}";' in source


def sharded_epoch(paid: dict[str, int], epoch: int) -> tuple[dict[str, Any], list[Any], str]:
    """The index and the shards settle publishes, with shards of 3 leaves."""
    tree = EpochTree(31337, SETTLEMENT, epoch, build_leaves(paid))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shards_module, "SHARD_LEAVES", 3)
        parts = [b"".join(chunks) for _, chunks in iter_shards(tree, ZERO_ADDRESS)]
        index = shards_module._index(
            tree, ZERO_ADDRESS, [hashlib.sha256(data).hexdigest() for data in parts]
        )
    return json.loads(index.to_json_bytes()), [json.loads(data) for data in parts], tree.root


def ask(check: Checker, index: object, root: str, leaves: int, account: str, **change: Any) -> Any:
    line = {
        "op": "shardOf",
        "doc": index,
        "chainId": 31337,
        "settlement": SETTLEMENT,
        "epoch": "4",
        "root": root,
        "leafCount": str(leaves),
        "account": account,
    }
    return check.ask({**line, **change})


payouts = st.dictionaries(
    addresses, st.integers(min_value=1, max_value=2**96), min_size=1, max_size=40
)


@seed(1411)
@SETTINGS
@given(paid=payouts, stranger=addresses)
def test_the_page_finds_each_accounts_shard_and_its_leaf_and_no_shard_for_others(
    check: Checker, paid: dict[str, int], stranger: str
) -> None:
    index, shards, root = sharded_epoch(paid, 4)
    for number, shard in enumerate(shards):
        entry = index["shards"][number]
        for account in shard["claims"]:
            answer = ask(check, index, root, len(paid), account)
            assert answer == {"uri": f"proofs-{number:05d}.json", "sha256": entry["sha256"]}
            found = check(shard, 31337, SETTLEMENT, 4, root, account)
            assert found["leaf"]["account"] == account
            assert found["proof"] == shard["claims"][account]["proof"]
    answer = ask(check, index, root, len(paid), stranger)
    if stranger.lower() < index["shards"][0]["first"]:
        assert answer == {"missing": True}
    else:  # the shard its place falls in, which the page then finds has no leaf of it
        (number,) = [
            i
            for i, e in enumerate(index["shards"])
            if e["first"] <= stranger.lower()
            and (
                i + 1 == len(index["shards"]) or stranger.lower() < index["shards"][i + 1]["first"]
            )
        ]
        assert answer["uri"] == f"proofs-{number:05d}.json"
        if stranger not in paid:
            assert check(shards[number], 31337, SETTLEMENT, 4, root, stranger) == {"missing": True}


@seed(1412)
@SETTINGS
@given(
    paid=payouts,
    change=st.sampled_from(
        ["chainId", "settlement", "epoch", "root", "leafCount", "format", "order"]
    ),
)
def test_an_index_of_another_epoch_or_root_is_refused_with_a_message(
    check: Checker, paid: dict[str, int], change: str
) -> None:
    index, _, root = sharded_epoch(paid, 4)
    account = next(iter(paid))
    if change == "chainId":
        answer = ask(check, index, root, len(paid), account, chainId=1)
    elif change == "settlement":
        answer = ask(check, index, root, len(paid), account, settlement=ZERO_ADDRESS)
    elif change == "epoch":
        answer = ask(check, index, root, len(paid), account, epoch="5")
    elif change == "root":
        answer = ask(check, index, "0x" + "ab" * 32, len(paid), account)
    elif change == "leafCount":
        answer = ask(check, index, root, len(paid) + 1, account)
    elif change == "format":
        answer = ask(check, {**index, "format": "ame.proofs/1"}, root, len(paid), account)
    else:  # shards out of order (a first account repeated)
        shards = [*index["shards"], index["shards"][-1]]
        answer = ask(check, {**index, "shards": shards}, root, len(paid), "0x" + "ff" * 20)
    assert refused(answer), answer
    assert answer["error"].startswith("proofs index")


@seed(1413)
@SETTINGS
@given(doc=json_values, field=st.sampled_from(["", "shards", "entry"]))
def test_any_json_in_place_of_the_index_or_a_field_is_an_error_never_a_crash(
    check: Checker, doc: object, field: str
) -> None:
    account = to_checksum_address("0x" + "22" * 20)
    index, _, root = sharded_epoch({account: 5}, 4)
    if field == "shards":
        index["shards"] = doc
    elif field == "entry":
        index["shards"][0] = doc
    else:
        index = doc  # type: ignore[assignment]
    answer = ask(check, index, root, 1, account)
    assert refused(answer) or answer == {"missing": True}
