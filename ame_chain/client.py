"""A client for everything the settlement contract does.

:class:`SettlementClient` wraps one deployed ``AmeSettlement``: deploy, propose (from a
payout list: leaves, tree, approval or value, proposal), prove fraud (from a published
leaf list: find the fault, build the proof, submit the cheapest), disputes, finalisation,
claims (one or many), refunds, sweeps, credit withdrawals, and reads of epochs, claimed
leaves and events. It builds every call the contract takes, ``propose`` included, and sends
through a :class:`~ame_chain.tx.Transactor`.

Failures surface as ours where they arise (:mod:`ame_chain.errors`): a revert as the
contract's own error, a node's unusable answer to a read as a
:class:`~ame_chain.exceptions.ChainError`; no web3 exception leaves the client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError
from web3.logs import DISCARD

from ame_chain._addresses import checked_address
from ame_chain._roles import ROLES, role_name
from ame_chain.contracts import load_artifact
from ame_chain.errors import chain_error, chain_errors, is_node_error
from ame_chain.exceptions import ChainError
from ame_chain.leaves import (
    ZERO_ADDRESS,
    EpochHeader,
    EpochTree,
    Fault,
    PayoutLeaf,
    build_leaves,
    find_faults,
)
from ame_chain.tx import Transactor, TxResult
from ame_core.exceptions import InputError


@cache
def _proposed_event_layout() -> tuple[str, list[str], list[str]]:
    """``EpochProposed``'s topic and its data fields' names and types, strings as ``bytes``."""
    (abi,) = (
        e
        for e in load_artifact("AmeSettlement").abi
        if e.get("type") == "event" and e["name"] == "EpochProposed"
    )
    data = [i for i in abi["inputs"] if not i["indexed"]]
    types = ["bytes" if i["type"] == "string" else i["type"] for i in data]
    topic = event_abi_to_log_topic(cast("ABIEvent", abi))
    return "0x" + topic.hex(), [i["name"] for i in data], types


__all__ = [
    "BOND_BURN_ADDRESS",
    "MAX_WINDOW",
    "EpochStatus",
    "ProposedEpoch",
    "SettlementClient",
    "SettlementConfig",
    "forfeited_bond_split",
]

#: ``AmeSettlement.BOND_BURN_ADDRESS``: credited the burned half of a forfeited operator bond.
BOND_BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"
#: ``AmeSettlement.MAX_WINDOW``: the longest window or claim period a deployment accepts (seconds).
MAX_WINDOW = 3650 * 86400


def forfeited_bond_split(bond: int) -> tuple[int, int]:
    """How the contract splits a forfeited operator bond: ``(to the prover, burned)``.

    Whoever proves a fault (or wins an upheld dispute) is credited half, rounded down; the
    rest is credited to :data:`BOND_BURN_ADDRESS`, so an operator that proves its own fraud
    first still loses at least half its bond.
    """
    return bond // 2, bond - bond // 2


#: ``IAmeSettlement.EpochStatus`` by number.
EpochStatus = ("Proposed", "Finalized", "Voided", "Refunded", "Swept")
DisputeStatus = ("None", "Open", "Upheld", "Rejected", "Dismissed")


@dataclass(frozen=True)
class SettlementConfig:
    """Deployment parameters: windows in seconds, bonds in wei."""

    challenge_window: int = 3600
    dispute_window: int = 3 * 86400
    claim_period: int = 180 * 86400
    operator_bond: int = 10**17
    dispute_bond: int = 10**16

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """The contract's ``Config`` struct."""
        return (
            self.challenge_window,
            self.dispute_window,
            self.claim_period,
            self.operator_bond,
            self.dispute_bond,
        )


@dataclass(frozen=True)
class ProposedEpoch:
    """An epoch this client proposed: its header (for every later call), tree and transaction."""

    header: EpochHeader
    tree: EpochTree
    tx: TxResult


