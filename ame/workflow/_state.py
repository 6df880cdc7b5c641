"""The operator's state: one SQLite file holding deployments, epochs and every transaction.

Each epoch is keyed by ``(chain id, settlement contract, epoch)``, so one state directory
can serve several chains and contracts. A transaction is written here, signed, *before*
it is broadcast, and its receipt after it is mined; each write is one SQLite transaction
(atomic and durable with ``synchronous=FULL``), so a process killed at any point leaves a
record that :mod:`ame.workflow._sender` reconciles with the chain on the next run.

A chain id does not name one chain for good: a development chain stopped and started
again (``ame chain down``, ``up``) has the same id, and ``ame deploy`` there puts a new
contract at the same address. What the state recorded of the old one must then not be
shown as the new contract's, nor its transactions sent again. So the state remembers each
chain id's genesis hash (:meth:`StateStore.check_chain`) and each deployment's block
hash, and *retires* what belongs to a chain that is gone: its deployments, epochs and
transactions move, whole, into ``retired_*`` tables (kept for the record, read by
nothing), with the reason.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from ame.deployment import DeploymentRecord
from ame.workflow._publish import Spooled
from ame.workflow.exceptions import StateError
from ame_chain.leaves import EpochHeader

__all__ = ["EpochKey", "EpochRow", "StateStore", "TxRow", "TxScope"]

STATE_FILE = "ame.db"
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (
    chain_id INTEGER NOT NULL, address TEXT NOT NULL, block INTEGER NOT NULL,
    tx_hash TEXT NOT NULL, record TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (chain_id, address));
CREATE TABLE IF NOT EXISTS epochs (
    chain_id INTEGER NOT NULL, settlement TEXT NOT NULL, epoch INTEGER NOT NULL,
    manifest BLOB NOT NULL, manifest_hash TEXT NOT NULL, manifest_uri TEXT NOT NULL,
    token TEXT NOT NULL, root TEXT NOT NULL, pool TEXT NOT NULL, leaf_count INTEGER NOT NULL,
    tree TEXT NOT NULL, header TEXT, status TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (chain_id, settlement, epoch));
CREATE TABLE IF NOT EXISTS epoch_manifests (
    chain_id INTEGER NOT NULL, settlement TEXT NOT NULL, epoch INTEGER NOT NULL,
    manifest BLOB NOT NULL, PRIMARY KEY (chain_id, settlement, epoch));
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id INTEGER NOT NULL, settlement TEXT NOT NULL, epoch INTEGER, step TEXT NOT NULL,
    sender TEXT NOT NULL, nonce INTEGER NOT NULL, tx_hash TEXT NOT NULL UNIQUE,
    raw TEXT NOT NULL, status TEXT NOT NULL, block INTEGER, gas_used INTEGER,
    detail TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired_deployments (
    chain_id INTEGER, address TEXT, block INTEGER, tx_hash TEXT, record TEXT, created REAL,
    reason TEXT NOT NULL, retired REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired_epochs (
    chain_id INTEGER, settlement TEXT, epoch INTEGER, manifest BLOB, manifest_hash TEXT,
    manifest_uri TEXT, token TEXT, root TEXT, pool TEXT, leaf_count INTEGER, tree TEXT,
    header TEXT, status TEXT, updated REAL, reason TEXT NOT NULL, retired REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired_epoch_manifests (
    chain_id INTEGER, settlement TEXT, epoch INTEGER, manifest BLOB,
    reason TEXT NOT NULL, retired REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired_txs (
    id INTEGER, chain_id INTEGER, settlement TEXT, epoch INTEGER, step TEXT, sender TEXT,
    nonce INTEGER, tx_hash TEXT, raw TEXT, status TEXT, block INTEGER, gas_used INTEGER,
    detail TEXT, created REAL, updated REAL, reason TEXT NOT NULL, retired REAL NOT NULL);
"""
# The tables whose rows belong to one contract on one chain, and the column naming it.
_SCOPED = (("deployments", "address"), ("epochs", "settlement"), ("txs", "settlement"))
# An epoch's manifest lives in a table of its own, its only other columns the key, so that
# the blob is the record's last field. SQLite builds a record in memory whole, except for a
# zero-filled blob at its end: a manifest column in the middle of ``epochs`` made the insert
# of a million leaves' manifest (330 MB) take twice its size in memory, and every later
# update of the row (its header, its status) read it all back. Schema version 1 kept the
# manifest in ``epochs.manifest``; version 2 leaves that column empty for new epochs and
# reads whichever holds the bytes, so a version 1 state is upgraded by creating the table.
_EPOCH_SELECT = (
    "SELECT e.chain_id, e.settlement, e.epoch, COALESCE(m.manifest, e.manifest), "
    "e.manifest_hash, e.manifest_uri, e.token, e.root, e.pool, e.leaf_count, e.tree, "
    "e.header, e.status FROM epochs e LEFT JOIN epoch_manifests m "
    "ON m.chain_id = e.chain_id AND m.settlement = e.settlement AND m.epoch = e.epoch "
)


