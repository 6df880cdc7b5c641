"""``ame serve``: the claim page on 127.0.0.1, for development (:mod:`ame.web`).

Settings resolve as every command's do (:mod:`ame.config`): the option, else the
environment, else ``ame.toml``, else the default: ``--port`` / ``$AME_CLAIM_PAGE_PORT`` /
``[claim_page] port``; ``--page`` / ``[claim_page] dir``; ``--chain-id`` /
``[claim_page] chain_id`` with ``--settlement`` / ``$AME_SETTLEMENT`` /
``[settlement] address``; ``--rpc`` / ``$AME_RPC_URL`` / ``[chain] rpc``; ``--publish`` /
``$AME_PUBLISH_DIR`` / ``[publish] dir`` (served only when set); the first block from
``[settlement] from_block``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ame.cli._options import ADDRESS
from ame.config import AmeConfig, ConfigError, load_config
from ame.web import PageConfig, PageServer, built_page_dir

__all__ = ["COMMANDS"]


@click.command()
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $AME_CONFIG, else ./ame.toml if present).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port on 127.0.0.1 (0: a free one; default: [claim_page] port, else 8080).",
)
@click.option(
    "--page",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The built page's directory (default: [claim_page] dir, else web/claim/dist of this "
    "checkout, from `make web`).",
)
@click.option(
    "--publish",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A publish directory to serve under /published/ (default: [publish] dir when set; "
    "settle with that base URI).",
)
@click.option(
    "--chain-id",
    type=click.IntRange(min=1),
    default=None,
    help="The settlement's chain id (default: [claim_page] chain_id).",
)
@click.option(
    "--settlement",
    type=ADDRESS,
    default=None,
    help="The settlement contract's address (default: $AME_SETTLEMENT, [settlement] address).",
)
@click.option(
    "--rpc",
    default=None,
    help="A JSON-RPC URL the page reads through when no wallet is connected "
    "(default: $AME_RPC_URL, [chain] rpc).",
)
def serve(
    config: Path | None,
    port: int | None,
    page: Path | None,
    publish: Path | None,
    chain_id: int | None,
    settlement: str | None,
    rpc: str | None,
) -> None:
    """Serve the claim page on http://127.0.0.1:PORT/ until interrupted.

    With a chain id and a settlement (options, environment or ame.toml; and an RPC URL)
    it serves them as /config.json; without, the page reads them from its URL
    (?chainId=...&settlement=...&rpc=...). Anywhere else, copy the built page to any
    static host: it needs no server of ours.
    """
    if (chain_id is None) != (settlement is None):
        # Both on the command line or neither: half of them would mix with the config's.
        raise click.UsageError("--chain-id and --settlement go together")
    settings = load_config(
        config,
        overrides={
            ("claim_page", "port"): port,
            ("claim_page", "dir"): page,
            ("claim_page", "chain_id"): chain_id,
            ("settlement", "address"): settlement,
            ("chain", "rpc"): rpc,
            ("publish", "dir"): publish,
        },
        override_names={
            ("claim_page", "port"): "--port",
            ("claim_page", "dir"): "--page",
            ("claim_page", "chain_id"): "--chain-id",
            ("settlement", "address"): "--settlement",
            ("chain", "rpc"): "--rpc",
            ("publish", "dir"): "--publish",
        },
    )
    server = PageServer(
        settings.claim_page.dir or built_page_dir(),
        port=settings.claim_page.port,
        published=settings.publish.dir,
        config=page_config(settings),
    )
    click.echo(f"serving the claim page on {server.url} (Ctrl-C stops)")
    if settings.publish.dir is not None:
        click.echo(f"and {settings.publish.dir} on {server.url}published/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def page_config(settings: AmeConfig) -> PageConfig | None:
    """The ``/config.json`` the settings describe: None without a chain id and a settlement.

    Raises:
        ConfigError: One of the two is set and not the other (naming both and the file).
    """
    chain_id, address = settings.claim_page.chain_id, settings.settlement.address
    if chain_id is None and address is None:
        return None
    if chain_id is None or address is None:
        where = f" ({settings.source})" if settings.source else ""
        given, missing = (
            ("settlement.address", "claim_page.chain_id")
            if chain_id is None
            else ("claim_page.chain_id", "settlement.address")
        )
        raise ConfigError(
            f"{missing}: not set, but {given} is{where}: the page's /config.json names both "
            "(set it in ame.toml or the environment, or pass --chain-id and --settlement)"
        )
    return PageConfig(
        chain_id, address, settings.chain.rpc, from_block=settings.settlement.from_block or 0
    )


COMMANDS = [serve]
