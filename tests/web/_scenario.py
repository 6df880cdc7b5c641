"""The claim page's world for the browser tests and the screenshot script.

An Anvil node, a settlement deployed and settled with the `ame` command, the built page
served by :class:`ame.web.PageServer` with the publish directory under ``/published/``
(so the manifest URIs the chain announces are ones a browser can read), and headless
Chromium from Debian's package with an injected EIP-1193 wallet that signs on Anvil.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from click.testing import CliRunner, Result
from playwright.sync_api import Browser, Page, sync_playwright

from ame.cli import CliEnv, main
from ame.web import PageServer
from ame_chain.chains import AnvilChain
from ame_chain.contracts import load_artifact
from ame_chain.tx import Transactor
from tests.chain.conftest import deploy_test_contract
from tests.cli.conftest import CLEAN_ENV
from tests.web._page import build_page
from tests.workflow._helpers import ARBITER, CONFIG, CONTRIBUTORS, OPERATOR, WATCHDOG, write_inputs

PROVIDER = (Path(__file__).with_name("eip1193_provider.js")).read_text()
#: Debian's chromium: Playwright's own browser download cannot work here.
CHROMIUM = Path(os.environ.get("AME_CHROMIUM", "/usr/bin/chromium"))
#: The registry names the published registry gives the contributors (dev accounts 4..7).
NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra")


@dataclass
class ClaimWorld:
    """A settled contract on Anvil and the page that shows it."""

    chain: AnvilChain
    server: PageServer
    state: Path
    inputs: Path
    published: Path
    settlement: str = ""
    #: Publish under the page server's address; False: the file:// URIs of a local settle.
    served: bool = True

    def ame(self, *args: object) -> Result:
        """``ame ARGS`` in-process on this node, publishing where the page server serves."""
        env = {**CLEAN_ENV, "AME_PUBLISH_DIR": str(self.published)}
        if self.served:
            env["AME_PUBLISH_BASE_URI"] = self.server.url + "published/"
        result = CliRunner().invoke(
            main,
            [*map(str, args), "--state-dir", str(self.state)],
            obj=CliEnv(chain=self.chain),
            env=env,
        )
        assert result.exit_code == 0, result.output
        return result

    def deploy(self) -> str:
        accounts = self.chain.dev_accounts
        out = self.ame(
            "deploy",
            "--dev-account",
            0,
            "--operator",
            accounts[OPERATOR].address,
            "--arbiter",
            accounts[ARBITER].address,
            "--challenge-window",
            CONFIG.challenge_window,
            "--dispute-window",
            CONFIG.dispute_window,
            "--claim-period",
            CONFIG.claim_period,
            "--json",
        )
        self.settlement = str(json.loads(out.stdout)["address"])
        return self.settlement

    def settle(self, epoch: int, *token: str) -> dict[str, Any]:
        """Settle ``epoch`` with registry names: contributors 4..7 are owed 0.1, 0.2, 0.3,
        0.4 ETH, or units of ``token`` (``--token``, an ERC-20 the operator holds)."""
        values, registry, _ = write_inputs(self.inputs, self.chain, epoch)
        doc = json.loads(registry.read_text())
        for asset, name in zip(doc["assets"], NAMES, strict=True):
            asset["owners"][0]["name"] = name
        registry.write_text(json.dumps(doc))
        out = self.ame(
            "settle",
            "--dev-account",
            OPERATOR,
            "--values",
            values,
            "--registry",
            registry,
            "--json",
            *(("--token", *token) if token else ()),
        )
        settled: dict[str, Any] = json.loads(out.stdout)
        return settled

    def open_window(self, *epochs: int) -> None:
        """Move past the challenge window and finalise ``epochs``."""
        self.ame("chain", "advance", CONFIG.challenge_window + 1)
        for epoch in epochs:
            self.ame("finalize", epoch, "--dev-account", WATCHDOG)

    def token(self, name: str, symbol: str) -> Any:
        """A new ERC-20 (``MockERC20``) with 10 whole units minted to the operator."""
        address = deploy_test_contract(
            self.chain, self.chain.dev_accounts[0], "MockERC20", name, symbol
        )
        abi = load_artifact("MockERC20").abi
        mock = self.chain.w3.eth.contract(address=address, abi=abi)  # type: ignore[call-overload]
        operator = self.chain.dev_accounts[OPERATOR]
        Transactor(self.chain.w3, operator).send(mock.functions.mint(operator.address, 10 * 10**18))
        return mock

    def address(self, dev_account: int) -> str:
        return str(self.chain.dev_accounts[dev_account].address)

    def url(self, **query: object) -> str:
        """The page's URL for this settlement, with ``query`` added."""
        base = {
            "chainId": self.chain.chain_id,
            "rpc": self.chain_url,
            "settlement": self.settlement,
        }
        return self.server.url + "?" + urlencode({**base, **query})

    @property
    def chain_url(self) -> str:
        return self.chain.node.url


@contextmanager
def claim_world(tmp: Path) -> Iterator[ClaimWorld]:
    """A fresh node, contract and page server; all stopped at the end."""
    page = build_page()
    published = tmp / "published"
    published.mkdir(parents=True)
    with ExitStack() as stack:
        chain = AnvilChain(log_dir=tmp)
        stack.callback(chain.close)
        server = PageServer(page, published=published).start()
        stack.callback(server.close)
        world = ClaimWorld(chain, server, tmp / "state", tmp / "inputs", published)
        world.deploy()
        yield world


@contextmanager
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian's package (installed by ``make chromium``)."""
    if shutil.which(str(CHROMIUM)) is None:
        raise RuntimeError(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def wallet_page(
    chromium: Browser, world: ClaimWorld, account: str | None, *, chain_id: int | None = None
) -> Page:
    """A page whose ``window.ethereum`` is ``account`` on Anvil (no wallet when None)."""
    context = chromium.new_context(viewport={"width": 1100, "height": 720})
    if account is not None:
        wallet = {
            "rpc": world.chain_url,
            "account": account,
            "chainId": chain_id or world.chain.chain_id,
            "nodeChainId": world.chain.chain_id,
        }
        context.add_init_script(PROVIDER.replace("__WALLET__", json.dumps(wallet)))
    page = context.new_page()
    return page


__all__ = ["CONTRIBUTORS", "NAMES", "ClaimWorld", "browser", "claim_world", "wallet_page"]
