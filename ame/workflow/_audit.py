"""Audit a proposed epoch from public data only: the chain, the published manifest and its inputs.

The procedure (``docs/audit.md``), each step naming what it finds wrong as a
:class:`Mismatch` ``(epoch, leaf, field, expected, found)``:

1. **Header**: the ``EpochProposed`` event hashes to the stored commitment.
2. **Manifest**: fetched from the URI in the event; ``keccak256(bytes) == manifestHash``;
   a well-formed ``ame.manifest/1`` in canonical form, for this epoch; every identity of
   ``verify_manifest`` holds.
3. **Inputs**: values, registry, policy and carried ledger (published beside the manifest
   unless given) have the SHA-256 the manifest records; the carried ledger is the
   previous epoch's; ``map_epoch`` on them gives the same bytes, else every differing
   leaf, total or section is named.
   **Attribution record** (when the manifest names one): it has the SHA-256 the
   manifest records; every event's stage and within-stage split, recomputed exactly
   from its published worths, gives the values' amounts; its asset content hashes are
   the registry's. **Utilities** (layer 2, ``recompute=``): the record's pipeline rerun
   on a seeded sample of events, every worth within tolerance
   (:mod:`ame.workflow._recompute`).
4. **Tree**: the leaves build the root for (chain id, contract, epoch); ``leafCount`` and
   ``pool`` match; ``Σ leaves == pool``; every proof verifies; the contract hashes a leaf
   the same way; no fault the contract's fraud rules accept.
   **Proofs file** (when the manifest names one): it has the SHA-256 the manifest
   records and holds every leaf of the tree with its proof, and nothing else.
5. **Money**: what was claimed (``Claimed`` events) are leaves of the manifest, and the
   pool is conserved: ``remaining == pool - claimed`` once finalised, ``claimed + swept ==
   pool`` once swept, ``refunded == pool`` once refunded.

The operator chooses every byte the audit reads, so the audit reaches a verdict on any of
them: whatever cannot be fetched, parsed, bound-checked or recomputed is recorded as a
mismatch whose finding reads ``audit failed: <reason>`` (:attr:`AuditReport.complete` is
then False), never raised. Reads follow the workspace's :class:`~ame.workflow.FetchPolicy`
under one deadline for the whole audit; leaf fields are checked against their Solidity
types before any tree is built or any contract call made with them. Only the auditor's
own node failing (:class:`~ame_chain.exceptions.ChainError`) still raises: no verdict can
be drawn without the chain.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, TypeVar

from eth_hash.auto import keccak as _keccak

from ame.workflow._epochs import find_header
from ame.workflow._proof_shards import check_proof_shards, sharded
from ame.workflow._proofs import PROOFS_FORMAT, PROOFS_NAME, EpochProofs, iter_proofs_json
from ame.workflow._publish import FetchPolicy, fetch, fetch_into, keccak_hex, sibling_uri
from ame.workflow._recompute import RECOMPUTE_FAILED, Recomputation, Recompute, recompute_record
from ame.workflow._record import check_record
from ame.workflow._workspace import Workspace
from ame_chain.exceptions import ChainError, MerkleError
from ame_chain.leaves import EpochHeader, EpochTree, PayoutLeaf, find_faults
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError
from ame_core.progress import Progress, quiet_progress
from offchain.mapping import (
    CarriedLedger,
    Manifest,
    addresses_checked_once,
    load_carried,
    load_policy,
    load_registry,
    load_values,
    map_epoch,
    parse_carried,
    parse_policy,
    parse_registry,
    parse_values,
    read_manifest,
    verify_manifest,
)

__all__ = ["AuditInputs", "AuditReport", "Mismatch", "audit_epoch"]

#: How a mismatch's finding starts when a check could not complete.
AUDIT_FAILED: Final = "audit failed: "
_UINT256: Final = 2**256
# A proofs file read for the audit is kept in memory up to this size, on disk beyond.
_SPOOL_IN_MEMORY: Final = 64 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Mismatch:
    """One thing the audit found wrong: in ``epoch`` (and ``leaf``), ``field`` was ``found``, not ``expected``."""

    epoch: int
    field: str
    expected: str
    found: str
    leaf: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "epoch": self.epoch,
            "leaf": self.leaf,
            "field": self.field,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass(frozen=True)
class AuditInputs:
    """Input files an auditor holds, used instead of the ones published beside the manifest."""

    values: Path | None = None
    registry: Path | None = None
    policy: Path | None = None
    carried: Path | None = None


@dataclass
class AuditReport:
    """The result of auditing one epoch.

    Attributes:
        checks: The checks that ran, in order.
        mismatches: Everything found wrong; the epoch passes when empty.
        tree_matches: Whether the published leaves build the committed root (fraud
            proofs are possible only then).
        leaves: The published leaves, when the manifest could be read.
    """

    epoch: int
    status: str
    manifest_uri: str
    header: EpochHeader
    checks: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    tree_matches: bool = False
    leaves: list[PayoutLeaf] = field(default_factory=list)
    #: Layer 2, when asked for (``recompute=``): the drift of the recomputed worths.
    recomputed: Recomputation | None = None

    @property
    def ok(self) -> bool:
        """Whether everything matched."""
        return not self.mismatches

    @property
    def complete(self) -> bool:
        """Whether every check ran to its end (no ``audit failed: <reason>`` finding)."""
        return not self.failures

    @property
    def failures(self) -> list[str]:
        """The reasons checks could not complete, from the ``audit failed:`` findings."""
        return [
            m.found.removeprefix(AUDIT_FAILED)
            for m in self.mismatches
            if m.found.startswith(AUDIT_FAILED)
        ]

    def add(
        self, field_name: str, expected: object, found: object, leaf: int | None = None
    ) -> None:
        """Record a mismatch."""
        self.mismatches.append(Mismatch(self.epoch, field_name, str(expected), str(found), leaf))

    def fail(self, field_name: str, expected: object, reason: object) -> None:
        """Record that a check could not complete: a mismatch found ``audit failed: <reason>``."""
        self.add(field_name, expected, f"{AUDIT_FAILED}{_short(str(reason), 400)}")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "epoch": self.epoch,
            "status": self.status,
            "manifestURI": self.manifest_uri,
            "ok": self.ok,
            "complete": self.complete,
            "checks": self.checks,
            "mismatches": [m.to_json() for m in self.mismatches],
            **({} if self.recomputed is None else {"recomputed": self.recomputed.to_json()}),
        }


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) <= limit:
        return text
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:16]} ({len(text)} chars)"


def audit_epoch(
    ws: Workspace,
    epoch: int,
    inputs: AuditInputs | None = None,
    *,
    manifest_uri: str | None = None,
    deadline: float | None = None,
    recompute: Recompute | None = None,
) -> AuditReport:
    """Audit ``epoch``: recompute, rebuild, compare with the chain (see the module docstring).

    Args:
        ws: The workspace (no signing account needed).
        epoch: The epoch to audit.
        inputs: Input files to use instead of those published beside the manifest.
        manifest_uri: Read the manifest here instead of at the URI published on-chain (the
            caller's own: a local file is read whatever ``ws.fetch_policy`` says).
        deadline: Seconds all the audit's reads may take together; ``ws.fetch_policy``'s
            deadline when None (a challenge shortens it to end within the window).
        recompute: Layer 2: rerun the pipeline and compare every sampled event's worths
            (:mod:`ame.workflow._recompute`); None: layer 1 only.

    Returns:
        The report; whatever the published documents hold, checks that cannot complete
        are in it as ``audit failed: <reason>`` mismatches.

    Raises:
        WorkflowError: The epoch was never proposed.
        ChainError: The auditor's node cannot be reached or answers wrongly.
    """
    header, published_uri = find_header(ws, epoch)
    uri = manifest_uri or published_uri
    policy = ws.fetch_policy
    until = policy.until() if deadline is None else time.monotonic() + deadline
    read = _Reader(policy, until, own=manifest_uri is not None)
    report = AuditReport(epoch, ws.client.status(epoch), uri, header)
    report.checks.append("header")
    stored = ws.client.commitment_of(epoch)
    if header.commitment() != stored:
        report.add("header", stored, header.commitment())
    # The fetched bytes stay on disk past a few megabytes for the audit's length: only
    # what names a difference reads them again.
    # One memo of checked addresses for the manifest and the registry: the same million
    # accounts, each EIP-55 checksum (a Keccak hash) taken once, not once per document.
    with (
        tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool,
        addresses_checked_once(),
    ):
        fetched = _guarded(
            report, "manifest", lambda: _check_manifest(report, header, uri, read, spool)
        )
        if fetched is None:
            return report
        manifest = fetched.manifest
        given = inputs or AuditInputs()
        parsed = _guarded(
            report, "inputs", lambda: _check_inputs(ws, report, fetched, uri, given, read)
        )
    if manifest.attribution is not None:
        _guarded(
            report,
            "attribution",
            lambda: _check_attribution(report, manifest, uri, read, parsed or {}, recompute),
        )
    elif recompute is not None:
        report.fail("recompute", "an attribution record to recompute", "the manifest names none")
    # The inputs (a million owners' registry) are not needed past here: not held by the tree.
    parsed = None
    tree = _guarded(report, "tree", lambda: _check_tree(ws, report, header, manifest))
    if tree is not None:
        _guarded(
            report,
            "proofs file",
            lambda: _check_proofs_file(report, tree, manifest, uri, read, ws.progress),
        )
    _guarded(report, "money", lambda: _check_money(ws, report, header))
    return report


@dataclass(frozen=True)
class _Reader:
    """The audit's reads: one policy, one deadline; local files only if allowed or the caller's."""

    policy: FetchPolicy
    until: float
    own: bool

    def __call__(self, uri: str, *, own: bool | None = None) -> bytes:
        local = self.own if own is None else own
        return fetch(uri, policy=self.policy, until=self.until, local=local)

    def into(self, uri: str, sink: Callable[[bytes], object], max_bytes: int) -> int:
        """Stream ``uri`` into ``sink`` (see :func:`fetch_into`), at most ``max_bytes``."""
        return fetch_into(
            uri, sink, policy=self.policy, until=self.until, local=self.own, max_bytes=max_bytes
        )


def _guarded(report: AuditReport, step: str, check: Callable[[], T]) -> T | None:
    """Run one check; anything it raises on the operator's data becomes an ``audit failed`` finding."""
    try:
        return check()
    except ChainError:
        raise  # the auditor's own node: the chain is what the verdict is drawn from
    except Exception as err:  # hostile bytes must end in a verdict, never a raise
        report.fail("audit", f"the {step} check completes", f"{type(err).__name__}: {err}")
        return None


@dataclass(frozen=True)
class _Fetched:
    """The published manifest as the audit keeps it past its own checks.

    Attributes:
        manifest: The manifest with only what later checks read: every section but the
            four long lists each :func:`verify_manifest` has checked (``events``,
            ``assets``, ``accounts``, ``escrow``, left empty); ``leaves`` kept whole.
        sha256: SHA-256 of the manifest's canonical bytes (its fetched bytes' when they
            are canonical), compared with the recomputed manifest's.
        spool: The fetched bytes, read again only to name what differs.
    """

    manifest: Manifest
    sha256: str
    spool: IO[bytes]

    def whole(self) -> Manifest:
        """The published manifest with every section, read again from its bytes."""
        self.spool.seek(0)
        return read_manifest(self.spool, source="the published manifest")


#: What the audit drops of the published manifest once verified (see :class:`_Fetched`).
_VERIFIED_SECTIONS: Final = ("events", "assets", "accounts", "escrow")


def _check_manifest(
    report: AuditReport, header: EpochHeader, uri: str, read: _Reader, spool: IO[bytes]
) -> _Fetched | None:
    """Fetch, hash, read and verify the manifest, its bytes streamed into ``spool``.

    The bytes are hashed (keccak256 for ``manifestHash``, SHA-256 for the canonical check)
    as they arrive and read back section by section (:func:`read_manifest`): neither the
    bytes nor their JSON are held whole, only the manifest they make.
    """
    report.checks.append("manifest")
    keccak, sha256 = _keccak.new(b""), hashlib.sha256()

    def sink(chunk: bytes) -> None:
        keccak.update(chunk)
        sha256.update(chunk)
        spool.write(chunk)

    try:
        # Always what is published, never the operator's own copy: that is what others see.
        read.into(uri, sink, read.policy.max_bytes)
    except AmeError as err:
        report.fail("manifestURI", "a readable manifest", err)
        return None
    found = "0x" + keccak.digest().hex()
    if found != header.manifest_hash:
        report.add("manifestHash", header.manifest_hash, found)
    spool.seek(0)
    try:
        manifest = read_manifest(spool, source=uri)
    except AmeError as err:
        report.fail("manifest", "an ame.manifest/1 document", err)
        return None
    # Canonical exactly when the manifest's own bytes, streamed, are the fetched ones.
    canonical = manifest.sha256()
    if canonical != sha256.hexdigest():
        report.add("manifest", "canonical JSON", "other bytes for the same document")
    if manifest.epoch != report.epoch:
        report.add("manifest.epoch", report.epoch, manifest.epoch)
    try:
        verify_manifest(manifest)
    except AmeError as err:
        report.add("manifest", "every identity of verify_manifest", err)
    slim = manifest.model_copy(update=dict.fromkeys(_VERIFIED_SECTIONS, ()))
    return _Fetched(slim, canonical, spool)


_LOADERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "values": (load_values, parse_values),
    "registry": (load_registry, parse_registry),
    "policy": (load_policy, parse_policy),
    "carried": (load_carried, parse_carried),
}


