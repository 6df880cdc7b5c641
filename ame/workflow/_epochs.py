"""Epochs as anyone can see them: the header on-chain and the manifest at its published URI."""

from __future__ import annotations

from dataclasses import dataclass

from ame.workflow._publish import fetch, keccak_hex
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import FetchError, WorkflowError
from ame_chain.exceptions import MerkleError
from ame_chain.leaves import EpochHeader, EpochTree
from offchain.mapping import Manifest, parse_manifest

__all__ = ["PublishedEpoch", "find_header", "load_published", "manifest_bytes"]


@dataclass(frozen=True)
class PublishedEpoch:
    """A proposed epoch: its on-chain header, and the manifest and tree that match it."""

    header: EpochHeader
    uri: str
    data: bytes
    manifest: Manifest
    tree: EpochTree


def find_header(ws: Workspace, epoch: int) -> tuple[EpochHeader, str]:
    """The on-chain header and manifest URI of ``epoch``.

    Raises:
        WorkflowError: The epoch was never proposed on this contract.
    """
    found = ws.client.header_of(epoch, ws.from_block)
    if found is None:
        raise WorkflowError(f"epoch {epoch} was never proposed on {ws.client.address}")
    return found


def manifest_bytes(ws: Workspace, header: EpochHeader, uri: str) -> bytes:
    """The manifest's bytes: from the state when it holds the committed ones, else fetched."""
    row = ws.state.epoch(ws.key(header.epoch))
    if row is not None and row.manifest_hash == header.manifest_hash:
        return row.manifest
    return fetch(uri, policy=ws.fetch_policy)


def load_published(ws: Workspace, epoch: int) -> PublishedEpoch:
    """Fetch the epoch's manifest and check it against the header (hash and root).

    Raises:
        WorkflowError: The epoch was never proposed.
        FetchError: The manifest cannot be read (under ``ws.fetch_policy``), or it is not
            the one the epoch committed to, or its leaves cannot build a tree.
        InputError: The manifest is not a valid ``ame.manifest/1`` document.
    """
    header, uri = find_header(ws, epoch)
    data = manifest_bytes(ws, header, uri)
    found = keccak_hex(data)
    if found != header.manifest_hash:
        raise FetchError(
            f"epoch {epoch}: the manifest at {uri} hashes to {found}, but the epoch committed "
            f"to {header.manifest_hash}; run `ame audit {epoch}`"
        )
    manifest = parse_manifest(data, source=uri)
    if not manifest.leaves:
        raise FetchError(f"epoch {epoch}: the manifest at {uri} has no leaves")
    try:
        tree = ws.client.epoch_tree(epoch, manifest.leaves)
    except MerkleError as err:  # e.g. an amount past uint256: the operator's bytes, not ours
        raise FetchError(f"epoch {epoch}: the leaves of {uri} build no tree: {err}") from None
    if tree.root != header.root:
        raise FetchError(
            f"epoch {epoch}: the leaves of {uri} build root {tree.root}, but the epoch committed "
            f"to {header.root}; run `ame audit {epoch}`"
        )
    return PublishedEpoch(header, uri, data, manifest, tree)
