"""What an address is owed, epoch by epoch, from public data only: no key, no operator state.

For each proposed epoch: the on-chain header and status, the published manifest (checked
against the committed ``manifestHash``), the account's leaf in it, and that leaf's proof.
The proof comes from the published proofs file (``ame.proofs/1``) when the manifest names
one, and is used only when the file has the SHA-256 the manifest records and the proof
leads from the leaf to the on-chain root; otherwise the file is refused, the reason kept
in :attr:`OwedEpoch.notes`, and the proof rebuilt from the manifest's leaves (which must
build the on-chain root). Whatever the published bytes hold, each epoch ends in an
answer: one that cannot be read is reported ``unreadable`` with the reason.

Timing comes from the chain: the challenge window ends at the header's ``challengeEnd``
(claims open once the epoch is finalised after it) and what is left can be swept from
``expiryOf``; "now" is the latest block's timestamp, so development chains moved forward
with ``ame chain advance`` answer in their own time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from eth_utils.address import to_checksum_address

from ame.workflow._epochs import find_header, manifest_bytes
from ame.workflow._proof_shards import (
    INDEX_NAME,
    find_account_leaf,
    read_account_proofs,
    sharded,
)
from ame.workflow._proofs import EpochProofs
from ame.workflow._publish import fetch, keccak_hex, sibling_uri
from ame.workflow._workspace import Workspace
from ame.workflow.exceptions import FetchError
from ame_chain._addresses import checked_address
from ame_chain.contracts import load_artifact
from ame_chain.errors import chain_errors
from ame_chain.exceptions import ChainError
from ame_chain.leaves import EpochHeader, PayoutLeaf
from ame_core.canonical import sha256_hex
from ame_core.documents import parse_json
from ame_core.exceptions import AmeError
from offchain.mapping import Manifest, parse_manifest, parse_registry

__all__ = [
    "OwedEpoch",
    "TokenUnits",
    "format_date",
    "format_duration",
    "owed_epochs",
    "token_units",
]

#: What an epoch means for the account (:attr:`OwedEpoch.state`).
STATES: Final = (
    "not owed",
    "in challenge window",
    "disputed",
    "awaiting finalisation",
    "claimable",
    "claimed",
    "voided",
    "expired",
    "unreadable",
)
_SYMBOL = re.compile(r"^[A-Za-z0-9$._+-]{1,16}$")


@dataclass(frozen=True)
class TokenUnits:
    """How an epoch's token is shown: its symbol and decimals (read from the chain)."""

    token: str
    symbol: str
    decimals: int

    def format(self, amount: int) -> str:
        """``amount`` base units as an exact decimal with the symbol, e.g. ``0.2 ETH``."""
        whole, part = divmod(amount, 10**self.decimals)
        text = str(whole)
        if part:
            text += "." + str(part).rjust(self.decimals, "0").rstrip("0")
        return f"{text} {self.symbol}"

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"token": self.token, "symbol": self.symbol, "decimals": self.decimals}


