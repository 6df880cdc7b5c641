"""The page's proof check and formats (web/claim/src/verify.js, format.js), run in node.

The page offers a claim only when the published entry's proof leads from the leaf, bound to
this chain, contract and epoch, to the on-chain root. Seeded searches over valid files
(built by the same ``EpochProofs`` that settle publishes), changed fields and nodes, other
chains, contracts and epochs, dropped entries and arbitrary JSON: the page accepts exactly
the untouched entries, and anything else is an ``Error`` with a message (an error row),
never a crash. Amounts, dates and durations read as ``ame owed`` writes them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ame.workflow import EpochProofs, TokenUnits, format_date, format_duration
from ame_chain.leaves import ZERO_ADDRESS, EpochTree, build_leaves
from tests.web._page import ROOT, build_page

pytestmark = pytest.mark.node

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# JSON numbers are doubles in a browser: ids past 2**53 - 1 are refused there (an error row).
SAFE = 2**53 - 1
addresses = st.integers(min_value=1, max_value=2**160 - 1).map(
    lambda n: to_checksum_address(n.to_bytes(20, "big"))
)
payouts = st.dictionaries(
    addresses, st.integers(min_value=1, max_value=2**128), min_size=1, max_size=30
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class Checker:
    """One node process running the page's check, line by line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(Path(__file__).with_name("page_functions.mjs"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def __call__(
        self, doc: object, chain_id: int, settlement: str, epoch: int, root: str, account: str
    ) -> dict[str, Any]:
        return self.ask(
            {
                "op": "checkedClaim",
                "doc": doc,
                "chainId": chain_id,
                "settlement": settlement,
                "epoch": str(epoch),
                "root": root,
                "account": account,
            }
        )

    def ask(self, line: dict[str, Any]) -> dict[str, Any]:
        """The page's answer to one request line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(line) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def check() -> Iterator[Checker]:
    build_page()  # installs the page's node_modules (viem) that verify.js imports
    checker = Checker()
    yield checker
    checker.close()


def published(paid: dict[str, int], chain_id: int, settlement: str, epoch: int) -> tuple[Any, str]:
    """The proofs file settle would publish (parsed as a browser parses it) and its root."""
    tree = EpochTree(chain_id, settlement, epoch, build_leaves(paid))
    data = EpochProofs.of_tree(tree, ZERO_ADDRESS).to_json_bytes()
    return json.loads(data), tree.root


def refused(answer: dict[str, Any]) -> bool:
    # An Error with a message: what the page shows in the epoch's row.
    return answer.get("name") == "Error" and bool(answer.get("error"))


@seed(1401)
@SETTINGS
@given(
    paid=payouts,
    chain_id=st.integers(min_value=1, max_value=SAFE),
    settlement=addresses,
    epoch=st.integers(min_value=0, max_value=SAFE),
)
def test_the_page_accepts_every_published_proof_and_only_for_its_chain_contract_and_epoch(
    check: Checker, paid: dict[str, int], chain_id: int, settlement: str, epoch: int
) -> None:
    doc, root = published(paid, chain_id, settlement, epoch)
    for account, entry in doc["claims"].items():
        answer = check(doc, chain_id, settlement, epoch, root, account)
        assert answer == {
            "leaf": {
                "index": str(entry["index"]),
                "account": account,
                "amount": entry["amount"],
                "amountBefore": entry["amountBefore"],
            },
            "proof": entry["proof"],
        }
        assert refused(check(doc, chain_id + 1, settlement, epoch, root, account))
        assert refused(check(doc, chain_id, ZERO_ADDRESS, epoch, root, account))
        assert refused(check(doc, chain_id, settlement, epoch + 1, root, account))
        assert refused(check(doc, chain_id, settlement, epoch, "0x" + "ab" * 32, account))


@seed(1402)
@SETTINGS
@given(paid=payouts, data=st.data())
def test_a_changed_leaf_field_or_proof_node_is_never_offered(
    check: Checker, paid: dict[str, int], data: st.DataObject
) -> None:
    settlement = to_checksum_address("0x" + "11" * 20)
    doc, root = published(paid, 31337, settlement, 3)
    account = data.draw(st.sampled_from(sorted(doc["claims"])))
    entry = doc["claims"][account]
    change = data.draw(
        st.sampled_from(["amount", "amountBefore", "index", "node", "drop node", "add node"])
    )
    if change == "node" and entry["proof"]:
        at = data.draw(st.integers(min_value=0, max_value=len(entry["proof"]) - 1))
        entry["proof"][at] = "0x" + ("22" if entry["proof"][at] != "0x" + "22" * 32 else "33") * 32
    elif change == "drop node" and entry["proof"]:
        entry["proof"].pop(data.draw(st.integers(min_value=0, max_value=len(entry["proof"]) - 1)))
    elif change in ("node", "drop node", "add node"):
        entry["proof"].append("0x" + "22" * 32)
    elif change == "index":
        entry["index"] += data.draw(st.integers(min_value=1, max_value=2**20))
    else:
        entry[change] = str(
            int(entry[change]) + data.draw(st.integers(min_value=1, max_value=2**64))
        )
    answer = check(doc, 31337, settlement, 3, root, account)
    assert refused(answer), answer
    assert "claims." in answer["error"]  # names the entry and the field


@seed(1403)
@SETTINGS
@given(paid=payouts, data=st.data())
def test_an_entry_dropped_or_moved_to_another_account_is_not_offered(
    check: Checker, paid: dict[str, int], data: st.DataObject
) -> None:
    settlement = to_checksum_address("0x" + "11" * 20)
    doc, root = published(paid, 31337, settlement, 3)
    accounts = sorted(doc["claims"])
    account = data.draw(st.sampled_from(accounts))
    other = data.draw(addresses.filter(lambda a: a not in doc["claims"]))
    doc["claims"][other] = doc["claims"].pop(account)
    assert check(doc, 31337, settlement, 3, root, account) == {"missing": True}
    assert refused(check(doc, 31337, settlement, 3, root, other))


@seed(1404)
@SETTINGS
@given(doc=json_values, field=st.sampled_from(["", "claims", "entry", "proof"]))
def test_any_json_in_place_of_the_file_or_a_field_is_an_error_never_a_crash(
    check: Checker, doc: object, field: str
) -> None:
    account = to_checksum_address("0x" + "22" * 20)
    settlement = to_checksum_address("0x" + "11" * 20)
    valid, root = published({account: 5}, 31337, settlement, 3)
    if field == "claims":
        valid["claims"] = doc
    elif field == "entry":
        valid["claims"][account] = doc
    elif field == "proof":
        valid["claims"][account]["proof"] = doc
    else:
        valid = doc
    answer = check(valid, 31337, settlement, 3, root, account)
    # Only the untouched file (a proof list of [] is the valid one for a single leaf) passes.
    assert refused(answer) or answer == {"missing": True} or (field == "proof" and doc == [])


@seed(1405)
@SETTINGS
@given(
    amount=st.integers(min_value=0, max_value=2**256 - 1),
    decimals=st.integers(min_value=0, max_value=36),
    seconds=st.integers(min_value=-(2**40), max_value=2**40),
    timestamp=st.integers(min_value=0, max_value=2**256 - 1),
)
def test_amounts_dates_and_durations_read_as_ame_owed_writes_them(
    check: Checker, amount: int, decimals: int, seconds: int, timestamp: int
) -> None:
    answer = check.ask(
        {
            "op": "format",
            "amount": str(amount),
            "decimals": decimals,
            "symbol": "POOL",
            "seconds": str(seconds),
            "timestamp": str(timestamp),
        }
    )
    assert answer["amount"] == TokenUnits("0x" + "00" * 20, "POOL", decimals).format(amount)
    assert answer["duration"] == ("now" if seconds <= 0 else f"in {format_duration(seconds)}")
    if timestamp < 253402300800:  # before year 10000: a date, as the CLI writes it
        assert answer["date"] == format_date(timestamp)
    else:
        assert answer["date"] == f"Unix time {timestamp}"
