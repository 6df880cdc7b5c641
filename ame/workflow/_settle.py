"""Settle one epoch: map the inputs, publish the manifest, build the tree, fund and propose.

Steps, each safe to repeat:

1. **map**: :class:`MappingInputs` become the manifest (``map_epoch``); balances carried
   from the latest earlier epoch in the state unless a carried ledger is given;
2. **tree**: the leaves' tree for (chain id, contract, epoch), checked against the
   contract's fraud rules; its proofs file (``ame.proofs/1``), or past
   :data:`~ame.workflow._proof_shards.SHARD_THRESHOLD` leaves its shards and their
   index (:mod:`~ame.workflow._proof_shards`), whose SHA-256 the manifest records; the attribution record (``ame.attribution/1``), when given,
   checked to explain the values exactly and its SHA-256 recorded too;
3. **publish**: the manifest's exact bytes, the proofs file, the attribution record and
   the canonical inputs are written where auditors and claimants fetch them; ``manifestHash =
   keccak256(bytes)``; the manifest and the tree's root are recorded in the state;
4. **fund** (ERC-20 only): ``approve(pool)`` unless the allowance already covers it;
5. **propose**: root, pool, leaf count, manifest hash and URI, with the pool (ETH) and bond.

Rerunning ``settle`` for an epoch first reconciles every recorded transaction with the
chain (:meth:`DurableSender.resume`), then adopts a proposal already on-chain when it
matches this manifest, so whatever step a previous run died in, the epoch ends with one
proposal and one funding. A different manifest for an epoch that already has a
transaction is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from eth_utils.address import to_checksum_address

from ame.workflow._owed import TokenUnits
from ame.workflow._proof_shards import spool_epoch_proofs
from ame.workflow._publish import (
    MANIFEST_NAME,
    epoch_folder,
    publish,
    published_uri,
    spool,
)
from ame.workflow._record import ATTRIBUTION_NAME, record_chunks, spool_record
from ame.workflow._state import EpochKey
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import StateError, WorkflowError
from ame_chain._addresses import checked_address
from ame_chain.contracts import load_artifact
from ame_chain.errors import chain_errors
from ame_chain.leaves import LEAF_ENCODING, ZERO_ADDRESS, EpochHeader, EpochTree, find_faults
from ame_chain.merkle import FORMAT
from ame_core.canonical import canonical_json
from offchain.mapping import (
    CarriedLedger,
    Manifest,
    Policy,
    Registry,
    Values,
    load_carried,
    load_policy,
    load_registry,
    load_values,
    map_epoch,
    parse_carried,
)

__all__ = ["MappingInputs", "SettleResult", "settle_epoch"]

log = logging.getLogger("ame.settle")

#: The largest pool the contract accepts (``SettlementInvalidPool`` above it).
MAX_POOL = 2**128 - 1


@dataclass(frozen=True)
class MappingInputs:
    """The inputs of one epoch's mapping: values, registry, and optionally policy and carried ledger.

    ``ame map`` and ``ame settle`` read these from files; a scenario path (attribution
    first) builds the :class:`~offchain.mapping.Values` and hands the same object on.
    """

    values: Values
    registry: Registry
    policy: Policy | None = None
    carried: CarriedLedger | None = None
    #: The ``ame.attribution/1`` record explaining the values, as a function yielding its
    #: bytes in chunks; settle checks it, binds it to the manifest and publishes it.
    attribution: Callable[[], Iterable[bytes]] | None = None

    @classmethod
    def load(
        cls,
        values: Path,
        registry: Path,
        policy: Path | None = None,
        carried: Path | None = None,
        attribution: Path | None = None,
    ) -> MappingInputs:
        """Read and validate the input files (``InputError`` names the file and field).

        The attribution record, when given, is read when settle publishes it.
        """
        return cls(
            load_values(values),
            load_registry(registry),
            load_policy(policy) if policy is not None else None,
            load_carried(carried) if carried is not None else None,
            record_chunks(attribution) if attribution is not None else None,
        )

    @property
    def epoch(self) -> int:
        """The values' epoch."""
        return self.values.epoch

    def manifest(self) -> Manifest:
        """``map_epoch`` of these inputs."""
        return map_epoch(self.values, self.registry, self.policy, carried=self.carried)

    def documents(self) -> dict[str, bytes]:
        """Each input's canonical form, as published beside the manifest."""
        return {name: b"".join(chunks) for name, chunks in self.document_chunks().items()}

    def document_chunks(self) -> dict[str, Iterable[bytes]]:
        """:meth:`documents` in chunks (the registry one asset a chunk), made as they are read."""
        return {
            "values": (canonical_json(self.values.canonical()),),
            "registry": self.registry.iter_canonical_json(),
            "policy": (canonical_json((self.policy or Policy()).canonical()),),
            "carried": (canonical_json((self.carried or CarriedLedger()).canonical()),),
        }


