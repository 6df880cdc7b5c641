"""``ame roles show|grant|revoke``: who may propose, arbitrate and pause, and changing it.

The settlement contract is an OpenZeppelin ``AccessControl``: ``DEFAULT_ADMIN_ROLE`` (the
deployer, unless granted on) grants and revokes the others. Roles are named on the
command line by their short names (``operator``) or their contract names
(``OPERATOR_ROLE``).
"""

from __future__ import annotations

import click

from ame.cli._options import with_session
from ame.cli._output import echo_json, pairs
from ame.cli._session import Session
from ame_chain._addresses import checked_address

__all__ = ["COMMANDS"]

#: Short name on the command line -> the contract's role name.
ROLE_NAMES = {
    "operator": "OPERATOR_ROLE",
    "arbiter": "ARBITER_ROLE",
    "guardian": "GUARDIAN_ROLE",
    "admin": "DEFAULT_ADMIN_ROLE",
}


#: ROLE as given: a short name or the contract's name, any case.
_ROLE = click.argument(
    "role",
    type=click.Choice([*ROLE_NAMES, *ROLE_NAMES.values()], case_sensitive=False),
    callback=lambda ctx, param, value: ROLE_NAMES.get(value.lower(), value.upper()),
)


@click.group()
def roles() -> None:
    """Show, grant or revoke the contract's roles (granting and revoking: the admin)."""


@roles.command()
@with_session(read_only=True)
def show(session: Session) -> None:
    """Who holds each role now (from the RoleGranted events, checked with hasRole)."""
    ws = session.workspace(signing=False)
    members = ws.client.role_members(ws.from_block)
    if session.as_json:
        echo_json({"settlement": ws.client.address, "roles": members})
        return
    click.echo(f"roles of {ws.client.address} (chain {ws.client.chain_id}):")
    click.echo(pairs([(role, ", ".join(holders) or "(none)") for role, holders in members.items()]))


def _change(session: Session, verb: str, role: str, account: str) -> None:
    address = checked_address(account, "ACCOUNT")
    ws = session.workspace(signing=True)
    with ws.acting(f"{verb}-role") as client:
        tx = (client.grant_role if verb == "grant" else client.revoke_role)(role, address)
    holds = ws.client.has_role(role, address)
    fields = {"role": role, "account": address, "holds": holds, "tx": tx.tx_hash}
    if session.as_json:
        echo_json(fields)
    else:
        click.echo(pairs(list(fields.items())))


@roles.command()
@with_session(account=True)
@_ROLE
@click.argument("account")
def grant(session: Session, role: str, account: str) -> None:
    """Grant ROLE (operator, arbiter, guardian, admin) to ACCOUNT; the signer must be admin."""
    _change(session, "grant", role, account)


@roles.command()
@with_session(account=True)
@_ROLE
@click.argument("account")
def revoke(session: Session, role: str, account: str) -> None:
    """Revoke ROLE from ACCOUNT; the signer must be admin."""
    _change(session, "revoke", role, account)


COMMANDS = [roles]
