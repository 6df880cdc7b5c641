"""Publishing and fetching the documents auditors check: manifests, their inputs, evidence.

An epoch's files live in one folder, ``<publish dir>/<chain id>-<contract>/epoch-<n>/``:
``manifest.json`` (the exact bytes whose keccak256 is the on-chain ``manifestHash``) and,
beside it, the inputs it was mapped from (``values.json``, ``registry.json``,
``policy.json``, ``carried.json``, each the canonical form whose SHA-256 the manifest
records). Their URI is ``file://`` of the local path, or ``<base URI>/<same relative
path>`` when the operator serves the folder elsewhere (it is then the operator's job to
copy the folder there before proposing).

Reading is :func:`fetch`, under a :class:`FetchPolicy`, because the URIs an auditor or a
claimant reads come from the chain, that is from whoever proposed the epoch: a document is
at most ``max_bytes`` long and every read of one audit ends by one deadline (a server that
sends a byte a second is cut off there); ``file://`` URIs and local paths are read only
when the policy allows local documents (development: the operator's own folder) or the
caller gave the URI itself, and only regular files (never ``/dev/zero`` or a FIFO).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Final

from eth_hash.auto import keccak as _keccak
from eth_utils.crypto import keccak

from ame.workflow.exceptions import FetchError, WorkflowError
from ame_core.exceptions import InputError
from ame_core.files import atomic_write
from ame_core.validation import show_value

__all__ = [
    "FetchPolicy",
    "Spooled",
    "epoch_folder",
    "fetch",
    "keccak_hex",
    "publish",
    "published_uri",
    "sibling_uri",
    "spool",
]

MANIFEST_NAME = "manifest.json"
INPUT_NAMES = ("values", "registry", "policy", "carried")


def keccak_hex(data: bytes) -> str:
    """keccak256 of ``data`` as 0x-hex: how manifests and evidence are committed on-chain."""
    return "0x" + keccak(data).hex()


_SPOOL_READ: Final = 1 << 20


@dataclass(frozen=True)
class Spooled:
    """Bytes written once to an anonymous temporary file, with what commits to them.

    Attributes:
        size: Their length.
        keccak: ``keccak_hex`` of them (what a manifest hash is).
    """

    size: int
    keccak: str
    _file: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        """The bytes from the start, a megabyte at a time (each call reads them again)."""
        self._file.seek(0)
        while chunk := self._file.read(_SPOOL_READ):
            yield chunk


@contextmanager
def spool(chunks: Iterable[bytes]) -> Iterator[Spooled]:
    """Write ``chunks`` to a temporary file, hashing them on the way; gone when the block ends.

    A large epoch's manifest (a third of a gigabyte at a million leaves) is serialised
    once, hashed as it is written, and read back chunk by chunk by whatever publishes or
    records it, instead of being held whole in memory; nothing is written where others
    read before the caller decides to publish.
    """
    digest = _keccak.new(b"")
    size = 0
    with tempfile.TemporaryFile() as file:
        for chunk in chunks:
            digest.update(chunk)
            file.write(chunk)
            size += len(chunk)
        yield Spooled(size, "0x" + digest.digest().hex(), file)


def epoch_folder(chain_id: int, settlement: str, epoch: int) -> PurePosixPath:
    """The folder of an epoch's files, relative to the publish directory."""
    return PurePosixPath(f"{chain_id}-{settlement.lower()}") / f"epoch-{epoch}"


def published_uri(directory: Path, base_uri: str | None, relative: PurePosixPath) -> str:
    """The URI a file published at ``relative`` has: under ``base_uri``, else ``file://``."""
    if base_uri:
        return base_uri + str(relative)
    return directory.joinpath(*relative.parts).resolve().as_uri()


def publish(
    directory: Path, base_uri: str | None, relative: PurePosixPath, data: bytes | Iterable[bytes]
) -> str:
    """Write ``data`` (bytes, or chunks of them) to ``directory/relative`` atomically and
    return its URI.

    Raises:
        WorkflowError: The file cannot be written.
    """
    path = directory.joinpath(*relative.parts)
    try:
        atomic_write(path, data)
    except OSError as err:
        raise WorkflowError(f"cannot publish {path}: {err}") from None
    return published_uri(directory, base_uri, relative)


