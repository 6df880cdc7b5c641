"""The ``ame`` command: one command, subcommands for every step of an epoch's life.

Only the CLI catches :class:`~ame_core.exceptions.AmeError`: it prints
``ErrorName: message`` on stderr (under ``--json``, one ``{"error": {...}}`` object on
stdout) and exits 1. Any traceback is a bug.

Exit codes: 0 success; 1 a user, chain or contract error (named on stderr);
:data:`EXIT_USAGE` (2) bad usage (unknown option, bad option value, invalid address,
missing argument, input path that does not exist); 3 ``ame audit`` found mismatches.
``docs/cli.md`` is the reference, its "Conventions" section the shared rules
(``--version``, ``--json`` before or after the command, camelCase JSON keys).
"""

from ame.cli._main import EXIT_AUDIT_MISMATCH, EXIT_ERROR, EXIT_USAGE, main
from ame.cli._session import CliEnv

__all__ = ["EXIT_AUDIT_MISMATCH", "EXIT_ERROR", "EXIT_USAGE", "CliEnv", "main"]
