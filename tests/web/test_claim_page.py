"""The claim page in a real browser: Debian's chromium, driven by Playwright, against Anvil.

Each test settles epochs with the `ame` command, serves the built page with the publish
directory (`ame.web.PageServer`, what `ame serve` runs), and connects an injected EIP-1193
wallet that signs with an Anvil development account. The balances are checked on-chain.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from ame_chain.contracts import load_artifact
from tests.web._scenario import NAMES, ClaimWorld, wallet_page
from tests.workflow._helpers import ETHER

pytestmark = pytest.mark.anvil

WAIT = 30_000  # ms: reads and mined transactions on a shared 2-core machine
CONTRIBUTOR, OTHER, RELAYER, NOBODY = 5, 6, 8, 9  # dev accounts; 4..7 are owed 0.1..0.4 ETH


def row(page: Page, epoch: int) -> Any:
    return page.locator(f"#epochs tr[data-epoch='{epoch}']")


def cells(page: Page, epoch: int) -> list[str]:
    return [c.strip() for c in row(page, epoch).locator("td").all_inner_texts()]


def settlement_contract(world: ClaimWorld) -> Any:
    abi = load_artifact("AmeSettlement").abi
    return world.chain.w3.eth.contract(address=world.settlement, abi=abi)  # type: ignore[call-overload]


def leaf_index(world: ClaimWorld, account: str, epoch: int) -> int:
    owed = world.ame("owed", account, "--epoch", epoch, "--json")
    return int(json.loads(owed.stdout)["epochs"][0]["leaf"]["index"])


def sent_hash(page: Page) -> str:
    found = re.search(r"0x[0-9a-f]{64}", page.locator("#notice").inner_text())
    assert found, page.locator("#notice").inner_text()
    return found.group(0)


def gas_paid(world: ClaimWorld, tx_hash: str) -> int:
    receipt = world.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def test_a_contributor_connects_sees_what_is_owed_claims_and_the_page_shows_it_claimed(
    chromium: Browser, world: ClaimWorld
) -> None:
    world.settle(1)
    world.open_window(1)
    world.settle(2)
    me = world.address(CONTRIBUTOR)
    page = wallet_page(chromium, world, me)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 2)).to_be_visible(timeout=WAIT)
    assert cells(page, 1)[:4] == ["1", "0.2 ETH", NAMES[1], "claimable"]
    assert cells(page, 1)[6] == "no"
    epoch2 = cells(page, 2)
    assert epoch2[:4] == ["2", "0.2 ETH", NAMES[1], "in challenge window"]
    assert re.fullmatch(r"in (1h|5\dm( \d+s)?)", epoch2[5]) and epoch2[6] == "no"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", epoch2[4])
    expect(row(page, 2).locator("button")).to_have_count(0)  # its window is open
    assert page.locator("#claim-all").is_hidden()  # one claimable epoch: its own button

    before = world.chain.w3.eth.get_balance(me)  # type: ignore[arg-type]
    row(page, 1).locator("button.claim").click()
    expect(row(page, 1)).to_have_attribute("data-state", "claimed", timeout=WAIT)
    assert cells(page, 1)[6] == "yes"
    expect(page.locator("#notice")).to_contain_text(f"Claimed 0.2 ETH for {me}")
    paid = gas_paid(world, sent_hash(page))
    assert world.chain.w3.eth.get_balance(me) == before + ETHER // 5 - paid  # type: ignore[arg-type]
    index = leaf_index(world, me, 1)
    assert settlement_contract(world).functions.isClaimed(1, index).call() is True
    assert settlement_contract(world).functions.isClaimed(2, index).call() is False


def test_a_wrong_network_is_switched_and_a_relayer_claims_all_for_another_address_in_one_claim_many(
    chromium: Browser, world: ClaimWorld
) -> None:
    world.settle(1)
    world.settle(2)
    world.open_window(1, 2)
    payee, relayer = world.address(OTHER), world.address(RELAYER)
    page = wallet_page(chromium, world, relayer, chain_id=1)
    page.goto(world.url(account=payee))
    expect(row(page, 2)).to_be_visible(timeout=WAIT)  # reads go through the RPC URL
    assert cells(page, 1)[:4] == ["1", "0.3 ETH", NAMES[2], "claimable"]

    page.click("#connect")
    expect(page.locator("#notice")).to_contain_text(
        "Wrong network: the wallet is on chain 1, this settlement is on chain 31337"
    )
    expect(page.locator("#status")).to_contain_text("read at block", timeout=WAIT)
    expect(page.locator("#switch")).to_be_visible()  # reading again did not hide it
    assert page.locator("#account").input_value() == payee  # the link's address stays
    page.click("#switch")
    expect(page.locator("#notice")).to_be_hidden(timeout=WAIT)

    claim_all = page.locator("#claim-all")
    expect(claim_all).to_have_text("Claim all 2 in one transaction")
    before = {a: world.chain.w3.eth.get_balance(a) for a in (payee, relayer)}  # type: ignore[arg-type]
    claim_all.click()
    expect(row(page, 2)).to_have_attribute("data-state", "claimed", timeout=WAIT)
    expect(row(page, 1)).to_have_attribute("data-state", "claimed")
    expect(page.locator("#notice")).to_contain_text(f"Claimed 0.6 ETH for {payee}")
    tx_hash = sent_hash(page)
    tx = world.chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    called, args = settlement_contract(world).decode_function_input(tx["input"])
    assert called.fn_name == "claimMany" and len(args["claims"]) == 2
    assert to_checksum_address(tx["from"]) == relayer
    # The payee got both leaves and paid nothing; the relayer paid the gas.
    assert world.chain.w3.eth.get_balance(payee) == before[payee] + 2 * 3 * ETHER // 10  # type: ignore[arg-type]
    assert world.chain.w3.eth.get_balance(relayer) == before[relayer] - gas_paid(world, tx_hash)  # type: ignore[arg-type]


def test_an_erc20_epoch_shows_the_token_s_units_and_claim_all_pays_both_tokens(
    chromium: Browser, world: ClaimWorld
) -> None:
    pool = world.token("Pool", "POOL")
    world.settle(1)
    world.settle(2, pool.address)
    world.open_window(1, 2)
    me = world.address(CONTRIBUTOR)
    page = wallet_page(chromium, world, me)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 2)).to_be_visible(timeout=WAIT)
    assert cells(page, 1)[1:4] == ["0.2 ETH", NAMES[1], "claimable"]
    assert cells(page, 2)[1:4] == ["0.2 POOL", NAMES[1], "claimable"]
    page.click("#claim-all")
    expect(page.locator("#notice")).to_contain_text(
        f"Claimed 0.2 ETH and 0.2 POOL for {me}", timeout=WAIT
    )
    expect(row(page, 2)).to_have_attribute("data-state", "claimed")
    assert pool.functions.balanceOf(me).call() == ETHER // 5


def test_with_no_rpc_url_the_page_reads_through_the_wallet_only_once_it_is_on_the_right_chain(
    chromium: Browser, world: ClaimWorld
) -> None:
    world.settle(1)
    page = wallet_page(chromium, world, world.address(CONTRIBUTOR), chain_id=1)
    page.goto(world.url(rpc=""))
    page.click("#connect")
    expect(page.locator("#switch")).to_be_visible(timeout=WAIT)
    assert page.locator(
        "#table"
    ).is_hidden()  # chain 1 is never read as if it were the settlement's
    page.click("#switch")
    expect(row(page, 1)).to_be_visible(timeout=WAIT)
    assert cells(page, 1)[:4] == ["1", "0.2 ETH", NAMES[1], "in challenge window"]


def test_errors_say_what_to_do_no_wallet_window_open_nothing_owed_and_no_gas(
    chromium: Browser, world: ClaimWorld
) -> None:
    world.settle(1)
    me = world.address(CONTRIBUTOR)

    no_wallet = wallet_page(chromium, world, None)
    no_wallet.goto(world.url(account=me))
    expect(row(no_wallet, 1)).to_be_visible(timeout=WAIT)
    expect(no_wallet.locator("#connected")).to_contain_text("No wallet found")
    notice = no_wallet.locator("#notice")
    expect(notice).to_contain_text("Nothing to claim now: 0.2 ETH in epoch 1 is claimable after ")
    assert re.search(r"\(in (1h|5\dm( \d+s)?)\), once finalised", notice.inner_text())
    no_wallet.click("#connect")
    expect(notice).to_contain_text("No wallet found: install a browser wallet")

    nobody = wallet_page(chromium, world, world.address(NOBODY))
    nobody.goto(world.url())
    nobody.click("#connect")
    expect(nobody.locator("#notice")).to_contain_text(
        f"Nothing owed to {world.address(NOBODY)} in any proposed epoch of {world.settlement}",
        timeout=WAIT,
    )
    assert nobody.locator("#table").is_hidden()

    world.ame("chain", "advance", 3601)
    waiting = wallet_page(chromium, world, me)
    waiting.goto(world.url())
    waiting.click("#connect")
    expect(waiting.locator("#notice")).to_contain_text(
        "is claimable once finalised: its challenge window has ended, and anyone can finalise it",
        timeout=WAIT,
    )
    world.ame("finalize", 1, "--dev-account", 3)

    # No ETH for gas: the amount owed, and the link anyone can use to relay the claim.
    world.chain.w3.provider.make_request("anvil_setBalance", [me, "0x0"])  # type: ignore[arg-type]
    broke = wallet_page(chromium, world, me)
    broke.goto(world.url())
    broke.click("#connect")
    row(broke, 1).locator("button.claim").click()
    text = broke.locator("#notice")
    expect(text).to_contain_text(f"Not enough ETH for gas in {me} to claim 0.2 ETH", timeout=WAIT)
    expect(text).to_contain_text("Anyone can relay the claim")
    link = text.locator("a").get_attribute("href")
    assert link is not None and f"account={me}" in link and "settlement=" in link
    assert world.chain.w3.eth.get_balance(me) == 0  # type: ignore[arg-type]


def test_a_leaf_claimed_meanwhile_by_another_relayer_is_reported_and_then_shown_claimed(
    chromium: Browser, world: ClaimWorld
) -> None:
    world.settle(1)
    world.open_window(1)
    me = world.address(CONTRIBUTOR)
    page = wallet_page(chromium, world, me)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 1).locator("button.claim")).to_be_visible(timeout=WAIT)
    world.ame("claim", "--all", "--dev-account", RELAYER)  # the page still offers the leaf
    row(page, 1).locator("button.claim").click()
    expect(page.locator("#notice")).to_contain_text("The claim failed", timeout=WAIT)
    expect(page.locator("#notice")).to_contain_text(
        "already claimed: someone claimed it meanwhile (the funds went to its account) "
        "(SettlementAlreadyClaimed(1, "
    )
    expect(row(page, 1)).to_have_attribute("data-state", "claimed", timeout=WAIT)


def test_hostile_published_files_give_an_error_row_and_the_other_epochs_still_work(
    chromium: Browser, world: ClaimWorld
) -> None:
    settled = [world.settle(epoch) for epoch in (1, 2, 3)]
    world.open_window(1)
    manifests = [
        world.published / str(s["manifestURI"]).split("/published/", 1)[1] for s in settled
    ]
    (manifests[1].parent / "proofs.json").write_bytes(b"\x00" * (64 * 1024 * 1024 + 1))  # too big
    # Not the file the manifest binds (its SHA-256 differs):
    (manifests[2].parent / "proofs.json").write_text('{"format": "ame.proofs/1"}')
    world.served = False
    world.settle(4)  # announced as file:// URIs, which no browser reads
    me = world.address(CONTRIBUTOR)
    page = wallet_page(chromium, world, me)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 4)).to_be_visible(timeout=WAIT)
    assert "larger than 67108864 bytes" in cells(page, 2)[1]
    assert cells(page, 2)[1].startswith("cannot read this epoch: ")
    assert "hashes to " in cells(page, 3)[1] and "not the manifest's" in cells(page, 3)[1]
    assert "a browser reads only http(s) URIs (serve the publish directory)" in cells(page, 4)[1]
    row(page, 1).locator("button.claim").click()
    expect(row(page, 1)).to_have_attribute("data-state", "claimed", timeout=WAIT)


def test_a_read_that_answers_after_a_later_one_never_paints_the_epochs_as_they_were(
    chromium: Browser, world: ClaimWorld
) -> None:
    # Two refreshes overlap when a network switch fires both the button's and the
    # wallet's chainChanged read, or when a slow read is still out as a claim is mined.
    # Here the first read's isClaimed answer is taken from the chain before a claim and
    # handed to the page only after a second read has shown the leaf claimed.
    world.settle(1)
    world.open_window(1)
    me = world.address(CONTRIBUTOR)
    page = wallet_page(chromium, world, None)
    page.goto(world.url(account=me))
    expect(row(page, 1)).to_have_attribute("data-state", "claimable", timeout=WAIT)

    is_claimed = settlement_contract(world).encode_abi("isClaimed", [1, 0])[:10]
    held: list[tuple[Route, APIResponse]] = []
    holding = [True]

    def hold_is_claimed(route: Route) -> None:
        call = route.request.post_data_json or {}
        params = call.get("params") or [{}]
        data = params[0].get("data", "") if isinstance(params[0], dict) else ""
        if holding[0] and call.get("method") == "eth_call" and data.startswith(is_claimed):
            held.append((route, route.fetch()))  # answered now, delivered later
        else:
            route.continue_()

    page.route(lambda url: url.startswith(world.chain_url), hold_is_claimed)
    page.click("#show")
    for _ in range(WAIT // 100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the first read never asked isClaimed"
    holding[0] = False

    world.ame("claim", "--account", me, "--dev-account", RELAYER)
    page.click("#show")
    expect(row(page, 1)).to_have_attribute("data-state", "claimed", timeout=WAIT)
    status = page.locator("#status").inner_text()

    for route, answer in held:
        route.fulfill(response=answer)
    page.wait_for_timeout(2_000)  # the stale read resolves within milliseconds of its answer
    assert row(page, 1).get_attribute("data-state") == "claimed"
    assert page.locator("#status").inner_text() == status
    expect(row(page, 1).locator("button.claim")).to_have_count(0)