class EpochKey(NamedTuple):
    """An epoch of one contract on one chain."""

    chain_id: int
    settlement: str
    epoch: int


#: What a transaction is about: ``(chain id, settlement, epoch)``; epoch None for claims across epochs.
TxScope = tuple[int, str, int | None]


@dataclass(frozen=True)
class EpochRow:
    """What the operator recorded about an epoch.

    Attributes:
        status: ``published`` (manifest written, nothing proposed yet), ``proposed``, or
            the last on-chain status seen (``Finalized``, ``Voided``, ...).
        header: The on-chain header, once proposed.
        tree: What identifies the epoch's Merkle tree: ``format`` (``standard-v1``),
            ``leafEncoding`` and ``root``. Not its nodes: a million leaves' dump is over
            300 MB, and every node and proof is rebuilt from the manifest's leaves
            (claims rebuild them from the published manifest). Epochs recorded before
            this hold the full ``StandardMerkleTree.dump``.
    """

    key: EpochKey
    manifest: bytes
    manifest_hash: str
    manifest_uri: str
    token: str
    root: str
    pool: int
    leaf_count: int
    tree: dict[str, Any]
    header: EpochHeader | None
    status: str


@dataclass(frozen=True)
class TxRow:
    """A transaction the workflow signed: ``signed`` (maybe broadcast), ``mined``, ``failed`` or ``dropped``."""

    id: int
    scope: TxScope
    step: str
    sender: str
    nonce: int
    tx_hash: str
    raw: str
    status: str
    block: int | None
    gas_used: int | None
    detail: dict[str, Any]