def _role_id(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role: {role!r} is not one of {', '.join(sorted(ROLES))}")
    return ROLES[role]


def _bytes32(value: str | bytes, field: str) -> bytes:
    raw = value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise InputError(f"{field}: expected 32 bytes, got {len(raw)}")
    return raw


class SettlementClient:
    """One deployed settlement contract, and optionally an account to act with.

    Args:
        w3: The connected chain.
        address: The contract's address.
        transactor: Signs and sends; needed for every call that changes state.
    """

    def __init__(self, w3: Web3, address: str, transactor: Transactor | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.transactor = transactor
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=load_artifact("AmeSettlement").abi
        )
        with chain_errors():
            self.chain_id: int = w3.eth.chain_id

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        transactor: Transactor,
        *,
        config: SettlementConfig | None = None,
        admin: str | None = None,
        sweep_recipient: str | None = None,
    ) -> tuple[SettlementClient, TxResult]:
        """Deploy a settlement contract; the transactor's account is admin and sweep recipient by default."""
        artifact = load_artifact("AmeSettlement")
        factory = transactor.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        result = transactor.send(
            factory.constructor(
                admin or transactor.address,
                (config or SettlementConfig()).as_tuple(),
                sweep_recipient or transactor.address,
            )
        )
        address = result.receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deployment {result.tx_hash} created no contract")
        return cls(transactor.w3, address, transactor), result

    def with_transactor(self, transactor: Transactor) -> SettlementClient:
        """The same contract, acting as another account."""
        return SettlementClient(self.w3, self.address, transactor)

    def _send(self, call: Any, *, value: int = 0) -> TxResult:
        if self.transactor is None:
            raise InputError("this client has no signing account: pass a Transactor")
        return self.transactor.send(call, value=value)

    def _read(self, call: Any) -> Any:
        """The result of the view ``call``, with web3's failures translated."""
        with chain_errors():
            return call.call()

    def _logs(self, name: str, from_block: int, **filters: Any) -> list[Any]:
        """The decoded logs of event ``name`` (``filters`` on its indexed arguments)."""
        event = getattr(self.contract.events, name)()
        with chain_errors():
            return list(event.get_logs(argument_filters=filters or None, from_block=from_block))

    def _proposals(self, from_block: int, epoch: int | None = None) -> list[dict[str, Any]]:
        """The arguments of the ``EpochProposed`` events, oldest first, the URI read leniently.

        The manifest URI is whatever bytes the proposer's calldata held. Decoded as a
        ``string`` (web3's way) invalid UTF-8 raises, and an auditor would be left with
        no header to dispute; ``string`` and ``bytes`` share one ABI encoding, so the
        event's data is decoded with the URI as ``bytes`` and the text is made with
        backslash escapes for what is not UTF-8 (the URI is not part of the header).
        """
        topic, names, types = _proposed_event_layout()
        topics: list[Any] = [topic]
        if epoch is not None:
            topics.append("0x" + epoch.to_bytes(32, "big").hex())
        query: Any = {"address": self.address, "fromBlock": from_block, "topics": topics}
        with chain_errors():
            logs = self.w3.eth.get_logs(query)
        out: list[dict[str, Any]] = []
        for log in logs:
            args = dict(zip(names, abi_decode(types, bytes(log["data"])), strict=True))
            args["epoch"] = int.from_bytes(bytes(log["topics"][1]), "big")
            args["operator"] = to_checksum_address(bytes(log["topics"][2])[-20:])
            args["token"] = to_checksum_address(args["token"])
            args["manifestURI"] = args["manifestURI"].decode("utf-8", "backslashreplace")
            out.append(args)
        return out

    def is_settlement(self) -> bool:
        """Whether the address holds an ``AmeSettlement``: one cheap view every one has answers.

        Raises:
            ChainError: The node failed (an error answer, no answer), rather than the contract.
        """
        try:
            self.contract.functions.CLAIM_PERIOD().call()
        except ChainError:
            raise
        except Web3RPCError as err:
            raise chain_error(err) from err
        except Exception as err:  # reverted or returned nothing: web3's or eth-tester's account
            if not is_node_error(err):
                raise
            return False
        return True

    def grant_role(self, role: str, account: str) -> TxResult:
        """Grant ``role`` (``OPERATOR_ROLE``, ``ARBITER_ROLE``, ``GUARDIAN_ROLE`` or ``DEFAULT_ADMIN_ROLE``).

        Raises:
            InputError: ``role`` is not one of those, or ``account`` is not an address.
            SettlementError: The sender lacks ``DEFAULT_ADMIN_ROLE`` (``AccessControlUnauthorizedAccount``).
        """
        role_id, address = _role_id(role), checked_address(account, "account")
        return self._send(self.contract.functions.grantRole(role_id, address))

    def revoke_role(self, role: str, account: str) -> TxResult:
        """Revoke ``role`` from ``account`` (an admin's call; a no-op if it does not hold it).

        Raises:
            InputError: ``role`` is not a role name, or ``account`` is not an address.
            SettlementError: The sender lacks ``DEFAULT_ADMIN_ROLE``.
        """
        role_id, address = _role_id(role), checked_address(account, "account")
        return self._send(self.contract.functions.revokeRole(role_id, address))

    def has_role(self, role: str, account: str) -> bool:
        """Whether ``account`` holds ``role`` now."""
        role_id, address = _role_id(role), checked_address(account, "account")
        return bool(self._read(self.contract.functions.hasRole(role_id, address)))

    def role_members(self, from_block: int = 0) -> dict[str, list[str]]:
        """Who holds each role now: every account a ``RoleGranted`` event named, still holding it.

        AccessControl keeps no list of members, so the candidates come from the events
        (from ``from_block``, the deployment block when known) and each is checked with
        ``hasRole``: a revoked or renounced role is not listed.

        Returns:
            Role name -> holders, in the order they were first granted it; every role present.
        """
        members: dict[str, list[str]] = {name: [] for name in ROLES}
        for event in self._logs("RoleGranted", from_block):
            name = role_name(bytes(event["args"]["role"]))
            account = to_checksum_address(event["args"]["account"])
            if name is not None and account not in members[name]:
                members[name].append(account)
        return {
            name: [a for a in accounts if self.has_role(name, a)]
            for name, accounts in members.items()
        }

    # ------------------------------------------------------------------ configuration

    def config(self) -> SettlementConfig:
        """The deployment parameters."""
        f = self.contract.functions
        return SettlementConfig(
            challenge_window=self._read(f.CHALLENGE_WINDOW()),
            dispute_window=self._read(f.DISPUTE_WINDOW()),
            claim_period=self._read(f.CLAIM_PERIOD()),
            operator_bond=self._read(f.OPERATOR_BOND()),
            dispute_bond=self._read(f.DISPUTE_BOND()),
        )

    def operator_bond(self) -> int:
        """The bond an operator posts with each proposal, in wei."""
        return int(self._read(self.contract.functions.OPERATOR_BOND()))

    # ------------------------------------------------------------------ proposal

    def epoch_tree(self, epoch: int, leaves: Sequence[PayoutLeaf]) -> EpochTree:
        """The tree of ``leaves`` for ``epoch`` of this contract on this chain."""
        return EpochTree(self.chain_id, self.address, epoch, leaves)

    def propose(
        self,
        epoch: int,
        payouts: Mapping[str, int] | Iterable[tuple[str, int]] | Sequence[PayoutLeaf],
        *,
        token: str | None = None,
        manifest_hash: str | bytes = b"\x00" * 32,
        manifest_uri: str = "",
        pool: int | None = None,
    ) -> ProposedEpoch:
        """Build the epoch's leaves and tree, fund it and propose it.

        Args:
            epoch: The epoch number (unused so far on this contract).
            payouts: ``account -> amount`` (token units), or leaves already built.
            token: ERC-20 address; ETH when omitted. ERC-20 pools are approved first.
            manifest_hash: keccak256 of the allocation manifest auditors will check.
            manifest_uri: Where the manifest is published.
            pool: The pool declared; the leaves' sum when omitted (see :meth:`propose_call`).
        """
        if isinstance(payouts, Sequence) and payouts and isinstance(payouts[0], PayoutLeaf):
            leaves = list(payouts)
        else:
            leaves = build_leaves(payouts)  # type: ignore[arg-type]
        tree = self.epoch_tree(epoch, leaves)
        token_address = to_checksum_address(token or ZERO_ADDRESS)
        if token_address != ZERO_ADDRESS:
            erc20 = self.w3.eth.contract(address=token_address, abi=load_artifact("IERC20").abi)
            self._send(erc20.functions.approve(self.address, tree.pool if pool is None else pool))
        return self.propose_tree(
            tree, token=token, manifest_hash=manifest_hash, manifest_uri=manifest_uri, pool=pool
        )

    def propose_tree(
        self,
        tree: EpochTree,
        *,
        token: str | None = None,
        manifest_hash: str | bytes = b"\x00" * 32,
        manifest_uri: str = "",
        pool: int | None = None,
    ) -> ProposedEpoch:
        """Propose an epoch whose tree is built, sending the pool (ETH) and the bond.

        ERC-20 pools must be approved first (the operator workflow checks the allowance and
        records the approval as its own step). Arguments as for :meth:`propose_call`.
        """
        call, value = self.propose_call(
            tree, token=token, manifest_hash=manifest_hash, manifest_uri=manifest_uri, pool=pool
        )
        result = self._send(call, value=value)
        return ProposedEpoch(self.proposed_header(result), tree, result)

    def propose_call(
        self,
        tree: EpochTree,
        *,
        token: str | None = None,
        manifest_hash: str | bytes = b"\x00" * 32,
        manifest_uri: str = "",
        pool: int | None = None,
    ) -> tuple[Any, int]:
        """The unsent ``propose`` call for ``tree`` and the value it must carry (pool + bond, or bond).

        The one place the call is built; :meth:`propose` and :meth:`propose_tree` send it.

        Args:
            tree: The epoch's tree (its epoch, root and leaf count go into the call).
            token: ERC-20 address; ETH when omitted.
            manifest_hash: keccak256 of the allocation manifest.
            manifest_uri: Where the manifest is published.
            pool: The pool declared, the leaves' sum when omitted. Another value is what a
                cheating operator declares (the demos' fraud proofs catch it): the contract
                only learns the leaves from the proofs.
        """
        token_address = to_checksum_address(token or ZERO_ADDRESS)
        declared = tree.pool if pool is None else pool
        bond = self.operator_bond()
        value = declared + bond if token_address == ZERO_ADDRESS else bond
        call = self.contract.functions.propose(
            tree.epoch,
            _bytes32(tree.root, "root"),
            token_address,
            declared,
            len(tree.leaves),
            _bytes32(manifest_hash, "manifest_hash"),
            manifest_uri,
        )
        return call, value

    def proposed_header(self, tx: TxResult) -> EpochHeader:
        """The header of the epoch that ``tx``, a mined ``propose``, proposed.

        Raises:
            ChainError: ``tx`` emitted no ``EpochProposed`` event of this contract.
        """
        events = self.contract.events.EpochProposed().process_receipt(tx.receipt, errors=DISCARD)
        if len(events) != 1:
            raise ChainError(f"transaction {tx.tx_hash} proposed no epoch on {self.address}")
        return EpochHeader.from_event(events[0]["args"])

    def finalize(self, header: EpochHeader) -> TxResult:
        """Make the epoch claimable (after its window, with no open dispute)."""
        return self._send(self.contract.functions.finalize(header.as_tuple()))

    # ------------------------------------------------------------------ fraud and disputes

    def find_faults(self, header: EpochHeader, tree: EpochTree) -> list[Fault]:
        """Faults provable on-chain in ``tree``, the published leaves of the epoch ``header`` commits to.

        Build ``tree`` with :meth:`epoch_tree` from the leaves as published (faults and all).

        Raises:
            InputError: The tree is not the one the epoch committed to.
        """
        if (tree.chain_id, tree.settlement, tree.epoch) != (
            self.chain_id,
            self.address,
            header.epoch,
        ):
            raise InputError(
                f"tree: built for chain {tree.chain_id}, contract {tree.settlement}, epoch {tree.epoch}; "
                f"expected chain {self.chain_id}, contract {self.address}, epoch {header.epoch}"
            )
        if tree.root != header.root:
            raise InputError(
                f"leaves: they build root {tree.root}, but epoch {header.epoch} committed to {header.root}"
            )
        return find_faults(header, tree.leaves)

    def prove_fraud(
        self, header: EpochHeader, tree: EpochTree, fault: Fault | None = None
    ) -> tuple[Fault, TxResult]:
        """Prove a fault of the epoch on-chain: ``fault``, or the cheapest one found in ``tree``.

        Raises:
            InputError: The tree does not match the epoch, or shows no provable fault.
        """
        if fault is None:
            faults = self.find_faults(header, tree)
            if not faults:
                raise InputError(f"leaves: epoch {header.epoch} shows no fault provable on-chain")
            fault = faults[0]  # single-leaf faults come first: the cheaper proof
        leaves = tree.leaves
        f = self.contract.functions
        if fault.is_single:
            (p,) = fault.positions
            call = f.proveLeafFraud(header.as_tuple(), leaves[p].as_tuple(), tree.proof(p))
        else:
            p, q = fault.positions
            call = f.provePairFraud(
                header.as_tuple(),
                leaves[p].as_tuple(),
                tree.proof(p),
                leaves[q].as_tuple(),
                tree.proof(q),
            )
        return fault, self._send(call)

    def open_dispute(
        self, header: EpochHeader, evidence_hash: str | bytes, evidence_uri: str
    ) -> tuple[int, TxResult]:
        """Open a dispute with the evidence's hash and URI; returns the dispute id."""
        bond = int(self._read(self.contract.functions.DISPUTE_BOND()))
        result = self._send(
            self.contract.functions.openDispute(
                header.as_tuple(), _bytes32(evidence_hash, "evidence_hash"), evidence_uri
            ),
            value=bond,
        )
        (event,) = self.contract.events.DisputeOpened().process_receipt(
            result.receipt, errors=DISCARD
        )
        return int(event["args"]["disputeId"]), result

    def resolve_dispute(self, header: EpochHeader, dispute_id: int, *, upheld: bool) -> TxResult:
        """The arbiter's verdict on a dispute."""
        return self._send(
            self.contract.functions.resolveDispute(header.as_tuple(), dispute_id, upheld)
        )

    def dismiss_dispute(self, header: EpochHeader, dispute_id: int) -> TxResult:
        """Close a dispute left past its deadline, or one on a voided epoch."""
        return self._send(self.contract.functions.dismissDispute(header.as_tuple(), dispute_id))

    # ------------------------------------------------------------------ claims and money out

    def claim(self, header: EpochHeader, tree: EpochTree, position: int) -> TxResult:
        """Claim ``tree.leaves[position]`` (paid to the leaf's account, whoever sends this)."""
        leaf = tree.leaves[position]
        return self._send(
            self.contract.functions.claim(header.as_tuple(), leaf.as_tuple(), tree.proof(position))
        )

    def claim_many(self, items: Sequence[tuple[EpochHeader, EpochTree, int]]) -> TxResult:
        """Claim many leaves, across accounts and epochs, in one transaction.

        Args:
            items: ``(header, tree, position)`` for each leaf to pay.
        """
        if not items:
            raise InputError("items: nothing to claim")
        headers = sorted({h.epoch: h for h, _, _ in items}.values(), key=lambda h: h.epoch)
        slot = {h.epoch: i for i, h in enumerate(headers)}
        claims = [
            (slot[header.epoch], tree.leaves[p].as_tuple(), tree.proof(p))
            for header, tree, p in items
        ]
        return self._send(
            self.contract.functions.claimMany([h.as_tuple() for h in headers], claims)
        )

    def refund(self, header: EpochHeader) -> TxResult:
        """Send a voided epoch's pool back to its operator."""
        return self._send(self.contract.functions.refund(header.as_tuple()))

    def sweep(self, header: EpochHeader) -> TxResult:
        """Send what is left of an expired epoch to the sweep recipient."""
        return self._send(self.contract.functions.sweep(header.as_tuple()))

    def withdraw_credits(self, to: str | None = None) -> TxResult:
        """Withdraw the sending account's ETH credit to ``to`` (itself by default)."""
        if self.transactor is None:
            raise InputError("this client has no signing account: pass a Transactor")
        recipient = checked_address(to, "to") if to else self.transactor.address
        return self._send(self.contract.functions.withdrawCredits(recipient))

    # ------------------------------------------------------------------ reads

    def status(self, epoch: int) -> str:
        """The epoch's status name (``Proposed``, ``Finalized``, ``Voided``, ``Refunded``, ``Swept``)."""
        return EpochStatus[self._read(self.contract.functions.epochStatus(epoch))]

    def epoch_state(self, epoch: int) -> dict[str, Any]:
        """Status, unclaimed remainder, open disputes and disputes ever opened."""
        status, remaining, open_disputes, dispute_count = self._read(
            self.contract.functions.epochState(epoch)
        )
        return {
            "status": EpochStatus[status],
            "remaining": int(remaining),
            "openDisputes": int(open_disputes),
            "disputeCount": int(dispute_count),
        }

    def is_claimed(self, epoch: int, index: int) -> bool:
        """Whether leaf ``index`` of ``epoch`` has been paid."""
        return bool(self._read(self.contract.functions.isClaimed(epoch, index)))

    def credit_of(self, account: str) -> int:
        """ETH credited to ``account``, not yet withdrawn."""
        return int(self._read(self.contract.functions.creditOf(to_checksum_address(account))))

    def expiry_of(self, header: EpochHeader) -> int:
        """When what is left of the epoch can be swept (a timestamp), as the contract says now.

        ``challengeEnd + disputeWindow + claimPeriod`` plus every second the contract has been
        paused since the epoch was proposed; while paused it moves with the clock, so read it
        again rather than computing it from the header.
        """
        return int(self._read(self.contract.functions.expiryOf(header.as_tuple())))

    def commitment_of(self, epoch: int) -> str:
        """The epoch's stored commitment (0x-hex; all zeros when never proposed)."""
        return "0x" + bytes(self._read(self.contract.functions.commitmentOf(epoch))).hex()

    def header_of(self, epoch: int, from_block: int = 0) -> tuple[EpochHeader, str] | None:
        """The header and manifest URI of ``epoch`` from its ``EpochProposed`` event; None if never proposed.

        Raises:
            ChainError: The event's header does not hash to the stored commitment.
        """
        commitment = self.commitment_of(epoch)
        if int(commitment, 16) == 0:
            return None
        for args in self._proposals(from_block, epoch):
            header = EpochHeader.from_event(args)
            if header.commitment() == commitment:
                return header, args["manifestURI"]
        raise ChainError(
            f"epoch {epoch}: no EpochProposed event from block {from_block} matches the stored "
            f"commitment {commitment}"
        )

    def dispute_of(self, epoch: int, dispute_id: int) -> dict[str, Any]:
        """A dispute's challenger, bond, deadline and status name."""
        challenger, bond, deadline, status = self._read(
            self.contract.functions.disputeOf(epoch, dispute_id)
        )
        return {
            "challenger": to_checksum_address(challenger),
            "bond": int(bond),
            "deadline": int(deadline),
            "status": DisputeStatus[status],
        }

    def proposed_headers(self, from_block: int = 0) -> dict[int, tuple[EpochHeader, str]]:
        """Every proposed epoch's header and manifest URI, from the ``EpochProposed`` events."""
        return {
            int(args["epoch"]): (EpochHeader.from_event(args), args["manifestURI"])
            for args in self._proposals(from_block)
        }

    def events(
        self, name: str, from_block: int = 0, *, epoch: int | None = None
    ) -> list[dict[str, Any]]:
        """The arguments of each event ``name`` this contract emitted, oldest first.

        Args:
            name: The event (``Claimed``, ``Swept``, ...).
            from_block: First block to read.
            epoch: Only the events of this epoch (for events that index it).
        """
        if getattr(self.contract.events, name, None) is None:
            raise InputError(f"event: the settlement contract has no event {name!r}")
        filters = {} if epoch is None else {"epoch": epoch}
        return [dict(e["args"]) for e in self._logs(name, from_block, **filters)]

    def leaf_hash(self, epoch: int, leaf: PayoutLeaf) -> str:
        """The contract's own hash of ``leaf`` in ``epoch`` (0x-hex), to compare with ours."""
        return (
            "0x" + bytes(self._read(self.contract.functions.leafHash(epoch, leaf.as_tuple()))).hex()
        )