@dataclass(frozen=True)
class SettleResult:
    """What ``settle`` did for one epoch.

    Attributes:
        resumed: What an earlier run had left and this one reconciled, in order.
        carried_from: The epoch whose carried ledger was used, when taken from the state.
    """

    epoch: int
    manifest_uri: str
    manifest_hash: str
    root: str
    pool: int
    leaf_count: int
    token: str
    header: EpochHeader
    propose_tx: str | None
    approve_tx: str | None = None
    carried_from: int | None = None
    resumed: list[str] = field(default_factory=list)


@contextmanager
def _epoch_lock(directory: Path, key: EpochKey) -> Iterator[None]:
    # One settle per epoch at a time: a second process waits rather than racing the first.
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"settle-{key.chain_id}-{key.settlement.lower()}-{key.epoch}.lock"
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def settle_epoch(ws: Workspace, inputs: MappingInputs, *, token: str | None = None) -> SettleResult:
    """Map, publish, build the tree, fund and propose one epoch; resume whatever a crash left.

    Args:
        ws: The workspace; needs a signing account with the operator role.
        inputs: The epoch's mapping inputs.
        token: ERC-20 pool token; ETH when None.

    Raises:
        StateError: The epoch is already settled or proposed with a different manifest.
        WorkflowError: Nobody reaches the minimum payout (nothing to propose).
        SettlementError: The contract refused the proposal (e.g. no operator role).
    """
    ws.signer()  # fail before any work when no account was given
    key = ws.key(inputs.epoch)
    token_address = checked_address(token, "token") if token else ZERO_ADDRESS
    with _epoch_lock(ws.state.directory, key), contextlib.ExitStack() as spooled:
        carried_from = None
        if inputs.carried is None:
            previous = ws.state.previous_epoch(key)
            if previous is not None:
                carried_from = previous.key.epoch
                inputs = replace(
                    inputs, carried=parse_carried(json.loads(previous.manifest), source="state")
                )
                ws.progress.step(f"carrying balances from epoch {carried_from}")
        ws.progress.step(f"mapping epoch {key.epoch}")
        manifest = inputs.manifest()
        if not manifest.leaves:
            raise WorkflowError(
                f"epoch {key.epoch}: no account reaches the minimum payout, so there is nothing "
                "to propose; carry the balances into the next epoch: its carried ledger is the "
                "manifest these inputs map to"
            )
        ws.progress.step(f"building the tree of {len(manifest.leaves):,} leaves")
        tree = ws.client.epoch_tree(key.epoch, manifest.leaves)
        _check_own_tree(tree)
        with ws.progress.bar(f"epoch {key.epoch}: writing proofs", len(tree.leaves)) as advance:
            manifest, proof_files = spooled.enter_context(
                spool_epoch_proofs(manifest, tree, token_address, advance=advance)
            )
        record = None
        if inputs.attribution is not None:
            ws.progress.step(f"epoch {key.epoch}: checking the attribution record")
            manifest, record = spooled.enter_context(
                spool_record(manifest, inputs.attribution, inputs.values, inputs.registry)
            )
        # Serialised once, hashed as it is written; published and recorded from the spool.
        written = spooled.enter_context(spool(manifest.iter_json_bytes()))
        manifest_hash = written.keccak
        folder = epoch_folder(key.chain_id, key.settlement, key.epoch)
        uri = published_uri(ws.publish_dir, ws.base_uri, folder / MANIFEST_NAME)
        # Before anything is written: never overwrite what an earlier proposal published,
        # and never publish an epoch that cannot be funded.
        proposed = _refuse_conflicts(ws, key, tree, manifest_hash, uri, token_address)
        if not proposed and ws.state.sent_tx(key) is None:
            _check_funds(ws, key, tree, token_address)
        ws.progress.step(f"publishing the manifest ({written.size:,} bytes)")
        for name, document in inputs.document_chunks().items():
            publish(ws.publish_dir, ws.base_uri, folder / f"{name}.json", document)
        for name, chunks in proof_files():  # one proofs.json, or shards then their index
            publish(ws.publish_dir, ws.base_uri, folder / name, chunks)
        if record is not None:
            publish(ws.publish_dir, ws.base_uri, folder / ATTRIBUTION_NAME, record())
        publish(ws.publish_dir, ws.base_uri, folder / MANIFEST_NAME, written.chunks())
        row = ws.state.epoch(key)
        if row is None or (row.manifest_hash, row.manifest_uri, row.token) != (
            manifest_hash,
            uri,
            token_address,
        ):
            ws.state.save_epoch(
                key,
                manifest=written,
                manifest_hash=manifest_hash,
                manifest_uri=uri,
                token=token_address,
                root=tree.root,
                pool=tree.pool,
                leaf_count=len(tree.leaves),
                # The tree is rebuilt from the manifest's leaves when needed: its dump (a
                # third of a gigabyte at a million leaves) is not kept, only what names it.
                tree={"format": FORMAT, "leafEncoding": list(LEAF_ENCODING), "root": tree.root},
            )
        proposal = _propose(ws, key, tree, token_address, manifest_hash, uri)
        ws.state.set_header(key, proposal.header)
        return SettleResult(
            epoch=key.epoch,
            manifest_uri=uri,
            manifest_hash=manifest_hash,
            root=tree.root,
            pool=tree.pool,
            leaf_count=len(tree.leaves),
            token=token_address,
            header=proposal.header,
            propose_tx=proposal.propose_tx,
            approve_tx=proposal.approve_tx,
            carried_from=carried_from,
            resumed=proposal.resumed,
        )