def _input(report: AuditReport, name: str, path: Path | None, uri: str, read: _Reader) -> Any:
    load, parse = _LOADERS[name]
    where = str(path) if path is not None else sibling_uri(uri, f"{name}.json")
    try:
        if path is not None:
            return load(path)
        return parse(parse_json(read(where), source=where, unique_keys=True), source=where)
    except AmeError as err:
        report.fail(f"inputs.{name}", f"a valid {name} document at {where}", err)
    return None


def _check_inputs(
    ws: Workspace,
    report: AuditReport,
    fetched: _Fetched,
    uri: str,
    given: AuditInputs,
    read: _Reader,
) -> dict[str, Any]:
    """Check the inputs and recompute the mapping; the inputs that could be read, by name."""
    report.checks.append("inputs")
    manifest = fetched.manifest
    parsed: dict[str, Any] = {}
    for name in ("values", "registry", "policy", "carried"):
        value = _input(report, name, getattr(given, name), uri, read)
        if value is None:
            continue
        parsed[name] = value
        expected = getattr(manifest.inputs, name).sha256
        found = value.digest()
        if found != expected:
            report.add(f"inputs.{name}.sha256", expected, found)
    _check_carried_chain(ws, report, manifest, read)
    if len(parsed) != 4:
        return parsed
    report.checks.append("recompute")
    try:
        recomputed = map_epoch(
            parsed["values"], parsed["registry"], parsed["policy"], carried=parsed["carried"]
        )
    except AmeError as err:
        report.fail("recompute", "map_epoch succeeds on the inputs", err)
        return parsed
    _compare(report, recomputed, fetched)
    return parsed


