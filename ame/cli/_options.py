"""Options shared by the ``ame`` subcommands, built once (ApeWorX ``cli/options.py`` style).

``@with_session(chain=..., account=...)`` adds the options a command needs and hands it a
:class:`~ame.cli._session.Session` as its first argument (and explains the contract's
refusals the command meets: :func:`ame.cli._advice.explain`):

* always: ``--config``, ``--state-dir``, ``-v/--verbose``, ``--json``;
* ``chain=True``: ``--rpc``, ``--settlement``;
* ``account=True``: ``--keystore``, ``--dev-account``.

Values are checked as click parses them, so a bad one is bad usage (exit 2):
:data:`ADDRESS` for every address an option or argument takes. ``--json`` is
:data:`~ame.cli._output.json_option`, shared with the commands that take no session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from ame.cli._advice import explain
from ame.cli._output import json_option
from ame.cli._session import Session
from ame_chain._addresses import address_problem, checked_address
from ame_chain.exceptions import SettlementError

__all__ = ["ADDRESS", "AddressType", "input_options", "units_option", "with_session"]

F = TypeVar("F", bound=Callable[..., Any])


class AddressType(click.ParamType[str]):
    """An Ethereum address, checksummed; a typo (or a wrong mixed-case checksum) is bad usage."""

    name = "address"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """``ADDRESS`` in the usage line."""
        return "ADDRESS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The checksummed address, or click's ``Invalid value for ...`` (exit 2)."""
        problem = address_problem(value)
        if problem is not None:
            self.fail(problem, param, ctx)
        return checked_address(value, param.name if param and param.name else "address")


#: The type of every address an ``ame`` option or argument takes.
ADDRESS: Final = AddressType()

_COMMON = [
    click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Config file (default: $AME_CONFIG, else ./ame.toml if present).",
    ),
    click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Operator state directory (default: $AME_STATE_DIR, [state] dir, else .ame).",
    ),
    click.option("-v", "--verbose", count=True, help="Log what happens (-vv: more) on stderr."),
    json_option,
]
_CHAIN = [
    click.option(
        "--rpc",
        default=None,
        metavar="URL",
        help="Node URL (default: $AME_RPC_URL, [chain] rpc, else the chain of `ame chain up`).",
    ),
    click.option(
        "--settlement",
        type=ADDRESS,
        default=None,
        help="Settlement contract (default: $AME_SETTLEMENT, else the last `ame deploy`).",
    ),
]
_ACCOUNT = [
    click.option(
        "--keystore",
        # A keystore named here that does not exist is bad usage (exit 2), as an input
        # file is; $AME_KEYSTORE or ame.toml naming one is an InputError (exit 1).
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        default=None,
        help="Signing keystore; password from $AME_KEYSTORE_PASSWORD or a prompt.",
    ),
    click.option(
        "--dev-account",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="Sign with development account N (local chains only).",
    ),
]
_SESSION_KEYS = (
    "config",
    "state_dir",
    "verbose",
    "as_json",
    "rpc",
    "settlement",
    "keystore",
    "dev_account",
)


def with_session(
    *, chain: bool = True, account: bool = False, read_only: bool = False
) -> Callable[[F], F]:
    """Add the shared options and pass a :class:`Session` as the command's first argument.

    ``read_only`` commands (anyone's: status, audit, report, owed, proof) create no state
    directory and, run where there is none, their errors advise a reader, not an operator.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            options = {k: kwargs.pop(k) for k in _SESSION_KEYS if k in kwargs}
            session = Session(click.get_current_context(), read_only=read_only, **options)
            try:
                return func(session, *args, **kwargs)
            except SettlementError as err:
                explained = explain(err, session.chain)
                if explained is err:
                    raise
                raise explained from err

        decorated: Any = wrapper
        for option in reversed(_COMMON + (_CHAIN if chain else []) + (_ACCOUNT if account else [])):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate


def input_options(func: F) -> F:
    """``--values``, ``--registry``, ``--policy``, ``--carried``: the mapping inputs of an epoch."""
    file = click.Path(path_type=Path, dir_okay=False, exists=True)
    for option in reversed(
        [
            click.option("--values", type=file, default=None, help="ame.values/1 file."),
            click.option("--registry", type=file, default=None, help="ame.registry/1 file."),
            click.option("--policy", type=file, default=None, help="ame.policy/1 file."),
            click.option(
                "--carried",
                type=file,
                default=None,
                help="ame.carried/1 ledger or the previous manifest.",
            ),
        ]
    ):
        func = option(func)
    return func


#: ``--units``: how amounts are shown to people (``--json`` keeps base units, as strings).
units_option = click.option(
    "--units",
    type=click.Choice(["wei", "ether"]),
    default="wei",
    show_default=True,
    help="Amounts in base units (wei; a token's smallest unit), or in ether and whole "
    "tokens (by the token's decimals, with its symbol).",
)