@dataclass(frozen=True)
class OwedEpoch:
    """One epoch as an account sees it.

    Attributes:
        state: One of :data:`STATES`.
        amount: Token base units the account's leaf pays (0 when not owed).
        claimable_from: When the challenge window ends (Unix time, UTC); claims open
            once the epoch is finalised after it.
        sweepable_from: When what is left may be swept (claim before then).
        now: The latest block's timestamp, against which the state was decided.
        proof_source: ``proofs file`` or ``manifest`` (rebuilt), or ``""`` with no leaf.
        names: The account's names in the epoch's published registry.
        notes: What was refused or could not be read, and why.
    """

    epoch: int
    account: str
    status: str
    state: str
    amount: int
    units: TokenUnits
    claimable_from: int
    sweepable_from: int | None
    now: int
    claimed: bool
    header: EpochHeader
    leaf: PayoutLeaf | None = None
    proof: tuple[str, ...] = ()
    proof_source: str = ""
    names: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def claimable_from_date(self) -> str:
        """When the challenge window ends, as a UTC date."""
        return format_date(self.claimable_from)

    def message(self) -> str:
        """One sentence for people: what the account is owed in this epoch, and when."""
        owed = f"owed {self.units.format(self.amount)} in epoch {self.epoch}"
        window_end = format_date(self.claimable_from)
        left = format_duration(self.claimable_from - self.now)
        if self.state == "in challenge window":
            return f"{owed}, claimable after {window_end} (in {left}), once finalised"
        if self.state == "disputed":
            return f"{owed}, claimable once its open disputes are resolved and it is finalised"
        if self.state == "awaiting finalisation":
            return (
                f"{owed}, claimable once finalised: its challenge window ended {window_end}; "
                f"anyone can run `ame finalize {self.epoch}`"
            )
        if self.state == "claimable":
            until = ""
            if self.sweepable_from is not None:
                until = f"; claim before {format_date(self.sweepable_from)}, when what is left may be swept"
            return f"{owed}, claimable now{until}"
        if self.state == "claimed":
            return f"{owed}: claimed"
        if self.state == "voided":
            return f"epoch {self.epoch} was voided ({self.status}): it pays nobody"
        if self.state == "expired":
            return f"{owed}, unclaimed: the epoch expired and what was left was swept"
        if self.state == "unreadable":
            return f"epoch {self.epoch}: cannot tell: {'; '.join(self.notes)}"
        return f"nothing owed in epoch {self.epoch}"

    def to_json(self) -> dict[str, Any]:
        """JSON form; amounts as decimal strings, times as Unix seconds and ISO dates."""
        leaf = None if self.leaf is None else self.leaf.to_json()
        return {
            "epoch": self.epoch,
            "account": self.account,
            "status": self.status,
            "state": self.state,
            "amount": str(self.amount),
            "amountFormatted": self.units.format(self.amount),
            "units": self.units.to_json(),
            "claimableFrom": self.claimable_from,
            "claimableFromDate": format_date(self.claimable_from),
            "secondsLeft": max(0, self.claimable_from - self.now),
            "sweepableFrom": self.sweepable_from,
            "now": self.now,
            "claimed": self.claimed,
            "header": self.header.to_json(),
            "leaf": leaf,
            "proof": list(self.proof),
            "proofSource": self.proof_source,
            "names": list(self.names),
            "notes": list(self.notes),
            "message": self.message(),
        }


