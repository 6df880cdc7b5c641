"""What a hostile operator publishes to stop an audit: raw manifest bytes, any URI, slow servers.

Shared by the workflow and CLI tests of the auditor's verdict (issue 13, breaks 2 and 3).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from types import TracebackType
from typing import Any, Literal

from ame.workflow import MappingInputs, Workspace, keccak_hex
from ame.workflow._publish import epoch_folder, publish
from ame_chain.leaves import EpochHeader

#: Longest a test server keeps answering one request, whatever it was asked to do.
SERVER_LIFETIME = 30.0

ServeMode = Literal["drip", "drip-headers", "declared-huge", "endless", "redirect"]


def honest_document(inputs: MappingInputs) -> dict[str, Any]:
    """The honest manifest of ``inputs`` as a JSON document, to corrupt."""
    document: dict[str, Any] = json.loads(inputs.manifest().to_json_bytes())
    return document


def encode(document: Any) -> bytes:
    """A document as the bytes a hostile operator publishes (ints kept exact)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def propose_hostile(
    ws: Workspace,
    epoch: int,
    inputs: MappingInputs,
    data: bytes,
    *,
    uri: str | None = None,
    documents: dict[str, bytes] | None = None,
) -> EpochHeader:
    """Commit to ``data`` as the manifest of ``epoch`` (at ``uri``, else published locally).

    The committed tree is the honest one, so the chain accepts the proposal; the manifest
    and the inputs beside it (``documents`` replaces some) are whatever the operator likes.
    """
    honest = inputs.manifest()
    folder = epoch_folder(ws.client.chain_id, ws.client.address, epoch)
    for name, document in {**inputs.documents(), **(documents or {})}.items():
        publish(ws.publish_dir, None, folder / f"{name}.json", document)
    published = publish(ws.publish_dir, None, folder / "manifest.json", data)
    tree = ws.client.epoch_tree(epoch, honest.leaves)
    with ws.acting("propose", epoch) as client:
        proposed = client.propose_tree(
            tree,
            manifest_hash=keccak_hex(data),
            manifest_uri=published if uri is None else uri,
            pool=sum(leaf.amount for leaf in honest.leaves),
        )
    return proposed.header


class HostileServer:
    """An HTTP server on 127.0.0.1 that answers every request the way a hostile operator would.

    Modes: ``drip`` sends the headers, then the body one byte every ``interval`` seconds;
    ``drip-headers`` sends the headers themselves a byte at a time; ``declared-huge``
    declares a body of 10^12 bytes; ``endless`` streams 64 KiB chunks with no length;
    ``redirect`` sends the client to ``location``. Every loop is bounded (by
    :data:`SERVER_LIFETIME` and a byte count) and ends when the server is closed.
    """

    def __init__(self, mode: ServeMode, *, interval: float = 1.0, location: str = "") -> None:
        self.mode, self.interval, self.location = mode, interval, location
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The URL of the (only) document this server pretends to hold."""
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/epoch/manifest.json"

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop answering and close the listening socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < SERVER_LIFETIME:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.requests += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            try:
                self._respond(conn)
            except OSError:
                return  # the client hung up, as it should

    def _respond(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + SERVER_LIFETIME
        if self.mode == "redirect":
            conn.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            return
        if self.mode == "endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for _ in range(4096):  # 256 MiB at most
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                conn.sendall(b"0" * 65536)
            return
        length = 10**12 if self.mode == "declared-huge" else 10**6
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
        if self.mode == "drip-headers":
            self._drip(conn, head, deadline)
            return
        conn.sendall(head)
        if self.mode == "drip":
            self._drip(conn, b"0" * 10**4, deadline)

    def _drip(self, conn: socket.socket, data: bytes, deadline: float) -> None:
        for byte in data:
            if self._stop.wait(self.interval) or time.monotonic() > deadline:
                return
            conn.sendall(bytes([byte]))
