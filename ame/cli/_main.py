"""The ``ame`` group: error handling once for every subcommand, then the subcommands.

Conventions shared with cast/forge, ape and the web3 tools (docs/cli.md, "Conventions"):

* ``ame --version`` prints the package's version;
* ``--json`` is accepted before the command (``ame --json status``) as after it; under
  it the result, or the error, is one JSON object on stdout, an error as
  ``{"error": {"code": <exit status>, "name": "InputError", "message": "..."}}``;
* exit 0 success, 1 an error while running, 2 bad usage (an unknown option, a bad
  option value, a path that does not exist, an invalid address), 3 audit mismatches.
"""

from __future__ import annotations

from typing import Any, NoReturn

import click

from ame.cli._output import echo_json, json_wanted, want_json
from ame.config import ConfigError
from ame_core.exceptions import AmeError

__all__ = ["EXIT_AUDIT_MISMATCH", "EXIT_ERROR", "EXIT_USAGE", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUDIT_MISMATCH = 3


def _fail(ctx: click.Context, code: int, name: str, message: str) -> NoReturn:
    """Report an error as ``Name: message`` on stderr, or under ``--json`` as JSON on stdout."""
    if json_wanted(ctx):
        echo_json({"error": {"code": code, "name": name, "message": message}})
    else:
        click.echo(f"{name}: {message}", err=True)
    ctx.exit(code)


class AmeGroup(click.Group):
    """A group that turns :class:`AmeError` into ``ErrorName: message`` and exit status 1.

    A :class:`~ame.config.ConfigError` in a value given on the command line is bad usage
    (exit 2), as click's own errors for a bad option are; under ``--json`` those are
    JSON too.
    """

    def invoke(self, ctx: click.Context) -> Any:
        # Seen before click parses the subcommand, so that even an unknown option or a
        # missing argument after `--json` is reported as JSON.
        given = [*ctx._protected_args, *ctx.args]
        if "--json" in given[: given.index("--") if "--" in given else None]:
            want_json(ctx, None, True)
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            _fail(ctx, EXIT_USAGE if err.usage else EXIT_ERROR, type(err).__name__, str(err))
        except AmeError as err:
            _fail(ctx, EXIT_ERROR, type(err).__name__, str(err))
        except click.ClickException as err:
            # A subcommand's bad usage: click prints it (with its usage line) unless the
            # caller asked for JSON.
            if not json_wanted(ctx):
                raise
            name = "UsageError" if isinstance(err, click.UsageError) else type(err).__name__
            _fail(ctx, err.exit_code, name, err.format_message())


@click.group(cls=AmeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ame", prog_name="ame", message="%(prog)s %(version)s")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=want_json,
    help="Print every result, and any error, as JSON (also accepted after the command).",
)
def main() -> None:
    """AME: fair, verifiable revenue sharing for generative AI.

    \b
    Operator:     chain up|down|advance, deploy, roles, attribute, map, settle, finalize,
                  refund, sweep, withdraw
    Contributors: owed, proof, status, claim (owed and proof need no key)
    Anyone:       audit, challenge, dispute, resolve (arbiter), report, demo

    Exit codes: 0 ok, 1 error (printed as `ErrorName: message`, or as JSON under
    --json), 2 bad usage, 3 audit mismatches. See docs/cli.md.
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
