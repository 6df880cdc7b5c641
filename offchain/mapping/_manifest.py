"""The allocation manifest (``ame.manifest/1``): what an auditor recomputes.

Layout and accounting identity are documented in ``docs/manifest.md``. The manifest
is canonical JSON (sorted keys, no spaces, no floats; token amounts, claims and
weights as decimal strings, since they exceed 2**53), so the same inputs give the
same bytes. :func:`verify_manifest` re-derives every number it can from the
manifest alone: claims from weights and splits, apportionments, owner splits,
account balances, carried ledger, leaves, and the conservation identity.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import IO, Annotated, Any, Final, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    TypeAdapter,
    ValidationError,
)

from ame_core.apportion import apportion
from ame_core.canonical import canonical_json
from ame_core.documents import iter_json_members, parse_json
from ame_core.exceptions import InputError
from offchain.exceptions import MappingError
from offchain.mapping._errors import format_validation_error
from offchain.mapping._flow import FlowLine, royalty_flow
from offchain.mapping._gc import paused_gc
from offchain.mapping._leaves import PayoutLeaf, chain_leaves
from offchain.mapping._policy import CarriedLedger, Policy
from offchain.mapping._registry import RoyaltyMode
from offchain.mapping._types import (
    Address,
    Amount,
    AssetId,
    Day,
    EventId,
    Share,
    TokenAmount,
    addresses_checked_once,
    exact_sum,
    format_fraction,
    parse_amount,
)

__all__ = [
    "MANIFEST_FORMAT",
    "AccountBalance",
    "AssetPayout",
    "EscrowEntry",
    "EventBreakdown",
    "EventLine",
    "InputDigest",
    "LineAction",
    "Manifest",
    "ManifestAttribution",
    "ManifestInputs",
    "ManifestProofs",
    "OwnerPayout",
    "RoyaltySplits",
    "Totals",
    "load_manifest",
    "parse_manifest",
    "read_manifest",
    "verify_manifest",
]

MANIFEST_FORMAT: Final = "ame.manifest/1"

LineAction = Literal["paid", "escrowed", "redistributed"]
"""What happened to an asset's claim in an event."""


Integer = Annotated[int, PlainValidator(parse_amount)]

# How canonical_json writes a string (json.dumps with ensure_ascii=False uses this encoder).
_string: Callable[[str], str] = json.encoder.encode_basestring
_CHUNK_ITEMS: Final = 4096
# Characters of a chunk past which it is yielded: an asset of many owners is a long item.
_CHUNK_CHARS: Final = 1 << 20


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EventLine(NamedTuple):
    """One asset's claim on one event's revenue, written ``[asset, claim, amount, action, reasons]``.

    Attributes:
        asset: The recipient asset (attributed directly, or an ancestor by royalty).
        claim: Numerator of its share of the revenue over the event's denominator.
        amount: Token units apportioned to it (0 when redistributed).
        action: ``paid``, ``escrowed`` or ``redistributed``.
        reasons: Why it was withheld (empty when paid).
    """

    asset: AssetId
    claim: Integer
    amount: Amount
    action: LineAction
    reasons: tuple[str, ...]


class EventBreakdown(NamedTuple):
    """Why each unit of one event's revenue went where it went.

    Attributes:
        id: The event id.
        revenue: Its revenue.
        commercial: Its commercial flag.
        date: Its date.
        weights: ``[asset, weight]``: the event's values scaled to integers by the
            least common multiple of their denominators.
        denominator: Sum of the claims apportioned (0 when nothing was attributed).
        lines: Every recipient asset with a positive claim, sorted by asset id.
        escrowed: Revenue of the event held in escrow.
    """

    id: EventId
    revenue: Amount
    commercial: StrictBool
    date: Day
    weights: tuple[tuple[AssetId, Integer], ...]
    denominator: Integer
    lines: tuple[EventLine, ...]
    escrowed: Amount


class OwnerPayout(NamedTuple):
    """An owner's part of an asset's epoch amount, written ``[account, share, amount]``."""

    account: Address
    share: Share
    amount: Amount


