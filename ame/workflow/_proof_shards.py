"""A large epoch's proofs in shards of consecutive accounts, and their index (``ame.proofs-index/1``).

One proofs file takes about 1.3 kB a leaf (127.6 MB at 100,000 contributors, 1.5 GB
at a million): more than a contributor's browser should download to claim one leaf. So
an epoch of more than :data:`SHARD_THRESHOLD` leaves publishes its proofs in shards, as
Merkl and Uniswap's distributors serve per-address proofs. The accounts, in the order of
their lower-case hex (their numeric order), are cut into runs of :data:`SHARD_LEAVES`
(the last may be shorter); run ``k`` is ``proofs-<k>.json`` (``k`` in 5 digits), an
``ame.proofs/1`` document whose ``claims`` are its accounts' only (its header is the
epoch's). Runs of equal length keep every shard small however the addresses fall
(sequential or vanity addresses share their leading digits): some 1.3 MB at 100,000
leaves and 1.5 MB at a million (98 and 977 shards).

The index, ``proofs-index.json``, carries the epoch's header fields and, per shard in
order, its first account (lower-case hex), name, SHA-256 and leaf count; an account's
shard is the last one whose first account is at or below it. The manifest's ``proofs``
entry names the index and its SHA-256, so the on-chain manifest hash binds the index
and the index binds every shard. The form follows from the on-chain ``leafCount`` alone
(:func:`sharded`), so a reader knows which file to ask for before reading any; an
epoch of at most :data:`SHARD_THRESHOLD` leaves publishes the one ``proofs.json`` it
always did.

Readers (:func:`read_account_proofs`, the claim page) fetch the index and the one shard
of their account, each within the fetch limits, check the shard's SHA-256 against the
index and the proof against the on-chain root; the audit (:func:`check_proof_shards`)
checks the index and every shard against the rebuilt tree. See ``docs/manifest.md``.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from eth_utils.address import to_checksum_address

from ame.workflow._proofs import (
    ENVELOPE_KEYS,
    PROOFS_NAME,
    EpochProofs,
    LeafProof,
    _uint,
    epoch_document,
    epoch_fields,
    epoch_json,
    iter_proofs_json,
    spool_proofs,
)
from ame.workflow._publish import FetchPolicy, fetch, sibling_uri
from ame_chain.leaves import EpochHeader, EpochTree
from ame_core.canonical import canonical_json, sha256_hex
from ame_core.exceptions import AmeError, InputError
from ame_core.progress import Progress, quiet_progress
from offchain.mapping import Manifest, ManifestProofs

if TYPE_CHECKING:
    from ame.workflow._audit import AuditReport

__all__ = [
    "INDEX_FORMAT",
    "INDEX_NAME",
    "SHARD_LEAVES",
    "SHARD_THRESHOLD",
    "ProofsIndex",
    "ShardEntry",
    "check_proof_shards",
    "find_account_leaf",
    "iter_shards",
    "read_account_proofs",
    "shard_name",
    "sharded",
    "spool_epoch_proofs",
]

INDEX_FORMAT: Final = "ame.proofs-index/1"
#: The index's name beside the manifest (what the manifest's ``proofs.uri`` names).
INDEX_NAME: Final = "proofs-index.json"
#: An epoch of more leaves than this publishes shards; the claim page reads a proofs file
#: of up to 64 MiB, and one of this many leaves is some 20 MB.
SHARD_THRESHOLD: Final = 16_384
#: The leaves of each shard (the last may hold fewer): 1.3 MB at 100,000 leaves, 1.5 MB
#: at a million (proofs of 17 and 20 nodes).
SHARD_LEAVES: Final = 1_024
_INDEX_KEYS: Final = ENVELOPE_KEYS | {"shards"}
_SHARD_KEYS: Final = {"first", "uri", "sha256", "leaves"}
_LOWER_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_READ_CHUNK: Final = 1 << 20


def sharded(leaf_count: int) -> bool:
    """Whether an epoch of ``leaf_count`` leaves publishes its proofs in shards."""
    return leaf_count > SHARD_THRESHOLD


def shard_name(number: int) -> str:
    """The file name of shard ``number``, beside the manifest."""
    return f"proofs-{number:05d}.json"


@dataclass(frozen=True)
class ShardEntry:
    """One shard as the index names it.

    Attributes:
        first: Its first account, lower-case hex: it holds the accounts from this one up
            to the next shard's first.
        uri: Its file name, resolved beside the manifest.
        sha256: SHA-256 of its bytes (hex, no prefix).
        leaves: How many accounts' claims it holds.
    """

    first: str
    uri: str
    sha256: str
    leaves: int

    def to_json(self) -> dict[str, Any]:
        """The shard's entry in the index's ``shards``."""
        return {"first": self.first, "uri": self.uri, "sha256": self.sha256, "leaves": self.leaves}


@dataclass(frozen=True)
class ProofsIndex:
    """The contents of a large epoch's ``ame.proofs-index/1`` document.

    Attributes:
        shards: Every shard, in the order of their first accounts.
    """

    chain_id: int
    settlement: str
    epoch: int
    root: str
    token: str
    pool: int
    leaf_count: int
    shards: tuple[ShardEntry, ...]

    def to_document(self) -> dict[str, Any]:
        """The JSON document (see ``docs/manifest.md``)."""
        return {
            **epoch_json(INDEX_FORMAT, self),
            "shards": [entry.to_json() for entry in self.shards],
        }

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: the bytes published, whose SHA-256 the manifest records."""
        return canonical_json(self.to_document())

    def shard_of(self, account: str) -> ShardEntry | None:
        """The shard that holds ``account``'s claim if the epoch has one; None before the first."""
        at = bisect.bisect_right([entry.first for entry in self.shards], account.lower())
        return self.shards[at - 1] if at else None

    @classmethod
    def parse(cls, data: bytes | object, *, source: str = "<proofs index>") -> ProofsIndex:
        """Validate an ``ame.proofs-index/1`` document (its bytes, or parsed JSON).

        Raises:
            InputError: The document is not well-formed; the message names the field.
        """
        document = epoch_document(
            data, source=source, what="a proofs index", keys=_INDEX_KEYS, format_name=INDEX_FORMAT
        )
        shards = document["shards"]
        if not isinstance(shards, list):
            raise InputError(f"{source}: shards: not a list of shards")
        parsed = tuple(
            _shard_entry(entry, f"{source}: shards[{i}]") for i, entry in enumerate(shards)
        )
        for i in range(1, len(parsed)):
            if parsed[i].first <= parsed[i - 1].first:
                raise InputError(f"{source}: shards[{i}]: first: not after shards[{i - 1}]'s")
        return cls(**epoch_fields(document, source), shards=parsed)