def _refuse_conflicts(
    ws: Workspace, key: EpochKey, tree: EpochTree, manifest_hash: str, uri: str, token: str
) -> bool:
    """Refuse inputs that differ from what was signed or proposed; whether it is on-chain already."""
    row = ws.state.epoch(key)
    if row is not None and (row.manifest_hash, row.manifest_uri, row.token) != (
        manifest_hash,
        uri,
        token,
    ):
        sent = ws.state.sent_tx(key)
        if sent is not None:
            raise StateError(
                f"epoch {key.epoch}: transaction {sent} was already signed for it with manifest "
                f"{row.manifest_hash} ({row.manifest_uri}); these inputs give {manifest_hash}"
            )
    onchain = ws.client.header_of(key.epoch, ws.from_block)
    if onchain is not None:
        _same_proposal(key, onchain, tree.root, manifest_hash, token)
    return onchain is not None


def _check_funds(ws: Workspace, key: EpochKey, tree: EpochTree, token: str) -> None:
    """Refuse an epoch the operator cannot fund: the pool (ETH or token) and the bond in ETH."""
    sender = ws.signer().address
    bond = ws.client.operator_bond()
    eth_needed = bond + (tree.pool if token == ZERO_ADDRESS else 0)
    with chain_errors():
        eth = int(ws.chain.w3.eth.get_balance(sender))  # type: ignore[arg-type]
    if eth < eth_needed:
        show = TokenUnits(ZERO_ADDRESS, "ETH", 18).format
        pool = f"pool of {show(tree.pool)} and the " if token == ZERO_ADDRESS else ""
        raise WorkflowError(
            f"epoch {key.epoch}: {sender} holds {show(eth)} ({eth} wei); the "
            + ("pool and bond need" if token == ZERO_ADDRESS else "bond needs")
            + f" {show(eth_needed)} ({pool}operator bond of {show(bond)}), plus gas: fund "
            f"{sender} with the difference"
        )
    if token != ZERO_ADDRESS:
        erc20 = ws.chain.w3.eth.contract(address=token, abi=load_artifact("IERC20").abi)  # type: ignore[call-overload]
        with chain_errors():
            held = int(erc20.functions.balanceOf(sender).call())
        if held < tree.pool:
            raise WorkflowError(
                f"epoch {key.epoch}: {sender} holds {held} of token {token}; the pool needs "
                f"{tree.pool}"
            )


