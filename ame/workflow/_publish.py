"""Publishing and fetching the documents auditors check: manifests, their inputs, evidence.

An epoch's files live in one folder, ``<publish dir>/<chain id>-<contract>/epoch-<n>/``:
``manifest.json`` (the exact bytes whose keccak256 is the on-chain ``manifestHash``) and,
beside it, the inputs it was mapped from (``values.json``, ``registry.json``,
``policy.json``, ``carried.json``, each the canonical form whose SHA-256 the manifest
records). Their URI is ``file://`` of the local path, or ``<base URI>/<same relative
path>`` when the operator serves the folder elsewhere (it is then the operator's job to
copy the folder there before proposing).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from eth_utils.crypto import keccak

from ame.workflow.exceptions import FetchError, WorkflowError
from ame_core.files import atomic_write

__all__ = ["epoch_folder", "fetch", "keccak_hex", "publish", "published_uri", "sibling_uri"]

MANIFEST_NAME = "manifest.json"
INPUT_NAMES = ("values", "registry", "policy", "carried")


def keccak_hex(data: bytes) -> str:
    """keccak256 of ``data`` as 0x-hex: how manifests and evidence are committed on-chain."""
    return "0x" + keccak(data).hex()


def epoch_folder(chain_id: int, settlement: str, epoch: int) -> PurePosixPath:
    """The folder of an epoch's files, relative to the publish directory."""
    return PurePosixPath(f"{chain_id}-{settlement.lower()}") / f"epoch-{epoch}"


def published_uri(directory: Path, base_uri: str | None, relative: PurePosixPath) -> str:
    """The URI a file published at ``relative`` has: under ``base_uri``, else ``file://``."""
    if base_uri:
        return base_uri + str(relative)
    return directory.joinpath(*relative.parts).resolve().as_uri()


def publish(directory: Path, base_uri: str | None, relative: PurePosixPath, data: bytes) -> str:
    """Write ``data`` to ``directory/relative`` atomically and return its URI.

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


def fetch(uri: str, *, timeout: float = 30.0) -> bytes:
    """Read a published document: a ``file://`` URI, a local path, or an ``http(s)://`` URL.

    Raises:
        FetchError: The scheme is not supported or the document cannot be read.
    """
    if not uri:
        raise FetchError("no URI was published")
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme else Path(uri)
        try:
            return path.read_bytes()
        except OSError as err:
            raise FetchError(f"{uri}: cannot read: {err.strerror or err}") from None
    if parsed.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri, timeout=timeout) as response:
                data: bytes = response.read()
                return data
        except (urllib.error.URLError, OSError) as err:
            raise FetchError(f"{uri}: cannot fetch: {err}") from None
    raise FetchError(f"{uri}: unsupported URI scheme {parsed.scheme!r} (file, http, https)")