class AssetPayout(NamedTuple):
    """An asset's amount for the epoch (sum of its paid lines) and its owners' parts.

    Attributes:
        id: The asset id.
        amount: Sum of its ``paid`` event lines.
        attribution_required: Whether its licence requires credit.
        owners: Owner parts, apportioned by share (ties to the lower address).
    """

    id: AssetId
    amount: Amount
    attribution_required: StrictBool
    owners: tuple[OwnerPayout, ...]


class AccountBalance(NamedTuple):
    """One payout address across every event, asset and role.

    ``earned + carried_in == paid + carried_out``; ``paid`` is all of it once it
    reaches the minimum payout, else 0.
    """

    account: Address
    earned: Amount
    carried_in: Amount
    paid: Amount
    carried_out: Amount


class EscrowEntry(NamedTuple):
    """Revenue held for dispute: one withheld asset in one event, or an unattributed event.

    Attributes:
        event: The event id.
        asset: The withheld asset; ``None`` when the event had no attribution.
        amount: Units held.
        reasons: Why.
    """

    event: EventId
    asset: AssetId | None
    amount: Amount
    reasons: tuple[str, ...]


class Totals(_Model):
    """The epoch's accounting: ``revenue + carried_in == pool + carried_out + escrowed``."""

    revenue: Amount
    carried_in: Amount
    escrowed: Amount
    carried_out: Amount
    pool: Amount


class InputDigest(_Model):
    """SHA-256 of an input's canonical form, with what identifies it.

    Attributes:
        format: The input's format tag.
        sha256: Digest of its canonical JSON.
        epoch: The epoch (values and carried ledger).
        revision: The registry revision.
        scenario: The attribution scenario the values came from.
    """

    format: str
    sha256: str
    epoch: int | None = None
    revision: int | None = None
    scenario: dict[str, str] | None = None


class ManifestInputs(_Model):
    """Digests of every input."""

    values: InputDigest
    registry: InputDigest
    policy: InputDigest
    carried: InputDigest


class ManifestProofs(_Model):
    """The proofs file published beside the manifest, bound by its digest.

    Mapping knows no chain, so :func:`~offchain.mapping.map_epoch` never sets it: the
    operator's settle step does, once the epoch's tree is built for a chain and a
    contract, before the manifest's bytes are hashed and committed on-chain. A
    manifest without it has the bytes it always had.

    Attributes:
        uri: The file's name, resolved beside the manifest (a bare name, so a manifest
            cannot send a reader elsewhere).
        sha256: SHA-256 of the file's bytes (hex, no prefix).
    """

    uri: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ManifestAttribution(_Model):
    """The attribution record published beside the manifest, bound by its digest.

    The ``ame.attribution/1`` file (``docs/manifest.md``) from which every event's split
    of the values document can be recomputed exactly. Like
    :class:`ManifestProofs`, mapping never sets it: the settle step does when it is
    given the record, before the manifest's bytes are hashed. A manifest without it has
    the bytes it always had.

    Attributes:
        uri: The file's name, resolved beside the manifest.
        sha256: SHA-256 of the file's bytes (hex, no prefix).
    """

    uri: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class RoyaltySplits(_Model):
    """Royalty split of every attributed asset, numerators over one denominator."""

    denominator: Integer
    assets: dict[AssetId, tuple[tuple[AssetId, Integer], ...]]


