"""Screenshots of the claim page for the docs, from the browser tests' own setup.

    python -m tests.web.screenshots [docs/img]    (or `make screenshots`)

Settles two epochs on a fresh Anvil (the first past its window and finalised), opens the
page as the tests do and writes ``claim-page-*.png``: what a contributor is owed, the
claimed leaf, a wrong network, and no ETH for gas.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web._scenario import browser, claim_world, wallet_page

WAIT = 30_000


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / f"claim-page-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        claim_world(Path(tmp)) as world,
        browser() as chromium,
    ):
        world.settle(1)
        world.open_window(1)
        world.settle(2)
        me = world.address(5)

        page = wallet_page(chromium, world, me)
        page.goto(world.url())
        page.click("#connect")
        expect(page.locator("#epochs tr[data-epoch='2']")).to_be_visible(timeout=WAIT)
        shoot(page, out, "owed")
        page.locator("#epochs tr[data-epoch='1'] button.claim").click()
        expect(page.locator("#epochs tr[data-epoch='1']")).to_have_attribute(
            "data-state", "claimed", timeout=WAIT
        )
        shoot(page, out, "claimed")

        wrong = wallet_page(chromium, world, world.address(8), chain_id=1)
        wrong.goto(world.url(account=world.address(6)))
        expect(wrong.locator("#epochs tr[data-epoch='2']")).to_be_visible(timeout=WAIT)
        wrong.click("#connect")
        expect(wrong.locator("#switch")).to_be_visible(timeout=WAIT)
        expect(wrong.locator("#status")).to_contain_text("read at block", timeout=WAIT)
        shoot(wrong, out, "wrong-network")

        broke_account = world.address(7)
        world.chain.w3.provider.make_request("anvil_setBalance", [broke_account, "0x0"])  # type: ignore[arg-type]
        broke = wallet_page(chromium, world, broke_account)
        broke.goto(world.url())
        broke.click("#connect")
        broke.locator("#epochs tr[data-epoch='1'] button.claim").click()
        expect(broke.locator("#notice")).to_contain_text("Not enough ETH for gas", timeout=WAIT)
        shoot(broke, out, "no-gas")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
