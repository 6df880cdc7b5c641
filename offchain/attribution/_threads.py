"""torch's thread count, set for a block and put back: the one helper every pipeline uses.

A matrix product may sum in another order on another number of threads, so a pipeline
that promises the same bits pins the count while it trains or scores, and leaves the
caller's setting as it found it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count.

    Args:
        n: Threads for the block; None leaves the count as it is (and torch unimported).
    """
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
