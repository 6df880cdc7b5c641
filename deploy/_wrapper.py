"""What the deploy scripts share: run ``ame deploy`` of this checkout with their defaults."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run_ame_deploy(args: Sequence[str], *, prog: str) -> int:
    """Run ``ame deploy ARGS`` as the command line would, under the name ``prog``.

    Errors are printed as ``ame`` prints them (``ErrorName: message``, exit 1; bad usage,
    exit 2), and the usage line names the script.

    Returns:
        The exit status.
    """
    import click

    from ame.cli import main
    from ame_core.exceptions import AmeError

    command = main.get_command(click.Context(main), "deploy")
    assert command is not None  # registered by ame.cli
    try:
        command.main(list(args), prog_name=prog, standalone_mode=False)
    except AmeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return 0


def has_option(args: Sequence[str], *names: str) -> bool:
    """Whether ``args`` give one of the options ``names`` (``--opt value`` or ``--opt=value``)."""
    return any(a in names or a.split("=", 1)[0] in names for a in args)
