"""Operator commands: deploy, map, settle, finalize, refund, sweep, withdraw."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ame.cli._advice import Amounts, ether
from ame.cli._attribute import METHODS
from ame.cli._options import ADDRESS, input_options, units_option, with_session
from ame.cli._output import ClickProgress, camel_keys, echo_json, pairs
from ame.cli._session import NO_ACCOUNT, Session
from ame.deployment import deploy_settlement, write_record
from ame.workflow import (
    MappingInputs,
    Workspace,
    check_served,
    finalize_epoch,
    format_date,
    keccak_hex,
    refund_epoch,
    settle_epoch,
    sweep_epoch,
    withdraw_credits,
)
from ame.workflow.exceptions import WorkflowError
from ame_chain.errors import error_class
from ame_chain.exceptions import FundingError
from ame_chain.leaves import ZERO_ADDRESS
from ame_chain.tx import Transactor
from ame_core.exceptions import InputError
from ame_core.files import atomic_write

if TYPE_CHECKING:
    from offchain.attribution.multistage import Method

__all__ = ["COMMANDS"]


@click.command()
@with_session(account=True)
@click.option("--challenge-window", type=click.IntRange(min=1), default=None, help="Seconds.")
@click.option("--dispute-window", type=click.IntRange(min=1), default=None, help="Seconds.")
@click.option("--claim-period", type=click.IntRange(min=1), default=None, help="Seconds.")
@click.option("--operator-bond", type=click.IntRange(0, 2**96 - 1), default=None, help="Wei.")
@click.option("--dispute-bond", type=click.IntRange(0, 2**96 - 1), default=None, help="Wei.")
@click.option("--operator", multiple=True, type=ADDRESS, help="Grant OPERATOR_ROLE (repeatable).")
@click.option("--arbiter", multiple=True, type=ADDRESS, help="Grant ARBITER_ROLE (repeatable).")
@click.option("--guardian", multiple=True, type=ADDRESS, help="Grant GUARDIAN_ROLE (repeatable).")
@click.option(
    "--no-operator",
    is_flag=True,
    help="Grant OPERATOR_ROLE to no one (grant it later with `ame roles grant operator`).",
)
@click.option("--sweep-recipient", type=ADDRESS, default=None, help="Default: the deployer.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the deployment record here.",
)
def deploy(
    session: Session,
    challenge_window: int | None,
    dispute_window: int | None,
    claim_period: int | None,
    operator_bond: int | None,
    dispute_bond: int | None,
    operator: tuple[str, ...],
    arbiter: tuple[str, ...],
    guardian: tuple[str, ...],
    no_operator: bool,
    sweep_recipient: str | None,
    output: Path | None,
) -> None:
    """Deploy the settlement contract and make it this chain's default.

    Signs with --dev-account N (development chains), --keystore PATH or $AME_KEYSTORE
    (password from $AME_KEYSTORE_PASSWORD or a prompt), or $AME_PRIVATE_KEY. Parameters
    default to [deploy] in ame.toml. Each role not named goes to the deployer, which also
    keeps DEFAULT_ADMIN_ROLE (it grants and revokes roles: `ame roles`). A contract
    without an operator can settle nothing, so --no-operator must say so.

    The deployment record goes to the state directory, where every later `ame` command
    in it finds the contract (and to -o); the AME_SETTLEMENT= line printed names it
    anywhere else.
    """
    if no_operator and operator:
        raise click.UsageError("--operator and --no-operator exclude each other")
    given = {
        "challenge_window": challenge_window,
        "dispute_window": dispute_window,
        "claim_period": claim_period,
        "operator_bond": operator_bond,
        "dispute_bond": dispute_bond,
    }
    # The options are range-checked by click; the rest comes validated from the config.
    params = session.config.deploy.model_copy(
        update={k: v for k, v in given.items() if v is not None}
    )
    if output is not None:
        _check_writable(output, "--output")  # before deploying, not after
    # Addresses were checked (and checksummed) by the ADDRESS type: bad ones exit 2.
    roles = {"--operator": list(operator), "--arbiter": list(arbiter), "--guardian": list(guardian)}
    chain = session.chain()
    account = session.signing_account()
    # What the state holds of an older chain of this id is retired before this deployment
    # is recorded, never after it (it would be taken for one of the old).
    state = session.checked_state()
    session.progress.step(f"deploying AmeSettlement on chain {chain.chain_id}")
    me = [account.address]
    _, record = deploy_settlement(
        Transactor(chain.w3, account),
        config=params.settlement_config(),
        operators=[] if no_operator else roles["--operator"] or me,
        arbiters=roles["--arbiter"] or me,
        guardians=roles["--guardian"] or me,
        sweep_recipient=sweep_recipient,
        genesis_hash=session.genesis_hash(),
    )
    state.add_deployment(record)
    path = session.state_dir / "deployments" / f"{record.chain_id}-{record.address.lower()}.json"
    write_record(record, path)
    if output is not None:
        write_record(record, output)
    if session.as_json:
        echo_json({**camel_keys(record.to_json()), "recordPath": str(output or path)})
        return
    rows = [
        ("address", record.address),
        ("chain id", record.chain_id),
        ("block", record.block),
        ("tx", record.tx_hash),
        ("deployer", f"{record.deployer} (DEFAULT_ADMIN_ROLE)"),
        *(
            (role.lower(), ", ".join(accounts) or "(none)")
            for role, accounts in record.roles.items()
        ),
        ("record", output or path),
    ]
    click.echo(pairs(rows))
    click.echo(
        f"every `ame` command with the state directory {session.state_dir} uses this "
        "contract; elsewhere set:"
    )
    click.echo(f"AME_SETTLEMENT={record.address}")


@click.command(name="map")
@with_session(chain=False)
@click.argument("values", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("registry", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--carried",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="ame.carried/1 ledger or the previous epoch's manifest.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
def map_command(
    session: Session,
    values: Path,
    registry: Path,
    policy: Path | None,
    carried: Path | None,
    output: Path,
) -> None:
    """Map VALUES (ame.values/1) with REGISTRY to an allocation manifest (ame.manifest/1)."""
    _check_writable(output, "--output")
    manifest = MappingInputs.load(values, registry, policy, carried).manifest()
    data = manifest.to_json_bytes()
    _write(output, data)
    t = manifest.totals
    summary = {
        "epoch": manifest.epoch,
        "output": str(output),
        "leaves": len(manifest.leaves),
        "revenue": str(t.revenue),
        "pool": str(t.pool),
        "escrowed": str(t.escrowed),
        "carriedIn": str(t.carried_in),
        "carriedOut": str(t.carried_out),
        "sha256": manifest.sha256(),
        "keccak256": keccak_hex(data),
    }
    if session.as_json:
        echo_json(summary)
    else:
        click.echo(pairs(list(summary.items())))


@click.command()
@with_session(account=True)
@input_options
@click.option(
    "--token",
    type=ADDRESS,
    default=None,
    help="ERC-20 pool token (default: ETH or [settlement] token).",
)
@click.option(
    "--attribution",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="With --values: the ame.attribution/1 record `ame attribute` wrote beside them; "
    "checked against the values, bound by the manifest and published for auditors.",
)
@click.option(
    "--scenario",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="ame.scenario/1 file: attribute it first (instead of --values).",
)
@click.option(
    "--epoch",
    type=click.IntRange(min=0),
    default=None,
    help="With --scenario: the epoch (default: the scenario's `epoch`).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="shapley",
    show_default=True,
    help="With --scenario: how assets share their stage's value.",
)
@units_option
def settle(
    session: Session,
    values: Path | None,
    registry: Path | None,
    policy: Path | None,
    carried: Path | None,
    token: str | None,
    attribution: Path | None,
    scenario: Path | None,
    epoch: int | None,
    method: str,
    units: str,
) -> None:
    """Attribute (with --scenario), map, publish, build the tree, fund and propose one epoch.

    Balances are carried from the latest earlier epoch in the state unless --carried is
    given. Rerunning after a crash completes the same epoch: one proposal, one funding
    (with --scenario the attribution is recomputed, bit for bit the same).
    """
    if (values is None) == (scenario is None):
        raise click.UsageError("settle needs --values or --scenario (one of them)")
    if scenario is None and (epoch is not None or method != "shapley"):
        raise click.UsageError("--epoch and --method go with --scenario")
    if scenario is not None and attribution is not None:
        raise click.UsageError("--attribution goes with --values; --scenario publishes its own")
    if scenario is not None:
        attribute = _scenario_inputs(scenario, registry, policy, carried, epoch, method)
        ws = session.workspace(signing=True)  # before training: a missing account fails fast
        _require_operator(ws)
        inputs = attribute()
    elif registry is None:
        raise click.UsageError("settle --values needs --registry")
    else:
        assert values is not None  # checked above: exactly one of --values and --scenario
        inputs = MappingInputs.load(values, registry, policy, carried, attribution)
        ws = session.workspace(signing=True)
        _require_operator(ws)
    try:
        result = settle_epoch(ws, inputs, token=token or session.config.settlement.token)
    except FundingError as err:
        raise FundingError(
            f"{err}; {_settle_needs(ws)}",
            account=err.account,
            balance=err.balance,
            value=err.value,
        ) from err
    served = check_served(
        ws, result.epoch, result.header.challenge_end, policy=session.fetch_policy()
    )
    if served is not None and not served.ok:
        for file in served.problems:
            click.echo(f"not served as published: {file.uri}: {file.problem}", err=True)
        click.echo(
            f"{served.advice()}; then run this `ame settle` again to check (it proposes "
            "nothing twice)",
            err=True,
        )
    if session.as_json:
        echo_json(
            {
                "served": served.to_json() if served is not None else None,
                "epoch": result.epoch,
                "manifestURI": result.manifest_uri,
                "manifestHash": result.manifest_hash,
                "root": result.root,
                "pool": str(result.pool),
                "leafCount": result.leaf_count,
                "token": result.token,
                "header": result.header.to_json(),
                "proposeTx": result.propose_tx,
                "approveTx": result.approve_tx,
                "carriedFrom": result.carried_from,
                "resumed": result.resumed,
            }
        )
        return
    rows: list[tuple[str, object]] = [
        ("epoch", result.epoch),
        ("status", ws.client.status(result.epoch)),
        ("pool", Amounts(ws, units).of(result.epoch, result.pool)),
        ("leaves", result.leaf_count),
        ("token", "ETH" if result.header.is_eth else result.token),
        ("root", result.root),
        ("manifest", result.manifest_uri),
        ("manifest hash", result.manifest_hash),
        (
            "challenge ends",
            f"{result.header.challenge_end} ({format_date(result.header.challenge_end)})",
        ),
        ("propose tx", result.propose_tx or "(found on-chain)"),
    ]
    if result.approve_tx:
        rows.append(("approve tx", result.approve_tx))
    if served is not None:
        count = len(served.files)
        rows.append(
            (
                "served",
                f"all {count} files at {served.base}"
                if served.ok
                else f"{len(served.problems)} of {count} files not served at {served.base}",
            )
        )
    rows.extend(("resumed", line) for line in result.resumed)
    click.echo(pairs(rows))


def _require_operator(ws: Workspace) -> None:
    """Refuse, before anything is published, a signer the contract would refuse to propose."""
    signer = ws.signer().address
    if not ws.client.has_role("OPERATOR_ROLE", signer):
        raise error_class("AccessControlUnauthorizedAccount")(
            f"AccessControlUnauthorizedAccount(account={signer}, neededRole=OPERATOR_ROLE), "
            "checked before anything was published",
            {"account": signer, "neededRole": "OPERATOR_ROLE"},
        )


def _settle_needs(ws: Workspace) -> str:
    """What proposing the epoch being settled costs, from what settle recorded before it failed."""
    bond = ws.client.operator_bond()
    pending = [
        r for r in ws.state.epochs(ws.client.chain_id, ws.client.address) if r.header is None
    ]
    if not pending:
        return f"proposing carries the pool (ETH pools) plus the operator bond of {ether(bond)}"
    row = pending[-1]
    if row.token.lower() != ZERO_ADDRESS.lower():
        return (
            f"proposing epoch {row.key.epoch} carries the operator bond of {ether(bond)} (the "
            "pool is an ERC-20, approved and pulled separately); fund the operator's account"
        )
    return (
        f"proposing epoch {row.key.epoch} carries its pool of {ether(row.pool)} plus the "
        f"operator bond of {ether(bond)} = {ether(row.pool + bond)}, and gas: fund the "
        "operator's account with that much"
    )


def _scenario_inputs(
    scenario: Path,
    registry: Path | None,
    policy: Path | None,
    carried: Path | None,
    epoch: int | None,
    method: str,
) -> Callable[[], MappingInputs]:
    """Validate every input file now; return what trains, attributes and pairs them later.

    The registry is ``--registry`` or the scenario's own ``rights``. The scenario is read
    once, here: what is attributed later is what was validated.
    """
    from offchain.mapping import load_carried, load_policy, load_registry, parse_values
    from offchain.scenario import load_scenario

    spec = load_scenario(scenario)
    rights = load_registry(registry) if registry is not None else spec.registry()
    if rights is None:
        raise InputError(f"{scenario}: rights: the scenario names no registry; give --registry")
    loaded_policy = load_policy(policy) if policy is not None else None
    loaded_carried = load_carried(carried) if carried is not None else None

    def attribute() -> MappingInputs:
        # Imported here: torch loads only once every input is known to be good.
        from offchain.scenario import attribute_scenario, record_lines

        result, document = attribute_scenario(
            spec, method=cast("Method", method), epoch=epoch, progress=ClickProgress()
        )
        values = parse_values(document, source=f"{scenario} (attributed)")
        record = list(record_lines(result, spec, epoch=epoch))
        return MappingInputs(values, rights, loaded_policy, loaded_carried, lambda: record)

    return attribute


@click.command()
@with_session(account=True)
@click.argument("epoch", type=click.IntRange(min=0))
def finalize(session: Session, epoch: int) -> None:
    """Make EPOCH claimable (after its challenge window, with no open dispute).

    Anyone may finalise. An epoch already finalised is done (exit 0, no transaction, no
    account needed). Without an account, what the chain tells (the window is still open,
    a dispute is open) is said all the same: only the transaction needs one.
    """
    ws = session.workspace(signing=False)
    found = ws.client.header_of(epoch, ws.from_block)
    if found is None:
        raise WorkflowError(f"epoch {epoch} was never proposed on {ws.client.address}")
    header = found[0]
    state = ws.client.epoch_state(epoch)
    if state["status"] == "Finalized":
        _done(session, {"epoch": epoch, "status": "Finalized", "tx": None})
        return
    if state["status"] != "Proposed":
        raise WorkflowError(
            f"epoch {epoch} is {state['status']}: only a Proposed epoch is finalised"
        )
    if ws.sender is not None:  # the contract decides the rest, by the next block's clock
        tx = finalize_epoch(ws, epoch)
        _done(session, {"epoch": epoch, "status": ws.client.status(epoch), "tx": tx})
        return
    if session.chain().timestamp() < header.challenge_end:
        raise error_class("SettlementChallengeWindowOpen")(
            f"SettlementChallengeWindowOpen(epoch={epoch}, challengeEnd={header.challenge_end})",
            {"epoch": epoch, "challengeEnd": header.challenge_end},
        )
    if state["openDisputes"]:
        raise error_class("SettlementOpenDisputes")(
            f"SettlementOpenDisputes(epoch={epoch}, openDisputes={state['openDisputes']})",
            {"epoch": epoch, "openDisputes": state["openDisputes"]},
        )
    raise InputError(NO_ACCOUNT)


@click.command()
@with_session(account=True)
@click.argument("epoch", type=click.IntRange(min=0))
def refund(session: Session, epoch: int) -> None:
    """Send the pool of a voided EPOCH back to its operator."""
    ws = session.workspace(signing=True)
    tx = refund_epoch(ws, epoch)
    _done(session, {"epoch": epoch, "status": ws.client.status(epoch), "tx": tx})


@click.command()
@with_session(account=True)
@click.argument("epoch", type=click.IntRange(min=0))
@units_option
def sweep(session: Session, epoch: int, units: str) -> None:
    """Send what is left of an expired EPOCH to the sweep recipient."""
    ws = session.workspace(signing=True)
    tx, amount = sweep_epoch(ws, epoch)
    swept = str(amount) if session.as_json else Amounts(ws, units).of(epoch, amount)
    _done(session, {"epoch": epoch, "status": ws.client.status(epoch), "swept": swept, "tx": tx})


@click.command()
@with_session(account=True)
@click.option("--to", type=ADDRESS, default=None, help="Default: the signing account.")
@units_option
def withdraw(session: Session, to: str | None, units: str) -> None:
    """Withdraw the signing account's ETH credit (bonds returned, refused payouts)."""
    ws = session.workspace(signing=True)
    tx, amount = withdraw_credits(ws, to)
    withdrawn = str(amount) if session.as_json else Amounts(ws, units).eth(amount)
    _done(session, {"withdrawn": withdrawn, "tx": tx})


def _check_writable(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written, before any work (nothing is created)."""
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option}: cannot write {path}: {existing} is not a writable directory")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader never sees half a file."""
    try:
        atomic_write(path, data)
    except OSError as err:
        raise InputError(f"--output: cannot write {path}: {err.strerror or err}") from None


def _done(session: Session, fields: dict[str, object]) -> None:
    if session.as_json:
        echo_json(fields)
    else:
        click.echo(pairs(list(fields.items())))


COMMANDS = [deploy, map_command, settle, finalize, refund, sweep, withdraw]
