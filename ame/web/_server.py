"""A loopback HTTP server for the built claim page and a local publish directory."""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from ame_core.exceptions import InputError

__all__ = ["PageConfig", "PageServer", "built_page_dir"]

log = logging.getLogger(__name__)

#: Where published files are served, so ``ame settle`` with
#: ``base_uri = "http://127.0.0.1:PORT/published/"`` announces URIs a browser can read.
PUBLISHED_PREFIX: Final = "/published/"
HOST: Final = "127.0.0.1"


def built_page_dir() -> Path:
    """The claim page as ``make web`` builds it in this checkout (``web/claim/dist``)."""
    return Path(__file__).resolve().parents[2] / "web" / "claim" / "dist"


@dataclass(frozen=True)
class PageConfig:
    """What the page shows: served as ``/config.json`` (the URL's query overrides it).

    Attributes:
        chain_id: The settlement's chain.
        settlement: The settlement contract's address.
        rpc: A JSON-RPC URL for reads when no wallet is connected.
        from_block: The first block to look for ``EpochProposed`` events in.
    """

    chain_id: int
    settlement: str
    rpc: str | None = None
    from_block: int = 0

    def to_json_bytes(self) -> bytes:
        """The ``config.json`` the page reads."""
        data: dict[str, Any] = {
            "chainId": self.chain_id,
            "settlement": self.settlement,
            "fromBlock": str(self.from_block),
        }
        if self.rpc:
            data["rpc"] = self.rpc
        return json.dumps(data, indent=2).encode() + b"\n"


class _Handler(SimpleHTTPRequestHandler):
    """Serves the page directory, ``/published/`` from the publish directory, and the config."""

    def __init__(
        self,
        *args: Any,
        page: Path,
        published: Path | None,
        config: bytes | None,
        **kwargs: Any,
    ) -> None:
        self.page = page
        self.published = published
        self.config = config
        super().__init__(*args, directory=str(page), **kwargs)

    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0].split("#", 1)[0]
        if self.published is not None and route.startswith(PUBLISHED_PREFIX):
            # The base class resolves against self.directory and drops '..' segments.
            self.directory = str(self.published)
            return super().translate_path("/" + path[len(PUBLISHED_PREFIX) :])
        self.directory = str(self.page)
        return super().translate_path(path)

    def do_GET(self) -> None:
        if self.config is not None and self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def end_headers(self) -> None:
        # Development: a rebuilt page or a resettled epoch is seen on the next load.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class PageServer:
    """The built claim page on ``http://127.0.0.1:PORT/``; stop with :meth:`close`.

    Args:
        page: The built page's directory (holds ``index.html``).
        port: Port on 127.0.0.1; 0 picks a free one.
        published: A publish directory to serve under ``/published/`` (development).
        config: Served as ``/config.json``; without it the page directory's own
            ``config.json``, if any, is served.

    Raises:
        InputError: The page is not built, or the publish directory does not exist.
        OSError: The port cannot be bound.
    """

    def __init__(
        self,
        page: Path,
        *,
        port: int = 0,
        published: Path | None = None,
        config: PageConfig | None = None,
    ) -> None:
        if not (page / "index.html").is_file():
            raise InputError(f"page: no index.html in {page}: build the claim page with `make web`")
        if published is not None and not published.is_dir():
            raise InputError(f"publish directory: {published} is not a directory")
        handler = functools.partial(
            _Handler,
            page=page.resolve(),
            published=None if published is None else published.resolve(),
            config=None if config is None else config.to_json_bytes(),
        )
        self._httpd = ThreadingHTTPServer((HOST, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's URL."""
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted or closed."""
        self._httpd.serve_forever()

    def start(self) -> PageServer:
        """Serve in a background thread (tests, scripts); returns ``self``."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
