"""``ame serve``: the claim page on 127.0.0.1, for development (:mod:`ame.web`)."""

from __future__ import annotations

from pathlib import Path

import click

from ame.cli._options import ADDRESS
from ame.web import PageConfig, PageServer, built_page_dir

__all__ = ["COMMANDS"]


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port on 127.0.0.1 (0: a free one).",
)
@click.option(
    "--page",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The built page's directory (default: web/claim/dist of this checkout, from `make web`).",
)
@click.option(
    "--publish",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A publish directory to serve under /published/ (settle with that base URI).",
)
@click.option(
    "--chain-id", type=click.IntRange(min=1), default=None, help="The settlement's chain id."
)
@click.option("--settlement", type=ADDRESS, default=None, help="The settlement contract's address.")
@click.option(
    "--rpc", default=None, help="A JSON-RPC URL the page reads through when no wallet is connected."
)
def serve(
    port: int,
    page: Path | None,
    publish: Path | None,
    chain_id: int | None,
    settlement: str | None,
    rpc: str | None,
) -> None:
    """Serve the claim page on http://127.0.0.1:PORT/ until interrupted.

    With --chain-id and --settlement (and --rpc) it serves them as /config.json; without,
    the page reads them from its URL (?chainId=...&settlement=...&rpc=...). Anywhere else,
    copy the built page to any static host: it needs no server of ours.
    """
    if (chain_id is None) != (settlement is None):
        raise click.UsageError("--chain-id and --settlement go together")
    config = None
    if chain_id is not None and settlement is not None:
        config = PageConfig(chain_id, settlement, rpc)
    server = PageServer(page or built_page_dir(), port=port, published=publish, config=config)
    click.echo(f"serving the claim page on {server.url} (Ctrl-C stops)")
    if publish is not None:
        click.echo(f"and {publish} on {server.url}published/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


COMMANDS = [serve]