def _check_attribution(
    report: AuditReport,
    manifest: Manifest,
    uri: str,
    read: _Reader,
    parsed: dict[str, Any],
    recompute: Recompute | None = None,
) -> None:
    """The published attribution record explains the values exactly (``docs/audit.md``).

    The record is streamed into SHA-256 and a spooled file, at most the fetch limit;
    its digest must be the manifest's. Then every event's split is recomputed from its
    table of worths and compared with the values, and every asset's content hash with
    the registry's (:func:`~ame.workflow._record.check_record`), within the audit's
    deadline: each difference is a mismatch. With ``recompute``, layer 2 reruns the
    pipeline on the same bytes (:func:`~ame.workflow._recompute.recompute_record`).
    """
    assert manifest.attribution is not None  # the caller checks
    report.checks.append("attribution")
    where = sibling_uri(uri, manifest.attribution.uri)
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:

        def sink(chunk: bytes) -> None:
            digest.update(chunk)
            spool.write(chunk)

        try:
            read.into(where, sink, read.policy.max_bytes)
        except AmeError as err:
            report.fail("attribution", f"a readable attribution record at {where}", err)
            return
        found = digest.hexdigest()
        if found != manifest.attribution.sha256:
            report.add("attribution.sha256", manifest.attribution.sha256, found)
        values, registry = parsed.get("values"), parsed.get("registry")
        if values is None or registry is None:
            report.fail(
                "attribution", "the values and registry to check it against", "they are unreadable"
            )
            return
        spool.seek(0)
        for finding in check_record(spool, values, registry, source=where, until=read.until):
            report.add(finding.field, finding.expected, finding.found)
        if recompute is not None:
            report.checks.append("utilities")
            spool.seek(0)
            report.recomputed = recompute_record(spool, recompute, source=where)
            for finding in report.recomputed.findings:
                if finding.found.startswith(RECOMPUTE_FAILED):
                    report.fail(finding.field, finding.expected, finding.found)
                else:
                    report.add(finding.field, finding.expected, finding.found)