class StateStore:
    """The operator's SQLite state in ``directory/ame.db`` (created on first use).

    Args:
        directory: The state directory.
        in_memory: Keep the state in memory and create nothing on disk: for read-only
            commands run where no state exists (an auditor's or a contributor's empty
            directory). See :meth:`for_reading`.
    """

    def __init__(self, directory: Path, *, in_memory: bool = False) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        try:
            if not in_memory:
                directory.mkdir(parents=True, exist_ok=True)
            where = ":memory:" if in_memory else self.path
            self._db = sqlite3.connect(where, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except (OSError, sqlite3.Error) as err:
            raise StateError(f"state {self.path}: cannot open: {err}") from None
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(_SCHEMA_VERSION),))
        elif int(row[0]) == 1:
            # The script above created version 2's tables; version 1's rows read as they are.
            self._db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(_SCHEMA_VERSION),))
        elif int(row[0]) != _SCHEMA_VERSION:
            raise StateError(
                f"state {self.path}: schema version {row[0]}, this ame reads {_SCHEMA_VERSION}"
            )

    @classmethod
    def for_reading(cls, directory: Path) -> StateStore:
        """The state in ``directory`` when there is one, else an empty one in memory.

        Read-only commands use it so that running them creates no state directory.
        """
        return cls(directory, in_memory=not (directory / STATE_FILE).is_file())

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ chains that are gone

    def check_chain(self, chain_id: int, genesis_hash: str) -> list[str]:
        """Retire what was recorded on another chain of the same id; remember this one.

        A contract whose deployment record names another genesis is of another chain; so
        is one without such a record (a contract given by address) when the genesis
        recorded for ``chain_id`` differs. Their deployments, epochs and transactions are
        retired; a deployment recorded on this very chain stays whatever came before.

        Args:
            chain_id: The connected chain's id.
            genesis_hash: Its block 0 hash (0x-hex).

        Returns:
            What was retired, one line each (empty when nothing was).
        """
        genesis_hash = genesis_hash.lower()
        key = f"genesis:{chain_id}"
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        retired: list[str] = []
        geneses = dict(self._deployment_geneses(chain_id))
        addresses = self._addresses(chain_id)
        stale: list[tuple[str, str | None]] = []
        for address in addresses:
            genesis = geneses.get(address)
            if genesis is not None:  # the deployment says which chain it is on
                if genesis.lower() != genesis_hash:
                    stale.append((address, genesis))
            elif row is not None and row[0] != genesis_hash:  # only the recorded genesis tells
                stale.append((address, row[0]))
        # Written only when something changes, and the genesis only once the state holds
        # rows of this chain id: a command that then fails (a node lying about its chain
        # id, say) leaves the state as it found it.
        remember = (row is None and bool(addresses)) or (row is not None and row[0] != genesis_hash)
        if not (stale or remember):
            return retired
        with self._transaction() as db:
            for address, genesis in stale:
                reason = f"chain {chain_id} has genesis {genesis_hash}, not {genesis}"
                retired += self._retire(db, chain_id, address, reason)
            if remember:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, genesis_hash))
        return retired

    def _addresses(self, chain_id: int) -> list[str]:
        """Every contract the state holds rows of on ``chain_id``."""
        found: set[str] = set()
        for table, column in _SCOPED:
            rows = self._db.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE chain_id=?", (chain_id,)
            ).fetchall()
            found.update(str(r[0]) for r in rows)
        return sorted(found)

    def retire_contract(self, chain_id: int, address: str, reason: str) -> list[str]:
        """Retire the deployment, epochs and transactions of one contract (see the module docstring).

        Returns:
            What was retired, one line each.
        """
        with self._transaction() as db:
            return self._retire(db, chain_id, address, reason)

    def _deployment_geneses(self, chain_id: int) -> list[tuple[str, str | None]]:
        rows = self._db.execute(
            "SELECT address, record FROM deployments WHERE chain_id=?", (chain_id,)
        ).fetchall()
        return [(str(a), json.loads(r).get("genesis_hash")) for a, r in rows]

    def _retire(
        self, db: sqlite3.Connection, chain_id: int, address: str, reason: str
    ) -> list[str]:
        """Move the rows of contract ``address`` on ``chain_id`` to the retired tables."""
        now = time.time()
        counts = []
        for table, column in _SCOPED:
            where = f"chain_id=? AND {column}=?"
            moved = db.execute(
                f"INSERT INTO retired_{table} SELECT *, ?, ? FROM {table} WHERE {where}",
                (reason, now, chain_id, address),
            ).rowcount
            db.execute(f"DELETE FROM {table} WHERE {where}", (chain_id, address))
            if moved:
                counts.append(f"{moved} {table}")
        # The epochs' manifests go with their epochs (counted with them).
        where = "chain_id=? AND settlement=?"
        db.execute(
            f"INSERT INTO retired_epoch_manifests SELECT *, ?, ? FROM epoch_manifests WHERE {where}",
            (reason, now, chain_id, address),
        )
        db.execute(f"DELETE FROM epoch_manifests WHERE {where}", (chain_id, address))
        if not counts:
            return []
        return [f"retired {', '.join(counts)} of chain {chain_id}, contract {address}: {reason}"]

    # ------------------------------------------------------------------ deployments

    def add_deployment(self, record: DeploymentRecord) -> None:
        """Remember a deployment; the latest one per chain is the default contract there.

        A contract deployed where the state already knows one (same chain id, same
        address) is on another chain (an address is created once per chain): what was
        recorded of the old one is retired first. Adding the very same record again
        changes nothing.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT record FROM deployments WHERE chain_id=? AND address=?",
                (record.chain_id, record.address),
            ).fetchone()
            if row is not None and json.loads(row[0]) != record.to_json():
                self._retire(
                    db,
                    record.chain_id,
                    record.address,
                    f"a new deployment at {record.address} (tx {record.tx_hash})",
                )
            db.execute(
                "INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.chain_id,
                    record.address,
                    record.block,
                    record.tx_hash,
                    json.dumps(record.to_json(), sort_keys=True),
                    time.time(),
                ),
            )

    def deployment(self, chain_id: int, address: str | None = None) -> DeploymentRecord | None:
        """The latest deployment on ``chain_id`` (or the one at ``address``), if recorded."""
        query = "SELECT record FROM deployments WHERE chain_id=?"
        args: tuple[Any, ...] = (chain_id,)
        if address is not None:
            query += " AND address=?"
            args += (address,)
        row = self._db.execute(query + " ORDER BY created DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        fields = {k: v for k, v in json.loads(row[0]).items() if k != "format"}
        return DeploymentRecord(**fields)

    # ------------------------------------------------------------------ epochs

    def save_epoch(
        self,
        key: EpochKey,
        *,
        manifest: bytes | Spooled,
        manifest_hash: str,
        manifest_uri: str,
        token: str,
        root: str,
        pool: int,
        leaf_count: int,
        tree: dict[str, Any],
    ) -> None:
        """Record an epoch's published manifest and tree (status ``published``).

        A spooled manifest (a large epoch's) is copied into its row chunk by chunk
        (SQLite's incremental blob writes), never held whole in memory.

        Raises:
            StateError: The epoch already has a transaction: its manifest cannot change.
        """
        with self._transaction() as db:
            sent = self.sent_tx(key)
            if sent is not None:
                raise StateError(
                    f"epoch {key.epoch}: transaction {sent} was already signed for it; "
                    "its manifest cannot change"
                )
            size, chunks = (
                (len(manifest), [manifest])
                if isinstance(manifest, bytes)
                else (manifest.size, manifest.chunks())
            )
            db.execute(
                "INSERT OR REPLACE INTO epochs VALUES (?,?,?,X'',?,?,?,?,?,?,?,NULL,'published',?)",
                (
                    *key,
                    manifest_hash,
                    manifest_uri,
                    token,
                    root,
                    str(pool),
                    leaf_count,
                    json.dumps(tree),
                    time.time(),
                ),
            )
            row = db.execute(
                "INSERT OR REPLACE INTO epoch_manifests VALUES (?,?,?,zeroblob(?))", (*key, size)
            ).lastrowid
            assert row is not None  # an INSERT sets it
            if size:
                with db.blobopen("epoch_manifests", "manifest", row) as blob:
                    for chunk in chunks:
                        blob.write(chunk)

    def sent_tx(self, key: EpochKey) -> str | None:
        """The hash of a transaction signed for the epoch and not dropped, if any."""
        row = self._db.execute(
            "SELECT tx_hash FROM txs WHERE chain_id=? AND settlement=? AND epoch=? "
            "AND status != 'dropped' ORDER BY id LIMIT 1",
            key,
        ).fetchone()
        return str(row[0]) if row is not None else None

    def set_header(self, key: EpochKey, header: EpochHeader) -> None:
        """Record the on-chain header of a proposed epoch."""
        with self._transaction() as db:
            db.execute(
                "UPDATE epochs SET header=?, status='proposed', updated=? "
                "WHERE chain_id=? AND settlement=? AND epoch=?",
                (json.dumps(header.to_json()), time.time(), *key),
            )

    def set_status(self, key: EpochKey, status: str) -> None:
        """Record the last on-chain status seen for the epoch."""
        with self._transaction() as db:
            db.execute(
                "UPDATE epochs SET status=?, updated=? WHERE chain_id=? AND settlement=? AND epoch=?",
                (status, time.time(), *key),
            )

    def epoch(self, key: EpochKey) -> EpochRow | None:
        """The recorded epoch, if any."""
        row = self._db.execute(
            _EPOCH_SELECT + "WHERE e.chain_id=? AND e.settlement=? AND e.epoch=?", key
        ).fetchone()
        return _epoch_row(row) if row is not None else None

    def epochs(self, chain_id: int, settlement: str) -> list[EpochRow]:
        """Every recorded epoch of the contract, by epoch number."""
        rows = self._db.execute(
            _EPOCH_SELECT + "WHERE e.chain_id=? AND e.settlement=? ORDER BY e.epoch",
            (chain_id, settlement),
        ).fetchall()
        return [_epoch_row(row) for row in rows]

    def previous_epoch(self, key: EpochKey) -> EpochRow | None:
        """The latest recorded epoch before ``key.epoch`` of the same contract."""
        row = self._db.execute(
            _EPOCH_SELECT + "WHERE e.chain_id=? AND e.settlement=? AND e.epoch<? "
            "ORDER BY e.epoch DESC LIMIT 1",
            key,
        ).fetchone()
        return _epoch_row(row) if row is not None else None

    # ------------------------------------------------------------------ transactions

    def record_signed(
        self,
        scope: TxScope,
        step: str,
        *,
        sender: str,
        nonce: int,
        tx_hash: str,
        raw: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record a signed transaction before it is broadcast (the intent survives a crash).

        Signing the same call again after a refused broadcast can give the very same bytes
        (same nonce, same fees): that row is signed again, not a second one.
        """
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO txs (chain_id, settlement, epoch, step, sender, nonce, tx_hash, raw, "
                "status, detail, created, updated) VALUES (?,?,?,?,?,?,?,?,'signed',?,?,?) "
                "ON CONFLICT(tx_hash) DO UPDATE SET status='signed', block=NULL, gas_used=NULL, "
                "updated=excluded.updated",
                (*scope, step, sender, nonce, tx_hash, raw, json.dumps(detail or {}), now, now),
            )

    def mark_tx(
        self, tx_hash: str, status: str, *, block: int | None = None, gas_used: int | None = None
    ) -> None:
        """Record what became of a transaction: ``mined``, ``failed`` or ``dropped``."""
        with self._transaction() as db:
            db.execute(
                "UPDATE txs SET status=?, block=?, gas_used=?, updated=? WHERE tx_hash=?",
                (status, block, gas_used, time.time(), tx_hash),
            )

    def open_tx(self, scope: TxScope, step: str) -> TxRow | None:
        """The latest transaction of ``step`` that is not dropped or failed."""
        row = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND settlement=? AND epoch IS ? AND step=? "
            "AND status IN ('signed', 'mined') ORDER BY id DESC LIMIT 1",
            (*scope, step),
        ).fetchone()
        return _tx_row(row) if row is not None else None

    def txs(self, scope: TxScope | None = None) -> list[TxRow]:
        """Every transaction recorded, for one scope or all, oldest first."""
        if scope is None:
            rows = self._db.execute("SELECT * FROM txs ORDER BY id").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM txs WHERE chain_id=? AND settlement=? AND epoch IS ? ORDER BY id",
                scope,
            ).fetchall()
        return [_tx_row(row) for row in rows]


def _epoch_row(row: tuple[Any, ...]) -> EpochRow:
    chain_id, settlement, epoch, manifest, mhash, uri, token, root, pool, count, tree = row[:11]
    header, status = row[11], row[12]
    return EpochRow(
        key=EpochKey(chain_id, settlement, epoch),
        manifest=bytes(manifest),
        manifest_hash=mhash,
        manifest_uri=uri,
        token=token,
        root=root,
        pool=int(pool),
        leaf_count=count,
        tree=json.loads(tree),
        header=EpochHeader.from_json(json.loads(header)) if header else None,
        status=status,
    )


def _tx_row(row: tuple[Any, ...]) -> TxRow:
    (tx_id, chain_id, settlement, epoch, step, sender, nonce, tx_hash, raw, status) = row[:10]
    block, gas_used, detail = row[10], row[11], row[12]
    return TxRow(
        id=tx_id,
        scope=(chain_id, settlement, epoch),
        step=step,
        sender=sender,
        nonce=nonce,
        tx_hash=tx_hash,
        raw=raw,
        status=status,
        block=block,
        gas_used=gas_used,
        detail=json.loads(detail) if detail else {},
    )