def _shard_entry(entry: object, where: str) -> ShardEntry:
    if not isinstance(entry, Mapping) or set(entry) != _SHARD_KEYS:
        raise InputError(f"{where}: not an object with exactly {sorted(_SHARD_KEYS)}")
    first = entry["first"]
    if not isinstance(first, str) or not _LOWER_ADDRESS.match(first):
        raise InputError(f"{where}: first: {str(first)[:60]!r} is not a lower-case 0x address")
    uri = entry["uri"]
    if not isinstance(uri, str) or not re.match(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", uri):
        # A bare name, resolved beside the manifest: an index cannot send a reader elsewhere.
        raise InputError(f"{where}: uri: {str(uri)[:60]!r} is not a bare file name")
    digest = entry["sha256"]
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise InputError(f"{where}: sha256: not 64 lower-case hex digits")
    return ShardEntry(first, uri, digest, _uint(entry["leaves"], f"{where}: leaves", number=True))


def iter_shards(
    tree: EpochTree, token: str, *, advance: Callable[[int], None] | None = None
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """Each shard's first account (lower-case) and its canonical bytes in chunks, in order.

    A shard is :func:`~ame.workflow._proofs.iter_proofs_json` of the tree restricted to
    its run of accounts; consume each shard's chunks before asking for the next.
    """
    header = EpochProofs.of_tree(tree, token, claims={})  # the same for every shard
    for first, positions in _runs(tree):
        yield (
            first,
            iter_proofs_json(tree, token, advance=advance, positions=positions, header=header),
        )


def _runs(tree: EpochTree) -> list[tuple[str, list[int]]]:
    """The leaves' positions in runs of :data:`SHARD_LEAVES`, accounts in numeric order."""
    leaves = tree.leaves
    order = sorted(range(len(leaves)), key=lambda i: leaves[i].account.lower())
    return [
        (leaves[order[start]].account.lower(), order[start : start + SHARD_LEAVES])
        for start in range(0, len(order), SHARD_LEAVES)
    ]


def _index(tree: EpochTree, token: str, digests: Sequence[str]) -> ProofsIndex:
    """The index of the tree's shards, given each one's SHA-256 in order."""
    runs = _runs(tree)
    shards = tuple(
        ShardEntry(first, shard_name(number), digest, len(positions))
        for number, ((first, positions), digest) in enumerate(zip(runs, digests, strict=True))
    )
    header = EpochProofs.of_tree(tree, token, claims={})
    return ProofsIndex(
        chain_id=header.chain_id,
        settlement=header.settlement,
        epoch=header.epoch,
        root=header.root,
        token=header.token,
        pool=header.pool,
        leaf_count=header.leaf_count,
        shards=shards,
    )


#: Files to publish beside the manifest: each name and its bytes in chunks.
ProofFiles = Callable[[], Iterator[tuple[str, Iterable[bytes]]]]


@contextmanager
def spool_epoch_proofs(
    manifest: Manifest,
    tree: EpochTree,
    token: str,
    *,
    advance: Callable[[int], None] | None = None,
) -> Iterator[tuple[Manifest, ProofFiles]]:
    """The proofs an epoch publishes, spooled to disk, and the manifest that records them.

    At most :data:`SHARD_THRESHOLD` leaves: :func:`~ame.workflow._proofs.spool_proofs`'s
    one ``proofs.json``. Beyond: every shard, generated once, hashed and spooled into one
    anonymous temporary file, then the index; the manifest's ``proofs`` names the index.

    Yields:
        The manifest, and a function yielding each file to publish (name, chunks): the
        shards first and the index last, so a reader never finds an index naming a shard
        not yet written.
    """
    if not sharded(len(tree.leaves)):
        with spool_proofs(manifest, tree, token, advance=advance) as (bound, read):
            yield bound, lambda: iter([(PROOFS_NAME, read())])
        return
    with tempfile.TemporaryFile() as spool:
        spans: list[tuple[str, int, int]] = []
        digests: list[str] = []
        for number, (_, chunks) in enumerate(iter_shards(tree, token, advance=advance)):
            digest, start = hashlib.sha256(), spool.tell()
            for chunk in chunks:
                digest.update(chunk)
                spool.write(chunk)
            spans.append((shard_name(number), start, spool.tell() - start))
            digests.append(digest.hexdigest())
        index = _index(tree, token, digests).to_json_bytes()

        def read_span(start: int, size: int) -> Iterator[bytes]:
            spool.seek(start)
            while size > 0:
                chunk = spool.read(min(size, _READ_CHUNK))
                size -= len(chunk)
                yield chunk

        def files() -> Iterator[tuple[str, Iterable[bytes]]]:
            for name, start, size in spans:
                yield name, read_span(start, size)
            yield INDEX_NAME, [index]

        link = ManifestProofs(uri=INDEX_NAME, sha256=sha256_hex(index))
        yield manifest.model_copy(update={"proofs": link}), files


def read_account_proofs(
    index_uri: str,
    index_sha256: str,
    account: str,
    *,
    policy: FetchPolicy,
    until: float | None = None,
) -> EpochProofs | None:
    """The shard holding ``account``'s claim, read through the index: two bounded reads.

    Args:
        index_uri: Where the index is (the manifest's ``proofs.uri``, beside it).
        index_sha256: The SHA-256 the manifest records for the index.
        account: The account whose shard to read.
        policy: Size and time limits of each read.
        until: The ``time.monotonic()`` by which the reads must end.

    Returns:
        The shard (its claims are its run of accounts only), or None when the account
        is before the first shard's first account: the epoch has no leaf of it.

    Raises:
        InputError: The index or the shard does not have the SHA-256 that binds it, or is
            not well-formed (the message names which and why).
        FetchError: A read failed or passed its limits.
    """
    until = policy.until() if until is None else until
    data = fetch(index_uri, policy=policy, until=until)
    found = sha256_hex(data)
    if found != index_sha256:
        raise InputError(f"{index_uri}: hashes to {found}, not the manifest's {index_sha256}")
    index = ProofsIndex.parse(data, source=index_uri)
    entry = index.shard_of(account)
    if entry is None:
        return None
    return _read_shard(index_uri, entry, policy=policy, until=until)[1]


def _read_shard(
    beside: str, entry: ShardEntry, *, policy: FetchPolicy, until: float
) -> tuple[str, EpochProofs]:
    """The shard ``entry`` names, read from beside ``beside`` and bound by the index's
    SHA-256: its URI and its contents."""
    where = sibling_uri(beside, entry.uri)
    data = fetch(where, policy=policy, until=until)
    found = sha256_hex(data)
    if found != entry.sha256:
        raise InputError(f"{where}: hashes to {found}, not the index's {entry.sha256}")
    return where, EpochProofs.parse(data, source=where)


def find_account_leaf(
    manifest_uri: str,
    header: EpochHeader,
    settlement: str,
    chain_id: int,
    account: str,
    *,
    policy: FetchPolicy,
) -> LeafProof | None:
    """``account``'s leaf and proof in a large epoch, without reading its manifest.

    What the claim page does: the index beside the manifest must be this chain's,
    contract's and epoch's, with the on-chain root and leaf count; the account's shard
    must have the SHA-256 the index gives; the entry's proof must lead to the on-chain
    root. Two bounded reads, where the manifest is hundreds of megabytes at a million
    leaves. Only a leaf found this way is trusted: the manifest, not read, is what binds
    the index, so an account missing from its shard is left to the manifest to confirm.

    Returns:
        The leaf and its proof, or None when the account has no entry in its shard.

    Raises:
        InputError: The index or the shard is not this epoch's, or the proof does not
            lead to the on-chain root (the message says which).
        FetchError: A read failed or passed its limits.
    """
    until = policy.until()
    where = sibling_uri(manifest_uri, INDEX_NAME)
    index = ProofsIndex.parse(fetch(where, policy=policy, until=until), source=where)
    expected = {
        "chain_id": chain_id,
        "settlement": to_checksum_address(settlement),
        "epoch": header.epoch,
        "root": header.root,
        "leaf_count": header.leaf_count,
    }
    for name, value in expected.items():
        if getattr(index, name) != value:
            raise InputError(f"{where}: {name} is {getattr(index, name)}, not the chain's {value}")
    entry = index.shard_of(account)
    if entry is None:
        return None
    shard_uri, shard = _read_shard(manifest_uri, entry, policy=policy, until=until)
    claim = shard.claims.get(to_checksum_address(account))
    if claim is None:
        return None
    reason = shard.verify(account, header, settlement, chain_id)
    if reason:
        raise InputError(f"{shard_uri}: {reason}")
    return claim


class _Reader(Protocol):
    """The audit's reads (:class:`ame.workflow._audit._Reader`)."""

    @property
    def policy(self) -> FetchPolicy: ...

    def into(self, uri: str, sink: Callable[[bytes], object], max_bytes: int) -> int: ...


class _Compare(Protocol):
    def __call__(
        self,
        report: AuditReport,
        tree: EpochTree,
        data: bytes,
        where: str,
        expected: EpochProofs | None = None,
    ) -> None: ...


def check_proof_shards(
    report: AuditReport,
    tree: EpochTree,
    link: ManifestProofs,
    manifest_uri: str,
    read: _Reader,
    progress: Progress = quiet_progress,
    *,
    compare: _Compare,
) -> None:
    """The index and every shard are exactly the rebuilt tree's, as the manifest records.

    The expected files are generated from the tree and hashed, never held together. The
    manifest must name the index (``proofs.uri``), whose SHA-256 it records; the published
    index must be the expected one (each field and shard entry that is not is a
    mismatch); then every shard the tree has is read, within the longer of the fetch
    limit and its honest size, and a shard with other bytes is parsed and compared entry
    by entry (``compare``, the one-file audit's comparison, given the shard's expected
    claims). Nothing is raised: what cannot be read is an ``audit failed`` finding.
    """
    if not sharded(len(tree.leaves)):
        report.add("proofs.uri", PROOFS_NAME, link.uri)
        return
    if link.uri != INDEX_NAME:
        report.add("proofs.uri", INDEX_NAME, link.uri)
        return
    token = report.header.token
    expected: list[tuple[str, int]] = []  # each shard's sha256 and size
    with progress.bar(f"epoch {report.epoch}: proofs of the rebuilt tree", len(tree.leaves)) as (
        advance
    ):
        for _, chunks in iter_shards(tree, token, advance=advance):
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
            expected.append((digest.hexdigest(), size))
    want = _index(tree, token, [d for d, _ in expected])
    where = sibling_uri(manifest_uri, INDEX_NAME)
    chunks_read: list[bytes] = []
    try:
        read.into(where, chunks_read.append, read.policy.max_bytes)
    except AmeError as err:
        report.fail("proofs", f"a readable proofs index at {where}", err)
        return
    data = b"".join(chunks_read)
    found = sha256_hex(data)
    if found != link.sha256:
        report.add("proofs.sha256", link.sha256, found)
    if data != want.to_json_bytes():
        try:
            got = ProofsIndex.parse(data, source=where)
        except AmeError as err:
            report.fail("proofs", f"an {INDEX_FORMAT} document at {where}", err)
            return
        _compare_index(report, want, got)
    runs = _runs(tree)
    for number, (shard_digest, size) in enumerate(expected):
        _check_shard(
            report,
            tree,
            token,
            number,
            runs[number][1],
            (shard_digest, size),
            manifest_uri,
            read,
            compare,
        )


def _compare_index(report: AuditReport, want: ProofsIndex, got: ProofsIndex) -> None:
    for name in ("chain_id", "settlement", "epoch", "root", "token", "pool", "leaf_count"):
        if getattr(want, name) != getattr(got, name):
            report.add(f"proofs.{name}", getattr(want, name), getattr(got, name))
    for number in range(max(len(want.shards), len(got.shards))):
        a = want.shards[number] if number < len(want.shards) else None
        b = got.shards[number] if number < len(got.shards) else None
        if a != b:
            report.add(
                f"proofs.shards[{number}]",
                a.to_json() if a else "no shard",
                b.to_json() if b else "no shard",
            )


def _check_shard(
    report: AuditReport,
    tree: EpochTree,
    token: str,
    number: int,
    positions: Sequence[int],
    honest: tuple[str, int],
    manifest_uri: str,
    read: _Reader,
    compare: _Compare,
) -> None:
    where = sibling_uri(manifest_uri, shard_name(number))
    digest, size = honest
    # An honest shard may pass the fetch limit; one longer than it cannot be it.
    limit = max(read.policy.max_bytes, size)
    chunks: list[bytes] = []
    try:
        read.into(where, chunks.append, limit)
    except AmeError as err:
        report.fail(f"proofs.shards[{number}]", f"a readable shard at {where}", err)
        return
    data = b"".join(chunks)
    found = sha256_hex(data)
    if found == digest:
        return
    report.add(f"proofs.shards[{number}].sha256", digest, found)
    # Only this shard's proofs: a million leaves' are not rebuilt for one bad shard.
    mine: dict[str, LeafProof] = {
        tree.leaves[i].account: LeafProof(tree.leaves[i], tuple(tree.tree.get_proof(i)))
        for i in positions
    }
    compare(report, tree, data, where, expected=EpochProofs.of_tree(tree, token, claims=mine))
