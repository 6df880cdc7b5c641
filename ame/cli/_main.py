"""The ``ame`` group: error handling once for every subcommand, then the subcommands."""

from __future__ import annotations

from typing import Any

import click

from ame_core.exceptions import AmeError

__all__ = ["EXIT_AUDIT_MISMATCH", "EXIT_ERROR", "main"]

EXIT_ERROR = 1
EXIT_AUDIT_MISMATCH = 3


class AmeGroup(click.Group):
    """A group that turns :class:`AmeError` into ``ErrorName: message`` and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AmeError as err:
            click.echo(f"{type(err).__name__}: {err}", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=AmeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """AME: fair, verifiable revenue sharing for generative AI.

    \b
    Operator:     chain up|down|advance, deploy, roles, attribute, map, settle, finalize,
                  refund, sweep, withdraw
    Contributors: owed, proof, status, claim (owed and proof need no key)
    Anyone:       audit, challenge, dispute, resolve (arbiter), report, demo

    Exit codes: 0 ok, 1 error (printed as `ErrorName: message`), 2 bad usage,
    3 audit mismatches. See docs/cli.md.
    """


def _register() -> None:
    from ame.cli import (
        _attribute,
        _chain_cmds,
        _demo,
        _operator,
        _owed,
        _public,
        _report,
        _roles,
        _serve,
    )

    modules = (_attribute, _chain_cmds, _demo, _operator, _owed, _public, _report, _roles, _serve)
    for module in modules:
        for command in module.COMMANDS:
            main.add_command(command)


_register()
