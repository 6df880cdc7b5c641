"""What the deploy scripts share: run ``ame deploy`` of this checkout with their defaults."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run_ame_deploy(args: Sequence[str], *, prog: str) -> int:
    """Run ``ame deploy ARGS`` as the command line would; returns its exit status.

    Errors are printed by ``ame`` itself (``ErrorName: message``, exit 1; bad usage, 2).
    """
    from ame.cli import main

    try:
        main(["deploy", *args], prog_name=f"{prog} (ame deploy)", standalone_mode=True)
    except SystemExit as done:
        code = done.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0  # pragma: no cover (standalone click always exits)


def has_option(args: Sequence[str], *names: str) -> bool:
    """Whether ``args`` give one of the options ``names`` (``--opt value`` or ``--opt=value``)."""
    return any(a in names or a.split("=", 1)[0] in names for a in args)