def _check_carried_chain(
    ws: Workspace, report: AuditReport, manifest: Manifest, read: _Reader
) -> None:
    # The carried ledger must be the one the previous epoch's manifest handed on.
    previous = manifest.inputs.carried.epoch
    if previous is None:
        return
    if (
        isinstance(previous, bool)
        or not isinstance(previous, int)
        or not 0 <= previous < report.epoch
    ):
        # Checked before asking the chain: an epoch past uint256 cannot even be encoded.
        report.add("inputs.carried.epoch", f"an earlier epoch (0..{report.epoch - 1})", previous)
        return
    found = ws.client.header_of(previous, ws.from_block)
    if found is None:
        return  # an epoch that paid nobody was never proposed: nothing on-chain to compare
    header, uri = found
    try:
        data = read(uri, own=False)  # named on-chain, whoever named this epoch's manifest
        if keccak_hex(data) != header.manifest_hash:
            report.add(
                "inputs.carried",
                f"epoch {previous}'s manifest at {uri} hashing to {header.manifest_hash}",
                keccak_hex(data),
            )
            return
        ledger: CarriedLedger = parse_carried(
            parse_json(data, source=uri, unique_keys=True), source=uri
        )
    except AmeError as err:
        report.fail("inputs.carried", f"the carried ledger of epoch {previous}", err)
        return
    if ledger.digest() != manifest.inputs.carried.sha256:
        report.add(
            "inputs.carried.sha256",
            f"{ledger.digest()} (epoch {previous}'s carried ledger)",
            manifest.inputs.carried.sha256,
        )


