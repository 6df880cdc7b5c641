"""The rights registry (``ame.registry/1``): assets, owners, licences, derivations, opt-outs.

The file format is documented in ``docs/registry.md``. Everything is validated here,
before any value is mapped: per-asset rules in :class:`Asset`, graph rules (unique
ids, dangling parents, cycles, royalty stacks) in :class:`Registry`. Every message
names the asset id and the field.

A registry of a million owners spent most of its parsing in pydantic, one validator call
per owner and per owner field. :func:`parse_registry` therefore first tries a fast path:
each asset's own fields still go through the :class:`Asset` model (one call an asset),
its owners through a loop over the parsed JSON calling the very field parsers the model
uses (:func:`~offchain.mapping._types.parse_address`, ``parse_share`` once per distinct
share text), and then the model's own checks. The fast path takes only documents of the
plain form a JSON or YAML file gives (dicts, lists, strings); anything else, and anything
it finds wrong, goes to the models, so every error message is the models' own and the
fast path accepts exactly what they accept (a seeded property test compares the two).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Mapping
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple, TypeVar, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from ame_core.canonical import canonical_json
from ame_core.documents import read_document
from ame_core.validation import show_value
from offchain.exceptions import RegistryError
from offchain.mapping._errors import format_validation_error
from offchain.mapping._gc import paused_gc
from offchain.mapping._graph import find_cycle, parents_first
from offchain.mapping._types import (
    Address,
    AssetId,
    AssetKind,
    Day,
    Share,
    Use,
    addresses_checked_once,
    all_checksummed,
    exact_sum,
    format_fraction,
    parse_share,
)

__all__ = [
    "REGISTRY_FORMAT",
    "Asset",
    "Licence",
    "Owner",
    "Parent",
    "Registry",
    "RoyaltyMode",
    "Signals",
    "load_registry",
    "parse_registry",
]

REGISTRY_FORMAT: Final = "ame.registry/1"

RoyaltyMode = Literal["LAP", "LRP"]
"""Story Protocol's two royalty semantics: absolute per path, or relative multiplicative."""

Relation = Literal["trained_on", "fine_tuned_from", "derived_from", "distilled_from", "merged_from"]
Permission = Literal["allowed", "notAllowed", "constrained"]

_TRAINING_USES: tuple[Use, ...] = ("ai_generative_training", "ai_training")
_MINING_USES: tuple[Use, ...] = ("ai_generative_training", "ai_training", "data_mining")

_ASSET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,255}")
_CONTENT_HASH = re.compile(r"(sha256|sha3-256|keccak256|blake3):[0-9a-f]{64}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")


def _asset_id(raw: object) -> AssetId:
    if not isinstance(raw, str) or not _ASSET_ID.fullmatch(raw):
        raise ValueError(
            f"{show_value(raw)} is not an asset id (1-256 characters: letters, digits and ._:/@+-, "
            "starting with a letter or digit)"
        )
    return AssetId(raw)


def _content_hash(raw: object) -> str:
    if not isinstance(raw, str) or not _CONTENT_HASH.fullmatch(raw):
        raise ValueError(
            f"{show_value(raw)} is not a content hash: write '<algorithm>:<64 lowercase hex>' with "
            "algorithm sha256, sha3-256, keccak256 or blake3"
        )
    return raw


def _uri(raw: object) -> str:
    if not isinstance(raw, str) or not _URI.fullmatch(raw):
        raise ValueError(f"{show_value(raw)} is not a URI (scheme:rest, no spaces)")
    return raw


