"""The ``ame`` command: one command, subcommands for every step of an epoch's life.

Only the CLI catches :class:`~ame_core.exceptions.AmeError`: it prints
``ErrorName: message`` on stderr and exits 1. Any traceback is a bug.

Exit codes: 0 success; 1 a user, chain or contract error (named on stderr); 2 bad usage
(unknown option, missing argument, unreadable input path); 3 ``ame audit`` found
mismatches. ``docs/cli.md`` is the reference.
"""

from ame.cli._main import EXIT_AUDIT_MISMATCH, EXIT_ERROR, main
from ame.cli._session import CliEnv

__all__ = ["EXIT_AUDIT_MISMATCH", "EXIT_ERROR", "CliEnv", "main"]