class Manifest(_Model):
    """The allocation manifest of one epoch.

    Build it with :func:`~offchain.mapping.map_epoch`; write it with
    :meth:`to_json_bytes`; read it back with :func:`load_manifest`.
    """

    format: Literal["ame.manifest/1"]
    epoch: Annotated[int, Field(ge=0, strict=True)]
    inputs: ManifestInputs
    royalty_mode: RoyaltyMode
    policy: Policy
    splits: RoyaltySplits
    events: tuple[EventBreakdown, ...]
    assets: tuple[AssetPayout, ...]
    accounts: tuple[AccountBalance, ...]
    escrow: tuple[EscrowEntry, ...]
    carried: CarriedLedger
    totals: Totals
    leaves: tuple[PayoutLeaf, ...]
    proofs: ManifestProofs | None = None
    attribution: ManifestAttribution | None = None

    @cached_property
    def flow(self) -> tuple[FlowLine, ...]:
        """Which attributed asset created each unit each asset received (:mod:`._flow`).

        Traced from the manifest's own weights, royalty splits and lines, on first use
        (mapping and auditing never need it), so a manifest read back from its bytes
        gives the flow of the one :func:`~offchain.mapping.map_epoch` built. Not part
        of the JSON form.
        """
        return royalty_flow(self.events, self.splits.assets)

    @property
    def pool(self) -> TokenAmount:
        """Sum of the leaf amounts: what the settlement contract must hold for the epoch."""
        return self.totals.pool

    def to_document(self) -> dict[str, Any]:
        """The manifest as JSON-ready objects (no floats; big integers as strings)."""
        document = self._document()
        if self.proofs is not None:  # absent, not null: the bytes of a manifest without it
            document["proofs"] = self.proofs.model_dump()
        if self.attribution is not None:
            document["attribution"] = self.attribution.model_dump()
        return document

    def _document(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "epoch": self.epoch,
            "inputs": {
                name: getattr(self.inputs, name).model_dump(exclude_none=True)
                for name in ("carried", "policy", "registry", "values")
            },
            "royalty_mode": self.royalty_mode,
            "policy": self.policy.canonical(),
            "splits": {
                "denominator": str(self.splits.denominator),
                "assets": {
                    asset: [[to, str(n)] for to, n in shares]
                    for asset, shares in self.splits.assets.items()
                },
            },
            "events": [
                {
                    "id": e.id,
                    "revenue": str(e.revenue),
                    "commercial": e.commercial,
                    "date": e.date.isoformat(),
                    "weights": [[a, str(w)] for a, w in e.weights],
                    "denominator": str(e.denominator),
                    "lines": [
                        [ln.asset, str(ln.claim), str(ln.amount), ln.action, list(ln.reasons)]
                        for ln in e.lines
                    ],
                    "escrowed": str(e.escrowed),
                }
                for e in self.events
            ],
            "assets": [
                {
                    "id": a.id,
                    "amount": str(a.amount),
                    "attribution_required": a.attribution_required,
                    "owners": [
                        [o.account, format_fraction(o.share), str(o.amount)] for o in a.owners
                    ],
                }
                for a in self.assets
            ],
            "accounts": [
                {
                    "account": b.account,
                    "earned": str(b.earned),
                    "carried_in": str(b.carried_in),
                    "paid": str(b.paid),
                    "carried_out": str(b.carried_out),
                }
                for b in self.accounts
            ],
            "escrow": [
                {
                    "event": x.event,
                    "asset": x.asset,
                    "amount": str(x.amount),
                    "reasons": list(x.reasons),
                }
                for x in self.escrow
            ],
            "carried": self.carried.canonical(),
            "totals": {name: str(value) for name, value in self.totals},
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, ``,``/``:`` separators, UTF-8, no floats.

        :meth:`iter_json_bytes` joined: ``canonical_json(self.to_document())``.
        """
        return b"".join(self.iter_json_bytes())

    def iter_json_bytes(self, *, chunk_items: int = _CHUNK_ITEMS) -> Iterator[bytes]:
        """:meth:`to_json_bytes` in consecutive chunks, never the whole document at once.

        A million leaves make a manifest of a third of a gigabyte; as a document of dicts
        serialised by :func:`~ame_core.canonical.canonical_json` it took four times that
        in memory. Here the sections are written in canonical (sorted) key order, the
        small ones by ``canonical_json`` and the long lists (events, assets, accounts,
        escrow, leaves) item by item, ``chunk_items`` items (or a megabyte) a chunk, each item written
        as ``canonical_json`` writes it (strings through the same encoder). The bytes are
        the same (a seeded property test compares them on random epochs).

        Args:
            chunk_items: Items of a long list per yielded chunk.

        Yields:
            Consecutive pieces of the canonical bytes.
        """
        small = {
            "attribution": self.attribution.model_dump() if self.attribution else None,
            "carried": self.carried.canonical(),
            "epoch": self.epoch,
            "format": self.format,
            "inputs": {
                name: getattr(self.inputs, name).model_dump(exclude_none=True)
                for name in ("carried", "policy", "registry", "values")
            },
            "policy": self.policy.canonical(),
            "proofs": self.proofs.model_dump() if self.proofs else None,
            "royalty_mode": self.royalty_mode,
            "splits": {
                "denominator": str(self.splits.denominator),
                "assets": {
                    asset: [[to, str(n)] for to, n in shares]
                    for asset, shares in self.splits.assets.items()
                },
            },
            "totals": {name: str(value) for name, value in self.totals},
        }
        long: dict[str, tuple[Sequence[Any], Callable[[Any], str]]] = {
            "accounts": (self.accounts, _account_json),
            "assets": (self.assets, _asset_json),
            "escrow": (self.escrow, _escrow_json),
            "events": (self.events, _event_json),
            "leaves": (self.leaves, _leaf_json),
        }
        first = True
        for key in sorted((*small, *long)):
            if key in small and small[key] is None:
                continue  # absent, not null: the bytes of a manifest without it
            head = ("{" if first else ",") + _string(key) + ":"
            first = False
            if key in small:
                yield (head + canonical_json(small[key]).decode()).encode()
                continue
            items, write = long[key]
            if not items:
                yield (head + "[]").encode()
                continue
            with paused_gc():
                parts, length, lead = [], 0, head + "["
                for item in items:
                    text = write(item)
                    parts.append(text)
                    length += len(text)
                    if len(parts) == chunk_items or length >= _CHUNK_CHARS:
                        yield (lead + ",".join(parts)).encode()
                        parts, length, lead = [], 0, ","
                if parts:
                    yield (lead + ",".join(parts)).encode()
            yield b"]"
        yield b"}"

    def sha256(self) -> str:
        """SHA-256 of :meth:`to_json_bytes` (hex, no prefix)."""
        digest = hashlib.sha256()
        for chunk in self.iter_json_bytes():
            digest.update(chunk)
        return digest.hexdigest()


def _strings(values: Iterable[str]) -> str:
    return "[" + ",".join([_string(v) for v in values]) + "]"


def _account_json(b: AccountBalance) -> str:
    return (
        f'{{"account":{_string(b.account)},"carried_in":"{b.carried_in}",'
        f'"carried_out":"{b.carried_out}","earned":"{b.earned}","paid":"{b.paid}"}}'
    )


def _asset_json(a: AssetPayout) -> str:
    owners = ",".join(
        [f'[{_string(o.account)},"{format_fraction(o.share)}","{o.amount}"]' for o in a.owners]
    )
    return (
        f'{{"amount":"{a.amount}","attribution_required":{_bool(a.attribution_required)},'
        f'"id":{_string(a.id)},"owners":[{owners}]}}'
    )


def _escrow_json(x: EscrowEntry) -> str:
    asset = "null" if x.asset is None else _string(x.asset)
    return (
        f'{{"amount":"{x.amount}","asset":{asset},"event":{_string(x.event)},'
        f'"reasons":{_strings(x.reasons)}}}'
    )


def _event_json(e: EventBreakdown) -> str:
    lines = ",".join(
        [
            f'[{_string(ln.asset)},"{ln.claim}","{ln.amount}",{_string(ln.action)},'
            f"{_strings(ln.reasons)}]"
            for ln in e.lines
        ]
    )
    weights = ",".join([f'[{_string(a)},"{w}"]' for a, w in e.weights])
    return (
        f'{{"commercial":{_bool(e.commercial)},"date":"{e.date.isoformat()}",'
        f'"denominator":"{e.denominator}","escrowed":"{e.escrowed}","id":{_string(e.id)},'
        f'"lines":[{lines}],"revenue":"{e.revenue}","weights":[{weights}]}}'
    )


def _leaf_json(leaf: PayoutLeaf) -> str:
    return (
        f'{{"account":{_string(leaf.account)},"amount":"{leaf.amount}",'
        f'"amountBefore":"{leaf.amount_before}","index":{leaf.index}}}'
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def parse_manifest(data: object, *, source: str = "<manifest>") -> Manifest:
    """Validate a manifest document (parsed JSON, or its bytes).

    Args:
        data: The parsed JSON document, or the raw bytes/str of it.
        source: Where it came from, for messages.

    Returns:
        The manifest. Use :func:`verify_manifest` to check its arithmetic.

    Raises:
        InputError: If it is not a well-formed ``ame.manifest/1`` document.
    """
    if isinstance(data, bytes | str):
        data = parse_json(data, source=source, unique_keys=True)
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a manifest must be a JSON object")
    try:
        with paused_gc(), addresses_checked_once():
            return Manifest.model_validate(data)
    except ValidationError as err:
        raise InputError(
            format_validation_error(
                err, data, source=source, groups={"events": "event", "assets": "asset"}
            )
        ) from None


class _NotStreamedError(ValueError):
    """A manifest the section-by-section reader leaves to :func:`parse_manifest`."""


# The long lists, read and validated a chunk of items at a time, each by its field's type.
_LONG_SECTIONS: Final = ("accounts", "assets", "escrow", "events", "leaves")
_SECTION_ITEMS: Final[dict[str, TypeAdapter[tuple[Any, ...]]]] = {
    "accounts": TypeAdapter(tuple[AccountBalance, ...]),
    "assets": TypeAdapter(tuple[AssetPayout, ...]),
    "escrow": TypeAdapter(tuple[EscrowEntry, ...]),
    "events": TypeAdapter(tuple[EventBreakdown, ...]),
    "leaves": TypeAdapter(tuple[PayoutLeaf, ...]),
}


def read_manifest(file: IO[bytes], *, source: str = "<manifest>") -> Manifest:
    """Validate a manifest read from a binary file, section by section.

    :func:`parse_manifest` holds the whole document as JSON before validating it: some
    2 GB for the third of a gigabyte a million leaves make. Here the small sections are
    read whole and the long lists (events, assets, accounts, escrow, leaves) a chunk of
    items at a time (:func:`~ame_core.documents.iter_json_members`), each chunk
    validated by its field's type and its JSON dropped, so only the manifest itself is
    held. The rules are :func:`parse_manifest`'s (a seeded property test compares the
    two on good manifests and every kind of corruption); a document this reader does
    not accept (one that is not JSON, not a manifest, or one it does not read in one
    pass, such as a long list given as something else) is read again whole by
    :func:`parse_manifest`, which accepts or refuses it with its own message.

    Args:
        file: The manifest's bytes, read from the file's current position.
        source: Where it came from, for messages.

    Returns:
        The manifest, equal to what :func:`parse_manifest` gives for the same bytes.

    Raises:
        InputError: If it is not a well-formed ``ame.manifest/1`` document.
    """
    start = file.tell()
    try:
        return _read_sections(file, source)
    except ValueError:  # InputError, ValidationError, _NotStreamedError: the whole reading says why
        pass
    file.seek(start)
    return parse_manifest(file.read(), source=source)


def _read_sections(file: IO[bytes], source: str) -> Manifest:
    small: dict[str, Any] = {}
    long: dict[str, tuple[Any, ...]] = {}
    with paused_gc(), addresses_checked_once():
        for key, value in iter_json_members(file, source=source, arrays=_LONG_SECTIONS):
            if key not in _LONG_SECTIONS:
                small[key] = value
                continue
            if not isinstance(value, Iterator):  # not an array: parse_manifest names it
                raise _NotStreamedError(key)
            items: list[Any] = []
            for chunk in value:
                items.extend(_SECTION_ITEMS[key].validate_python(chunk))
            long[key] = tuple(items)
        if len(long) != len(_LONG_SECTIONS):
            raise _NotStreamedError("a long section is missing")
        # The small sections by the model itself (required fields, extra keys, literals),
        # the long ones, already validated by the same types, put in after.
        head = Manifest.model_validate({**small, **dict.fromkeys(_LONG_SECTIONS, ())})
        return head.model_copy(update=long)


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest file written by :meth:`Manifest.to_json_bytes`.

    Raises:
        InputError: If the file cannot be read or is not a valid manifest.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err}") from err
    return parse_manifest(parse_json(raw, source=str(path), unique_keys=True), source=str(path))


def _fail(message: str) -> MappingError:
    return MappingError(f"manifest does not add up: {message}")


def _check_event(event: EventBreakdown, splits: RoyaltySplits, withheld: str) -> None:
    where = f"event {event.id!r}"
    assets = [line.asset for line in event.lines]
    if assets != sorted(set(assets)):
        raise _fail(f"{where}: lines are not sorted by unique asset id")
    weighted = [asset for asset, _ in event.weights]
    if weighted != sorted(set(weighted)) or any(weight <= 0 for _, weight in event.weights):
        raise _fail(f"{where}: weights are not positive and sorted by unique asset id")
    expected: dict[AssetId, int] = defaultdict(int)
    for asset, weight in event.weights:
        if asset not in splits.assets:
            raise _fail(f"{where}: asset {asset!r} has a weight but no royalty split")
        for recipient, share in splits.assets[asset]:
            expected[recipient] += weight * share
    claims = {line.asset: line.claim for line in event.lines}
    if claims != {a: c for a, c in expected.items() if c}:
        raise _fail(f"{where}: claims differ from weights times royalty splits")
    if not event.lines:
        if event.denominator != 0 or event.escrowed != event.revenue:
            raise _fail(f"{where}: unattributed revenue must be escrowed whole")
        return
    shared = [line for line in event.lines if line.action != "redistributed"]
    for line in event.lines:
        if (line.action == "paid") == bool(line.reasons):
            raise _fail(
                f"{where}: asset {line.asset!r}: action {line.action} with reasons {line.reasons}"
            )
        if line.action == "redistributed" and (line.amount or withheld != "redistribute"):
            raise _fail(f"{where}: asset {line.asset!r}: redistributed line is wrong")
    if (
        withheld == "redistribute"
        and any(line.action == "escrowed" for line in shared)
        and (any(line.action == "paid" for line in shared) or len(shared) != len(event.lines))
    ):
        raise _fail(f"{where}: escrow under 'redistribute' only when no asset is eligible")
    denominator = sum(line.claim for line in shared)
    if denominator != event.denominator:
        raise _fail(
            f"{where}: denominator {event.denominator} != sum of shared claims {denominator}"
        )
    amounts = apportion(
        event.revenue, [line.claim for line in shared], [line.asset for line in shared], denominator
    )
    if amounts != [line.amount for line in shared]:
        raise _fail(f"{where}: amounts are not the largest-remainder apportionment")
    escrowed = sum(line.amount for line in shared if line.action == "escrowed")
    if escrowed != event.escrowed:
        raise _fail(f"{where}: escrowed {event.escrowed} != escrowed lines {escrowed}")


def verify_manifest(manifest: Manifest, *, carried: CarriedLedger | None = None) -> None:
    """Check every identity a manifest must satisfy, from the manifest alone.

    Recomputes claims from weights and royalty splits, each event's apportionment,
    each asset's owner split, each account's balance under the minimum payout, the
    carried ledger, the leaves' order and ``amountBefore``, and the conservation
    identity ``revenue + carried_in == pool + carried_out + escrowed``. Deriving
    weights from values and splits from the registry needs those inputs: recompute
    with :func:`~offchain.mapping.map_epoch` and compare bytes for that.

    Args:
        manifest: The manifest to check.
        carried: The carried ledger it was built from, to check ``carried_in``.

    Raises:
        MappingError: At the first identity that does not hold.
    """
    policy = manifest.policy
    ids = [e.id for e in manifest.events]
    if ids != sorted(set(ids)):
        raise _fail("events are not sorted by unique id")
    paid_by_asset: dict[AssetId, int] = defaultdict(int)
    escrow: list[tuple[EventId, AssetId | None, int, tuple[str, ...]]] = []
    for event in manifest.events:
        _check_event(event, manifest.splits, policy.withheld)
        if not event.lines and event.revenue:
            escrow.append((event.id, None, event.revenue, ("unattributed",)))
        for line in event.lines:
            if line.action == "paid":
                paid_by_asset[line.asset] += line.amount
            elif line.action == "escrowed" and line.amount:
                escrow.append((event.id, line.asset, line.amount, line.reasons))
    listed = [(x.event, x.asset, x.amount, x.reasons) for x in manifest.escrow]
    if listed != sorted(escrow, key=lambda x: (x[0], x[1] or "")):
        raise _fail("escrow entries differ from the escrowed event lines")
    if [a.id for a in manifest.assets] != sorted(paid_by_asset):
        raise _fail("assets are not exactly the sorted assets with paid lines")
    earned: dict[str, int] = defaultdict(int)
    for asset in manifest.assets:
        if asset.amount != paid_by_asset[asset.id]:
            raise _fail(
                f"asset {asset.id!r}: amount {asset.amount} != paid lines {paid_by_asset[asset.id]}"
            )
        accounts = [int(o.account, 16) for o in asset.owners]
        if accounts != sorted(set(accounts)) or exact_sum(o.share for o in asset.owners) != 1:
            raise _fail(
                f"asset {asset.id!r}: owners unsorted, repeated, or shares not summing to 1"
            )
        unit = math.lcm(*(o.share.denominator for o in asset.owners))
        weights = [o.share.numerator * (unit // o.share.denominator) for o in asset.owners]
        if apportion(asset.amount, weights, accounts, unit) != [o.amount for o in asset.owners]:
            raise _fail(f"asset {asset.id!r}: owner amounts are not the apportionment by share")
        for owner in asset.owners:
            earned[owner.account] += owner.amount
    carried_in = dict(carried.balances) if carried is not None else None
    balances = {b.account: b for b in manifest.accounts}
    if [int(b.account, 16) for b in manifest.accounts] != sorted({int(a, 16) for a in balances}):
        raise _fail("accounts are not sorted by address")
    expected_accounts = {a for a, v in earned.items() if v} | {
        b.account for b in manifest.accounts if b.carried_in
    }
    if set(balances) != expected_accounts:
        raise _fail("accounts are not exactly those with earnings or carried balances")
    if (
        carried_in is not None
        and {a: b.carried_in for a, b in balances.items() if b.carried_in} != carried_in
    ):
        raise _fail("carried_in differs from the carried ledger")
    for b in manifest.accounts:
        due = b.earned + b.carried_in
        paid = due if due >= policy.min_payout else 0
        if b.earned != earned.get(b.account, 0) or (b.paid, b.carried_out) != (paid, due - paid):
            raise _fail(f"account {b.account}: balance does not follow the minimum payout")
    if manifest.carried.epoch != manifest.epoch or manifest.carried.balances != {
        b.account: b.carried_out for b in manifest.accounts if b.carried_out
    }:
        raise _fail("carried ledger differs from the accounts' carried_out")
    payees = [(b.account, b.paid) for b in manifest.accounts if b.paid]
    if len(payees) != len(manifest.leaves):
        raise _fail("leaves are not one per paid account")
    for index, (leaf, expected) in enumerate(
        zip(manifest.leaves, chain_leaves(payees), strict=True)
    ):
        if leaf != expected:
            raise _fail(
                f"leaf {index} is not (index, account, amount, amountBefore) of account {expected.account}"
            )
    t = manifest.totals
    sums = (
        sum(e.revenue for e in manifest.events),
        sum(b.carried_in for b in manifest.accounts),
        sum(x.amount for x in manifest.escrow),
        sum(b.carried_out for b in manifest.accounts),
        sum(leaf.amount for leaf in manifest.leaves),
    )
    if (t.revenue, t.carried_in, t.escrowed, t.carried_out, t.pool) != sums:
        raise _fail(f"totals {t} differ from the sums of events, accounts, escrow and leaves")
    if t.revenue + t.carried_in != t.pool + t.carried_out + t.escrowed:
        raise _fail("revenue + carried_in != pool + carried_out + escrowed")