AssetIdField = Annotated[AssetId, PlainValidator(_asset_id)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Owner(NamedTuple):
    """A holder of part of an asset's rights, paid at ``address``.

    A validated tuple, not a model: a registry of a million owners held them as pydantic
    models at some 500 bytes each, as tuples at a fifth of that. Pydantic still
    validates each field (and refuses unknown ones) when a registry is parsed.

    Attributes:
        address: EIP-55 checksummed payout address.
        share: Exact part of the asset's revenue, ``0 < share <= 1``.
        name: Optional label for people reading the registry.
    """

    address: Address
    share: Share
    name: str | None = None


def _owner_object(raw: object) -> object:
    # A tuple validates from a list too; a registry writes each owner as an object.
    if not isinstance(raw, Mapping | Owner):
        raise ValueError(f"{show_value(raw)} is not an owner (an object with address and share)")
    return raw


OwnerField = Annotated[Owner, BeforeValidator(_owner_object)]


class Licence(_Model):
    """Terms under which an asset may be used.

    Attributes:
        commercial_use: Whether the asset may earn from commercial events.
        derivatives_allowed: Whether assets may be derived from it.
        attribution_required: Whether uses must credit it (listed in the manifest).
        expires: Last day (inclusive, UTC) the licence covers; ``None`` for never.
    """

    commercial_use: StrictBool
    derivatives_allowed: StrictBool
    attribution_required: StrictBool = False
    expires: Day | None = None


class Parent(_Model):
    """A derivation edge: this asset derives from ``asset`` and owes it ``royalty``.

    Attributes:
        asset: The parent asset's id.
        relation: How the child came from the parent.
        royalty: Exact share of the child's revenue owed to this parent.
    """

    asset: AssetIdField
    relation: Relation
    royalty: Share


class Signals(_Model):
    """Opt-out and reservation signals attached to an asset's content.

    Attributes:
        tdm_reservation: Text-and-data-mining rights reserved (EU DSM Art. 4(3),
            TDMRep ``tdm-reservation: 1``); refuses mining and training.
        do_not_train: A do-not-train request; refuses training uses.
        training_mining: Entries of a C2PA/CAWG training-and-data-mining assertion,
            use name (without the ``c2pa.``/``cawg.`` prefix) to permission.
    """

    tdm_reservation: StrictBool = False
    do_not_train: StrictBool = False
    training_mining: dict[Use, Permission] = Field(default_factory=dict)

    def refused(self) -> dict[Use, str]:
        """Map each refused use to the signal that refuses it (first signal wins).

        ``constrained`` is not a refusal: the registry's licence is the constraint.
        """
        refused: dict[Use, str] = {}
        if self.tdm_reservation:
            for use in _MINING_USES:
                refused.setdefault(use, "tdm_reservation")
        if self.do_not_train:
            for use in _TRAINING_USES:
                refused.setdefault(use, "do_not_train")
        for use, permission in sorted(self.training_mining.items()):
            if permission == "notAllowed":
                refused.setdefault(use, "training_mining")
        return refused


class Asset(_Model):
    """One asset of the registry with its owners, licence, parents and signals."""

    id: AssetIdField
    kind: AssetKind
    content_hash: Annotated[str, PlainValidator(_content_hash)]
    uri: Annotated[str, PlainValidator(_uri)]
    owners: tuple[OwnerField, ...] = Field(min_length=1)
    licence: Licence
    parents: tuple[Parent, ...] = ()
    signals: Signals = Field(default_factory=Signals)

    @model_validator(mode="after")
    def _check_owners_and_parents(self) -> Asset:
        return self._owner_and_parent_rules()

    def _owner_and_parent_rules(self) -> Asset:
        # A method of its own: the registry's fast path applies the rules too.
        seen: dict[str, int] = {}
        for i, owner in enumerate(self.owners):
            if owner.share.numerator == 0:
                raise ValueError(f"owners[{i}].share: must be greater than 0")
            if owner.address in seen:
                raise ValueError(
                    f"owners[{i}].address: {owner.address} is already owners[{seen[owner.address]}]"
                )
            seen[owner.address] = i
        total = exact_sum(owner.share for owner in self.owners)
        if total.numerator != total.denominator:
            raise ValueError(f"owners: shares sum to {format_fraction(total)}, must be exactly 1")
        if not self.parents:
            return self
        parents: dict[str, int] = {}
        for i, parent in enumerate(self.parents):
            if parent.asset == self.id:
                raise ValueError(f"parents[{i}].asset: an asset cannot derive from itself")
            if parent.asset in parents:
                raise ValueError(
                    f"parents[{i}].asset: {parent.asset!r} is already parents[{parents[parent.asset]}]"
                )
            parents[parent.asset] = i
        stack = exact_sum(parent.royalty for parent in self.parents)
        if stack.numerator > stack.denominator:
            raise ValueError(
                f"parents: royalties owed to parents sum to {_percent(stack)}, over 100%"
            )
        return self

    @cached_property
    def owner_weights(self) -> tuple[tuple[Owner, ...], tuple[int, ...], tuple[int, ...], int]:
        """Owners sorted by address, their addresses as integers, share numerators, denominator.

        What the owner split of a payout needs, computed once per asset.
        """
        owners = tuple(sorted(self.owners, key=lambda o: int(o.address, 16)))
        unit = math.lcm(*(o.share.denominator for o in owners))
        return (
            owners,
            tuple(int(o.address, 16) for o in owners),
            tuple(o.share.numerator * (unit // o.share.denominator) for o in owners),
            unit,
        )

    def canonical(self) -> dict[str, Any]:
        """The asset as a canonical JSON document (owners and parents sorted)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "content_hash": self.content_hash,
            "uri": self.uri,
            "owners": [
                {"address": o.address, "share": format_fraction(o.share), "name": o.name}
                for o in self.owner_weights[0]
            ],
            "licence": {
                "commercial_use": self.licence.commercial_use,
                "derivatives_allowed": self.licence.derivatives_allowed,
                "attribution_required": self.licence.attribution_required,
                "expires": None
                if self.licence.expires is None
                else self.licence.expires.isoformat(),
            },
            "parents": [
                {"asset": p.asset, "relation": p.relation, "royalty": format_fraction(p.royalty)}
                for p in sorted(self.parents, key=lambda p: p.asset)
            ],
            "signals": {
                "tdm_reservation": self.signals.tdm_reservation,
                "do_not_train": self.signals.do_not_train,
                "training_mining": dict(sorted(self.signals.training_mining.items())),
            },
        }


def _percent(value: Fraction) -> str:
    percent = value * 100
    text = format_fraction(percent) if percent.denominator != 1 else str(percent.numerator)
    return f"{text}%"


class Registry(_Model):
    """A whole rights registry: versioned, validated, order-independent.

    Attributes:
        format: Always ``'ame.registry/1'``.
        revision: The registry's own revision number, recorded in manifests.
        royalty_mode: ``'LAP'`` or ``'LRP'``, how royalties flow up the DAG.
        assets: Every asset, in any order.
    """

    format: Literal["ame.registry/1"]
    revision: StrictInt = Field(ge=0)
    royalty_mode: RoyaltyMode
    assets: tuple[Asset, ...]

    @model_validator(mode="after")
    def _check_graph(self) -> Registry:
        return self._graph_rules()

    def _graph_rules(self) -> Registry:
        # A method of its own: the fast path applies the rules too.
        first: dict[str, int] = {}
        problems: list[str] = []
        for i, asset in enumerate(self.assets):
            if asset.id in first:
                problems.append(
                    f"asset {asset.id!r} (assets[{i}]): id: already assets[{first[asset.id]}]"
                )
            first.setdefault(asset.id, i)
        for asset in sorted(self.assets, key=lambda a: a.id):
            for j, parent in enumerate(asset.parents):
                if parent.asset not in first:
                    problems.append(
                        f"asset {asset.id!r}: parents[{j}].asset: unknown asset {parent.asset!r}"
                    )
        if problems:
            raise ValueError("\n  ".join(problems))
        cycle = find_cycle(self.parent_ids)
        if cycle is not None:
            raise ValueError(f"asset {cycle[0]!r}: parents: derivation cycle {' -> '.join(cycle)}")
        if self.royalty_mode == "LAP":
            # Story's LAP stack: each parent's own stack plus the royalty owed to it,
            # in integers over the lcm of every royalty's denominator.
            unit = math.lcm(1, *(p.royalty.denominator for a in self.assets for p in a.parents))
            stacks: dict[AssetId, int] = {}
            by_id = self.by_id
            for asset_id in self.order:
                stack = 0
                for p in by_id[asset_id].parents:
                    n, d = p.royalty.as_integer_ratio()
                    stack += n * (unit // d) + stacks[p.asset]
                if stack > unit:
                    raise ValueError(
                        f"asset {asset_id!r}: parents: LAP royalty stack is "
                        f"{_percent(Fraction(stack, unit))} "
                        "(royalties owed once per path to every ancestor), over 100%"
                    )
                stacks[asset_id] = stack
        return self

    @cached_property
    def by_id(self) -> Mapping[AssetId, Asset]:
        """Assets by id."""
        return {asset.id: asset for asset in self.assets}

    @cached_property
    def parent_ids(self) -> Mapping[AssetId, tuple[AssetId, ...]]:
        """Each asset's parent ids, sorted."""
        return {a.id: tuple(sorted(p.asset for p in a.parents)) for a in self.assets}

    @cached_property
    def order(self) -> tuple[AssetId, ...]:
        """Every asset id, parents before children, ties by id."""
        return tuple(parents_first(self.parent_ids))

    def canonical(self) -> dict[str, Any]:
        """The registry as a canonical JSON document (assets sorted by id).

        Serialise a large one with :meth:`iter_canonical_json` (the same bytes).
        """
        return {
            "format": self.format,
            "revision": self.revision,
            "royalty_mode": self.royalty_mode,
            "assets": [a.canonical() for a in sorted(self.assets, key=lambda a: a.id)],
        }

    def iter_canonical_json(self) -> Iterator[bytes]:
        """``canonical_json(self.canonical())`` in consecutive chunks, one asset a chunk.

        A million owners' registry is some 80 MB of canonical bytes and, as one document
        of dicts, several times that: asset by asset, only one asset's document is held.
        """
        head = {
            "format": self.format,
            "revision": self.revision,
            "royalty_mode": self.royalty_mode,
            "assets": [],
        }
        before, after = canonical_json(head).split(b'"assets":[]', 1)
        yield before + b'"assets":['
        for i, asset in enumerate(sorted(self.assets, key=lambda a: a.id)):
            yield (b"," if i else b"") + canonical_json(asset.canonical())
        yield b"]" + after

    def digest(self) -> str:
        """SHA-256 of the canonical form: file layout, key and list order do not matter."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        # Cached: a registry is frozen, and hashing 100,000 assets takes a second.
        digest = hashlib.sha256()
        for chunk in self.iter_canonical_json():
            digest.update(chunk)
        return digest.hexdigest()


def parse_registry(data: object, *, source: str = "<registry>") -> Registry:
    """Validate a registry document already read into Python objects.

    Args:
        data: The parsed JSON/YAML document.
        source: Where it came from, for messages.

    Returns:
        The validated registry.

    Raises:
        RegistryError: If anything is malformed; the message lists each problem
            with the asset id and field.
    """
    if not isinstance(data, Mapping):
        raise RegistryError(f"{source}: the registry must be a mapping, got {type(data).__name__}")
    try:
        with paused_gc(), addresses_checked_once():
            return _fast_registry(data) or Registry.model_validate(data)
    except ValidationError as err:
        message = format_validation_error(err, data, source=source, groups={"assets": "asset"})
        raise RegistryError(message) from None


def load_registry(path: str | Path) -> Registry:
    """Read and validate a registry file (``.json``, ``.yaml`` or ``.yml``).

    Args:
        path: The registry file.

    Returns:
        The validated registry.

    Raises:
        InputError: If the file cannot be read or parsed.
        RegistryError: If the registry is malformed.
    """
    return parse_registry(read_document(path, unique_keys=True), source=str(path))


# An owner the placeholder stands for while the models check an asset's other fields.
_PLACEHOLDER_OWNERS: Final = (Owner(cast(Address, "0x" + "0" * 39 + "1"), Fraction(1)),)
_OWNER_KEYS: Final = frozenset(("address", "share", "name"))
_Validated = TypeVar("_Validated", Asset, Registry)


def _fast_registry(data: Mapping[Any, Any]) -> Registry | None:
    """The registry ``Registry.model_validate(data)`` gives, or None to let the models decide.

    None whenever the document is not of the plain form this handles or anything in it is
    wrong: the models then give the error (or, for a form this skips, the same registry).
    """
    assets = data.get("assets")
    if type(assets) is not list and type(assets) is not tuple:
        return None
    try:
        # The registry's own fields and the assets' non-owner fields through the models.
        head = Registry.model_validate({**data, "assets": ()})
        shares: dict[str, Fraction] = {}
        addresses: dict[str, Address] = {}
        checked = []
        for raw in assets:
            asset = _fast_asset(raw, shares, addresses)
            if asset is None:
                return None
            checked.append(asset)
        # Every distinct address at once (an EIP-55 checksum is a Keccak hash each).
        if not all_checksummed(list(addresses)):
            return None
        # Built afresh, not copied: the head's cached properties are of no assets.
        registry = _with(head, assets=tuple(checked))
        return registry._graph_rules()
    except (ValueError, TypeError):  # ValidationError is a ValueError
        return None


def _fast_asset(
    raw: object, shares: dict[str, Fraction], addresses: dict[str, Address]
) -> Asset | None:
    """:class:`Asset` of ``raw`` with its owners checked by hand, or None (see ``_fast_registry``).

    The owners' addresses are only collected in ``addresses`` (each string kept once, as
    :func:`~offchain.mapping._types.addresses_checked_once` keeps it); the caller checks them.

    Raises:
        ValueError: Something in the asset is wrong.
    """
    if type(raw) is not dict:
        return None
    owners = raw.get("owners")
    if type(owners) not in (list, tuple) or not owners:
        return None
    parsed = []
    for owner in owners:
        if type(owner) is not dict or not owner.keys() <= _OWNER_KEYS:
            return None
        address, share, name = owner.get("address"), owner.get("share"), owner.get("name")
        if type(address) is not str or share is None or not (name is None or type(name) is str):
            return None
        if type(share) is str:
            # The same few share texts (1/1000, 25%) repeat across a whole registry.
            fraction = shares.get(share)
            if fraction is None:
                fraction = shares[share] = parse_share(share)
        else:
            fraction = parse_share(share)
        parsed.append(Owner(addresses.setdefault(address, cast(Address, address)), fraction, name))
    asset = Asset.model_validate({**raw, "owners": _PLACEHOLDER_OWNERS})
    return _with(asset, owners=tuple(parsed))._owner_and_parent_rules()


def _with(model: _Validated, **fields: object) -> _Validated:
    """A new ``model`` with ``fields`` replaced, unvalidated; nothing cached carried over."""
    values = {name: getattr(model, name) for name in type(model).model_fields} | fields
    return type(model).model_construct(model.model_fields_set | fields.keys(), **values)