def sibling_uri(uri: str, name: str) -> str:
    """The URI of file ``name`` in the same folder as ``uri``."""
    if "://" not in uri:
        return str(Path(uri).with_name(name))
    return urllib.parse.urljoin(uri, name)


#: Default largest document: a manifest takes about 260 bytes a leaf, so some 500,000 leaves.
DEFAULT_MAX_BYTES: Final = 128 * 1024 * 1024
#: Default seconds for all the reads of one audit (or of one document read on its own).
DEFAULT_DEADLINE: Final = 120.0
_REDIRECTS: Final = 5
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    """How documents whose URI was taken from the chain are read.

    Attributes:
        max_bytes: The largest document read; a longer one is refused, unread past the limit.
        deadline: Seconds every read of one audit may take together, from the first
            connection to the last byte (one read on its own has the whole budget); a slower
            server is cut off at the deadline.
        allow_local: Read ``file://`` URIs and local paths published on-chain. Only for
            development, where the operator publishes into a local folder (the in-process or
            managed chain, the demos, tests): on a public chain such a URI names a file of
            the reader's machine, chosen by whoever proposed the epoch.

    Raises:
        InputError: ``max_bytes`` is below 1 or ``deadline`` is not positive.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    deadline: float = DEFAULT_DEADLINE
    allow_local: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int):
            raise InputError(f"max_bytes: {show_value(self.max_bytes)} is not a whole number")
        if self.max_bytes < 1:
            raise InputError(f"max_bytes: {self.max_bytes} is below 1")
        if not self.deadline > 0:  # also refuses NaN
            raise InputError(f"deadline: {show_value(self.deadline)} seconds is not positive")

    def until(self) -> float:
        """The ``time.monotonic()`` at which reads started now must have ended."""
        return time.monotonic() + self.deadline


def fetch(
    uri: str,
    *,
    policy: FetchPolicy | None = None,
    until: float | None = None,
    local: bool = False,
) -> bytes:
    """Read a published document: a ``file://`` URI, a local path, or an ``http(s)://`` URL.

    Args:
        uri: Where the document is.
        policy: Size limit, deadline and whether local documents may be read; the
            defaults of :class:`FetchPolicy` (no local documents) when None.
        until: The ``time.monotonic()`` by which the read must end, shared by the reads of
            one audit; ``policy.deadline`` from now when None.
        local: The URI is the caller's own (a file named on the command line), not taken
            from the chain: a local file is read whatever ``policy.allow_local`` says.

    Raises:
        FetchError: The scheme is not supported, a local document is not allowed or not a
            regular file, the document is longer than ``policy.max_bytes``, the deadline
            passed, or the document cannot be read.
    """
    chunks: list[bytes] = []
    fetch_into(uri, chunks.append, policy=policy, until=until, local=local)
    return b"".join(chunks)


def fetch_into(
    uri: str,
    sink: Callable[[bytes], object],
    *,
    policy: FetchPolicy | None = None,
    until: float | None = None,
    local: bool = False,
    max_bytes: int | None = None,
) -> int:
    """:func:`fetch`, handing the document to ``sink`` chunk by chunk as it arrives.

    For a document too large to hold (a million leaves' proofs file is a gigabyte): the
    caller hashes or spools it. The limits are :func:`fetch`'s; a document over the limit
    raises after at most the limit (and one chunk) went to ``sink``.

    Args:
        uri: Where the document is.
        sink: Called with each chunk, in order.
        policy: As for :func:`fetch`.
        until: As for :func:`fetch`.
        local: As for :func:`fetch`.
        max_bytes: The size limit of this read, instead of ``policy.max_bytes`` (a
            caller that knows how long the honest document is).

    Returns:
        The number of bytes read.

    Raises:
        FetchError: As :func:`fetch`.
    """
    policy = policy or FetchPolicy()
    until = policy.until() if until is None else until
    limit = policy.max_bytes if max_bytes is None else max_bytes
    if not uri:
        raise FetchError("no URI was published")
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        if not (local or policy.allow_local):
            raise FetchError(
                f"{uri}: a local document named on-chain is not read (it would be a file of "
                "this machine chosen by the proposer); allow local documents only for "
                "development ([fetch] allow_local)"
            )
        path = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme else Path(uri)
        return _read_file(uri, path, limit, sink)
    if parsed.scheme in ("http", "https"):
        return _read_http(uri, limit, until, sink)
    raise FetchError(f"{uri}: unsupported URI scheme {parsed.scheme!r} (file, http, https)")


def _read_file(uri: str, path: Path, max_bytes: int, sink: Callable[[bytes], object]) -> int:
    # Opened without blocking (a FIFO would wait for a writer), then checked on the open
    # descriptor, so the file read is the file checked.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise FetchError(f"{uri}: cannot read: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(f"{uri}: not a regular file")
        if info.st_size > max_bytes:
            raise FetchError(f"{uri}: {info.st_size} bytes, more than the limit of {max_bytes}")
        size = 0
        while chunk := os.read(fd, min(_CHUNK, max_bytes + 1 - size)):
            size += len(chunk)
            if size > max_bytes:  # grew since fstat
                raise FetchError(f"{uri}: more than the limit of {max_bytes} bytes")
            sink(chunk)
        return size
    except OSError as err:
        raise FetchError(f"{uri}: cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def _remaining(uri: str, until: float) -> float:
    left = until - time.monotonic()
    if left <= 0:
        raise FetchError(f"{uri}: the deadline passed before the document was read")
    return left


def _read_http(uri: str, max_bytes: int, until: float, sink: Callable[[bytes], object]) -> int:
    for _ in range(_REDIRECTS + 1):
        target = urllib.parse.urlsplit(uri)
        if target.scheme not in ("http", "https") or not target.hostname:
            raise FetchError(f"{uri}: only http(s) URLs with a host are fetched")
        location = _get(uri, target, max_bytes, until, sink)
        if isinstance(location, int):
            return location
        uri = urllib.parse.urljoin(uri, location)
    raise FetchError(f"{uri}: more than {_REDIRECTS} redirects")


def _get(
    uri: str,
    target: urllib.parse.SplitResult,
    max_bytes: int,
    until: float,
    sink: Callable[[bytes], object],
) -> int | str:
    """The body of ``uri`` given to ``sink`` (its length returned), or where it redirects."""
    timeout = _remaining(uri, until)
    conn: http.client.HTTPConnection
    try:
        port = target.port
    except ValueError as err:
        raise FetchError(f"{uri}: {err}") from None
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(
            target.hostname or "", port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.hostname or "", port, timeout=timeout)
    expired = threading.Event()

    def cut_off() -> None:
        # Socket timeouts bound each receive, not their sum: a server dripping a byte at a
        # time (headers, body or TLS handshake) never trips one. Shutting the socket down
        # wakes the reader at once. ``conn.sock`` is the plain socket during the handshake.
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to wake
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        path = target.path or "/"
        conn.request(
            "GET",
            path + (f"?{target.query}" if target.query else ""),
            headers={"Accept-Encoding": "identity", "User-Agent": "ame-auditor"},
        )
        response = conn.getresponse()
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            if not location:
                raise FetchError(f"{uri}: HTTP {response.status} without a Location")
            return location
        if response.status != 200:
            raise FetchError(f"{uri}: cannot fetch: HTTP {response.status} {response.reason}")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{uri}: {int(declared)} bytes, more than the limit of {max_bytes}")
        size = 0
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{uri}: more than the limit of {max_bytes} bytes")
            sink(chunk)
        if expired.is_set():
            raise FetchError(f"{uri}: the deadline passed before the document was read")
        return size
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as err:
        if expired.is_set():
            raise FetchError(f"{uri}: the deadline passed before the document was read") from None
        raise FetchError(f"{uri}: cannot fetch: {err}") from None
    finally:
        watchdog.cancel()
        conn.close()
