"""A JSON-RPC proxy on 127.0.0.1 that stands in front of a real node and misbehaves on request.

Each fault applies to one JSON-RPC method (or ``*`` for all) and says what the client gets
instead of the node's answer: a dropped connection, an HTTP 500, a body that is not JSON,
a JSON-RPC error, a changed result, or no answer at all until the client gives up. Requests
without a fault are forwarded unchanged, so the rest of the conversation is a real node's.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

#: ``result -> result``: rewrites the node's answer.
Rewrite = Callable[[Any], Any]


@dataclass(frozen=True)
class Fault:
    """What a method's caller gets instead of the node's answer.

    Attributes:
        kind: ``drop`` (close the connection), ``http500``, ``garbage`` (a body that is not
            JSON), ``repeat`` (the node's answer with ``result`` given twice, its own
            last), ``error`` (a JSON-RPC error), ``rewrite`` (the node's result passed
            through ``rewrite``), ``hang`` (answer nothing for ``seconds``) or
            ``forward-then-act`` (forward the request, run ``action`` on the node's
            answer, then drop the connection: the node did the work but its answer never
            arrives).
        after: Let this many calls through untouched first.
    """

    kind: str
    rewrite: Rewrite | None = None
    seconds: float = 30.0
    after: int = 0
    action: Callable[[bytes], None] | None = None


@dataclass
class FaultyNode:
    """The proxy; ``url`` is what clients connect to. Use as a context manager."""

    upstream: str
    faults: dict[str, Fault] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body)
                method = request.get("method", "") if isinstance(request, dict) else ""
                count = node.calls.get(method, 0)
                node.calls[method] = count + 1
                fault = node.faults.get(method) or node.faults.get("*")
                if fault is None or count < fault.after:
                    self._reply(200, node._forward(body))
                    return
                if fault.kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                elif fault.kind == "http500":
                    self._reply(500, b"internal error")
                elif fault.kind == "garbage":
                    self._reply(200, b"<html>502 Bad Gateway</html>")
                elif fault.kind == "repeat":
                    # The node's answer with "result" given twice, the true one last: a
                    # parser keeping the last of two keys would not notice.
                    answer = node._forward(body).lstrip()
                    self._reply(200, b'{"result": "0x1", ' + answer[1:])
                elif fault.kind == "error":
                    error = {"code": -32000, "message": f"{method} is unavailable"}
                    self._reply(
                        200, _dumps({"jsonrpc": "2.0", "id": request["id"], "error": error})
                    )
                elif fault.kind == "hang":
                    time.sleep(fault.seconds)
                    self._reply(200, node._forward(body))
                elif fault.kind == "forward-then-act" and fault.action is not None:
                    fault.action(node._forward(body))
                    self.close_connection = True
                    self.connection.close()
                elif fault.kind == "rewrite" and fault.rewrite is not None:
                    answer = json.loads(node._forward(body))
                    answer["result"] = fault.rewrite(answer.get("result"))
                    self._reply(200, _dumps(answer))
                else:  # pragma: no cover - a mistake in a test
                    raise ValueError(f"unknown fault {fault!r}")

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _forward(self, body: bytes) -> bytes:
        request = urllib.request.Request(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read()
            return data

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung answer must not hold up closing the proxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a hung answer closes the socket: expected, not news.
        pass


def _dumps(document: object) -> bytes:
    return json.dumps(document).encode()
