"""How long work reports its progress, to whoever runs it.

Library code that trains, attributes or sends for a while takes a :class:`Progress` and
says what starts and how far it is; the caller decides where that goes (the CLI prints
it on stderr, a test records it, :data:`quiet_progress` drops it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = ["Progress", "quiet_progress"]


class Progress(Protocol):
    """Reports long steps: ``step`` says what starts, ``bar`` counts work items."""

    def step(self, message: str) -> None:
        """A step starts."""

    def bar(
        self, label: str, total: int
    ) -> contextlib.AbstractContextManager[Callable[[int], None]]:
        """A progress bar over ``total`` items; the callable advances it."""


class _Quiet:
    def step(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda _n: None


#: Reports nothing.
quiet_progress: Progress = _Quiet()