def _leaf_fields(leaf: PayoutLeaf) -> dict[str, object]:
    # Under the manifest's field names, amounts as integers: how a mismatch has always shown a leaf.
    return {
        "index": leaf.index,
        "account": leaf.account,
        "amount": leaf.amount,
        "amountBefore": leaf.amount_before,
    }


def _compare(report: AuditReport, expected: Manifest, fetched: _Fetched) -> None:
    # map_epoch knows no chain, so never the proofs file: that is checked on its own.
    expected = expected.model_copy(update={"proofs": fetched.manifest.proofs})
    # Compared by digest, the recomputed manifest's streamed: neither manifest's bytes are
    # held whole, nor the published one's long lists a second time.
    if expected.sha256() == fetched.sha256:
        return
    found = fetched.whole()  # only to name what differs
    want, got = expected.leaves, found.leaves
    if len(want) != len(got):
        report.add("leaves.count", len(want), len(got))
    for index in range(max(len(want), len(got))):
        if index >= len(want):
            report.add("leaf", "no leaf", _leaf_fields(got[index]), leaf=index)
            continue
        if index >= len(got):
            report.add("leaf", _leaf_fields(want[index]), "missing", leaf=index)
            continue
        for name in ("account", "amount", "amount_before"):
            a, b = getattr(want[index], name), getattr(got[index], name)
            if a != b:
                label = "amountBefore" if name == "amount_before" else name
                report.add(label, a, b, leaf=index)
    for name in ("revenue", "carried_in", "escrowed", "carried_out", "pool"):
        a, b = getattr(expected.totals, name), getattr(found.totals, name)
        if a != b:
            report.add(f"totals.{name}", a, b)
    want_doc, got_doc = expected.to_document(), found.to_document()
    for section in sorted(want_doc):
        if section in ("leaves", "totals"):
            continue
        if want_doc[section] != got_doc.get(section):
            report.add(section, _short(want_doc[section]), _short(got_doc.get(section)))