def _same_proposal(
    key: EpochKey, onchain: tuple[EpochHeader, str], root: str, manifest_hash: str, token: str
) -> None:
    header, published = onchain
    if (header.root, header.manifest_hash, header.token) != (root, manifest_hash, token):
        raise StateError(
            f"epoch {key.epoch} is already proposed on-chain with root {header.root}, "
            f"manifest {header.manifest_hash} ({published}), token {header.token}; these "
            f"inputs give root {root}, manifest {manifest_hash}, token {token}"
        )


def _check_own_tree(tree: EpochTree) -> None:
    provisional = EpochHeader(
        epoch=tree.epoch,
        root=tree.root,
        token=ZERO_ADDRESS,
        pool=tree.pool,
        leaf_count=len(tree.leaves),
        challenge_end=0,
        operator=ZERO_ADDRESS,
        bond=0,
        manifest_hash="0x" + "00" * 32,
    )
    if tree.pool > MAX_POOL:
        raise WorkflowError(
            f"epoch {tree.epoch}: the pool of {tree.pool} exceeds the contract's limit of "
            f"2^128 - 1 token units; refusing to propose"
        )
    faults = find_faults(provisional, tree.leaves)
    if faults:
        raise WorkflowError(
            f"epoch {tree.epoch}: the manifest's leaves break the contract's rules "
            f"({faults[0].kind.name} at leaves {list(faults[0].positions)}); refusing to propose"
        )


@dataclass(frozen=True)
class _Proposal:
    header: EpochHeader
    propose_tx: str | None
    approve_tx: str | None
    resumed: list[str]


def _propose(
    ws: Workspace, key: EpochKey, tree: EpochTree, token: str, manifest_hash: str, uri: str
) -> _Proposal:
    sender = ws.signer()
    resumed: list[str] = []
    approve_tx = None
    if token != ZERO_ADDRESS:
        approved = sender.resume(key, "approve")
        if approved is not None:
            approve_tx = approved.tx_hash
            resumed.append(f"approve {approved.tx_hash} mined")
    proposed = sender.resume(key, "propose")
    if proposed is not None:
        resumed.append(f"propose {proposed.tx_hash} mined")
        return _Proposal(ws.client.proposed_header(proposed), proposed.tx_hash, approve_tx, resumed)
    onchain = ws.client.header_of(key.epoch, ws.from_block)
    if onchain is not None:
        _same_proposal(key, onchain, tree.root, manifest_hash, token)
        resumed.append("proposal found on-chain")
        return _Proposal(onchain[0], None, approve_tx, resumed)
    if token != ZERO_ADDRESS:
        approve_tx = _fund(ws, key, tree, token) or approve_tx
    ws.progress.step(f"proposing epoch {key.epoch} (pool {tree.pool}, bond included)")
    with sender.recording(key, "propose", {"root": tree.root}):
        proposal = ws.client.with_transactor(sender).propose_tree(
            tree, token=token, manifest_hash=manifest_hash, manifest_uri=uri
        )
    return _Proposal(proposal.header, proposal.tx.tx_hash, approve_tx, resumed)


def _fund(ws: Workspace, key: EpochKey, tree: EpochTree, token: str) -> str | None:
    sender = ws.signer()
    erc20 = ws.chain.w3.eth.contract(
        address=to_checksum_address(token), abi=load_artifact("IERC20").abi
    )
    with chain_errors():
        allowance = int(erc20.functions.allowance(sender.address, ws.client.address).call())
    if allowance >= tree.pool:
        log.info("allowance %d already covers the pool %d", allowance, tree.pool)
        return None
    with chain_errors():
        balance = int(erc20.functions.balanceOf(sender.address).call())
    if balance < tree.pool:
        raise WorkflowError(
            f"epoch {key.epoch}: {sender.address} holds {balance} of token {token}; "
            f"the pool needs {tree.pool}"
        )
    ws.progress.step(f"approving {tree.pool} of token {token}")
    with sender.recording(key, "approve"):
        return sender.send(erc20.functions.approve(ws.client.address, tree.pool)).tx_hash
