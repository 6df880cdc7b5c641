"""A large epoch on the claim page, in a real browser: the index and one shard, never a gigabyte.

An epoch of more than 16,384 leaves publishes its proofs in shards with an index
(docs/manifest.md). Settled here with the `ame` command on Anvil at 16,400 contributors
(the production threshold, not a lowered one), the page reads the index and the
contributor's shard only (not the manifest, the other shards or a whole proofs file),
claims, and shows the leaf claimed; a shard that does not hash to the index's entry is an
error row.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from playwright.sync_api import Browser, Page, expect

from ame.workflow._proof_shards import INDEX_NAME, SHARD_THRESHOLD, ProofsIndex
from tests.web._scenario import ClaimWorld, wallet_page
from tests.web.test_claim_page import WAIT, cells, gas_paid, row, sent_hash
from tests.workflow._helpers import OPERATOR

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

CONTRIBUTOR = 5  # a dev account, one of the epoch's 16,400 payees
PAYEES = 16_400
PER_ASSET = 1_000
AMOUNT = 10**12  # wei each payee receives


def settle_large(world: ClaimWorld) -> Path:
    """Settle epoch 1 with PAYEES owners (the contributor among them); its published folder."""
    me = world.address(CONTRIBUTOR)
    people = [me] + [
        to_checksum_address("0x" + hashlib.sha256(f"payee {i}".encode()).hexdigest()[:40])
        for i in range(PAYEES - 1)
    ]
    assets, events = [], []
    for a in range(0, PAYEES, PER_ASSET):
        owners = people[a : a + PER_ASSET]
        asset = {
            "id": f"a{a}",
            "kind": "dataset",
            "content_hash": "sha256:" + f"{a:064x}",
            "uri": f"ipfs://a{a}",
            "owners": [{"address": o, "share": f"1/{len(owners)}"} for o in owners],
            "licence": {
                "commercial_use": True,
                "derivatives_allowed": True,
                "attribution_required": False,
            },
            "parents": [],
        }
        assets.append(asset)
        events.append(
            {
                "id": f"e{a}",
                "revenue": len(owners) * AMOUNT,
                "commercial": True,
                "date": "2026-06-01",
                "values": {asset["id"]: 1},
            }
        )
    world.inputs.mkdir(parents=True, exist_ok=True)
    registry, values = world.inputs / "registry.json", world.inputs / "values.json"
    registry.write_text(
        json.dumps(
            {"format": "ame.registry/1", "revision": 1, "royalty_mode": "LAP", "assets": assets}
        )
    )
    values.write_text(json.dumps({"format": "ame.values/1", "epoch": 1, "events": events}))
    world.ame("settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry)
    (folder,) = {p.parent for p in world.published.rglob("manifest.json")}
    return folder


def published_reads(page: Page) -> list[str]:
    """The names of the published files the page asks for, in order."""
    names: list[str] = []
    page.on(
        "request",
        lambda request: (
            names.append(request.url.rsplit("/", 1)[-1]) if "/published/" in request.url else None
        ),
    )
    return names


def test_a_contributor_claims_from_a_large_epoch_reading_only_the_index_and_its_shard(
    chromium: Browser, world: ClaimWorld
) -> None:
    assert PAYEES > SHARD_THRESHOLD
    folder = settle_large(world)
    assert not (folder / "proofs.json").exists()
    index = ProofsIndex.parse((folder / INDEX_NAME).read_bytes())
    me = world.address(CONTRIBUTOR)
    mine = index.shard_of(me)
    assert mine is not None and len(index.shards) == 17
    world.open_window(1)

    page = wallet_page(chromium, world, me)
    reads = published_reads(page)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 1)).to_have_attribute("data-state", "claimable", timeout=WAIT)
    assert cells(page, 1)[1] == "0.000001 ETH"
    assert reads == [INDEX_NAME, mine.uri]  # no manifest, no other shard

    before = world.chain.w3.eth.get_balance(me)  # type: ignore[arg-type]
    row(page, 1).locator("button.claim").click()
    expect(row(page, 1)).to_have_attribute("data-state", "claimed", timeout=WAIT)
    paid = gas_paid(world, sent_hash(page))
    assert world.chain.w3.eth.get_balance(me) == before + AMOUNT - paid  # type: ignore[arg-type]


def test_a_shard_that_does_not_hash_to_the_index_is_an_error_row(
    chromium: Browser, world: ClaimWorld
) -> None:
    folder = settle_large(world)
    me = world.address(CONTRIBUTOR)
    index = ProofsIndex.parse((folder / INDEX_NAME).read_bytes())
    mine = index.shard_of(me)
    assert mine is not None
    shard = folder / mine.uri
    shard.write_bytes(shard.read_bytes().replace(b'"proof":[', b'"proof":[ ', 1))
    page = wallet_page(chromium, world, me)
    page.goto(world.url())
    page.click("#connect")
    expect(row(page, 1)).to_contain_text("cannot read this epoch", timeout=WAIT)
    expect(row(page, 1)).to_contain_text(f"not the index's {mine.sha256[:40]}")