def _check_tree(
    ws: Workspace, report: AuditReport, header: EpochHeader, manifest: Manifest
) -> EpochTree | None:
    """Check the tree; the tree when it builds the committed root (the proofs file is checked against it)."""
    report.checks.append("tree")
    leaves = list(manifest.leaves)
    report.leaves = leaves
    if not _leaves_in_bounds(report, leaves):
        return None  # no tree or contract call can take these values
    pool = sum(leaf.amount for leaf in leaves)
    if pool != header.pool:
        report.add("pool", header.pool, f"{pool} (sum of the manifest's leaves)")
    if manifest.totals.pool != header.pool:
        report.add("totals.pool", header.pool, manifest.totals.pool)
    if len(leaves) != header.leaf_count:
        report.add("leafCount", header.leaf_count, len(leaves))
    if not leaves:
        return None
    tree = ws.client.epoch_tree(report.epoch, leaves)
    if tree.root != header.root:
        report.add("root", header.root, tree.root)
    else:
        report.tree_matches = True
        report.checks.append("proofs")
        _check_proofs(ws, report, header, tree)
    onchain = ws.client.leaf_hash(report.epoch, leaves[0])
    offchain = tree.tree.leaf_hash(tree.values(leaves[0]))
    if onchain != offchain:
        report.add("leafHash", onchain, offchain, leaf=0)
    report.checks.append("fraud rules")
    for fault in find_faults(header, leaves):
        report.add(
            f"fraud:{fault.kind.name}",
            "no fault",
            f"leaves {list(fault.positions)} break the rule",
            leaf=leaves[fault.positions[0]].index,
        )
    return tree if report.tree_matches else None


