"""Screenshots of the claim page and the report for the docs, from the browser tests' own setup.

    python -m tests.web.screenshots [docs/img]    (or `make screenshots`)

Settles two epochs on a fresh Anvil (the first past its window and finalised), opens the
page as the tests do and writes ``claim-page-*.png``: what a contributor is owed, the
claimed leaf, a wrong network, and no ETH for gas. Then writes ``ame report`` of the same
epochs and a third settled with its attribution record, and takes ``report-*.png``: the
overview, an epoch's value flow, its revenue events (their outputs checked against an event
log) and its contributors.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.web._scenario import ClaimWorld, browser, claim_world, wallet_page
from tests.workflow._helpers import OPERATOR
from tests.workflow.test_audit_attribution import write_attributed

WAIT = 30_000


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / f"claim-page-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path)


def shoot_report(chromium: Browser, world: ClaimWorld, out: Path) -> None:
    """``ame report`` of the world's epochs, opened in the browser, its sections pictured.

    Epoch 3 is settled with its attribution record, and the report given an event log
    whose first text is the one the record hashes and whose second is not, so the events
    table shows both outcomes of the check.
    """
    values, registry, record = write_attributed(world.inputs / "attributed", world.chain, 3)
    world.ame(
        "settle", "--dev-account", OPERATOR, "--values", values, "--registry", registry,
        "--attribution", record,
    )  # fmt: skip
    log = world.inputs / "events.jsonl"
    log.write_text('{"id": "e1", "text": "an output"}\n{"id": "e2", "text": "another output"}\n')
    report = world.state.parent / "report.html"
    world.ame("report", "-o", report, "--events", log)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(report.as_uri())
    for name, section in (
        ("overview", "#overview"),
        ("flow", "#epoch-1-flow"),
        ("events", "#epoch-3-events"),
        ("contributors", "#epoch-1-contributors"),
    ):
        path = out / f"report-{name}.png"
        page.locator(section).first.screenshot(path=str(path))
        print(path)
    page.close()


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

        shoot_report(chromium, world, out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
