"""Mapping policy (``ame.policy/1``) and the ledger of carried balances (``ame.carried/1``).

The policy says what happens to value an asset may not receive (``escrow`` it or
``redistribute`` it), the minimum payout, and which uses each kind of asset is put
to (what its opt-out signals are checked against). The carried ledger holds the
balances below the minimum payout, per account, from one epoch to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    ValidationError,
    field_validator,
)

from ame_core.canonical import canonical_json, sha256_hex
from ame_core.documents import read_document
from ame_core.exceptions import InputError
from offchain.mapping._errors import format_validation_error
from offchain.mapping._types import (
    Amount,
    AssetKind,
    ChecksumAddress,
    TokenAmount,
    Use,
    parse_address,
    parse_amount,
)

__all__ = [
    "CARRIED_FORMAT",
    "DEFAULT_USES",
    "POLICY_FORMAT",
    "CarriedLedger",
    "Policy",
    "WithheldPolicy",
    "load_carried",
    "load_policy",
    "parse_carried",
    "parse_policy",
]

POLICY_FORMAT: Final = "ame.policy/1"
CARRIED_FORMAT: Final = "ame.carried/1"

WithheldPolicy = Literal["escrow", "redistribute"]
"""What happens to value an asset may not receive in an event."""

DEFAULT_USES: Mapping[AssetKind, tuple[Use, ...]] = {
    # A dataset creates value by being mined and trained on; models, adapters and
    # prompts by being run. An unknown kind is checked against every use.
    "dataset": ("ai_generative_training", "ai_training", "data_mining"),
    "base_model": ("ai_inference",),
    "adapter": ("ai_inference",),
    "prompt": ("ai_inference",),
    "other": ("ai_generative_training", "ai_inference", "ai_training", "data_mining"),
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Policy(_Model):
    """How value is mapped when licences or signals forbid paying an asset.

    Attributes:
        format: Always ``'ame.policy/1'``.
        withheld: ``'escrow'`` holds forbidden value for dispute; ``'redistribute'``
            shares it among the event's other eligible assets, pro rata.
        min_payout: Smallest amount paid to an account; less is carried forward.
        uses: Uses each asset kind is put to; kinds not given keep
            :data:`DEFAULT_USES`.
    """

    format: Literal["ame.policy/1"] = "ame.policy/1"
    withheld: WithheldPolicy = "escrow"
    min_payout: Amount = Field(default=TokenAmount(1))
    uses: dict[AssetKind, tuple[Use, ...]] = Field(default_factory=lambda: dict(DEFAULT_USES))

    @field_validator("min_payout")
    @classmethod
    def _positive(cls, value: TokenAmount) -> TokenAmount:
        if value < 1:
            raise ValueError("must be at least 1 (a leaf of 0 cannot be claimed)")
        return value

    @field_validator("uses")
    @classmethod
    def _complete(cls, value: dict[AssetKind, tuple[Use, ...]]) -> dict[AssetKind, tuple[Use, ...]]:
        merged = dict(DEFAULT_USES)
        merged.update({kind: tuple(sorted(set(uses))) for kind, uses in value.items()})
        return dict(sorted(merged.items()))

    def canonical(self) -> dict[str, Any]:
        """The policy in canonical form."""
        return {
            "format": self.format,
            "withheld": self.withheld,
            "min_payout": str(self.min_payout),
            "uses": {kind: list(uses) for kind, uses in sorted(self.uses.items())},
        }

    def digest(self) -> str:
        """SHA-256 of the canonical form."""
        return sha256_hex(canonical_json(self.canonical()))


def _balances(raw: object) -> dict[ChecksumAddress, TokenAmount]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"must be a mapping of address to amount, got {type(raw).__name__}")
    out: dict[ChecksumAddress, TokenAmount] = {}
    for key, value in raw.items():
        try:
            address = parse_address(key)
            amount = parse_amount(value)
        except ValueError as err:
            raise ValueError(f"[{key!r}]: {err}") from None
        if amount > 0:
            out[address] = TokenAmount(amount)
    return dict(sorted(out.items(), key=lambda item: int(item[0], 16)))


class CarriedLedger(_Model):
    """Balances carried forward because they were below the minimum payout.

    Attributes:
        format: Always ``'ame.carried/1'``.
        epoch: The epoch that produced the ledger; ``None`` before the first epoch.
        balances: Account to carried amount (zero balances are dropped).
    """

    format: Literal["ame.carried/1"] = "ame.carried/1"
    epoch: StrictInt | None = Field(default=None, ge=0)
    balances: Annotated[dict[ChecksumAddress, TokenAmount], PlainValidator(_balances)] = Field(
        default_factory=dict
    )

    @property
    def total(self) -> TokenAmount:
        """Sum of all carried balances."""
        return TokenAmount(sum(self.balances.values()))

    def canonical(self) -> dict[str, Any]:
        """The ledger in canonical form (amounts as decimal strings)."""
        return {
            "format": self.format,
            "epoch": self.epoch,
            "balances": {account: str(amount) for account, amount in self.balances.items()},
        }

    def digest(self) -> str:
        """SHA-256 of the canonical form."""
        return sha256_hex(canonical_json(self.canonical()))


def _parse(model: type[_Model], data: object, source: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InputError(format_validation_error(err, data, source=source, groups={})) from None


def parse_policy(data: object, *, source: str = "<policy>") -> Policy:
    """Validate an ``ame.policy/1`` document.

    Raises:
        InputError: If it is malformed (the message names the field).
    """
    policy: Policy = _parse(Policy, data, source)
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate an ``ame.policy/1`` JSON or YAML file.

    Raises:
        InputError: If the file cannot be read, parsed or validated.
    """
    return parse_policy(read_document(path, unique_keys=True), source=str(path))


def parse_carried(data: object, *, source: str = "<carried>") -> CarriedLedger:
    """Validate an ``ame.carried/1`` document, or take the ``carried`` part of a manifest.

    Raises:
        InputError: If it is malformed (the message names the account and field).
    """
    if isinstance(data, Mapping) and str(data.get("format", "")).startswith("ame.manifest/"):
        data = data.get("carried")
        source = f"{source}: carried"
    ledger: CarriedLedger = _parse(CarriedLedger, data, source)
    return ledger


def load_carried(path: str | Path) -> CarriedLedger:
    """Read a carried ledger, or the previous epoch's manifest, from a JSON file.

    Raises:
        InputError: If the file cannot be read, parsed or validated.
    """
    return parse_carried(read_document(path, unique_keys=True), source=str(path))