def format_duration(seconds: int) -> str:
    """``seconds`` for people: ``2d 3h``, ``59m 12s``; ``0s`` when past."""
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def format_date(timestamp: int) -> str:
    """A Unix time for people: ``2026-12-07 16:25:56 UTC``; past year 9999, the number."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a header's uint256 past year 9999
        return f"Unix time {timestamp}"


def owed_epochs(ws: Workspace, account: str, epochs: Sequence[int] = ()) -> list[OwedEpoch]:
    """What ``account`` is owed in every proposed epoch (or only ``epochs``).

    Args:
        ws: A workspace; no signing account is needed.
        account: The contributor's address.
        epochs: Only these epochs; each must have been proposed.

    Returns:
        One :class:`OwedEpoch` per epoch, in epoch order, those not owing the account
        included (state ``not owed``).

    Raises:
        InputError: ``account`` is not an address.
        WorkflowError: A named epoch was never proposed.
        ChainError: The node cannot be reached or answers wrongly.
    """
    wanted = checked_address(account, "account")
    proposed = ws.client.proposed_headers(ws.from_block)
    chosen = sorted(set(epochs)) if epochs else sorted(proposed)
    for epoch in chosen:
        if epoch not in proposed:
            find_header(ws, epoch)  # raises WorkflowError naming the epoch
    with chain_errors():
        now = int(ws.chain.w3.eth.get_block("latest")["timestamp"])
    units: dict[str, TokenUnits] = {}
    out = []
    for epoch in chosen:
        header, uri = proposed[epoch]
        if header.token not in units:
            units[header.token] = token_units(ws, header)
        out.append(_owed_in(ws, wanted, header, uri, now, units[header.token]))
    return out


def token_units(ws: Workspace, header: EpochHeader) -> TokenUnits:
    """ETH (18 decimals), or the ERC-20's ``symbol()`` and ``decimals()``.

    A token that does not answer them, or answers nonsense, is shown in base units
    under its address: the amount is exact either way.
    """
    if header.is_eth:
        return TokenUnits(header.token, "ETH", 18)
    erc20 = ws.chain.w3.eth.contract(address=header.token, abi=load_artifact("IERC20Metadata").abi)  # type: ignore[call-overload]
    try:
        with chain_errors():
            symbol = erc20.functions.symbol().call()
            decimals = int(erc20.functions.decimals().call())
    except AmeError:
        return TokenUnits(header.token, f"units of {header.token}", 0)
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol) or not 0 <= decimals <= 36:
        return TokenUnits(header.token, f"units of {header.token}", 0)
    return TokenUnits(header.token, symbol, decimals)


def _owed_in(
    ws: Workspace, account: str, header: EpochHeader, uri: str, now: int, units: TokenUnits
) -> OwedEpoch:
    epoch = header.epoch
    state = ws.client.epoch_state(epoch)
    sweepable = ws.client.expiry_of(header) if state["status"] == "Finalized" else None
    base = OwedEpoch(
        epoch=epoch,
        account=account,
        status=state["status"],
        state="not owed",
        amount=0,
        units=units,
        claimable_from=header.challenge_end,
        sweepable_from=sweepable,
        now=now,
        claimed=False,
        header=header,
    )
    notes: list[str] = []
    if sharded(header.leaf_count):
        # A large epoch: the index and the account's shard, not the manifest (330 MB at a
        # million leaves), as the claim page reads it; the manifest only if that fails.
        try:
            found_leaf = find_account_leaf(
                uri, header, ws.client.address, ws.client.chain_id, account,
                policy=ws.fetch_policy,
            )  # fmt: skip
        except (AmeError, RecursionError) as err:
            if isinstance(err, ChainError):
                raise
            found_leaf = None
            notes.append(f"the published proofs shard was refused ({err}); read the manifest")
        if found_leaf is not None:
            claimed = ws.client.is_claimed(epoch, found_leaf.leaf.index)
            return _replace(
                base,
                state=_state(state, header, now, claimed),
                amount=int(found_leaf.leaf.amount),
                claimed=claimed,
                leaf=found_leaf.leaf,
                proof=found_leaf.proof,
                proof_source="proofs file",
            )
    try:
        manifest = _manifest(ws, header, uri)
    except (AmeError, RecursionError) as err:
        if isinstance(err, ChainError):
            raise
        return _replace(base, state="unreadable", notes=(*notes, str(err)))
    leaf = next((leaf for leaf in manifest.leaves if leaf.account == account), None)
    if leaf is None:
        return _replace(base, notes=tuple(notes))
    found = _published_proof(ws, header, uri, manifest, leaf, notes)
    if found is not None:
        proof, source = found, "proofs file"
    else:
        try:
            proof, source = _rebuilt_proof(ws, header, manifest, leaf), "manifest"
        except AmeError as err:
            if isinstance(err, ChainError):
                raise
            return _replace(base, state="unreadable", notes=(*notes, str(err)))
    claimed = ws.client.is_claimed(epoch, leaf.index)
    return _replace(
        base,
        state=_state(state, header, now, claimed),
        amount=int(leaf.amount),
        claimed=claimed,
        leaf=leaf,
        proof=proof,
        proof_source=source,
        names=_names(ws, manifest, uri, account),
        notes=tuple(notes),
    )


def _replace(base: OwedEpoch, **changes: Any) -> OwedEpoch:
    return replace(base, **changes)


def _state(state: dict[str, Any], header: EpochHeader, now: int, claimed: bool) -> str:
    status = state["status"]
    if status in ("Voided", "Refunded"):
        return "voided"
    if claimed:
        return "claimed"
    if status == "Swept":
        return "expired"
    if status == "Finalized":
        return "claimable"
    if state["openDisputes"]:
        return "disputed"
    if now < header.challenge_end:
        return "in challenge window"
    return "awaiting finalisation"


def _manifest(ws: Workspace, header: EpochHeader, uri: str) -> Manifest:
    data = manifest_bytes(ws, header, uri)
    found = keccak_hex(data)
    if found != header.manifest_hash:
        raise FetchError(
            f"the manifest at {uri} hashes to {found}, not the committed {header.manifest_hash}"
        )
    return parse_manifest(data, source=uri)


def _published_proof(
    ws: Workspace,
    header: EpochHeader,
    uri: str,
    manifest: Manifest,
    leaf: PayoutLeaf,
    notes: list[str],
) -> tuple[str, ...] | None:
    """The leaf's proof from the proofs file, or None (the reason in ``notes``) if refused."""
    if manifest.proofs is None:
        return None
    where = sibling_uri(uri, manifest.proofs.uri)
    entry = None
    try:
        proofs: EpochProofs | None = None
        if manifest.proofs.uri == INDEX_NAME:
            # A large epoch: the index, then only the shard of this account (both checked).
            proofs = read_account_proofs(
                where, manifest.proofs.sha256, leaf.account, policy=ws.fetch_policy
            )
            reason = "" if proofs is not None else f"the index names no shard of {leaf.account}"
        else:
            data = fetch(where, policy=ws.fetch_policy)
            digest = sha256_hex(data)
            if digest != manifest.proofs.sha256:
                reason = f"it hashes to {digest}, not the manifest's {manifest.proofs.sha256}"
            else:
                proofs = EpochProofs.parse(data, source=where)
        if proofs is not None:
            reason = proofs.verify(leaf.account, header, ws.client.address, ws.client.chain_id)
            entry = proofs.claims.get(leaf.account)
            if not reason and entry is not None and entry.leaf != leaf:
                reason = f"its leaf {entry.leaf.to_json()} is not the manifest's {leaf.to_json()}"
    except (AmeError, RecursionError) as err:
        reason = str(err)
    if reason or entry is None:
        notes.append(
            f"the published proofs file {where} was refused ({reason}); the proof was "
            "rebuilt from the manifest"
        )
        return None
    return entry.proof


def _rebuilt_proof(
    ws: Workspace, header: EpochHeader, manifest: Manifest, leaf: PayoutLeaf
) -> tuple[str, ...]:
    tree = ws.client.epoch_tree(header.epoch, manifest.leaves)
    if tree.root != header.root:
        raise FetchError(
            f"the manifest's leaves build root {tree.root}, not the committed {header.root}; "
            f"run `ame audit {header.epoch}`"
        )
    return tuple(tree.proof(tree.leaves.index(leaf)))


def _names(ws: Workspace, manifest: Manifest, uri: str, account: str) -> tuple[str, ...]:
    """The account's names in the registry published beside the manifest, if it is the one mapped."""
    where = sibling_uri(uri, "registry.json")
    try:
        registry = parse_registry(
            parse_json(fetch(where, policy=ws.fetch_policy), source=where, unique_keys=True),
            source=where,
        )
    except (AmeError, RecursionError):
        return ()  # names are for people; an unreadable registry costs only them
    if registry.digest() != manifest.inputs.registry.sha256:
        return ()
    names = {
        owner.name
        for asset in registry.assets
        for owner in asset.owners
        if owner.name and to_checksum_address(owner.address) == account
    }
    return tuple(sorted(names))