def _check_proofs_file(
    report: AuditReport,
    tree: EpochTree,
    manifest: Manifest,
    uri: str,
    read: _Reader,
    progress: Progress = quiet_progress,
) -> None:
    """The published proofs file is exactly every leaf with its proof, as the manifest records.

    A manifest without a ``proofs`` field published none (an epoch settled before proofs
    files existed): there is nothing to check. Otherwise the file must have the recorded
    SHA-256 and hold, for every leaf of the committed tree, that leaf and its proof, and
    nothing else: each entry that is wrong, missing or extra is a mismatch.

    The file is streamed, never whole in memory at once: it is hashed as it arrives and
    compared with the hash of the tree's own file, generated the same way. Only a file
    that differs is parsed, to name what differs, and only if it fits the fetch limit.
    An honest file longer than the limit (a gigabyte at a million leaves) is read in full;
    any file is cut off past the longer of the limit and the honest file's length.
    """
    if manifest.proofs is None:
        return
    report.checks.append("proofs file")
    if sharded(len(tree.leaves)) or manifest.proofs.uri != PROOFS_NAME:
        # A large epoch's proofs are shards and their index (docs/manifest.md): each
        # shard is checked as this function checks the one file of a small epoch.
        check_proof_shards(
            report, tree, manifest.proofs, uri, read, progress, compare=_compare_proofs_file
        )
        return
    where = sibling_uri(uri, manifest.proofs.uri)
    # The file the tree gives, hashed as it is generated: never held whole.
    expected_digest, expected_size = hashlib.sha256(), 0
    leaves = len(tree.leaves)
    with progress.bar(f"epoch {report.epoch}: proofs of the rebuilt tree", leaves) as advance:
        for chunk in iter_proofs_json(tree, report.header.token, advance=advance):
            expected_digest.update(chunk)
            expected_size += len(chunk)
    # An honest file of a large epoch may exceed the policy's limit; one longer than the
    # honest file cannot be it, so the read stops there (hostile files stay bounded).
    limit = max(read.policy.max_bytes, expected_size)
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        with progress.bar(
            f"epoch {report.epoch}: reading the proofs file", expected_size
        ) as advance:

            def sink(chunk: bytes) -> None:
                digest.update(chunk)
                spool.write(chunk)
                advance(len(chunk))

            try:
                size = read.into(where, sink, limit)
            except AmeError as err:
                report.fail("proofs", f"a readable proofs file at {where}", err)
                return
        found = digest.hexdigest()
        if found != manifest.proofs.sha256:
            report.add("proofs.sha256", manifest.proofs.sha256, found)
        # The file holds exactly every leaf and its proof when it is, byte for byte, the
        # canonical file of the tree just rebuilt: then there is nothing to parse or name.
        if found == expected_digest.hexdigest():
            return
        if size > read.policy.max_bytes:
            report.add(
                "proofs",
                f"the tree's {PROOFS_FORMAT} file ({expected_size:,} bytes)",
                f"other bytes ({size:,}), too many to parse within the fetch limit of "
                f"{read.policy.max_bytes:,} bytes and name what differs",
            )
            return
        spool.seek(0)
        data = spool.read()
    _compare_proofs_file(report, tree, data, where)


def _compare_proofs_file(
    report: AuditReport,
    tree: EpochTree,
    data: bytes,
    where: str,
    expected: EpochProofs | None = None,
) -> None:
    """Name every field and entry of a proofs file that is not the tree's (see above).

    ``expected`` is the file the tree gives (a shard of it for a large epoch); the tree's
    whole file when None.
    """
    try:
        published = EpochProofs.parse(data, source=where)
    except AmeError as err:
        report.fail("proofs", f"an {PROOFS_FORMAT} document at {where}", err)
        return
    if expected is None:
        expected = EpochProofs.of_tree(tree, report.header.token)
    for name in ("chain_id", "settlement", "epoch", "root", "token", "pool", "leaf_count"):
        want, got = getattr(expected, name), getattr(published, name)
        if want != got:
            report.add(f"proofs.{name}", want, got)
    for account, entry in expected.claims.items():
        given = published.claims.get(account)
        if given is None:
            report.add(
                "proofs.claims",
                f"leaf {entry.leaf.index} of {account}",
                "missing",
                leaf=entry.leaf.index,
            )
        elif given != entry:
            _compare_entry(report, entry.to_json(), given.to_json(), entry.leaf.index)
    for account, given in published.claims.items():
        if account not in expected.claims:
            report.add(
                "proofs.claims",
                "no leaf",
                f"{account}: {_short(given.to_json())}",
                leaf=given.leaf.index,
            )


def _compare_entry(
    report: AuditReport, want: dict[str, Any], got: dict[str, Any], leaf: int
) -> None:
    """Name each field of an account's proofs-file entry that differs (a proof by its first node)."""
    for name in ("index", "amount", "amountBefore"):
        if want[name] != got[name]:
            report.add(f"proofs.claims.{name}", want[name], got[name], leaf=leaf)
    expected, found = want["proof"], got["proof"]
    if expected != found:
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b),
            min(len(expected), len(found)),
        )
        report.add(
            f"proofs.claims.proof[{at}]",
            expected[at] if at < len(expected) else "no node",
            found[at] if at < len(found) else "no node",
            leaf=leaf,
        )


