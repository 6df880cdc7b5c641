"""What the deploy scripts share: run ``ame deploy`` of this checkout with their defaults.

The scripts add nothing of their own to how settings are found: the node, the account,
the parameters and the state directory come from the options, ``$AME_*`` and
``ame.toml`` exactly as for ``ame deploy`` (one loader, :class:`ame.cli.Session`); a
script only says what happens when no node is named (:class:`ame.cli.CliEnv`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ame.cli import CliEnv


def run_ame_deploy(args: Sequence[str], *, prog: str, env: CliEnv | None = None) -> int:
    """Run ``ame deploy ARGS`` as the command line would, under the name ``prog``.

    Errors are printed as ``ame`` prints them (``ErrorName: message``, exit 1; bad usage,
    exit 2), and the usage line names the script.

    Args:
        args: The command line after the script's name.
        prog: The script's name in usage lines.
        env: What the script changes of how the chain is chosen (a default node, or a
            node required).

    Returns:
        The exit status.
    """
    import click

    from ame.cli import main
    from ame.config import ConfigError
    from ame_core.exceptions import AmeError

    command = main.get_command(click.Context(main), "deploy")
    assert command is not None  # registered by ame.cli
    try:
        command.main(list(args), prog_name=prog, standalone_mode=False, obj=env)
    except AmeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        # A bad value given on the command line is bad usage, as `ame` reports it.
        return 2 if isinstance(err, ConfigError) and err.usage else 1
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
