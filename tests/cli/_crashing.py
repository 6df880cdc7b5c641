"""``python -m tests.cli._crashing STEP:POINT ARGS...``: ``ame ARGS``, dying at one durable point.

The stand-in for a process killed mid-transaction: at ``POINT`` (``before-send``,
``after-send`` or ``after-mined``) of the transaction recorded as ``STEP`` it exits at once
through ``os._exit`` with :data:`CRASH_EXIT_CODE`: no cleanup, nothing flushed, as a kill
would leave it. The library knows nothing of this; the hook goes in through
``CliEnv.on_step``, which every :class:`~ame.workflow.DurableSender` of the command calls.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ame.cli import CliEnv, main

#: The exit status of a process stopped at its crash point.
CRASH_EXIT_CODE = 86


def crash_at(target: str) -> Callable[[str, str], None]:
    """An ``on_step`` hook that ends the process at ``target`` (``STEP:POINT``)."""

    def on_step(step: str, point: str) -> None:
        if f"{step}:{point}" == target:
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)

    return on_step


if __name__ == "__main__":
    target, *args = sys.argv[1:]
    main(args=args, prog_name="ame", obj=CliEnv(on_step=crash_at(target)))