def _leaves_in_bounds(report: AuditReport, leaves: list[PayoutLeaf]) -> bool:
    """Whether every leaf fits the contract's types; each field that does not is a mismatch.

    Only what no ABI encoding can carry is checked here (a uint256 at or past 2^256): an
    ``index`` at or past ``leafCount`` is a fraud rule (``INDEX_OUT_OF_RANGE``) the contract
    accepts a proof of, so the fraud rules below report it and a challenge proves it.
    """
    if all(
        0 <= leaf.index < _UINT256
        and 0 <= leaf.amount < _UINT256
        and 0 <= leaf.amount_before < _UINT256
        for leaf in leaves
    ):
        return True  # the common case, checked without naming each field of a million leaves
    fits = True
    for position, leaf in enumerate(leaves):
        for name, label in (
            ("index", "index"),
            ("amount", "amount"),
            ("amount_before", "amountBefore"),
        ):
            value = getattr(leaf, name)
            if not 0 <= value < _UINT256:
                fits = False
                report.add(
                    f"leaves[{position}].{label}",
                    "a uint256 (0 <= value < 2^256)",
                    _short(str(value)),
                )
    return fits


def _check_proofs(ws: Workspace, report: AuditReport, header: EpochHeader, tree: EpochTree) -> None:
    """Every proof a claimant will be given leads from its leaf to the committed root.

    Called once the tree's root is the header's. A proof is the siblings on its leaf's
    path, and it leads to the root exactly when every node on that path is the hash of
    its children; so every proof of the tree holds when every internal node does.
    :meth:`~ame_chain.merkle.StandardMerkleTree.validate` checks each node once (and each
    leaf against its values), ``n`` hashes in a few vectorised passes, where walking
    each of ``n`` proofs took ``n log n`` hashes in Python: a quarter of an audit of a
    million leaves.
    """
    ws.progress.step(f"epoch {report.epoch}: checking the {len(tree.leaves):,} leaves' proofs")
    try:
        tree.tree.validate()
    except MerkleError as err:
        report.add("proof", f"every proof verifies against {header.root}", err)


def _check_money(ws: Workspace, report: AuditReport, header: EpochHeader) -> None:
    report.checks.append("money")
    by_index = {leaf.index: leaf for leaf in report.leaves}
    claimed = 0
    for args in ws.client.events("Claimed", ws.from_block, epoch=report.epoch):
        index, amount = int(args["index"]), int(args["amount"])
        claimed += amount
        leaf = by_index.get(index)
        if leaf is None or (leaf.account, leaf.amount) != (args["account"], amount):
            expected = f"{leaf.account} {leaf.amount}" if leaf else "no leaf"
            report.add("claimed", expected, f"{args['account']} {amount}", leaf=index)
    state = ws.client.epoch_state(report.epoch)

    def total(name: str) -> int:
        logs = ws.client.events(name, ws.from_block, epoch=report.epoch)
        return sum(int(e["amount"]) for e in logs)

    status = state["status"]
    if status == "Finalized" and state["remaining"] != header.pool - claimed:
        report.add("remaining", f"{header.pool - claimed} (pool - claimed)", state["remaining"])
    elif status == "Swept" and claimed + total("Swept") != header.pool:
        report.add("pool", f"{header.pool} claimed + swept", claimed + total("Swept"))
    elif status == "Refunded" and (claimed, total("Refunded")) != (0, header.pool):
        report.add(
            "pool", f"{header.pool} refunded", f"{total('Refunded')} refunded, {claimed} claimed"
        )
    elif status in ("Proposed", "Voided") and claimed:
        report.add("claimed", f"nothing while {status}", claimed)
