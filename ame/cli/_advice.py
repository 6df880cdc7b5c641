"""What an operator can do about a contract's refusal: roles named, times as dates, next commands.

The chain layer decodes a revert into the contract's own error with its arguments
(``SettlementChallengeWindowOpen(epoch=1, challengeEnd=1796644606)``); that is exact but
says neither when nor what to do. :func:`explain` keeps the error (same class, same
arguments, same first words) and appends, for the errors an operator meets:

* a time (a window's end, a dispute's deadline, an epoch's expiry) as a UTC date with the
  time left by the chain's clock, and the command that helps: ``ame chain advance`` on a
  development chain, waiting elsewhere;
* a missing role, by name, with the account that lacks it and ``ame roles grant``;
* amounts in ether beside their wei.

Only the CLI names commands and options, so this lives here, not in the workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ame.workflow import TokenUnits, Workspace, format_date, format_duration, token_units
from ame_chain.chains import Chain
from ame_chain.client import DisputeStatus, EpochStatus
from ame_chain.exceptions import SettlementError
from ame_chain.leaves import ZERO_ADDRESS
from ame_core.exceptions import AmeError

__all__ = ["Amounts", "ether", "explain"]

log = logging.getLogger("ame.cli")

_ETH = TokenUnits(ZERO_ADDRESS, "ETH", 18)
_ROLE_COMMAND = {
    "OPERATOR_ROLE": "operator",
    "ARBITER_ROLE": "arbiter",
    "GUARDIAN_ROLE": "guardian",
    "DEFAULT_ADMIN_ROLE": "admin",
}


def ether(wei: int) -> str:
    """``wei`` as an exact decimal of ether: ``0.11 ETH``."""
    return _ETH.format(wei)


class Amounts:
    """Amounts for people as ``--units`` says: base units, or ether and whole tokens.

    Args:
        ws: Where each epoch's token is read (its header on-chain; the token's
            ``symbol()`` and ``decimals()``), once per epoch and only with ``ether``.
        units: ``wei`` or ``ether``.
    """

    def __init__(self, ws: Workspace, units: str) -> None:
        self.ws = ws
        self.units = units
        self._by_epoch: dict[int, TokenUnits] = {}

    def eth(self, amount: int) -> object:
        """An amount of ETH (credits, bonds)."""
        return amount if self.units == "wei" else ether(amount)

    def of(self, epoch: int, amount: int) -> object:
        """An amount of epoch ``epoch``'s token."""
        token = self._token(epoch)
        return amount if token is None else token.format(amount)

    def total(self, epochs: list[int], amount: int) -> object:
        """A sum over ``epochs``: in their token when they share one, else in base units."""
        tokens = {self._token(epoch) for epoch in epochs}
        if len(tokens) == 1 and (token := tokens.pop()) is not None:
            return token.format(amount)
        return amount if self.units == "wei" else f"{amount} base units"

    def _token(self, epoch: int) -> TokenUnits | None:
        if self.units == "wei":
            return None
        if epoch not in self._by_epoch:
            found = self.ws.client.header_of(epoch, self.ws.from_block)
            if found is None:
                return None
            self._by_epoch[epoch] = token_units(self.ws, found[0])
        return self._by_epoch[epoch]


class _Clock:
    """The chain's time and kind, read once and only when an explanation needs them."""

    def __init__(self, chain: Callable[[], Chain] | None) -> None:
        self._chain = chain
        self._now: int | None = None
        self._dev = False

    def _read(self) -> int | None:
        if self._now is None and self._chain is not None:
            try:
                chain = self._chain()
                self._now, self._dev = chain.timestamp(), bool(chain.dev_accounts)
            except AmeError as err:  # the explanation is a courtesy: the error stands without it
                log.debug("no chain time for the explanation: %s", err)
                self._chain = None
        return self._now

    def until(self, when: int, what: str) -> str:
        """``what`` ends at ``when``: the date, the time left, and what helps."""
        now = self._read()
        date = format_date(when)
        if now is None:
            return f"{what} {date}"
        if when <= now:
            return f"{what} {date} ({format_duration(now - when)} ago by the chain's clock)"
        left = when - now
        helps = (
            f"`ame chain advance {left}` moves this development chain's clock past it"
            if self._dev
            else "wait until then"
        )
        return f"{what} {date} (in {format_duration(left)} by the chain's clock): {helps}"


def explain(err: SettlementError, chain: Callable[[], Chain] | None = None) -> SettlementError:
    """``err`` with what to do appended, as the same class with the same arguments.

    Args:
        err: A decoded contract error.
        chain: Gives the chain whose clock dates are measured against (called at most
            once, and only for errors that carry a time).

    Returns:
        A new error of ``err``'s class, or ``err`` itself when there is nothing to add.
    """
    a = err.args_by_name
    clock = _Clock(chain)
    name = type(err).__name__
    epoch = a.get("epoch")
    advice: str | None = None
    if name == "AccessControlUnauthorizedAccount":
        role = str(a.get("neededRole"))
        account = a.get("account")
        if role == "DEFAULT_ADMIN_ROLE":
            advice = (
                f"{account} is not the admin (DEFAULT_ADMIN_ROLE); sign with the admin, by "
                "default the account that deployed the contract"
            )
        elif role in _ROLE_COMMAND:
            advice = (
                f"{account} does not hold {role}; the admin (by default the deployer) grants "
                f"it with `ame roles grant {_ROLE_COMMAND[role]} {account}`"
            )
    elif name == "SettlementChallengeWindowOpen":
        advice = clock.until(_int(a["challengeEnd"]), f"epoch {epoch}'s challenge window ends")
    elif name == "SettlementChallengeWindowClosed":
        advice = clock.until(_int(a["challengeEnd"]), f"epoch {epoch}'s challenge window closed")
    elif name == "SettlementNotExpired":
        advice = clock.until(_int(a["expiry"]), f"what is left of epoch {epoch} can be swept from")
    elif name in ("SettlementDisputeDeadlinePassed", "SettlementDisputeNotDismissable"):
        advice = clock.until(
            _int(a["deadline"]), f"dispute {a.get('disputeId')} of epoch {epoch}'s deadline is"
        )
        if name == "SettlementDisputeNotDismissable":
            advice += "; before then only the arbiter closes it (`ame resolve --uphold|--reject`)"
    elif name == "SettlementOpenDisputes":
        advice = (
            f"epoch {epoch} has {a.get('openDisputes')} open dispute(s): the arbiter resolves "
            f"them (`ame resolve {epoch} ID --uphold|--reject`), or anyone dismisses one past "
            "its deadline (`--dismiss`); `ame status` lists them"
        )
    elif name == "SettlementWrongStatus":
        status = _name(EpochStatus, a.get("status"))
        advice = f"epoch {epoch} is {status}"
    elif name == "SettlementDisputeNotOpen":
        advice = f"the dispute is {_name(DisputeStatus, a.get('status'))}"
    elif name == "SettlementWrongValue":
        advice = (
            f"the contract expects {ether(_int(a['expected']))}, the transaction carried "
            f"{ether(_int(a['received']))}"
        )
    elif name == "SettlementNoCredit":
        advice = f"{a.get('account')} has no ETH credit to withdraw (bonds come back as credit)"
    if advice is None:
        return err
    return type(err)(f"{err}: {advice}", dict(a), err.tx_hash)


def _int(value: object) -> int:
    return int(value)  # type: ignore[call-overload, no-any-return]


def _name(names: tuple[str, ...], value: object) -> str:
    index = value if isinstance(value, int) else -1
    return names[index] if 0 <= index < len(names) else str(value)
