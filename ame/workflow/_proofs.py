"""The proofs file (``ame.proofs/1``): every account's leaf and Merkle proof for one epoch.

Published beside the manifest as ``proofs.json`` by ``settle``, so a wallet, a claim
page or a block explorer user claims without rebuilding the tree. The layout follows
what Uniswap's merkle-distributor publishes (``merkleRoot``, ``tokenTotal`` and a
``claims`` object from account to ``{index, amount, proof}``), with what an AME leaf
carries besides (``amountBefore``) and what binds the tree to one epoch of one
contract (``chainId``, ``settlement``, ``epoch``, ``leafEncoding``). Amounts are
decimal strings, as in the manifest. The manifest records the file's SHA-256
(:class:`~offchain.mapping.ManifestProofs`), and the manifest's keccak256 is on-chain,
so the file is bound to the epoch; readers still check every proof against the
on-chain root before using it (:meth:`EpochProofs.verify`). See ``docs/manifest.md``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from ame_chain.leaves import LEAF_ENCODING, EpochHeader, EpochTree, PayoutLeaf
from ame_chain.merkle import StandardMerkleTree
from ame_core.addresses import checksum_hex
from ame_core.canonical import canonical_json, sha256_hex
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError, InputError
from ame_core.validation import show_value
from offchain.mapping import Manifest, ManifestProofs, TokenAmount

__all__ = [
    "PROOFS_FORMAT",
    "PROOFS_NAME",
    "EpochProofs",
    "LeafProof",
    "bind_proofs",
    "iter_proofs_json",
    "spool_proofs",
]

PROOFS_FORMAT: Final = "ame.proofs/1"
#: The proofs file's name beside the manifest.
PROOFS_NAME: Final = "proofs.json"
_UINT256: Final = 2**256
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DIGITS = re.compile(r"^(0|[1-9][0-9]{0,77})$")
#: The fields every published document of an epoch opens with (:func:`epoch_json`).
ENVELOPE_KEYS: Final = frozenset(
    {
        "format",
        "chainId",
        "settlement",
        "epoch",
        "merkleRoot",
        "token",
        "tokenTotal",
        "leafCount",
        "leafEncoding",
    }
)
_KEYS: Final = ENVELOPE_KEYS | {"claims"}
_CLAIM_KEYS: Final = {"index", "amount", "amountBefore", "proof"}
_EMPTY_CLAIMS: Final = b'"claims":{}'
_CHUNK_LEAVES: Final = 4096
_READ_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class LeafProof:
    """One account's leaf of an epoch and the proof that leads from it to the root."""

    leaf: PayoutLeaf
    proof: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The entry under the account in ``claims``."""
        return {
            "index": self.leaf.index,
            "amount": str(self.leaf.amount),
            "amountBefore": str(self.leaf.amount_before),
            "proof": list(self.proof),
        }


@dataclass(frozen=True)
class EpochProofs:
    """The contents of one epoch's proofs file.

    Attributes:
        claims: Each account's leaf and proof, keyed by checksummed address.
    """

    chain_id: int
    settlement: str
    epoch: int
    root: str
    token: str
    pool: int
    leaf_count: int
    claims: Mapping[str, LeafProof]

    @classmethod
    def of_tree(
        cls, tree: EpochTree, token: str, *, claims: Mapping[str, LeafProof] | None = None
    ) -> EpochProofs:
        """Every leaf of ``tree`` with its proof (the tree's accounts are unique and sorted).

        ``claims`` given (e.g. empty, for a streamed file's header) stand instead of the
        tree's own.
        """
        if claims is None:
            proofs = tree.tree.get_all_proofs()
            claims = {
                leaf.account: LeafProof(leaf, tuple(str(node) for node in proof))
                for leaf, proof in zip(tree.leaves, proofs, strict=True)
            }
        return cls(
            chain_id=tree.chain_id,
            settlement=tree.settlement,
            epoch=tree.epoch,
            root=tree.root,
            token=to_checksum_address(token),
            pool=tree.pool,
            leaf_count=len(tree.leaves),
            claims=claims,
        )

    def to_document(self) -> dict[str, Any]:
        """The JSON document (see ``docs/manifest.md``)."""
        return {
            **epoch_json(PROOFS_FORMAT, self),
            "claims": {account: entry.to_json() for account, entry in self.claims.items()},
        }

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes published and hashed.

        For an epoch's tree, :func:`iter_proofs_json` yields the same bytes without
        holding the document (or these bytes) in memory.
        """
        return canonical_json(self.to_document())

    def sha256(self) -> str:
        """SHA-256 of :meth:`to_json_bytes` (hex, no prefix): what the manifest records."""
        return sha256_hex(self.to_json_bytes())

    @classmethod
    def parse(cls, data: bytes | object, *, source: str = "<proofs>") -> EpochProofs:
        """Validate an ``ame.proofs/1`` document (its bytes, or parsed JSON).

        Only the shape is checked here; whether the proofs lead to the epoch's root is
        :meth:`verify`'s job, against the root read from the chain.

        Raises:
            InputError: The document is not well-formed; the message names the field.
        """
        document = epoch_document(
            data, source=source, what="a proofs file", keys=_KEYS, format_name=PROOFS_FORMAT
        )
        claims = document["claims"]
        if not isinstance(claims, Mapping):
            raise InputError(f"{source}: claims: not an object of account -> leaf")
        parsed: dict[str, LeafProof] = {}
        for account, entry in claims.items():
            where = f"{source}: claims[{_short(account)}]"
            checked = _address(account, where)
            if checked in parsed:
                raise InputError(f"{where}: the account appears twice")
            parsed[checked] = _entry(entry, checked, where)
        return cls(**epoch_fields(document, source), claims=parsed)

    def verify(self, account: str, header: EpochHeader, settlement: str, chain_id: int) -> str:
        """Why ``account``'s entry cannot be used for this epoch; ``""`` when its proof holds.

        The proof is walked from the leaf's values, bound to ``chain_id``, ``settlement``
        and the header's epoch, to the header's (on-chain) root.
        """
        entry = self.claims.get(to_checksum_address(account))
        if entry is None:
            return f"no leaf of {account}"
        leaf = entry.leaf
        values = [
            chain_id,
            to_checksum_address(settlement),
            header.epoch,
            leaf.index,
            leaf.account,
            leaf.amount,
            leaf.amount_before,
        ]
        try:
            holds = StandardMerkleTree.verify_proof(header.root, LEAF_ENCODING, values, entry.proof)
        except AmeError as err:
            return f"the proof of leaf {leaf.index} is malformed: {err}"
        if not holds:
            return (
                f"the proof of leaf {leaf.index} does not lead to the on-chain root {header.root}"
            )
        return ""


def epoch_document(
    data: bytes | object, *, source: str, what: str, keys: AbstractSet[str], format_name: str
) -> Mapping[str, Any]:
    """The JSON object of one of an epoch's published documents, its envelope checked.

    The envelope every such document shares: an object with exactly ``keys``, whose
    ``format`` is ``format_name`` and whose ``leafEncoding`` is the leaves' own.

    Args:
        data: The document's bytes, or its parsed JSON.
        source: Where it came from, leading every message.
        what: What it is, for the message when it is no object (``"a proofs file"``).
        keys: Its fields, all required.
        format_name: Its ``format``.

    Raises:
        InputError: The envelope is not as described; the message names the field.
    """
    document = (
        parse_json(data, source=source, unique_keys=True) if isinstance(data, bytes | str) else data
    )
    if not isinstance(document, Mapping):
        raise InputError(f"{source}: {what} must be a JSON object")
    missing, extra = keys - set(document), set(document) - keys
    if missing or extra:
        raise InputError(
            f"{source}: fields {sorted(missing)} missing, {sorted(map(str, extra))} unknown"
        )
    if document["format"] != format_name:
        raise InputError(f"{source}: format: {show_value(document['format'])} is not {format_name}")
    if document["leafEncoding"] != list(LEAF_ENCODING):
        raise InputError(f"{source}: leafEncoding: not {LEAF_ENCODING}")
    return document


class EpochIdentity(Protocol):
    """What every published document of an epoch names: its chain, contract, root and money."""

    @property
    def chain_id(self) -> int: ...
    @property
    def settlement(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def root(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def pool(self) -> int: ...
    @property
    def leaf_count(self) -> int: ...


def epoch_json(format_name: str, epoch: EpochIdentity) -> dict[str, Any]:
    """The envelope :func:`epoch_document` and :func:`epoch_fields` read, as JSON fields."""
    return {
        "format": format_name,
        "chainId": epoch.chain_id,
        "settlement": epoch.settlement,
        "epoch": epoch.epoch,
        "merkleRoot": epoch.root,
        "token": epoch.token,
        "tokenTotal": str(epoch.pool),
        "leafCount": epoch.leaf_count,
        "leafEncoding": list(LEAF_ENCODING),
    }


def epoch_fields(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The epoch's identity and money, as every published document of an epoch names them.

    Returns:
        ``chain_id``, ``settlement``, ``epoch``, ``root``, ``token``, ``pool`` and
        ``leaf_count``, each validated (the message names the field).
    """
    return {
        "chain_id": _uint(document["chainId"], f"{source}: chainId", number=True),
        "settlement": _address(document["settlement"], f"{source}: settlement"),
        "epoch": _uint(document["epoch"], f"{source}: epoch", number=True),
        "root": _hash(document["merkleRoot"], f"{source}: merkleRoot"),
        "token": _address(document["token"], f"{source}: token"),
        "pool": _uint(document["tokenTotal"], f"{source}: tokenTotal"),
        "leaf_count": _uint(document["leafCount"], f"{source}: leafCount", number=True),
    }


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 50 else text[:47] + "..."


def _address(value: object, where: str) -> ChecksumAddress:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InputError(f"{where}: {show_value(value)} is not a 0x address")
    return checksum_hex(value[2:].lower())


def _hash(value: object, where: str) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise InputError(f"{where}: {show_value(value)} is not a 0x-prefixed 32-byte hex hash")
    return value


def _uint(value: object, where: str, *, number: bool = False) -> int:
    """A uint256: a JSON integer (``number``) or a decimal string (amounts)."""
    if number:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {show_value(value)} is not a whole number")
        found = value
    else:
        if not isinstance(value, str) or not _DIGITS.match(value):
            raise InputError(f"{where}: {show_value(value)} is not a decimal string")
        found = int(value)
    if not 0 <= found < _UINT256:
        raise InputError(f"{where}: {_short(found)} is not a uint256")
    return found


def _entry(entry: object, account: ChecksumAddress, where: str) -> LeafProof:
    if not isinstance(entry, Mapping) or set(entry) != _CLAIM_KEYS:
        raise InputError(f"{where}: not an object with exactly {sorted(_CLAIM_KEYS)}")
    proof = entry["proof"]
    if not isinstance(proof, list) or len(proof) > 256:
        raise InputError(f"{where}: proof: not a list of at most 256 hashes")
    nodes = tuple(_hash(node, f"{where}: proof[{i}]") for i, node in enumerate(proof))
    leaf = PayoutLeaf(
        index=_uint(entry["index"], f"{where}: index", number=True),
        account=account,
        amount=TokenAmount(_uint(entry["amount"], f"{where}: amount")),
        amount_before=TokenAmount(_uint(entry["amountBefore"], f"{where}: amountBefore")),
    )
    return LeafProof(leaf, nodes)


def iter_proofs_json(
    tree: EpochTree,
    token: str,
    *,
    chunk_leaves: int = _CHUNK_LEAVES,
    advance: Callable[[int], None] | None = None,
    positions: Sequence[int] | None = None,
    header: EpochProofs | None = None,
) -> Iterator[bytes]:
    """The proofs file of ``tree``, chunk by chunk: ``EpochProofs.of_tree(tree, token)``'s
    canonical bytes, without the document or the whole file in memory.

    A million leaves make a file of about a gigabyte (a proof of 20 nodes is 1.4 kB);
    built as a document and serialised, it took several times that in memory. Here the
    header is serialised canonically with ``claims`` empty, and the claims are written
    in between, in canonical order (accounts sorted as strings, keys of an entry sorted,
    no spaces), ``chunk_leaves`` entries a chunk. Nothing in a claim needs escaping:
    accounts and nodes are hex, amounts decimal digits.

    Args:
        tree: The epoch's tree (its accounts are distinct).
        token: The pool's token (the zero address for ETH).
        chunk_leaves: Claims per yielded chunk.
        advance: Called with the number of claims of each chunk (a progress bar).
        positions: The positions in ``tree.leaves`` of the leaves whose claims the file
            holds (a shard of a large epoch's proofs, :mod:`ame.workflow._proof_shards`);
            every leaf when None. The header is the epoch's either way.
        header: ``EpochProofs.of_tree(tree, token, claims={})``, when the caller writes
            many shards of one tree (its pool is a sum over every leaf: a million leaves'
            thousand shards summed it a thousand times).

    Yields:
        Consecutive pieces of the file; joined, they are :meth:`EpochProofs.to_json_bytes`.
    """
    if header is None:
        header = EpochProofs.of_tree(tree, token, claims={})
    before, after = canonical_json(header.to_document()).split(_EMPTY_CLAIMS, 1)
    yield before + b'"claims":{'
    leaves = tree.leaves
    chosen = range(len(leaves)) if positions is None else positions
    order = sorted(chosen, key=lambda i: leaves[i].account)
    merkle = tree.tree
    for start in range(0, len(order), chunk_leaves):
        chunk = order[start : start + chunk_leaves]
        parts = []
        # The proofs of a chunk at once: checked once per tree, hex-encoded as arrays.
        for i, nodes in zip(chunk, merkle.proofs_json(chunk), strict=True):
            leaf = leaves[i]
            parts.append(
                f'"{leaf.account}":{{"amount":"{leaf.amount}","amountBefore":'
                f'"{leaf.amount_before}","index":{leaf.index},"proof":[{nodes}]}}'
            )
        yield ("," if start else "").encode() + ",".join(parts).encode()
        if advance is not None:
            advance(len(parts))
    yield b"}" + after


@contextmanager
def spool_proofs(
    manifest: Manifest,
    tree: EpochTree,
    token: str,
    *,
    advance: Callable[[int], None] | None = None,
) -> Iterator[tuple[Manifest, Callable[[], Iterator[bytes]]]]:
    """:func:`bind_proofs` for a large epoch: the file spooled to disk, not held in memory.

    The bytes are generated once (:func:`iter_proofs_json`), hashed on the way into an
    anonymous temporary file, and read back chunk by chunk when published, so nothing
    is written where others read before the caller decides to publish. The temporary
    file is gone when the ``with`` block ends. ``advance`` is told of each chunk's claims.

    Yields:
        The manifest recording the file's digest, and a function yielding the file's
        bytes in chunks (each call reads the spooled file from its start).
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        for chunk in iter_proofs_json(tree, token, advance=advance):
            digest.update(chunk)
            spool.write(chunk)

        def read() -> Iterator[bytes]:
            spool.seek(0)
            while chunk := spool.read(_READ_CHUNK):
                yield chunk

        link = ManifestProofs(uri=PROOFS_NAME, sha256=digest.hexdigest())
        yield manifest.model_copy(update={"proofs": link}), read


def bind_proofs(manifest: Manifest, tree: EpochTree, token: str) -> tuple[Manifest, bytes]:
    """The manifest as settle publishes it, recording its proofs file, and the file's bytes.

    The proofs file depends on the leaves (and the chain, contract, epoch and token the
    tree is bound to), not on the manifest's bytes, so the manifest can record its
    digest, and the on-chain manifest hash then binds both.

    Args:
        manifest: What :func:`~offchain.mapping.map_epoch` gave.
        tree: The manifest's leaves' tree for the chain, contract and epoch.
        token: The pool's token (the zero address for ETH).
    """
    proofs = b"".join(iter_proofs_json(tree, token))
    link = ManifestProofs(uri=PROOFS_NAME, sha256=sha256_hex(proofs))
    return manifest.model_copy(update={"proofs": link}), proofs
