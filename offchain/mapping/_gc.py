"""Pause the cyclic garbage collector while bulk-building acyclic data.

Mapping a million values allocates millions of small tuples, ints and dicts, none
of them in a reference cycle. Each burst of allocations would trigger collections
that rescan the whole, growing heap: measured at 40 % of ``map_epoch``'s time on
the benchmark. Reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore its state on exit, even on error."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
